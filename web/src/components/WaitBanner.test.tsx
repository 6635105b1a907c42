// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, render, screen } from '@testing-library/react';
import { BlockedRunsBanner, WaitBanner } from './WaitBanner';

afterEach(cleanup);

describe('WaitBanner', () => {
  it('says a blocked run waits for minutes', () => {
    render(<WaitBanner run={{ tenant_id: 3, admission: 'blocked', reason: 'quota exhausted: 10 of 10 minutes used this cycle' }} />);
    const alert = screen.getByRole('alert');
    expect(alert.textContent).toContain('Quota exhausted: this run is blocked.');
    expect(alert.textContent).toContain('blocked. 10 of 10 minutes used this cycle. It starts by itself');
    expect(screen.getByRole('link', { name: 'See usage' }).getAttribute('href')).toBe('/t/3/usage');
  });
  it('gives a pending run its place in line', () => {
    render(<WaitBanner run={{ tenant_id: 3, admission: 'pending', position: 2, reason: 'waiting for a free slot: the free plan runs 2 at once' }} />);
    expect(screen.getByRole('status').textContent).toMatch(/^Pending: #2 in line\. Waiting for a free slot/);
  });
  it('says nothing for an admitted run', () => {
    const { container } = render(<WaitBanner run={{ tenant_id: 3 }} />);
    expect(container.textContent).toBe('');
  });
  it('counts the blocked runs of a list', () => {
    render(<BlockedRunsBanner tenant={3} runs={[{ admission: 'blocked' }, {}, { admission: 'pending' }, { admission: 'blocked' }]} />);
    expect(screen.getByRole('alert').textContent).toContain('2 runs here are blocked');
  });
});
