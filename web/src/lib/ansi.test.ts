import { describe, expect, it } from 'vitest';
import { parseAnsi, stripAnsi } from './ansi';

describe('parseAnsi', () => {
  it('colours spans and resets', () => {
    const { spans } = parseAnsi('\x1b[1;31mERR\x1b[0m ok \x1b[32mgreen\x1b[39m plain');
    expect(spans).toEqual([
      { text: 'ERR', bold: true, fg: 'var(--ansi-red)' },
      { text: ' ok ' },
      { text: 'green', fg: 'var(--ansi-green)' },
      { text: ' plain' },
    ]);
  });
  it('reads 256-colour, truecolor and bright codes', () => {
    const { spans } = parseAnsi('\x1b[38;5;196ma\x1b[48;2;1;2;3mb\x1b[0;94mc');
    expect(spans).toEqual([
      { text: 'a', fg: 'rgb(255,0,0)' },
      { text: 'b', fg: 'rgb(255,0,0)', bg: 'rgb(1,2,3)' },
      { text: 'c', fg: 'var(--ansi-bright-blue)' },
    ]);
  });
  it('drops non-colour escapes and keeps the text', () => {
    expect(parseAnsi('\x1b[2K\x1b[1Gprogress \x1b]0;title\x07done').spans).toEqual([{ text: 'progress done' }]);
    expect(stripAnsi('\x1b[31mred\x1b[0m')).toBe('red');
  });
  it('returns the style a line ends with', () => {
    expect(parseAnsi('\x1b[33mstill yellow').end).toEqual({ fg: 'var(--ansi-yellow)' });
  });
});
