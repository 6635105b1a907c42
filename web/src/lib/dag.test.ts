import { describe, expect, it } from 'vitest';
import { criticalPath, formatDuration, layout, NODE_H, NODE_W } from './dag';
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
