// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { LogViewer } from './LogViewer';
import { fakeApi } from '../test/fakeApi';

afterEach(() => { cleanup(); vi.unstubAllGlobals(); });

const S = '/api/v1/tenants/1/runs/5/steps/build';
const lines = [
  { n: 1, stream: 'stdout', time: '2026-11-26T00:00:00Z', text: 'plain text' },
  { n: 2, stream: 'stderr', time: '2026-11-26T00:00:01Z', text: '\x1b[31mred error\x1b[0m' },
  { n: 3, stream: 'stdout', time: '2026-11-26T00:00:02Z', text: '\x1b[1;32mbold green\x1b[0m then plain' },
];

// The viewer reads the lines by range, then follows the stream, which here
// ends at once: the step is over.
function serve() {
  fakeApi({
    [`GET ${S}/logs`]: { body: { lines, next: 4 } },
    [`GET ${S}/logs/follow`]: () => new Response('event: end\ndata: {}\n\n', { headers: { 'Content-Type': 'text/event-stream' } }),
  });
}

const row = (n: number) => document.querySelector<HTMLElement>(`.log-row[data-n="${n}"]`)!;

describe('LogViewer rows', () => {
  it('number each line, mark stderr, and render ANSI colours as styles without the escapes', async () => {
    serve();
    const onLine = vi.fn();
    render(<LogViewer tenant={1} run={5} step="build" attempt={1} onLine={onLine} />);
    await waitFor(() => expect(row(3)?.textContent).toContain('bold green'));

    expect(row(1).classList.contains('stderr')).toBe(false);
    expect(row(2).classList.contains('stderr')).toBe(true);
    expect(row(3).classList.contains('stderr')).toBe(false);
    expect(row(2).querySelector('.ln')!.textContent).toBe('2');

    const red = row(2).querySelector<HTMLElement>('.lt span')!;
    expect(red.textContent).toBe('red error');
    expect(red.style.color).toBe('var(--ansi-red)');
    const [bold, rest] = row(3).querySelectorAll<HTMLElement>('.lt span');
    expect(bold.textContent).toBe('bold green');
    expect(bold.style.color).toBe('var(--ansi-green)');
    expect(bold.style.fontWeight).toBe('700');
    expect(rest.textContent).toBe(' then plain');
    expect(rest.style.color).toBe('');
    expect(document.querySelector('.log-box')!.textContent).not.toContain('\x1b');

    // The number links to the deep link the run page reads, not "#L2".
    expect(row(2).querySelector('.ln')!.getAttribute('href')).toBe('#build:L2');
    fireEvent.click(row(2).querySelector('.ln')!);
    expect(onLine).toHaveBeenCalledWith(2);
    await screen.findByText(/3 lines/);
  });

  it('highlights the deep-linked line', async () => {
    serve();
    render(<LogViewer tenant={1} run={5} step="build" attempt={1} line={2} onLine={() => {}} />);
    await waitFor(() => expect(row(2)?.classList.contains('target')).toBe(true));
    expect(row(1).classList.contains('target')).toBe(false);
  });
});

describe('lastLine', () => {
  it('finds the last line with a few one-line reads', async () => {
    const { lastLine } = await import('./LogViewer');
    for (const end of [500, 501, 999, 1000, 123_457, 1_000_000]) {
      let reads = 0;
      let rounds = 0;
      let inFlight = 0;
      const got = await lastLine(async (n) => {
        reads++;
        if (inFlight++ === 0) rounds++;
        await Promise.resolve();
        inFlight--;
        return n <= end;
      }, 500);
      expect(got).toBe(end);
      expect(reads).toBeLessThanOrEqual(3 * (Math.ceil(Math.log2(end)) + 2));
      expect(rounds).toBeLessThanOrEqual(Math.ceil(Math.log2(end / 500 + 1) / 3) + Math.ceil(Math.log(end) / Math.log(4)) + 1); // rounds of 3 reads at once
    }
  });
});
