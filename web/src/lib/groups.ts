// Collapsible sections of a log. A step prints "::group::Title" to start
// a section and "::endgroup::" to end it (as in GitHub Actions); sections
// do not nest: a new ::group:: before the ::endgroup:: starts the next
// one. A collapsed section shows its ::group:: line as a header and hides
// the rest, through its ::endgroup:: line; a section whose end has not
// been printed yet runs to the last line.

export const GROUP = '::group::';
export const ENDGROUP = '::endgroup::';

export interface Section {
  start: number; // the ::group:: line
  end: number; // the ::endgroup:: line, or the last line while it is open
  title: string;
}

// sections pairs the markers: starts and ends are line numbers, sorted.
export function sections(starts: number[], ends: number[], titles: Map<number, string>, total: number): Section[] {
  const out: Section[] = [];
  let j = 0;
  for (let i = 0; i < starts.length; i++) {
    const s = starts[i];
    const next = i + 1 < starts.length ? starts[i + 1] : Infinity;
    while (j < ends.length && ends[j] <= s) j++;
    const e = j < ends.length && ends[j] < next ? ends[j] : Math.min(next - 1, total);
    out.push({ start: s, end: e, title: titles.get(s) ?? '' });
  }
  return out;
}

// RowMap maps the rows on screen to line numbers, skipping the lines of
// collapsed sections. Without collapsed sections it is the identity.
export class RowMap {
  private hidden: [number, number][]; // [first, last] hidden lines, sorted
  readonly count: number;

  constructor(secs: Section[], expanded: Set<number>, readonly total: number) {
    this.hidden = [];
    let n = total;
    for (const s of secs) {
      if (expanded.has(s.start) || s.end <= s.start) continue;
      this.hidden.push([s.start + 1, s.end]);
      n -= s.end - s.start;
    }
    this.count = n;
  }

  // line is the line number shown on row r (1-based).
  line(r: number): number {
    let n = r;
    for (const [a, b] of this.hidden) {
      if (a > n) break;
      n += b - a + 1;
    }
    return n;
  }

  // row is line n's row, or null when a collapsed section hides it.
  row(n: number): number | null {
    let r = n;
    for (const [a, b] of this.hidden) {
      if (a > n) break;
      if (n <= b) return null;
      r -= b - a + 1;
    }
    return r;
  }
}
