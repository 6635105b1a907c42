import { useEffect, useRef, useState } from 'react';
import { api, ApiError, authHeader, tenantPath } from '../lib/api';
import { formatDuration } from '../lib/dag';
import { navigate, onLinkClick } from '../lib/router';
import { follow } from '../lib/sse';
import type { Run } from '../lib/types';
import { Dag } from '../components/Dag';
import { Gantt } from '../components/Gantt';
import { LogViewer } from '../components/LogViewer';
import { Status } from '../components/Status';
import { WaitBanner } from '../components/WaitBanner';
import { displaySteps } from '../lib/waiting';
import { exitNote, runTitle, stepLabel } from '../lib/words';
import { Time } from '../components/Time';

// parseHash reads the deep link "<step>:L42" (or just "<step>").
export function parseHash(h: string): { step?: string; line?: number } {
  const m = h.match(/^(.*?)(?::L(\d+))?$/);
  if (!m || !m[1]) return {};
  return { step: m[1], line: m[2] ? Number(m[2]) : undefined };
}

export function RunPage({ tenant, runId, hash }: { tenant: number; runId: number; hash: string }) {
  const [run, setRun] = useState<Run | null>(null);
  const [err, setErr] = useState('');
  const [actionErr, setActionErr] = useState('');
  const [now, setNow] = useState(Date.now());
  const [stream, setStream] = useState('connecting');
  const { step: selected, line } = parseHash(hash);
  const base = tenantPath(tenant, `/runs/${runId}`);
  const rendered = useRef(false);

  // Every run event refetches the run: the event says what happened, the
  // run's projection says where things stand. Fetches coalesce.
  useEffect(() => {
    let busy = false;
    let again = false;
    let stopped = false;
    const load = async () => {
      if (busy) { again = true; return; }
      busy = true;
      try {
        const r = await api<Run>(base);
        if (!stopped) { setRun(r); setErr(''); }
      } catch (x) {
        if (!stopped) setErr(x instanceof ApiError ? (x.status === 404 ? 'This run does not exist, or you are not a member of its tenant.' : x.message) : 'The server could not be reached.');
      } finally {
        busy = false;
        if (again && !stopped) { again = false; load(); }
      }
    };
    load();
    const f = follow({
      url: `${base}/events`,
      headers: authHeader,
      onEvent: () => load(),
      onState: (s, d) => setStream(s === 'retrying' ? `reconnecting (${d})` : s === 'error' ? `stream error: ${d}` : s),
    });
    return () => { stopped = true; f.stop(); };
  }, [base]);

  const live = run && (run.status === 'queued' || run.status === 'running');
  useEffect(() => {
    if (!live) return;
    const t = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(t);
  }, [live]);

  useEffect(() => {
    if (run?.steps && !rendered.current) {
      rendered.current = true;
      requestAnimationFrame(() => performance.mark('run-rendered'));
    }
  }, [run]);

  const select = (s: string, l?: number) => {
    history.replaceState(null, '', `#${encodeURIComponent(s)}${l ? `:L${l}` : ''}`);
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  };

  const act = async (what: 'cancel' | 'rerun' | 'rerun-failed') => {
    setActionErr('');
    try {
      const r = await api<Run>(`${base}/${what}`, { method: 'POST' });
      if (what !== 'cancel') navigate(`/t/${tenant}/runs/${r.id}`);
      else setRun(r);
    } catch (x) {
      setActionErr(x instanceof ApiError ? x.message : 'The server could not be reached.');
    }
  };

  useEffect(() => {
    // j/k move between steps, Escape closes the log: keyboard navigation.
    const on = (e: KeyboardEvent) => {
      if (!run?.steps || (e.target as HTMLElement).closest('input,textarea,select')) return;
      const names = run.steps.map((s) => s.name);
      const i = selected ? names.indexOf(selected) : -1;
      if (e.key === 'j' || e.key === 'k') select(names[Math.min(names.length - 1, Math.max(0, i + (e.key === 'j' ? 1 : -1)))]);
      else if (e.key === 'Escape' && selected) { history.replaceState(null, '', location.pathname); window.dispatchEvent(new HashChangeEvent('hashchange')); }
    };
    window.addEventListener('keydown', on);
    return () => window.removeEventListener('keydown', on);
  });

  // The tab names the run and its state: "✗ Run 12 · CI · failed".
  useEffect(() => {
    if (!run) return;
    const before = document.title;
    document.title = runTitle(run);
    return () => { document.title = before; };
  }, [run?.id, run?.status, run?.admission, run?.name, run?.file]); // eslint-disable-line react-hooks/exhaustive-deps

  if (err && !run) return <div className="empty"><h2>Run {runId}</h2><p className="error" role="alert">{err}</p><a href={`/t/${tenant}/runs`} onClick={onLinkClick}>All runs</a></div>;
  if (!run) return <p className="muted">Loading run {runId}…</p>;
  const steps = displaySteps(run);
  const sel = steps.find((s) => s.name === selected);
  const ended = !live;
  const dur = run.duration_ms ?? (run.started_at ? now - Date.parse(run.started_at) : undefined);

  return (
    <section className="run">
      <div className="toolbar">
        <h1>Run {run.id}</h1>
        <Status status={run.admission ?? run.status} place={run.position} />
        <span className="muted run-meta">
          <span title={run.name ? `file ${run.file}` : undefined}>{run.name || run.file}</span>
          {' · '}<span title="what started the run">{run.trigger}</span>
          {run.branch ? ` · ${run.branch}` : ''}
          {' · '}<Time at={run.started_at ?? run.requested_at} now={now} />
          {dur !== undefined ? ` · ${formatDuration(dur)}` : ''}
        </span>
        <span className="spacer" />
        {/* The live stream is only worth a word when it is down. */}
        {stream !== 'open' && stream !== 'ended' && stream !== 'connecting' && <span className="muted small" role="status">Live updates: {stream}</span>}
        {live && <button className="danger" onClick={() => act('cancel')}>Cancel</button>}
        {ended && <button className="secondary" onClick={() => act('rerun')}>Re-run</button>}
        {ended && run.status !== 'succeeded' && <button className="secondary" onClick={() => act('rerun-failed')}>Re-run failed</button>}
      </div>
      {run.admission ? <WaitBanner run={run} /> : run.reason && <p className={run.status === 'failed' ? 'error' : 'muted'}>{run.reason}</p>}
      {actionErr && <p className="error" role="alert">{actionErr}</p>}
      <Dag steps={steps} selected={selected} onSelect={(s) => select(s)} now={now} />
      {sel && (
        <div className="step-detail">
          <div className="toolbar">
            <h2>{sel.name}</h2>
            <Status status={sel.status} place={sel.place_in_line} label={stepLabel(sel)} />
            {exitNote(sel).exit && <span className="muted">{exitNote(sel).exit}</span>}
            {exitNote(sel).reason && <span className={sel.status === 'failed' ? 'error' : 'muted'}>{exitNote(sel).reason}</span>}
            {sel.status === 'queued' && sel.waiting_reason && <span className="error" role="status">Waiting: {sel.waiting_reason}</span>}
          </div>
          {sel.attempt > 0
            ? <LogViewer tenant={tenant} run={run.id} step={sel.name} attempt={sel.attempt} line={line} onLine={(n) => select(sel.name, n)} />
            : <p className="muted">{stepLabel(sel) === 'not started' ? 'This step never started: the run ended before it could.' : 'This step has not started; its log appears when it does.'}</p>}
        </div>
      )}
      {!sel && <p className="muted small">Click a step (or press j/k) to see its log.</p>}
      <h2>Timeline</h2>
      <Gantt steps={steps} now={now} onSelect={(s) => select(s)} />
    </section>
  );
}
