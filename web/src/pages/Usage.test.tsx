// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, render, screen, within } from '@testing-library/react';
import { UsagePage } from './Usage';
import { fakeApi } from '../test/fakeApi';
import type { Usage } from '../lib/tenant';

afterEach(() => { cleanup(); vi.unstubAllGlobals(); });

const U = '/api/v1/tenants/1/usage';
const usage = (over: Partial<Usage>): Usage => ({
  tenant_id: 1, plan: { name: 'free', minutes: 2000, max_concurrent: 2 },
  cycle_start: '2026-11-01T00:00:00Z', cycle_end: '2026-12-01T00:00:00Z',
  minutes_used: 120, minutes_granted: 0, minutes_debt: 0, minutes_remaining: 1880,
  running: 0, pending: 0, blocked: 0, line: [], blocked_runs: [], ...over,
});
const card = (k: string) => screen.getByRole('group', { name: k }).querySelector('.v')!.textContent;

describe('UsagePage', () => {
  it('shows minutes, debt and concurrency, and an empty line', async () => {
    fakeApi({ [`GET ${U}`]: { body: usage({ running: 1 }) } });
    render(<UsagePage tenant={1} />);
    await screen.findByText(/No run is waiting/);
    expect(card('Minutes used')).toBe('120');
    expect(card('Minutes remaining')).toBe('1,880');
    expect(card('Debt')).toBe('0');
    expect(card('Concurrency')).toBe('1 / 2');
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('lists the pending line with places and reasons, and the blocked runs as quota exhausted', async () => {
    const slot = 'waiting for a free slot: the free plan runs 2 at once';
    const out = 'quota exhausted: 2010 of 2000 minutes used this cycle';
    fakeApi({
      [`GET ${U}`]: {
        body: usage({
          minutes_used: 1990, minutes_debt: 20, minutes_remaining: -10, running: 2, pending: 2, blocked: 1,
          line: [
            { run_id: 11, position: 1, reason: slot, file: '.runbook.yml', branch: 'main', requested_at: '2026-11-20T10:00:00Z' },
            { run_id: 12, position: 2, reason: slot, file: 'ci.yml', requested_at: '2026-11-20T10:01:00Z' },
          ],
          blocked_runs: [{ run_id: 13, reason: out, file: '.runbook.yml', requested_at: '2026-11-20T10:02:00Z' }],
        }),
      },
    });
    render(<UsagePage tenant={1} />);
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('Quota exhausted');
    expect(card('Minutes remaining')).toBe('-10');
    expect(card('Debt')).toBe('20');
    expect(card('Concurrency')).toBe('2 / 2');
    const [line, blocked] = screen.getAllByRole('table');
    const rows = within(line).getAllByRole('row').slice(1).map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent));
    expect(rows.map((r) => [r[0], r[1], r[4]])).toEqual([['#1', '11', slot], ['#2', '12', slot]]);
    expect(within(line).getByRole('link', { name: '11' }).getAttribute('href')).toBe('/t/1/runs/11');
    expect(within(blocked).getByRole('link', { name: '13' })).toBeTruthy();
    expect(within(blocked).getByText(out)).toBeTruthy();
  });

  it('says when the server keeps no quotas', async () => {
    fakeApi({ [`GET ${U}`]: { status: 501, body: { error: { code: 'not_configured', message: 'this server keeps no quotas' } } } });
    render(<UsagePage tenant={1} />);
    expect((await screen.findByRole('alert')).textContent).toContain('runs are not metered');
  });
});
