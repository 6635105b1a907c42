import { describe, expect, it } from 'vitest';
import { applyRunEvent, type ListView } from './runslive';
import type { Run } from './types';

const run = (id: number, status: string, extra: Partial<Run> = {}): Run =>
  ({ id, tenant_id: 1, file: '.runbook.yml', trigger: 'api', status, requested_at: '2026-01-01T00:00:00Z', last_seq: 1, ...extra }) as Run;
const any: ListView = { status: '', branch: '', firstPage: true, limit: 3 };

describe('applyRunEvent', () => {
  it('replaces a row in place, whole', () => {
    const rows = [run(3, 'queued', { admission: 'pending' }), run(2, 'succeeded')];
    const r = applyRunEvent(rows, run(3, 'running'), any);
    expect(r.reload).toBe(false);
    expect(r.runs![0]).toEqual(run(3, 'running'));
    expect(r.runs![0].admission).toBeUndefined();
    expect(r.runs![1]).toBe(rows[1]);
    expect(rows[0].status).toBe('queued'); // the old page is not mutated
  });
  it('reads the page again for a new run that belongs on it', () => {
    const full = [run(5, 'running'), run(4, 'failed'), run(3, 'succeeded')];
    expect(applyRunEvent(full, run(6, 'queued'), any)).toEqual({ runs: null, reload: true });
    expect(applyRunEvent(full.slice(0, 2), run(1, 'queued'), any).reload).toBe(true); // not full
    expect(applyRunEvent(full, run(1, 'failed'), any).reload).toBe(false); // older than the page
    expect(applyRunEvent(full, run(6, 'queued'), { ...any, firstPage: false }).reload).toBe(false);
  });
  it('follows the filters', () => {
    const failed = { ...any, status: 'failed' };
    const rows = [run(4, 'failed')];
    expect(applyRunEvent(rows, run(6, 'running'), failed)).toEqual({ runs: null, reload: false });
    expect(applyRunEvent(rows, run(6, 'failed'), failed).reload).toBe(true); // it joins the list
    expect(applyRunEvent([run(6, 'running')], run(6, 'failed'), { ...any, status: 'running' }).reload).toBe(true); // it leaves
    expect(applyRunEvent(rows, run(7, 'queued', { branch: 'dev' }), { ...any, branch: 'main' }).reload).toBe(false);
    expect(applyRunEvent(rows, run(7, 'queued', { branch: 'main' }), { ...any, branch: 'main' }).reload).toBe(true);
  });
});
