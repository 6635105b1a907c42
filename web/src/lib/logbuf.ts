// The lines of one step attempt, keyed by line number. Lines arrive from a
// ranged read and from the live stream, maybe both and maybe repeated
// across reconnects; the number decides where each goes, so nothing is
// duplicated and a gap is visible instead of silently closed.

import { ENDGROUP, GROUP, sections, type Section } from './groups';

export interface LogLine {
  n: number;
  stream: 'stdout' | 'stderr';
  time: string;
  text: string;
  raw?: string;
}

export class LogBuffer {
  // Dense: lines[n-1] is line n. Holes stay undefined until filled.
  private lines: (LogLine | undefined)[] = [];
  private have = 0;
  // Section markers (lib/groups), by line number.
  private starts: number[] = [];
  private ends: number[] = [];
  private titles = new Map<number, string>();
  private cache: { key: string; secs: Section[] } = { key: '', secs: [] };

  add(l: LogLine): boolean {
    if (!Number.isInteger(l.n) || l.n < 1) return false;
    if (this.lines[l.n - 1]) return false;
    if (l.n > this.lines.length) this.lines.length = l.n;
    this.lines[l.n - 1] = l;
    this.have++;
    const t = l.text.trim();
    if (t.startsWith(GROUP)) {
      insertSorted(this.starts, l.n);
      this.titles.set(l.n, t.slice(GROUP.length).trim());
    } else if (t === ENDGROUP) insertSorted(this.ends, l.n);
    return true;
  }

  // sections are the log's collapsible sections so far.
  sections(): Section[] {
    if (this.starts.length === 0) return [];
    const key = `${this.starts.length}/${this.ends.length}/${this.lines.length}`;
    if (this.cache.key !== key) this.cache = { key, secs: sections(this.starts, this.ends, this.titles, this.lines.length) };
    return this.cache.secs;
  }

  get(n: number): LogLine | undefined {
    return this.lines[n - 1];
  }

  // length is the highest line number held.
  get length(): number {
    return this.lines.length;
  }

  // contiguous is the highest n such that lines 1..n are all held: where a
  // resumed stream must continue from.
  contiguous(): number {
    if (this.have === this.lines.length) return this.have;
    for (let i = 0; i < this.lines.length; i++) if (!this.lines[i]) return i;
    return this.lines.length;
  }

  missing(): number {
    return this.lines.length - this.have;
  }
}

function insertSorted(a: number[], n: number) {
  let i = a.length;
  while (i > 0 && a[i - 1] > n) i--;
  a.splice(i, 0, n);
}
