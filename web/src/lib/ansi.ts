// ANSI SGR colours to styled spans. Only SGR (ESC [ … m) changes style;
// other escape sequences (cursor moves, erase) are dropped, since a log is
// rendered as lines, not as a terminal screen.

export interface Style {
  fg?: string;
  bg?: string;
  bold?: boolean;
  dim?: boolean;
  italic?: boolean;
  underline?: boolean;
}

export interface Span extends Style {
  text: string;
}

// The 16 base colours as CSS variables, so light and dark themes can tune
// them; 256-colour and truecolor values are used as given.
const base = ['black', 'red', 'green', 'yellow', 'blue', 'magenta', 'cyan', 'white'];
const named = (i: number, bright: boolean) => `var(--ansi-${bright ? 'bright-' : ''}${base[i]})`;

function color256(n: number): string {
  if (n < 8) return named(n, false);
  if (n < 16) return named(n - 8, true);
  if (n < 232) {
    const c = n - 16;
    const v = (x: number) => (x === 0 ? 0 : 55 + x * 40);
    return `rgb(${v(Math.floor(c / 36))},${v(Math.floor(c / 6) % 6)},${v(c % 6)})`;
  }
  const g = 8 + (n - 232) * 10;
  return `rgb(${g},${g},${g})`;
}

// eslint-disable-next-line no-control-regex
const ESC = /\x1b(?:\[([0-9;:?]*)([@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])/g;

// parseAnsi splits one line into spans. The style a line ends with is
// returned too, though the viewer starts each line fresh: steps that colour
// across lines are rare and carrying state would tie a line's look to every
// line before it, which a virtualized list cannot afford.
export function parseAnsi(line: string, start: Style = {}): { spans: Span[]; end: Style } {
  const spans: Span[] = [];
  let st: Style = { ...start };
  let last = 0;
  const push = (text: string) => {
    if (!text) return;
    const prev = spans[spans.length - 1];
    // Escapes that change nothing (cursor moves) must not split a span.
    if (prev && sameStyle(prev, st)) prev.text += text;
    else spans.push({ ...st, text });
  };
  ESC.lastIndex = 0;
  for (let m = ESC.exec(line); m; m = ESC.exec(line)) {
    push(line.slice(last, m.index));
    last = ESC.lastIndex;
    if (m[2] === 'm') st = applySGR(st, m[1] ?? '');
  }
  push(line.slice(last));
  return { spans, end: st };
}

function sameStyle(a: Style, b: Style): boolean {
  return a.fg === b.fg && a.bg === b.bg && !a.bold === !b.bold && !a.dim === !b.dim && !a.italic === !b.italic && !a.underline === !b.underline;
}

function applySGR(prev: Style, params: string): Style {
  const st = { ...prev };
  const codes = params === '' ? [0] : params.split(/[;:]/).map((x) => (x === '' ? 0 : Number(x)));
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    if (c === 0) { for (const k of Object.keys(st)) delete st[k as keyof Style]; }
    else if (c === 1) st.bold = true;
    else if (c === 2) st.dim = true;
    else if (c === 3) st.italic = true;
    else if (c === 4) st.underline = true;
    else if (c === 22) { delete st.bold; delete st.dim; }
    else if (c === 23) delete st.italic;
    else if (c === 24) delete st.underline;
    else if (c >= 30 && c <= 37) st.fg = named(c - 30, false);
    else if (c >= 90 && c <= 97) st.fg = named(c - 90, true);
    else if (c === 39) delete st.fg;
    else if (c >= 40 && c <= 47) st.bg = named(c - 40, false);
    else if (c >= 100 && c <= 107) st.bg = named(c - 100, true);
    else if (c === 49) delete st.bg;
    else if (c === 38 || c === 48) {
      const key = c === 38 ? 'fg' : 'bg';
      if (codes[i + 1] === 5 && i + 2 < codes.length) {
        st[key] = color256(codes[i + 2]);
        i += 2;
      } else if (codes[i + 1] === 2 && i + 4 < codes.length) {
        st[key] = `rgb(${codes[i + 2]},${codes[i + 3]},${codes[i + 4]})`;
        i += 4;
      }
    }
  }
  return st;
}

// stripAnsi is the text a person sees: what search matches against.
export function stripAnsi(line: string): string {
  return line.replace(ESC, '');
}
