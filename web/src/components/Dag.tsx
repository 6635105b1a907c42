import { useLayoutEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { Handle, Position, ReactFlow, type Edge, type EdgeProps, type Node, type NodeProps } from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { contentHeight, elapsed, fitViewport, formatDuration, layout, NODE_H, NODE_W, routePath } from '../lib/dag';
import type { Step } from '../lib/types';
import { stepLabel } from '../lib/words';

// Where StepNode's two handles sit: the middle of its left and right sides.
const HANDLES: NonNullable<Node['handles']> = [
  { type: 'target', position: Position.Left, x: 0, y: NODE_H / 2, width: 1, height: 1 },
  { type: 'source', position: Position.Right, x: NODE_W, y: NODE_H / 2, width: 1, height: 1 },
];

type StepNode = Node<{ step: Step; selected: boolean; now: number }, 'step'>;

// StepCard is a node: its status is a class (st-<status>) that sets the
// colour, and a pending step shows its run's place in line. children are
// React Flow's edge handles.
export function StepCard({ step: s, selected, now, children }: { step: Step; selected: boolean; now: number; children?: ReactNode }) {
  const waitNote = s.status === 'pending' && s.place_in_line !== undefined ? ` #${s.place_in_line}` : '';
  const noWorker = s.status === 'queued' && s.waiting_reason ? ' · no worker' : '';
  return (
    <div className={`node st-${s.status.replace(/[^a-z_-]/gi, '')}${selected ? ' sel' : ''}`} title={s.waiting_reason || s.reason || s.status} data-step={s.name} data-status={s.status}>
      {children}
      <div className="node-name">{s.name}</div>
      <div className="node-meta">
        <span>{stepLabel(s)}{waitNote}{noWorker}</span>
        <span>{formatDuration(s.started_at ? elapsed(s, now) : undefined)}</span>
      </div>
    </div>
  );
}

function StepBox({ data }: NodeProps<StepNode>) {
  return (
    <StepCard step={data.step} selected={data.selected} now={data.now}>
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </StepCard>
  );
}

type RouteEdge = Edge<{ path: string }, 'route'>;

// RouteDrawn draws the route layout() found, not React Flow's own curve,
// which would cut straight across the nodes between far-apart steps.
function RouteDrawn({ source, target, data, markerEnd, style }: EdgeProps<RouteEdge>) {
  return <path className="react-flow__edge-path" data-source={source} data-target={target} d={data!.path} markerEnd={markerEnd} style={style} fill="none" />;
}

const nodeTypes = { step: StepBox };
const edgeTypes = { route: RouteDrawn };

const HEIGHT_KEY = 'runbook_graph_height'; // the reader's chosen height, px, or "hidden"
const MIN_H = 80;

function savedHeight(): number | 'hidden' | undefined {
  try {
    const v = localStorage.getItem(HEIGHT_KEY);
    if (v === 'hidden') return v;
    const n = Number(v);
    return v && Number.isFinite(n) && n >= MIN_H ? n : undefined;
  } catch {
    return undefined;
  }
}

function saveHeight(v: number | 'hidden' | undefined) {
  try {
    if (v === undefined) localStorage.removeItem(HEIGHT_KEY);
    else localStorage.setItem(HEIGHT_KEY, String(v));
  } catch {
    // not remembered: storage is blocked
  }
}

// Dag draws the run's steps as a graph. The box is as tall as the graph
// needs at the zoom that fits its width (at most 40% of the window, so the
// log keeps the page), and the whole graph is fitted in it, at any width.
// The reader may drag its bottom edge or hide it; the choice is kept.
export function Dag({ steps, selected, onSelect, now }: { steps: Step[]; selected?: string; onSelect: (s: string) => void; now: number }) {
  // Layout depends on the graph's shape only, not on statuses.
  const shape = steps.map((s) => `${s.name}<${s.depends_on.join(',')}`).join(';');
  const placed = useMemo(() => layout(steps), [shape]); // eslint-disable-line react-hooks/exhaustive-deps
  const box = useRef<HTMLDivElement>(null);
  const [boxW, setBoxW] = useState(0);
  const [chosen, setChosen] = useState(savedHeight);
  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    setBoxW(el.clientWidth);
    const ro = new ResizeObserver(() => setBoxW(el.clientWidth));
    ro.observe(el);
    return () => ro.disconnect();
  }, [chosen === 'hidden']); // eslint-disable-line react-hooks/exhaustive-deps

  const cap = Math.max(160, Math.round(window.innerHeight * 0.4));
  const auto = Math.max(MIN_H, Math.min(contentHeight(placed.width, placed.height, boxW), cap));
  const height = typeof chosen === 'number' ? chosen : auto;
  const fitted = fitViewport(placed.width, placed.height, boxW, height);
  const [viewport, setViewport] = useState(fitted);
  // Refit when the shape or the box changes; the reader's pan and zoom
  // hold until then.
  const fitKey = `${shape}|${boxW}|${height}`;
  const lastFit = useRef('');
  if (lastFit.current !== fitKey && boxW > 0) {
    lastFit.current = fitKey;
    if (viewport.x !== fitted.x || viewport.y !== fitted.y || viewport.zoom !== fitted.zoom) setViewport(fitted);
  }

  const drag = useRef<{ y: number; h: number } | null>(null);
  const setChosenHeight = (h: number | 'hidden' | undefined) => {
    const v = typeof h === 'number' ? Math.max(MIN_H, Math.round(h)) : h;
    setChosen(v);
    saveHeight(v);
  };

  if (chosen === 'hidden') {
    return (
      <div className="dag-bar">
        <button className="secondary small-button" onClick={() => setChosenHeight(undefined)} aria-expanded={false}>Show graph</button>
      </div>
    );
  }

  const by = new Map(steps.map((s) => [s.name, s]));
  const nodes: StepNode[] = placed.nodes.map((p) => ({
    id: p.name,
    type: 'step',
    position: { x: p.x, y: p.y },
    data: { step: by.get(p.name)!, selected: p.name === selected, now },
    draggable: false,
    // Fixed sizes: the nodes are rebuilt on every update (status, clock), and
    // React Flow hides a node it has not measured; with the size given it
    // never needs to, so no update can leave the graph blank.
    width: NODE_W,
    height: NODE_H,
    // The handles too: React Flow draws an edge only between nodes whose
    // handles it knows, and it forgets measured ones whenever a node object
    // is replaced, which is every update here; a last update could then
    // leave every edge undrawn. Given, they never need measuring.
    handles: HANDLES,
  }));
  const edges: RouteEdge[] = placed.routes.map((r) => ({
    id: `${r.source}->${r.target}`,
    source: r.source,
    target: r.target,
    type: 'route',
    data: { path: routePath(r.points) },
    animated: by.get(r.target)?.status === 'running',
  }));
  return (
    <div className="dag-wrap">
      <div className="dag" ref={box} style={{ height }}>
        {/* Drawn once the box's width is known: a first draw at a guessed
            size would lay out every node twice. */}
        {boxW > 0 && <ReactFlow
          nodes={nodes}
          edges={edges}
          nodeTypes={nodeTypes}
          edgeTypes={edgeTypes}
          onNodeClick={(_, n) => onSelect(n.id)}
          viewport={viewport}
          onViewportChange={setViewport}
          nodesConnectable={false}
          proOptions={{ hideAttribution: true }}
          minZoom={0.05}
        />}
      </div>
      <div className="dag-bar">
        <div
          className="dag-resize" role="separator" aria-orientation="horizontal" aria-label="Graph height" tabIndex={0}
          aria-valuenow={height} aria-valuemin={MIN_H}
          onPointerDown={(e) => { e.currentTarget.setPointerCapture(e.pointerId); drag.current = { y: e.clientY, h: height }; }}
          onPointerMove={(e) => { if (drag.current) setChosen(Math.max(MIN_H, Math.round(drag.current.h + e.clientY - drag.current.y))); }}
          onPointerUp={(e) => { if (drag.current) { setChosenHeight(drag.current.h + e.clientY - drag.current.y); drag.current = null; } }}
          onKeyDown={(e) => {
            if (e.key === 'ArrowDown' || e.key === 'ArrowUp') { e.preventDefault(); setChosenHeight(height + (e.key === 'ArrowDown' ? 40 : -40)); }
          }}
        />
        {typeof chosen === 'number' && <button className="link small" onClick={() => setChosenHeight(undefined)}>Fit to graph</button>}
        <button className="link small" onClick={() => setChosenHeight('hidden')} aria-expanded>Hide graph</button>
      </div>
    </div>
  );
}
