import { useCallback, useEffect, useState } from 'react';
import { api, ApiError, tenantPath } from '../lib/api';
import { formatDuration } from '../lib/dag';
import { navigate, onLinkClick } from '../lib/router';
import type { Run } from '../lib/types';
import { Status } from '../components/Status';

const statuses = ['', 'queued', 'running', 'succeeded', 'failed', 'cancelled'];
// There is no tenant-wide stream yet, so the list polls while visible.
const POLL_MS = 2000;

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

  const load = useCallback(async () => {
    const q = new URLSearchParams();
    if (status) q.set('status', status);
    if (branch) q.set('branch', branch);
    if (cursor) q.set('cursor', cursor);
    q.set('limit', '25');
    try {
      setPage(await api(tenantPath(tenant, `/runs?${q}`)));
      setErr('');
    } catch (x) {
      setErr(x instanceof ApiError ? x.message : 'The server could not be reached; retrying.');
    }
  }, [tenant, status, branch, cursor]);

  useEffect(() => {
    load();
    const t = setInterval(() => document.visibilityState === 'visible' && load(), POLL_MS);
    return () => clearInterval(t);
  }, [load]);

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
      {page && page.runs.length === 0 && (
        <div className="empty">
          <h2>{status || branch ? 'No runs match these filters' : 'No runs yet'}</h2>
          <p>Projects (repositories connected through a GitHub installation) are not available yet, so runs start from an uploaded workflow file.</p>
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
                <td><Status status={r.status} /></td>
                <td className="ellipsis">{r.file}</td>
                <td className="ellipsis">{r.branch || '—'}</td>
                <td className="hide-sm mono">{r.sha ? r.sha.slice(0, 8) : '—'}</td>
                <td className="hide-sm">{r.trigger}</td>
                <td>{formatDuration(runDuration(r, now)) || '—'}</td>
                <td className="hide-sm muted">{new Date(r.requested_at).toLocaleString()}</td>
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
