import { describe, expect, it } from 'vitest';
import { contentHeight, criticalPath, fitViewport, formatDuration, layout, NODE_H, NODE_W, routePath } from './dag';
import type { Step } from './types';

const step = (name: string, deps: string[], ms?: number): Step => ({ name, status: 'succeeded', attempt: 1, depends_on: deps, duration_ms: ms });

describe('layout', () => {
  it('puts every dependency left of its dependant and no two nodes on top of each other', () => {
    const steps = [step('A', []), step('B', []), step('C', ['A']), step('D', ['A', 'B']), step('E', ['B'])];
    const { nodes } = layout(steps);
    const at = new Map(nodes.map((n) => [n.name, n]));
    for (const s of steps) for (const d of s.depends_on) expect(at.get(d)!.x + NODE_W).toBeLessThan(at.get(s.name)!.x);
    for (const a of nodes) for (const b of nodes) {
      if (a === b) continue;
      const overlap = Math.abs(a.x - b.x) < NODE_W && Math.abs(a.y - b.y) < NODE_H;
      expect(overlap, `${a.name} overlaps ${b.name}`).toBe(false);
    }
  });
  it('ignores a dependency on a name that is not a step', () => {
    expect(layout([step('A', ['ghost'])]).nodes.map((n) => n.name)).toEqual(['A']);
  });
});

describe('routes', () => {
  // Two fan-outs and edges that skip ranks: where straight curves would cut
  // across nodes between their ends.
  const nine = [step('checkout', []), step('compile', ['checkout']), step('lint', ['checkout']), step('firehose', ['checkout']),
    step('unit', ['compile']), step('integration', ['compile']), step('package', ['unit', 'integration', 'lint']),
    step('docs', ['package']), step('deploy', ['package', 'firehose'])];

  it('never pass under a node they do not join', () => {
    const { nodes, routes } = layout(nine);
    expect(routes).toHaveLength(11);
    for (const r of routes) {
      const { points: pts } = r;
      // Sample the straight stretches; the curves stay inside their gap's x-range, where no node is.
      for (let i = 1; i < pts.length; i++) {
        const [p, q] = [pts[i - 1], pts[i]];
        for (let t = 0; t <= 1; t += 0.05) {
          const x = p.x + (q.x - p.x) * t;
          const y = i % 2 === 1 ? NaN : p.y; // a gap stretch: check x only
          for (const n of nodes) {
            if (n.name === r.source || n.name === r.target) continue;
            const insideX = x > n.x + 0.5 && x < n.x + NODE_W - 0.5;
            if (i % 2 === 1) expect(insideX, `${r.source}->${r.target} bends inside ${n.name}'s column`).toBe(false);
            else expect(insideX && y > n.y && y < n.y + NODE_H, `${r.source}->${r.target} passes under ${n.name}`).toBe(false);
          }
        }
      }
    }
  });

  it('start at the source\'s right side and end at the target\'s left side', () => {
    const { nodes, routes } = layout(nine);
    const at = new Map(nodes.map((n) => [n.name, n]));
    for (const r of routes) {
      const [a, b] = [at.get(r.source)!, at.get(r.target)!];
      expect(r.points[0]).toEqual({ x: a.x + NODE_W, y: a.y + NODE_H / 2 });
      expect(r.points.at(-1)).toEqual({ x: b.x, y: b.y + NODE_H / 2 });
      expect(r.points.length % 2).toBe(0);
    }
  });

  it('draw as curves across gaps and lines across columns', () => {
    expect(routePath([{ x: 0, y: 0 }, { x: 10, y: 20 }, { x: 30, y: 20 }, { x: 40, y: 0 }])).toBe('M0,0 C5,0 5,20 10,20 L30,20 C35,20 35,0 40,0');
  });
});

describe('fitting the graph', () => {
  it('shows the whole graph centred, never above life size', () => {
    expect(fitViewport(1000, 200, 516, 400)).toEqual({ zoom: 0.5, x: 8, y: 150 });
    expect(fitViewport(100, 50, 300, 100)).toEqual({ zoom: 1, x: 100, y: 25 });
  });
  it('sizes the box to the graph at the zoom that fits the width', () => {
    expect(contentHeight(1000, 200, 516)).toBe(116);
    expect(contentHeight(100, 50, 1000)).toBe(66);
  });
});

describe('criticalPath', () => {
  it('follows the longest chain by duration, not by count', () => {
    // A(1s)->C(1s) vs B(5s)->D(1s): B-D is longer although both have two steps.
    const steps = [step('A', [], 1000), step('B', [], 5000), step('C', ['A'], 1000), step('D', ['A', 'B'], 1000), step('E', ['B'], 100)];
    expect(criticalPath(steps)).toEqual(['B', 'D']);
  });
  it('counts a running step by the time since it started', () => {
    const now = Date.parse('2026-01-01T00:00:10Z');
    const running: Step = { name: 'slow', status: 'running', attempt: 1, depends_on: [], started_at: '2026-01-01T00:00:00Z' };
    expect(criticalPath([step('fast', [], 2000), running, step('after', ['fast'], 2000)], now)).toEqual(['slow']);
  });
  it('is empty for no steps', () => {
    expect(criticalPath([])).toEqual([]);
  });
});

describe('formatDuration', () => {
  it('reads like a person would say it', () => {
    expect([450, 1500, 42_000, 125_000, 3_900_000].map(formatDuration)).toEqual(['450ms', '1.5s', '42s', '2m 5s', '1h 5m']);
  });
});
