// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, render, screen } from '@testing-library/react';
import { RunsPage } from './Runs';
import { fakeApi } from '../test/fakeApi';

beforeEach(() => history.replaceState(null, '', '/t/1/runs'));
afterEach(() => { cleanup(); vi.unstubAllGlobals(); });

const requested = new Date(Date.now() - 3 * 3600e3).toISOString();

describe('RunsPage', () => {
  it('lists runs with their workflow, trigger, and when, exactly on hover', async () => {
    fakeApi({
      'GET /api/v1/tenants/1/runs': { body: { runs: [{ id: 7, tenant_id: 1, file: 'ci.yml', trigger: 'ui', status: 'succeeded', requested_at: requested, duration_ms: 1500, last_seq: 3 }] } },
      'GET /api/v1/tenants/1/events': () => new Response(new ReadableStream(), { headers: { 'Content-Type': 'text/event-stream' } }),
    });
    render(<RunsPage tenant={1} query={new URLSearchParams()} />);
    const when = await screen.findByText('3 hr. ago');
    expect(when.tagName).toBe('TIME');
    expect(when.getAttribute('title')).toBeTruthy();
    expect(when.getAttribute('datetime')).toBe(requested);
    const row = when.closest('tr')!;
    expect(row.textContent).toContain('ci.yml');
    expect(row.textContent).toContain('ui');
    expect(row.textContent).toContain('1.5s');
  });

  it('says how runs start when there are none', async () => {
    fakeApi({
      'GET /api/v1/tenants/1/runs': { body: { runs: [] } },
      'GET /api/v1/tenants/1/events': () => new Response(new ReadableStream(), { headers: { 'Content-Type': 'text/event-stream' } }),
    });
    render(<RunsPage tenant={1} query={new URLSearchParams()} />);
    await screen.findByRole('heading', { name: 'No runs yet' });
  });
});
