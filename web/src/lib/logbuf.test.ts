import { describe, expect, it } from 'vitest';
import { LogBuffer, type LogLine } from './logbuf';

const line = (n: number, stream: 'stdout' | 'stderr' = 'stdout'): LogLine => ({ n, stream, time: '', text: `line ${n}` });

describe('LogBuffer', () => {
  it('keys lines by number: a replay after reconnect adds nothing twice', () => {
    const b = new LogBuffer();
    for (let n = 1; n <= 5; n++) expect(b.add(line(n))).toBe(true);
    for (let n = 3; n <= 7; n++) b.add(line(n)); // the stream resumed from 2
    expect(b.length).toBe(7);
    expect(b.contiguous()).toBe(7);
    expect(b.missing()).toBe(0);
    expect(b.get(4)!.text).toBe('line 4');
  });
  it('shows a gap instead of closing it, and reports where to resume', () => {
    const b = new LogBuffer();
    b.add(line(1));
    b.add(line(2));
    b.add(line(5, 'stderr'));
    expect(b.length).toBe(5);
    expect(b.contiguous()).toBe(2);
    expect(b.missing()).toBe(2);
    expect(b.get(3)).toBeUndefined();
    b.add(line(3));
    b.add(line(4));
    expect(b.contiguous()).toBe(5);
  });
  it('rejects impossible line numbers', () => {
    const b = new LogBuffer();
    expect(b.add(line(0))).toBe(false);
    expect(b.add({ ...line(1), n: 1.5 })).toBe(false);
    expect(b.length).toBe(0);
  });
});
