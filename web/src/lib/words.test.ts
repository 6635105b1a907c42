import { describe, expect, it } from 'vitest';
import { exitNote, relativeTime, runTitle, stepLabel } from './words';

describe('words', () => {
  it('says "not started" for a step the run ended before it began', () => {
    expect(stepLabel({ status: 'cancelled', attempt: 0 })).toBe('not started');
    expect(stepLabel({ status: 'cancelled', attempt: 1, started_at: '2026-01-01T00:00:00Z' })).toBe('cancelled');
    expect(stepLabel({ status: 'failed', attempt: 1 })).toBe('failed');
  });
  it('says the exit code once', () => {
    expect(exitNote({ exit_code: 3, reason: 'exit code 3' })).toEqual({ exit: undefined, reason: 'exit code 3' });
    expect(exitNote({ exit_code: 3 })).toEqual({ exit: 'exit 3', reason: undefined });
    expect(exitNote({ exit_code: 3, reason: 'timed out' })).toEqual({ exit: 'exit 3', reason: 'timed out' });
    expect(exitNote({ exit_code: 1, reason: 'exit code 13' })).toEqual({ exit: 'exit 1', reason: 'exit code 13' });
  });
  it('titles a run by its name and state', () => {
    expect(runTitle({ id: 12, status: 'failed', file: '.runbook.yml', name: 'CI' })).toBe('✗ Run 12 · CI · failed');
    expect(runTitle({ id: 3, status: 'queued', file: 'ci.yml', admission: 'blocked' })).toBe('⏸ Run 3 · ci.yml · blocked');
  });
  it('says how long ago, as a person would', () => {
    const now = Date.parse('2026-01-02T12:00:00Z');
    expect(relativeTime('2026-01-02T11:59:50Z', now)).toBe('just now');
    expect(relativeTime('2026-01-02T11:55:00Z', now)).toBe('5 min. ago');
    expect(relativeTime('2026-01-02T09:00:00Z', now)).toBe('3 hr. ago');
    expect(relativeTime('2026-01-01T12:00:00Z', now)).toBe('yesterday');
  });
});
