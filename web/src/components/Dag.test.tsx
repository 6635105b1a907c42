// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, render } from '@testing-library/react';
import { StepCard } from './Dag';
import type { Step } from '../lib/types';

afterEach(cleanup);

const step = (over: Partial<Step>): Step => ({ name: 'build', status: 'waiting', attempt: 0, depends_on: [], ...over });

describe('StepCard (a DAG node)', () => {
  it.each(['queued', 'running', 'succeeded', 'failed', 'skipped', 'cancelled', 'pending', 'blocked'])('carries the %s status as its colour class', (status) => {
    const { container } = render(<StepCard step={step({ status, attempt: 1 })} selected={false} now={0} />);
    const node = container.querySelector('.node')!;
    expect(node.className.split(' ')).toContain(`st-${status}`);
    expect(node.getAttribute('data-status')).toBe(status);
    expect(node.textContent).toContain(status);
  });

  it('says "not started" for a step the run ended before it began', () => {
    const { container } = render(<StepCard step={step({ status: 'cancelled', attempt: 0 })} selected={false} now={0} />);
    expect(container.querySelector('.node-meta')!.textContent).toContain('not started');
    expect(container.querySelector('.node')!.getAttribute('data-status')).toBe('cancelled');
  });

  it('shows a pending step with its place in line', () => {
    const { container } = render(<StepCard step={step({ status: 'pending', place_in_line: 4 })} selected={false} now={0} />);
    expect(container.querySelector('.node-meta')!.textContent).toContain('pending #4');
  });

  it('gives no place to a step that is not pending', () => {
    const { container } = render(<StepCard step={step({ status: 'running', place_in_line: 4 })} selected={false} now={0} />);
    expect(container.querySelector('.node-meta')!.textContent).not.toContain('#');
  });

  it('says a queued step has no worker that can take it, and why in its title', () => {
    const { container } = render(<StepCard step={step({ status: 'queued', waiting_reason: 'no worker with labels arch=arm64' })} selected={false} now={0} />);
    const node = container.querySelector('.node')!;
    expect(node.querySelector('.node-meta')!.textContent).toContain('queued · no worker');
    expect(node.getAttribute('title')).toBe('no worker with labels arch=arm64');
  });

  it('shows a running step with its time so far and marks the selection', () => {
    const started = '2026-01-01T00:00:00Z';
    const { container } = render(<StepCard step={step({ status: 'running', started_at: started })} selected now={Date.parse(started) + 65_000} />);
    const node = container.querySelector('.node')!;
    expect(node.classList.contains('sel')).toBe(true);
    expect(node.querySelector('.node-meta')!.textContent).toMatch(/1m ?5s/);
  });

  it('keeps an unknown status from breaking the class list', () => {
    const { container } = render(<StepCard step={step({ status: 'we ird' })} selected={false} now={0} />);
    expect(container.querySelector('.node')!.classList.contains('st-weird')).toBe(true);
  });
});
