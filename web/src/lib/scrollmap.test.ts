import { describe, expect, it } from 'vitest';
import { MAX_SCROLL, geometry, lineOffset, toScroll, toVirtual, visible } from './scrollmap';

const ROW = 18;

describe('scrollmap', () => {
  it('is the identity below the cap', () => {
    const g = geometry(1000, ROW, 400);
    expect(g.scaled).toBe(false);
    expect(g.scroll).toBe(18_000);
    expect(toVirtual(g, 1234)).toBe(1234);
    expect(toScroll(g, 1234)).toBe(1234);
    expect(toVirtual(g, 1e9)).toBe(g.maxV);
  });

  it('caps a million rows and maps both ends exactly', () => {
    const g = geometry(1_000_000, ROW, 420);
    expect(g.scaled).toBe(true);
    expect(g.scroll).toBe(MAX_SCROLL);
    expect(g.scroll).toBeLessThan(2 ** 24);
    expect(toVirtual(g, 0)).toBe(0);
    expect(toVirtual(g, g.maxS)).toBe(g.maxV);
    expect(toScroll(g, g.maxV)).toBe(g.maxS);
    // The last row ends exactly at the bottom of the viewport.
    const [, last] = visible(g, g.maxV, 0);
    expect(last).toBe(1_000_000);
    expect(last * ROW - g.maxV).toBe(g.view);
  });

  it('maps every scrollTop to a whole-pixel offset, monotonically', () => {
    const g = geometry(1_000_000, ROW, 420);
    let prev = -1;
    for (let s = 0; s <= g.maxS; s += 997) {
      const v = toVirtual(g, s);
      expect(Number.isInteger(v)).toBe(true);
      expect(v).toBeGreaterThan(prev);
      prev = v;
    }
  });

  it('round-trips an offset to within one scroll pixel', () => {
    const g = geometry(1_000_000, ROW, 420);
    const ratio = g.maxV / g.maxS;
    for (const line of [1, 2, 42, 500_000, 999_999, 1_000_000]) {
      const v = lineOffset(g, line);
      expect(Math.abs(toVirtual(g, toScroll(g, v)) - v)).toBeLessThanOrEqual(Math.ceil(ratio / 2));
    }
  });

  it('puts a jumped-to line in view with context above it', () => {
    const g = geometry(1_000_000, ROW, 420);
    for (const line of [1, 3, 42, 999_999, 1_000_000]) {
      const v = lineOffset(g, line);
      const [first, last] = visible(g, v, 0);
      expect(line).toBeGreaterThanOrEqual(first);
      expect(line).toBeLessThanOrEqual(last);
      expect((line - 1) * ROW - v).toBeLessThanOrEqual(g.view - ROW);
    }
  });

  it('handles an empty list and a list shorter than the viewport', () => {
    for (const n of [0, 3]) {
      const g = geometry(n, ROW, 420);
      expect(g.maxV).toBe(0);
      expect(toVirtual(g, 50)).toBe(0);
      expect(toScroll(g, 50)).toBe(0);
      const [first, last] = visible(g, 0, 5);
      expect(first).toBe(1);
      expect(last).toBe(n);
    }
  });
});
