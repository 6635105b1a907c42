import { memo, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { api, authHeader, tenantPath } from '../lib/api';
import { parseAnsi, stripAnsi } from '../lib/ansi';
import { LogBuffer, type LogLine } from '../lib/logbuf';
import { RowMap } from '../lib/groups';
import { follow } from '../lib/sse';
import { clamp, geometry, lineOffset, toScroll, toVirtual, visible } from '../lib/scrollmap';

const ROW = 18; // px; fixed so the window is arithmetic, not measured
const OVERSCAN = 30; // rows drawn beyond the viewport while the browser scrolls them natively
const PAGE = 10000; // the API's largest page
const FIRST_PAGE = 500; // enough to fill the box, small enough to arrive at once
const PARALLEL = 3; // pages read at a time

interface Props {
  tenant: number;
  run: number;
  step: string;
  attempt: number;
  line?: number; // deep-linked line
  onLine: (n: number) => void;
}

interface Head {
  title: string;
  open: boolean;
  hidden: number; // lines the collapsed section hides
  toggle: (start: number) => void;
}

const Row = memo(function Row({ l, n, top, hit, target, onLine, link, time, head, end }: {
  l?: LogLine; n: number; top: number; hit: boolean; target: boolean; onLine: (n: number) => void; link: string;
  time: boolean; head?: Head; end: boolean;
}) {
  const spans = l && !head && !end ? parseAnsi(l.text).spans : [];
  const stderr = l?.stream === 'stderr';
  return (
    <div className={`log-row${stderr ? ' stderr' : ''}${hit ? ' hit' : ''}${target ? ' target' : ''}${head ? ' group' : ''}`} style={{ top }} data-n={n}>
      <a className="ln" href={`${link}:L${n}`} onClick={(e) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return; // a new tab opens the link
        e.preventDefault();
        onLine(n);
      }}>{n}</a>
      {time && <span className="ts">{l ? clock(l.time) : ''}</span>}
      {/* Not by colour alone: the bar is a shape, and screen readers hear it. */}
      {stderr && <span className="sr-only">stderr: </span>}
      <span className="lt">
        {head ? (
          <button className="group-toggle" aria-expanded={head.open} onClick={() => head.toggle(n)}>
            <span aria-hidden="true">{head.open ? '▾' : '▸'}</span> {head.title || 'Section'}
            {!head.open && head.hidden > 0 && <span className="muted"> ({head.hidden.toLocaleString()} {head.hidden === 1 ? 'line' : 'lines'})</span>}
          </button>
        ) : end ? <span className="muted">end of section</span>
        : l ? spans.map((s, i) => (
          <span key={i} style={{ color: s.fg, background: s.bg, fontWeight: s.bold ? 700 : undefined, opacity: s.dim ? 0.7 : undefined, fontStyle: s.italic ? 'italic' : undefined, textDecoration: s.underline ? 'underline' : undefined }}>{s.text}</span>
        )) : <span className="muted">…</span>}
      </span>
    </div>
  );
});

// clock is a line's time of day, local, to the millisecond.
function clock(iso: string): string {
  const d = new Date(iso);
  if (!Number.isFinite(d.getTime())) return '';
  const p = (x: number, w = 2) => String(x).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

const TIMES_KEY = 'runbook_log_times';

function readFlag(key: string): boolean {
  try { return localStorage.getItem(key) === '1'; } catch { return false; }
}

function writeFlag(key: string, on: boolean) {
  try { if (on) localStorage.setItem(key, '1'); else localStorage.removeItem(key); } catch { /* not remembered */ }
}

// lastLine finds the number of the last line, given one that exists, with
// one-line reads, `width` at a time: doubling until a line is missing,
// then narrowing the gap by width+1 per round.
export async function lastLine(exists: (n: number) => Promise<boolean>, known: number, width = 3): Promise<number> {
  let lo = known;
  let hi = 0;
  // Each round's answers run true…true false…: the first missing line ends it.
  const round = async (ns: number[]) => {
    const ok = await Promise.all(ns.map(exists));
    for (let i = 0; i < ns.length; i++) {
      if (!ok[i]) { hi = ns[i]; return; }
      lo = ns[i];
    }
  };
  for (let p = known; !hi; p *= 2 ** width) await round(Array.from({ length: width }, (_, i) => p * 2 ** (i + 1)));
  while (hi - lo > 1) {
    const step = (hi - lo) / (width + 1);
    const ns = [...new Set(Array.from({ length: width }, (_, i) => Math.floor(lo + step * (i + 1))))].filter((n) => n > lo && n < hi);
    await round(ns); // ns is never empty while hi - lo ≥ 2, and each answer narrows the gap
  }
  return lo;
}

// LogViewer loads the attempt's lines by range, then follows the live
// stream from the last line held; the line number keys every line, so a
// reconnect neither repeats nor skips one. Only the rows in view exist in
// the DOM.
export function LogViewer({ tenant, run, step, attempt, line, onLine }: Props) {
  const buf = useMemo(() => new LogBuffer(), [tenant, run, step, attempt]);
  const [version, setVersion] = useState(0);
  const [state, setState] = useState('loading');
  const [viewH, setViewH] = useState(600);
  const [v, setV] = useState(0);
  const [query, setQuery] = useState('');
  const [cur, setCur] = useState(0);
  const box = useRef<HTMLDivElement>(null);
  const stick = useRef(true); // follow the tail while the reader is at the bottom
  const [times, setTimes] = useState(() => readFlag(TIMES_KEY));
  // Sections start collapsed; these are the ones the reader opened.
  const [expanded, setExpanded] = useState<Set<number>>(() => new Set());

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
        // the stream would be 10,000 events. A small first page shows lines
        // at once; then a few pages are read at a time. Lines are keyed by
        // number, so pages may land in any order.
        type Page = { lines: LogLine[]; next: number };
        const read = (from: number, limit: number) => api<Page>(`${base}/logs?attempt=${attempt}&from=${from}&limit=${limit}`);
        const first = await read(1, FIRST_PAGE);
        if (stopped) return;
        for (const l of first.lines) buf.add(l);
        bump();
        performance.mark('log-first-page');
        let more = first.lines.length === FIRST_PAGE;
        if (more) {
          // A long log opens at its end, where a reader looks first: find
          // its last line (a line that exists at n, none at 2n: bisect),
          // read the page that ends there, then fill in the rest.
          const end = await lastLine((n) => read(n, 1).then((p) => p.lines.length > 0), FIRST_PAGE);
          if (stopped) return;
          if (end > 2 * FIRST_PAGE) {
            const tail = await read(end - FIRST_PAGE + 1, FIRST_PAGE);
            if (stopped) return;
            for (const l of tail.lines) buf.add(l);
            bump();
          }
        }
        while (more) {
          const from = buf.contiguous() + 1;
          const pages = await Promise.all(Array.from({ length: PARALLEL }, (_, i) => read(from + i * PAGE, PAGE)));
          if (stopped) return;
          for (const p of pages) for (const l of p.lines) buf.add(l);
          bump();
          more = pages.every((p) => p.lines.length === PAGE);
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

  // Where the reader is: v, a virtual offset in the full list of rows.
  // For a log taller than MAX_SCROLL px the scroll container is capped and
  // scrollTop maps onto v (scaled scrolling, see lib/scrollmap), so v, not
  // scrollTop, is the truth; code that moves the view sets v and the
  // scrollTop that stands for it.
  const total = buf.length;
  const secs = buf.sections();
  const map = useMemo(() => new RowMap(secs, expanded, total), [secs, expanded, total]);
  const mapRef = useRef(map);
  mapRef.current = map;
  const g = geometry(map.count, ROW, viewH);
  const gRef = useRef(g);
  gRef.current = g;
  const vRef = useRef(0);
  const own = useRef<number | null>(null); // a scrollTop this code set, whose scroll event is not the reader's
  const applied = useRef<number | undefined>(undefined); // the deep-linked line last moved to

  // Another step's log starts at its tail, like a fresh viewer.
  useLayoutEffect(() => {
    vRef.current = 0;
    setV(0);
    stick.current = true;
    applied.current = undefined;
    setExpanded(new Set());
  }, [buf]);

  // expandFor opens the section that hides line n; it says whether it had to.
  const expandFor = useCallback((n: number): boolean => {
    if (mapRef.current.row(n) !== null) return false;
    const s = buf.sections().find((x) => x.start < n && n <= x.end);
    if (s) setExpanded((e) => new Set(e).add(s.start));
    return true;
  }, [buf]);

  const syncScroll = useCallback(() => {
    const el = box.current;
    if (!el) return;
    const s = toScroll(gRef.current, vRef.current);
    if (Math.abs(el.scrollTop - s) >= 1) {
      own.current = s;
      el.scrollTop = s;
    }
  }, []);

  const moveTo = useCallback((nv: number) => {
    const gg = gRef.current;
    nv = clamp(Math.round(nv), 0, gg.maxV);
    vRef.current = nv;
    stick.current = nv >= gg.maxV - ROW * 2;
    setV(nv);
    syncScroll();
  }, [syncScroll]);

  // The same offset maps to another scrollTop when the log grows or the
  // box resizes: keep the scrollbar true to where the reader is.
  useLayoutEffect(() => {
    if (vRef.current > g.maxV) {
      vRef.current = g.maxV;
      setV(g.maxV);
    }
    syncScroll();
  }, [g.maxV, g.maxS, syncScroll]);

  // A deep link moves the view once, when its line has arrived (and only
  // if the line is not in view already: clicking a line number must not
  // scroll); otherwise new lines keep the tail in view while the reader is
  // at the bottom.
  useLayoutEffect(() => {
    if (!line) applied.current = undefined;
    if (line && line !== applied.current) {
      if (line > total || !buf.get(line)) return;
      if (expandFor(line)) return; // once its section is open
      applied.current = line;
      const r = mapRef.current.row(line)!;
      const top = (r - 1) * ROW;
      const gg = gRef.current;
      if (top < vRef.current || top + ROW > vRef.current + gg.view) moveTo(lineOffset(gg, r));
      stick.current = false;
      return;
    }
    if (stick.current) moveTo(gRef.current.maxV);
  }, [total, version, line, moveTo, map, expandFor]);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setViewH(el.clientHeight));
    ro.observe(el);
    // In a scaled box the browser's own wheel, touch and key steps would be
    // multiplied by the scale (a wheel notch would skip 100 lines), so they
    // move v directly. Scrollbar dragging stays native: it is what the map
    // is for. Listeners are not passive, to preventDefault.
    const onWheel = (e: WheelEvent) => {
      const gg = gRef.current;
      if (!gg.scaled || e.ctrlKey || e.deltaY === 0) return;
      e.preventDefault();
      el.scrollLeft += e.deltaX;
      moveTo(vRef.current + e.deltaY * (e.deltaMode === 1 ? ROW : e.deltaMode === 2 ? gg.view : 1));
    };
    let touchY: number | null = null;
    const onTouchStart = (e: TouchEvent) => { touchY = e.touches.length === 1 ? e.touches[0].clientY : null; };
    const onTouchMove = (e: TouchEvent) => {
      if (!gRef.current.scaled || touchY === null || e.touches.length !== 1) return;
      e.preventDefault();
      const y = e.touches[0].clientY;
      moveTo(vRef.current + (touchY - y));
      touchY = y;
    };
    el.addEventListener('wheel', onWheel, { passive: false });
    el.addEventListener('touchstart', onTouchStart, { passive: true });
    el.addEventListener('touchmove', onTouchMove, { passive: false });
    return () => {
      ro.disconnect();
      el.removeEventListener('wheel', onWheel);
      el.removeEventListener('touchstart', onTouchStart);
      el.removeEventListener('touchmove', onTouchMove);
    };
  }, [moveTo]);

  const onKeyDown = (e: React.KeyboardEvent) => {
    const gg = gRef.current;
    if (!gg.scaled || e.altKey || e.metaKey) return;
    const page = Math.max(ROW, gg.view - ROW);
    const step: Record<string, number> = {
      ArrowDown: ROW * 2, ArrowUp: -ROW * 2, PageDown: page, PageUp: -page,
      ' ': e.shiftKey ? -page : page, Home: -Infinity, End: Infinity,
    };
    const d = step[e.key];
    if (d === undefined) return;
    e.preventDefault();
    moveTo(d === -Infinity ? 0 : d === Infinity ? gg.maxV : vRef.current + d);
  };

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

  const [jumpTo, setJumpTo] = useState<number | null>(null);
  const jump = (i: number) => {
    if (hits.length === 0) return;
    const k = ((i % hits.length) + hits.length) % hits.length;
    setCur(k);
    setJumpTo(hits[k]);
    stick.current = false;
  };
  // A search hit in a collapsed section opens it first.
  useLayoutEffect(() => {
    if (jumpTo === null || expandFor(jumpTo)) return;
    moveTo(lineOffset(gRef.current, mapRef.current.row(jumpTo)!));
    stick.current = false;
    setJumpTo(null);
  }, [jumpTo, map, expandFor, moveTo]);

  const toggle = useCallback((start: number) => {
    setExpanded((e) => {
      const next = new Set(e);
      if (next.has(start)) next.delete(start);
      else next.add(start);
      return next;
    });
    stick.current = false;
  }, []);

  const download = async () => {
    const res = await fetch(tenantPath(tenant, `/runs/${run}/steps/${encodeURIComponent(step)}/logs/raw?attempt=${attempt}`), { headers: await authHeader() });
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement('a');
    a.href = url;
    a.download = `run-${run}-${step}-${attempt}.log`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  };

  // Unscaled, rows sit at their real offsets and the browser scrolls them;
  // scaled, they are drawn in a window pinned to the viewport, at offsets
  // relative to v.
  const [first, last] = visible(g, v, g.scaled ? 2 : OVERSCAN);
  const origin = g.scaled ? v : 0;
  const hitSet = new Set(query ? hits : []);
  const link = `#${encodeURIComponent(step)}`; // the deep link's step part, as the run page reads it
  const heads = new Map(secs.map((x) => [x.start, x]));
  const endLines = new Set(secs.map((x) => x.end));
  const rows = [];
  for (let r = first; r <= last; r++) {
    const n = map.line(r);
    const sec = heads.get(n);
    const l = buf.get(n);
    const head = sec && { title: sec.title, open: expanded.has(n), hidden: sec.end - sec.start, toggle };
    const end = !sec && endLines.has(n) && l?.text.trim() === '::endgroup::';
    rows.push(<Row key={n} n={n} top={(r - 1) * ROW - origin} l={l} hit={hitSet.has(n)} target={n === line} onLine={onLine} link={link} time={times} head={head} end={end} />);
  }

  return (
    <div className="logs">
      <div className="log-bar">
        <strong>{step}</strong>
        <span className="muted">attempt {attempt} · {total.toLocaleString()} {total === 1 ? "line" : "lines"}{state !== 'loading' && buf.missing() ? ` · ${buf.missing()} missing` : ''} · {state}</span>
        <span className="spacer" />
        <input type="search" aria-label="Search the log" placeholder="Search log" value={query}
          onChange={(e) => { setQuery(e.target.value); setCur(0); }}
          onKeyDown={(e) => { if (e.key === 'Enter') jump(cur + (e.shiftKey ? -1 : 1)); }} />
        {query && <span className="muted small">{hits.length ? `${cur + 1}/${hits.length}` : 'no match'}</span>}
        <button className="secondary" aria-pressed={times} onClick={() => { setTimes(!times); writeFlag(TIMES_KEY, !times); }}>Timestamps</button>
        <button className="secondary" onClick={download}>Raw</button>
      </div>
      <div className="log-box" ref={box} tabIndex={0} aria-label={`Log of ${step}`} data-scaled={g.scaled || undefined}
        onKeyDown={onKeyDown}
        onScroll={(e) => {
          const s = e.currentTarget.scrollTop;
          if (own.current !== null && Math.abs(s - own.current) < 1) {
            own.current = null; // the echo of a move made in code: v is already right
            return;
          }
          own.current = null;
          const nv = toVirtual(gRef.current, s);
          vRef.current = nv;
          stick.current = nv >= gRef.current.maxV - ROW * 2;
          setV(nv);
        }}>
        {g.scaled
          ? <>
              <div className="log-window" style={{ position: 'sticky', top: 0, height: g.view, overflowY: 'clip' }}>{rows}</div>
              <div style={{ height: g.scroll - g.view }} />
            </>
          : <div style={{ height: g.height, position: 'relative' }}>{rows}</div>}
        {total === 0 && <p className="muted pad">{state === 'complete' ? 'This step printed nothing.' : 'Waiting for output…'}</p>}
      </div>
    </div>
  );
}
