import { useCallback, useEffect, useRef, useState } from 'react';
import { api, ApiError, authHeader, tenantPath } from '../lib/api';
import { applyRunEvent } from '../lib/runslive';
import { follow } from '../lib/sse';
import { formatDuration } from '../lib/dag';
import { navigate, onLinkClick } from '../lib/router';
import type { Run } from '../lib/types';
import { Status } from '../components/Status';
import { Time } from '../components/Time';
import { BlockedRunsBanner } from '../components/WaitBanner';

const statuses = ['', 'queued', 'running', 'succeeded', 'failed', 'cancelled'];
// The list follows the tenant's event stream; while the stream is down it
// reads the page again this often, while the tab is visible.
const FALLBACK_MS = 15_000;
const LIMIT = 25;

function runDuration(r: Run, now: number): number | undefined {
  if (r.duration_ms !== undefined) return r.duration_ms;
  if (r.started_at) return now - Date.parse(r.started_at);
  return undefined;
}

export function RunsPage({ tenant, query }: { tenant: number; query: URLSearchParams }) {
  const status = query.get('status') ?? '';
  const branch = query.get('branch') ?? '';
  const cursor = query.get('cursor') ?? '';
  const [page, setPage] = useState<{ runs: Run[]; next?: string } | null>(null);
  const [err, setErr] = useState('');
  const [branchInput, setBranchInput] = useState(branch);
  const pageRef = useRef(page);
  pageRef.current = page;

  const load = useCallback(async () => {
    const q = new URLSearchParams();
    if (status) q.set('status', status);
    if (branch) q.set('branch', branch);
    if (cursor) q.set('cursor', cursor);
    q.set('limit', String(LIMIT));
    try {
      const p = await api<{ runs: Run[]; next?: string }>(tenantPath(tenant, `/runs?${q}`));
      pageRef.current = p; // events that arrive before the render patch this page
      setPage(p);
      setErr('');
    } catch (x) {
      setErr(x instanceof ApiError ? x.message : 'The server could not be reached; retrying.');
    }
  }, [tenant, status, branch, cursor]);

  // Reads coalesce: events may ask for the page faster than it arrives.
  const reading = useRef({ busy: false, again: false });
  const reload = useCallback(async () => {
    const st = reading.current;
    if (st.busy) { st.again = true; return; }
    st.busy = true;
    try { await load(); } finally {
      st.busy = false;
      if (st.again) { st.again = false; reload(); }
    }
  }, [load]);

  // Snapshot, then stream: after "ready" the page is read, and each "run"
  // event patches a row or reads the page again. A (re)connect reads the
  // page again, so nothing missed while the stream was down stays missed.
  useEffect(() => {
    let stopped = false;
    let poll: ReturnType<typeof setInterval> | undefined;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let stream: { stop: () => void } | undefined;
    const fallback = (on: boolean) => {
      if (on && !poll) poll = setInterval(() => document.visibilityState === 'visible' && reload(), FALLBACK_MS);
      if (!on && poll) { clearInterval(poll); poll = undefined; }
    };
    const start = () => {
      stream = follow({
        url: tenantPath(tenant, '/events'),
        headers: authHeader,
        onEvent: (e) => {
          if (e.event === 'ready') { fallback(false); reload(); return; }
          if (e.event !== 'run') return;
          // A read in flight may predate this change: read once more after it.
          if (reading.current.busy) reading.current.again = true;
          const p = pageRef.current;
          if (!p) return;
          const r = applyRunEvent(p.runs, JSON.parse(e.data), { status, branch, firstPage: !cursor, limit: LIMIT });
          if (r.runs) setPage((pageRef.current = { ...p, runs: r.runs }));
          if (r.reload) reload();
        },
        onState: (s) => {
          if (s === 'open') return;
          fallback(true);
          // "end": the token expired or access changed; a new stream asks
          // with a fresh token, or fails and leaves the fallback on.
          if (s === 'ended' && !stopped) retry = setTimeout(start, 1000);
        },
      });
    };
    reload();
    start();
    return () => { stopped = true; stream?.stop(); fallback(false); clearTimeout(retry); };
  }, [tenant, status, branch, cursor, reload]);

  // Durations of running runs tick without a read.
  const [, setTick] = useState(0);
  const running = page?.runs.some((r) => r.status === 'running') ?? false;
  useEffect(() => {
    if (!running) return;
    const t = setInterval(() => setTick((n) => n + 1), 1000);
    return () => clearInterval(t);
  }, [running]);

  const go = (p: Record<string, string>) => {
    const q = new URLSearchParams({ status, branch, ...p });
    for (const [k, v] of [...q]) if (!v) q.delete(k);
    navigate(`/t/${tenant}/runs${q.size ? `?${q}` : ''}`);
  };
  const now = Date.now();

  return (
    <section>
      <div className="toolbar">
        <h1>Runs</h1>
        <span className="spacer" />
        <a className="button" href={`/t/${tenant}/runs/new`} onClick={onLinkClick}>New run</a>
      </div>
      <form className="filters" onSubmit={(e) => { e.preventDefault(); go({ branch: branchInput, cursor: '' }); }}>
        <label>Status
          <select value={status} onChange={(e) => go({ status: e.target.value, cursor: '' })}>
            {statuses.map((s) => <option key={s} value={s}>{s || 'any'}</option>)}
          </select>
        </label>
        <label>Branch<input value={branchInput} placeholder="any" onChange={(e) => setBranchInput(e.target.value)} /></label>
        <button className="secondary">Filter</button>
      </form>
      {err && <p className="error" role="alert">{err}</p>}
      {page && <BlockedRunsBanner tenant={tenant} runs={page.runs} />}
      {page && page.runs.length === 0 && (
        <div className="empty">
          <h2>{status || branch ? 'No runs match these filters' : 'No runs yet'}</h2>
          <p>Runs start on a push to an enabled <a href={`/t/${tenant}/projects`} onClick={onLinkClick}>project</a>, by its Run now button, or from an uploaded workflow file.</p>
          <a className="button" href={`/t/${tenant}/runs/new`} onClick={onLinkClick}>Start a run from a .runbook.yml</a>
        </div>
      )}
      {page && page.runs.length > 0 && (
        <table className="runs">
          <thead><tr><th>#</th><th>Status</th><th>Workflow</th><th>Branch</th><th className="hide-sm">Commit</th><th className="hide-sm">Trigger</th><th>Duration</th><th className="hide-sm">Requested</th></tr></thead>
          <tbody>
            {page.runs.map((r) => (
              <tr key={r.id} tabIndex={0} onClick={() => navigate(`/t/${tenant}/runs/${r.id}`)} onKeyDown={(e) => e.key === 'Enter' && navigate(`/t/${tenant}/runs/${r.id}`)}>
                <td><a href={`/t/${tenant}/runs/${r.id}`} onClick={onLinkClick}>{r.id}</a></td>
                <td><Status status={r.admission ?? r.status} /></td>
                <td className="ellipsis" title={r.file}>{r.name || r.file}</td>
                <td className="ellipsis">{r.branch || '—'}</td>
                <td className="hide-sm mono">{r.sha ? r.sha.slice(0, 8) : '—'}</td>
                <td className="hide-sm">{r.trigger}</td>
                <td>{formatDuration(runDuration(r, now)) || '—'}</td>
                <td className="hide-sm muted"><Time at={r.requested_at} now={now} /></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div className="pager">
        {cursor && <button className="secondary" onClick={() => history.back()}>← Newer</button>}
        {page?.next && <button className="secondary" onClick={() => go({ cursor: page.next! })}>Older →</button>}
      </div>
    </section>
  );
}
