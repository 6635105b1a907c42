import dagre from '@dagrejs/dagre';
import type { Step } from './types';

export const NODE_W = 180;
export const NODE_H = 56;

export interface Placed {
  name: string;
  x: number; // top-left
  y: number;
}

// layout places the steps left to right with dagre. Dependencies on names
// that are not steps are ignored rather than invented as nodes.
export function layout(steps: Pick<Step, 'name' | 'depends_on'>[]): { nodes: Placed[]; width: number; height: number } {
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
  const gr = g.graph();
  return { nodes, width: gr.width ?? 0, height: gr.height ?? 0 };
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
