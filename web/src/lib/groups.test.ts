import { describe, expect, it } from 'vitest';
import { RowMap, sections } from './groups';

describe('sections', () => {
  it('pairs each ::group:: with its ::endgroup::, and runs an open one to the last line', () => {
    const t = new Map([[2, 'Build'], [7, 'Test']]);
    expect(sections([2, 7], [5], t, 9)).toEqual([{ start: 2, end: 5, title: 'Build' }, { start: 7, end: 9, title: 'Test' }]);
  });
  it('ends a section at the next ::group:: when its ::endgroup:: is missing', () => {
    expect(sections([1, 4], [6], new Map(), 8)).toEqual([{ start: 1, end: 3, title: '' }, { start: 4, end: 6, title: '' }]);
  });
});

describe('RowMap', () => {
  const secs = [{ start: 2, end: 5, title: 'a' }, { start: 8, end: 9, title: 'b' }];
  it('hides the lines of collapsed sections, keeping their headers', () => {
    const m = new RowMap(secs, new Set(), 12);
    expect(m.count).toBe(12 - 3 - 1);
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((r) => m.line(r))).toEqual([1, 2, 6, 7, 8, 10, 11, 12]);
    expect(m.row(2)).toBe(2);
    expect(m.row(4)).toBeNull();
    expect(m.row(6)).toBe(3);
    expect(m.row(9)).toBeNull();
    expect(m.row(12)).toBe(8);
  });
  it('shows an expanded section whole', () => {
    const m = new RowMap(secs, new Set([2]), 12);
    expect(m.count).toBe(11);
    expect(m.row(4)).toBe(4);
    expect(m.line(9)).toBe(10);
  });
  it('is the identity without sections', () => {
    const m = new RowMap([], new Set(), 5);
    expect([1, 5].map((r) => m.line(r))).toEqual([1, 5]);
    expect(m.row(3)).toBe(3);
  });
});
