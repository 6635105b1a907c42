// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, render, screen, waitFor } from '@testing-library/react';
import { RunPage } from './Run';
import { fakeApi } from '../test/fakeApi';
import type { Run } from '../lib/types';

beforeEach(() => { history.replaceState(null, '', '/t/1/runs/12'); document.title = 'Runbook'; localStorage.clear(); });
afterEach(() => { cleanup(); vi.unstubAllGlobals(); });

const R = '/api/v1/tenants/1/runs/12';
const t0 = new Date(Date.now() - 5 * 60e3).toISOString();
const t1 = new Date(Date.now() - 4 * 60e3).toISOString();
const run: Run = {
  id: 12, tenant_id: 1, file: '.runbook.yml', name: 'CI', trigger: 'ui', status: 'failed', reason: 'step "build" failed (exit code 3)',
  requested_at: t0, started_at: t0, finished_at: t1, duration_ms: 60e3, last_seq: 9,
  steps: [
    { name: 'build', status: 'failed', attempt: 1, exit_code: 3, reason: 'exit code 3', depends_on: [], started_at: t0, finished_at: t1, duration_ms: 60e3 },
    { name: 'deploy', status: 'cancelled', attempt: 0, reason: 'run failed', depends_on: ['build'] },
  ],
};

// The run's event stream stays open; the logs have one line.
function serve() {
  fakeApi({
    [`GET ${R}`]: { body: run },
    [`GET ${R}/events`]: () => new Response(new ReadableStream(), { headers: { 'Content-Type': 'text/event-stream' } }),
    [`GET ${R}/steps/build/logs`]: { body: { lines: [{ n: 1, stream: 'stderr', time: t0, text: 'boom' }], next: 2 } },
    [`GET ${R}/steps/build/logs/follow`]: () => new Response('event: end\ndata: {}\n\n', { headers: { 'Content-Type': 'text/event-stream' } }),
  });
}

describe('RunPage', () => {
  it('names the run and its state in the tab, and its workflow, trigger and time', async () => {
    serve();
    render(<RunPage tenant={1} runId={12} hash="" />);
    await screen.findByRole('heading', { name: 'Run 12' });
    await waitFor(() => expect(document.title).toBe('✗ Run 12 · CI · failed'));
    const meta = document.querySelector('.run-meta')!;
    expect(meta.textContent).toMatch(/^CI · ui · 5 min\. ago · 1m 0s$/);
    expect(meta.querySelector('time')!.getAttribute('title')).toBeTruthy();
    expect(screen.queryByText(/\b(open|ended|connecting)\b/)).toBeNull();
  });

  it('says the failed step\'s exit once, and marks its stderr for screen readers', async () => {
    serve();
    render(<RunPage tenant={1} runId={12} hash="build" />);
    const find = (sel: string) => waitFor(() => { const el = document.querySelector(sel); if (!el) throw new Error(`no ${sel}`); return el; });
    const head = await find('.step-detail > .toolbar');
    await waitFor(() => expect(head.textContent).toContain('exit code 3'));
    expect(head.textContent!.match(/exit/g)).toHaveLength(1);
    const row = await find('.log-row.stderr');
    expect(row.querySelector('.sr-only')!.textContent).toBe('stderr: ');
  });

  it('says a step the run ended before it began did not start', async () => {
    serve();
    render(<RunPage tenant={1} runId={12} hash="deploy" />);
    await screen.findByText('This step never started: the run ended before it could.');
    expect(document.querySelector('.step-detail .badge')!.textContent).toBe('not started');
  });
});
