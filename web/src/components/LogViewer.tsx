import { memo, useEffect, useMemo, useRef, useState } from 'react';
import { api, authHeader, tenantPath } from '../lib/api';
import { parseAnsi, stripAnsi } from '../lib/ansi';
import { LogBuffer, type LogLine } from '../lib/logbuf';
import { follow } from '../lib/sse';

const ROW = 18; // px; fixed so the window is arithmetic, not measured
const OVERSCAN = 30;
const PAGE = 10000; // the API's largest page

interface Props {
  tenant: number;
  run: number;
  step: string;
  attempt: number;
  line?: number; // deep-linked line
  onLine: (n: number) => void;
}

const Row = memo(function Row({ l, n, hit, target, onLine }: { l?: LogLine; n: number; hit: boolean; target: boolean; onLine: (n: number) => void }) {
  const spans = l ? parseAnsi(l.text).spans : [];
  return (
    <div className={`log-row${l?.stream === 'stderr' ? ' stderr' : ''}${hit ? ' hit' : ''}${target ? ' target' : ''}`} style={{ top: (n - 1) * ROW }}>
      <a className="ln" href={`#L${n}`} onClick={(e) => { e.preventDefault(); onLine(n); }}>{n}</a>
      <span className="lt">
        {l ? spans.map((s, i) => (
          <span key={i} style={{ color: s.fg, background: s.bg, fontWeight: s.bold ? 700 : undefined, opacity: s.dim ? 0.7 : undefined, fontStyle: s.italic ? 'italic' : undefined, textDecoration: s.underline ? 'underline' : undefined }}>{s.text}</span>
        )) : <span className="muted">…</span>}
      </span>
    </div>
  );
});

// LogViewer loads the attempt's lines by range, then follows the live
// stream from the last line held; the line number keys every line, so a
// reconnect neither repeats nor skips one. Only the rows in view exist in
// the DOM.
export function LogViewer({ tenant, run, step, attempt, line, onLine }: Props) {
  const buf = useMemo(() => new LogBuffer(), [tenant, run, step, attempt]);
  const [, setVersion] = useState(0);
  const [state, setState] = useState('loading');
  const [view, setView] = useState({ top: 0, height: 600 });
  const [query, setQuery] = useState('');
  const [cur, setCur] = useState(0);
  const box = useRef<HTMLDivElement>(null);
  const stick = useRef(true); // follow the tail while the reader is at the bottom

  useEffect(() => {
    let stopped = false;
    let pending = false;
    const bump = () => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => { pending = false; setVersion((v) => v + 1); });
    };
    const base = tenantPath(tenant, `/runs/${run}/steps/${encodeURIComponent(step)}`);
    let stream: { stop: () => void } | null = null;
    (async () => {
      try {
        // Ranged reads first: a page of 10,000 lines is one request, where
        // the stream would be 10,000 events.
        for (;;) {
          const from = buf.contiguous() + 1;
          const p = await api<{ lines: LogLine[]; next: number }>(`${base}/logs?attempt=${attempt}&from=${from}&limit=${PAGE}`);
          if (stopped) return;
          for (const l of p.lines) buf.add(l);
          bump();
          if (from === 1) performance.mark('log-first-page');
          if (p.lines.length < PAGE) break;
        }
      } catch {
        // The stream below fills in whatever the pages did not.
      }
      if (stopped) return;
      setState('live');
      stream = follow({
        url: `${base}/logs/follow?attempt=${attempt}`,
        lastEventId: String(buf.contiguous()),
        headers: authHeader,
        onEvent: (e) => {
          if (e.event !== 'line') return;
          if (buf.add(JSON.parse(e.data))) bump();
        },
        onState: (s, d) => setState(s === 'retrying' ? `reconnecting (${d})` : s === 'error' ? `stream error: ${d}` : s === 'ended' ? 'complete' : 'live'),
      });
    })();
    return () => { stopped = true; stream?.stop(); };
  }, [buf, tenant, run, step, attempt]);

  // Tail-follow and deep links move the scroll position after lines arrive.
  const total = buf.length;
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    if (line && line <= total) {
      el.scrollTop = Math.max(0, (line - 5) * ROW);
    } else if (stick.current && !line) {
      el.scrollTop = el.scrollHeight;
    }
  }, [total, line]);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setView({ top: el.scrollTop, height: el.clientHeight }));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  // Search scans the held lines once per query, not per render.
  const hits = useMemo(() => {
    if (!query) return [];
    const q = query.toLowerCase();
    const out: number[] = [];
    for (let n = 1; n <= buf.length; n++) {
      const l = buf.get(n);
      if (l && stripAnsi(l.text).toLowerCase().includes(q)) out.push(n);
    }
    return out;
  }, [query, buf, query ? total : 0]); // eslint-disable-line react-hooks/exhaustive-deps

  const jump = (i: number) => {
    if (hits.length === 0) return;
    const k = ((i % hits.length) + hits.length) % hits.length;
    setCur(k);
    stick.current = false;
    if (box.current) box.current.scrollTop = Math.max(0, (hits[k] - 5) * ROW);
  };

  const download = async () => {
    const res = await fetch(tenantPath(tenant, `/runs/${run}/steps/${encodeURIComponent(step)}/logs/raw?attempt=${attempt}`), { headers: await authHeader() });
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement('a');
    a.href = url;
    a.download = `run-${run}-${step}-${attempt}.log`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  };

  const first = Math.max(1, Math.floor(view.top / ROW) - OVERSCAN);
  const last = Math.min(total, Math.ceil((view.top + view.height) / ROW) + OVERSCAN);
  const hitSet = new Set(query ? hits : []);
  const rows = [];
  for (let n = first; n <= last; n++) {
    rows.push(<Row key={n} n={n} l={buf.get(n)} hit={hitSet.has(n)} target={n === line} onLine={onLine} />);
  }

  return (
    <div className="logs">
      <div className="log-bar">
        <strong>{step}</strong>
        <span className="muted">attempt {attempt} · {total.toLocaleString()} lines{buf.missing() ? ` · ${buf.missing()} missing` : ''} · {state}</span>
        <span className="spacer" />
        <input type="search" aria-label="Search the log" placeholder="Search log" value={query}
          onChange={(e) => { setQuery(e.target.value); setCur(0); }}
          onKeyDown={(e) => { if (e.key === 'Enter') jump(cur + (e.shiftKey ? -1 : 1)); }} />
        {query && <span className="muted small">{hits.length ? `${cur + 1}/${hits.length}` : 'no match'}</span>}
        <button className="secondary" onClick={download}>Raw</button>
      </div>
      <div className="log-box" ref={box} tabIndex={0} aria-label={`Log of ${step}`}
        onScroll={(e) => {
          const el = e.currentTarget;
          stick.current = el.scrollTop + el.clientHeight >= el.scrollHeight - ROW * 2;
          setView({ top: el.scrollTop, height: el.clientHeight });
        }}>
        <div style={{ height: total * ROW, position: 'relative' }}>{rows}</div>
        {total === 0 && <p className="muted pad">{state === 'complete' ? 'This step printed nothing.' : 'Waiting for output…'}</p>}
      </div>
    </div>
  );
}
