import dagre from '@dagrejs/dagre';
import type { Step } from './types';

export const NODE_W = 180;
export const NODE_H = 56;

export interface Placed {
  name: string;
  x: number; // top-left
  y: number;
}

export interface Point {
  x: number;
  y: number;
}

// A route is an edge's way from its source's right side to its target's
// left side. Its points alternate: [from, gap, column, gap, column, …, to]:
// the odd-to-even stretches cross a column of nodes horizontally at a
// height dagre kept free for the edge, and the others cross the empty gap
// between two columns, where they may bend. So no edge passes under a
// node it does not join.
export interface Route {
  source: string;
  target: string;
  points: Point[];
}

// layout places the steps left to right with dagre. Dependencies on names
// that are not steps are ignored rather than invented as nodes.
export function layout(steps: Pick<Step, 'name' | 'depends_on'>[]): { nodes: Placed[]; routes: Route[]; width: number; height: number } {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 24, ranksep: 60, marginx: 8, marginy: 8 });
  g.setDefaultEdgeLabel(() => ({}));
  const names = new Set(steps.map((s) => s.name));
  for (const s of steps) g.setNode(s.name, { width: NODE_W, height: NODE_H });
  for (const s of steps) for (const d of s.depends_on) if (names.has(d)) g.setEdge(d, s.name);
  dagre.layout(g);
  const nodes = steps.map((s) => {
    const n = g.node(s.name);
    return { name: s.name, x: n.x - NODE_W / 2, y: n.y - NODE_H / 2 };
  });
  // Columns: the centres of the ranks. dagre passes a long edge through
  // each rank it spans at a dummy node's height; those are the points of
  // its route that lie in a column.
  const columns = [...new Set(nodes.map((n) => n.x + NODE_W / 2))];
  const routes: Route[] = g.edges().map((e) => {
    const a = g.node(e.v);
    const b = g.node(e.w);
    const points: Point[] = [{ x: a.x + NODE_W / 2, y: a.y }];
    const inner = (g.edge(e).points ?? []).slice(1, -1);
    for (const p of inner) {
      const c = columns.find((cx) => Math.abs(p.x - cx) < NODE_W / 2);
      if (c === undefined || c <= a.x || c >= b.x) continue; // a bend in a gap: the curve makes its own
      points.push({ x: c - NODE_W / 2, y: p.y }, { x: c + NODE_W / 2, y: p.y });
    }
    points.push({ x: b.x - NODE_W / 2, y: b.y });
    return { source: e.v, target: e.w, points };
  });
  const gr = g.graph();
  return { nodes, routes, width: gr.width ?? 0, height: gr.height ?? 0 };
}

// routePath draws a route as an SVG path: straight across columns, an
// S-curve with horizontal ends across each gap (it stays inside the gap).
export function routePath(points: Point[]): string {
  let d = `M${points[0].x},${points[0].y}`;
  for (let i = 1; i < points.length; i++) {
    const p = points[i - 1];
    const q = points[i];
    if (i % 2 === 1) {
      const dx = (q.x - p.x) / 2;
      d += ` C${p.x + dx},${p.y} ${q.x - dx},${q.y} ${q.x},${q.y}`;
    } else d += ` L${q.x},${q.y}`;
  }
  return d;
}

// fitViewport is the pan and zoom that shows a w×h graph whole and centred
// in a box, never larger than life.
export function fitViewport(w: number, h: number, boxW: number, boxH: number, pad = 8): { x: number; y: number; zoom: number } {
  if (w <= 0 || h <= 0 || boxW <= 0 || boxH <= 0) return { x: 0, y: 0, zoom: 1 };
  const zoom = Math.min(1, (boxW - 2 * pad) / w, (boxH - 2 * pad) / h);
  return { x: (boxW - w * zoom) / 2, y: (boxH - h * zoom) / 2, zoom };
}

// contentHeight is the box height a w×h graph needs when it is zoomed to
// fit a box boxW wide: the graph's box is sized to its content.
export function contentHeight(w: number, h: number, boxW: number, pad = 8): number {
  if (w <= 0 || h <= 0 || boxW <= 0) return 0;
  return Math.ceil(h * Math.min(1, (boxW - 2 * pad) / w) + 2 * pad);
}

// elapsed is a step's duration so far: its recorded duration, or for a
// running step the time since it started.
export function elapsed(s: Step, now: number): number {
  if (s.duration_ms !== undefined) return s.duration_ms;
  if (s.started_at && !s.finished_at) return Math.max(0, now - Date.parse(s.started_at));
  if (s.started_at && s.finished_at) return Date.parse(s.finished_at) - Date.parse(s.started_at);
  return 0;
}

// criticalPath is the chain of dependencies with the largest total
// duration: the steps that decided how long the run took. Ties go to the
// step listed first, so the answer is stable.
export function criticalPath(steps: Step[], now: number = Date.now()): string[] {
  const by = new Map(steps.map((s) => [s.name, s]));
  const best = new Map<string, { total: number; prev?: string }>();
  const visiting = new Set<string>();
  const visit = (name: string): number => {
    const got = best.get(name);
    if (got) return got.total;
    if (visiting.has(name)) return 0; // a cycle cannot pass validation; stay finite anyway
    visiting.add(name);
    const s = by.get(name)!;
    let prev: string | undefined;
    let longest = 0;
    for (const d of s.depends_on) {
      if (!by.has(d)) continue;
      const t = visit(d);
      if (prev === undefined || t > longest) { longest = t; prev = d; }
    }
    visiting.delete(name);
    const total = longest + elapsed(s, now);
    best.set(name, { total, prev });
    return total;
  };
  let end: string | undefined;
  let max = -1;
  for (const s of steps) {
    const t = visit(s.name);
    if (t > max) { max = t; end = s.name; }
  }
  const path: string[] = [];
  for (let n = end; n !== undefined; n = best.get(n)!.prev) path.unshift(n);
  return path;
}

// formatDuration renders milliseconds the way a person reads a run.
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${Math.round(s % 60)}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}
