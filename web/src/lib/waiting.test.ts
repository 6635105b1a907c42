import { describe, expect, it } from 'vitest';
import type { Step } from './types';
import { displaySteps } from './waiting';

const st = (name: string, status: string): Step => ({ name, status, attempt: 0, depends_on: [] });

describe('displaySteps', () => {
  it('shows the unstarted steps of a pending run as pending with its place in line', () => {
    const out = displaySteps({ admission: 'pending', position: 3, steps: [st('a', 'waiting'), st('b', 'queued')] });
    expect(out.map((s) => [s.status, s.place_in_line])).toEqual([['pending', 3], ['pending', 3]]);
  });
  it('shows those of a blocked run as blocked, without a place', () => {
    const out = displaySteps({ admission: 'blocked', steps: [st('a', 'waiting'), st('b', 'succeeded')] });
    expect(out.map((s) => [s.status, s.place_in_line])).toEqual([['blocked', undefined], ['succeeded', undefined]]);
  });
  it('leaves an admitted run as it is', () => {
    const steps = [st('a', 'waiting')];
    expect(displaySteps({ steps })).toBe(steps);
  });
});
