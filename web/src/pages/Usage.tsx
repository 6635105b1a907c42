import { useCallback, useEffect, useState } from 'react';
import { ApiError } from '../lib/api';
import { onLinkClick } from '../lib/router';
import { getUsage, type Usage, type WaitingRun } from '../lib/tenant';
import '../tenant.css';

// Usage changes as runs start and end; there is no stream for it, so the
// page polls while visible.
const POLL_MS = 5000;

const num = (n: number) => n.toLocaleString('en-US');
const day = (iso: string) => new Date(iso).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });

function Card({ k, v, bad, children }: { k: string; v: string; bad?: boolean; children?: React.ReactNode }) {
  return (
    <div className="card" role="group" aria-label={k}>
      <div className="k">{k}</div>
      <div className={`v${bad ? ' bad' : ''}`}>{v}</div>
      {children}
    </div>
  );
}

function Meter({ used, of, label }: { used: number; of: number; label: string }) {
  const pct = of > 0 ? Math.min(100, Math.max(0, (used / of) * 100)) : 100;
  return (
    <div className={`meter${pct >= 100 ? ' full' : ''}`} role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={of} aria-valuenow={used}>
      <span style={{ width: `${pct}%` }} />
    </div>
  );
}

function WaitingTable({ tenant, runs, place }: { tenant: number; runs: WaitingRun[]; place: boolean }) {
  return (
    <table className="line">
      <thead>
        <tr>{place && <th>Place</th>}<th>Run</th><th>Workflow</th><th className="hide-sm">Requested</th><th>Why it waits</th></tr>
      </thead>
      <tbody>
        {runs.map((r) => (
          <tr key={r.run_id}>
            {place && <td>#{r.position}</td>}
            <td><a href={`/t/${tenant}/runs/${r.run_id}`} onClick={onLinkClick}>{r.run_id}</a></td>
            <td className="ellipsis">{r.file ?? '—'}{r.branch ? ` · ${r.branch}` : ''}</td>
            <td className="hide-sm muted">{r.requested_at ? new Date(r.requested_at).toLocaleString() : '—'}</td>
            <td className="reason">{r.reason ?? '—'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function UsagePage({ tenant }: { tenant: number }) {
  const [u, setU] = useState<Usage | null>(null);
  const [err, setErr] = useState('');

  const load = useCallback(async () => {
    try {
      setU(await getUsage(tenant));
      setErr('');
    } catch (x) {
      if (x instanceof ApiError && x.code === 'not_configured') setErr('This server keeps no quotas: runs are not metered.');
      else setErr(x instanceof ApiError ? x.message : 'The server could not be reached; retrying.');
    }
  }, [tenant]);

  useEffect(() => {
    load();
    const t = setInterval(() => document.visibilityState === 'visible' && load(), POLL_MS);
    return () => clearInterval(t);
  }, [load]);

  const head = <div className="toolbar"><h1>Usage</h1></div>;
  if (!u) return <section>{head}{err ? <p className="error" role="alert">{err}</p> : <p className="muted">Loading usage…</p>}</section>;

  const allowance = u.plan.minutes + u.minutes_granted;
  const exhausted = u.minutes_remaining <= 0;
  const blocked = u.blocked_runs ?? [];

  return (
    <section>
      {head}
      <p className="muted">
        The <strong>{u.plan.name}</strong> plan: {num(u.plan.minutes)} minutes a cycle, {u.plan.max_concurrent} {u.plan.max_concurrent === 1 ? 'run' : 'runs'} at once.
        This cycle runs from {day(u.cycle_start)} to {day(u.cycle_end)}.
      </p>
      {err && <p className="error" role="alert">{err}</p>}
      {exhausted && (
        <div className="banner bad" role="alert">
          <strong>Quota exhausted.</strong> New runs are blocked until the next cycle starts on {day(u.cycle_end)} or an admin grants minutes;
          blocked runs then start by themselves.
        </div>
      )}
      <div className="cards">
        <Card k="Minutes used" v={num(u.minutes_used)}>
          <Meter used={u.minutes_used + u.minutes_debt} of={allowance} label="Minutes used of the allowance" />
          <div className="muted small">of {num(allowance)}{u.minutes_granted ? ` (${num(u.minutes_granted)} granted)` : ''}</div>
        </Card>
        <Card k="Minutes remaining" v={num(u.minutes_remaining)} bad={exhausted} />
        <Card k="Debt" v={num(u.minutes_debt)} bad={u.minutes_debt > 0}>
          <div className="muted small">{u.minutes_debt > 0 ? 'overshoot carried from an earlier cycle' : 'nothing carried over'}</div>
        </Card>
        <Card k="Concurrency" v={`${u.running} / ${u.plan.max_concurrent}`}>
          <Meter used={u.running} of={u.plan.max_concurrent} label="Runs in progress of the plan's limit" />
          <div className="muted small">running now / at once</div>
        </Card>
      </div>

      <h2>Pending line{u.pending ? ` (${u.pending})` : ''}</h2>
      {u.line.length === 0
        ? <p className="muted">No run is waiting for a slot. Runs start as soon as they are requested while a slot is free.</p>
        : <WaitingTable tenant={tenant} runs={u.line} place />}
      {u.pending > u.line.length && <p className="muted small">Showing the first {u.line.length} of {u.pending}.</p>}

      <h2>Blocked{u.blocked ? ` (${u.blocked})` : ''}</h2>
      {u.blocked === 0
        ? <p className="muted">No run is blocked. Runs are blocked, not refused, when the minutes run out.</p>
        : blocked.length === 0
          ? <p>{u.blocked} {u.blocked === 1 ? 'run is' : 'runs are'} blocked: quota exhausted.</p>
          : <WaitingTable tenant={tenant} runs={blocked} place={false} />}
    </section>
  );
}
