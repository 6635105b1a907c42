// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { Gantt } from './Gantt';
import { Status } from './Status';
import { Problems } from './Problems';
import type { Step } from '../lib/types';

afterEach(cleanup);

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
const step = (name: string, deps: string[], from: number, to: number): Step => ({ name, status: 'succeeded', attempt: 1, depends_on: deps, started_at: at(from), finished_at: at(to), duration_ms: (to - from) * 1000 });

describe('Gantt', () => {
  it('draws started steps on the run\'s time axis and names the critical path', () => {
    const onSelect = vi.fn();
    render(<Gantt steps={[step('a', [], 0, 2), step('b', ['a'], 2, 10), step('c', ['a'], 2, 3)]} now={0} onSelect={onSelect} />);
    expect(screen.getByText(/critical path: a → b \(10s total\)/)).toBeTruthy();
    const bars = document.querySelectorAll<HTMLElement>('.g-bar');
    expect(bars[1].style.left).toBe('20%');
    expect(bars[1].style.width).toBe('80%');
    expect([...bars].map((b) => b.classList.contains('crit'))).toEqual([true, true, false]);
    fireEvent.click(screen.getAllByRole('listitem')[2]);
    expect(onSelect).toHaveBeenCalledWith('c');
  });
  it('says when nothing has started', () => {
    render(<Gantt steps={[{ name: 'x', status: 'queued', attempt: 0, depends_on: [] }]} now={0} onSelect={() => {}} />);
    expect(screen.getByText('No step has started yet.')).toBeTruthy();
  });
});

describe('Status and Problems', () => {
  it('badges a status, with a label when the words differ', () => {
    const { container } = render(<><Status status="pending" place={2} /><Status status="cancelled" label="not started" /></>);
    const [a, b] = container.querySelectorAll('.badge');
    expect(a.textContent).toBe('pending #2');
    expect(b.textContent).toBe('not started');
    expect(b.classList.contains('st-cancelled')).toBe(true);
  });
  it('lists problems by line', () => {
    render(<Problems problems={[{ line: 2, column: 3, message: 'bad key' }, { message: 'no steps' }]} file="ci.yml" />);
    expect(screen.getByRole('list', { name: 'Errors in ci.yml' }).textContent).toBe('line 2:3 bad keyci.yml no steps');
  });
});
