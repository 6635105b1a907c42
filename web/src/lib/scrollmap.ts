// Scaled scrolling for very long lists of fixed-height rows.
//
// A million 18 px rows are 18,000,000 px tall. Past about 16.7M px the
// compositor's float32 offsets lose whole pixels, so rows near the end are
// drawn 16 and 20 px apart, however the rows themselves are positioned. So
// the scroll container never gets taller than MAX_SCROLL: its scroll
// position s maps linearly onto a virtual offset v in the full list, and
// the rows are drawn in a window pinned to the viewport at (n-1)*row - v,
// small numbers that are exact. Below MAX_SCROLL the map is the identity
// and the browser scrolls the real thing.

// MAX_SCROLL stays far below 2^24 px, where float32 still holds 1/16 px.
export const MAX_SCROLL = 1_000_000;

export interface Geometry {
  rows: number; // number of rows
  row: number; // px per row
  view: number; // viewport height, px
  height: number; // the full list, px: rows*row
  scroll: number; // the scroll container's content height, px
  maxV: number; // largest virtual offset: the last row at the bottom
  maxS: number; // largest scrollTop
  scaled: boolean;
}

export function geometry(rows: number, row: number, view: number, max = MAX_SCROLL): Geometry {
  const height = rows * row;
  const scaled = height > max;
  const scroll = scaled ? max : height;
  return {
    rows, row, view, height, scroll, scaled,
    maxV: Math.max(0, height - view),
    maxS: Math.max(0, scroll - view),
  };
}

// toVirtual maps a scrollTop to a virtual offset, a whole number of px so
// every row lands on an exact pixel.
export function toVirtual(g: Geometry, s: number): number {
  if (!g.scaled) return clamp(Math.round(s), 0, g.maxV);
  if (g.maxS <= 0) return 0;
  return clamp(Math.round((s / g.maxS) * g.maxV), 0, g.maxV);
}

// toScroll maps a virtual offset to the scrollTop that shows it.
export function toScroll(g: Geometry, v: number): number {
  if (!g.scaled) return clamp(v, 0, g.maxS);
  if (g.maxV <= 0) return 0;
  return clamp(Math.round((v / g.maxV) * g.maxS), 0, g.maxS);
}

// lineOffset is the virtual offset that shows line n (1-based) with
// `context` rows above it, clamped to the list.
export function lineOffset(g: Geometry, n: number, context = 4): number {
  return clamp((n - 1 - context) * g.row, 0, g.maxV);
}

// visible is the range of rows [first, last] (1-based, inclusive) that
// cover the viewport at virtual offset v, plus overscan rows each side.
export function visible(g: Geometry, v: number, overscan: number): [number, number] {
  const first = Math.max(1, Math.floor(v / g.row) + 1 - overscan);
  const last = Math.min(g.rows, Math.ceil((v + g.view) / g.row) + overscan);
  return [first, last];
}

export function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}
