import { describe, expect, it } from 'vitest';
import { isSuspended, parseProblems, problemsOf } from './problems';

describe('parseProblems', () => {
  it('reads file:line:col lines and skips the rest', () => {
    const text = '.runbook.yml:3:5: unknown key "comand"\nsomething else\n.runbook.yml:7: steps[1] needs a command\n.runbook.yml: empty file';
    expect(parseProblems(text)).toEqual([
      { line: 3, column: 5, message: 'unknown key "comand"' },
      { line: 7, column: undefined, message: 'steps[1] needs a command' },
    ]);
  });
  it('finds nothing in a message without positions', () => {
    expect(parseProblems('the installation was suspended')).toEqual([]);
  });
  it('prefers the structured details', () => {
    expect(problemsOf([{ line: 2, message: 'bad' }], '.runbook.yml:9:1: other')).toEqual([{ line: 2, message: 'bad' }]);
    expect(problemsOf(undefined, '.runbook.yml:9:1: other')).toEqual([{ line: 9, column: 1, message: 'other' }]);
    expect(problemsOf([{ nope: 1 }], 'x')).toEqual([]);
  });
  it('tells a suspended installation', () => {
    expect(isSuspended("installation 42 was suspended on GitHub: unsuspend it in the organization's settings")).toBe(true);
    expect(isSuspended('the app key was rejected')).toBe(false);
    expect(isSuspended(undefined)).toBe(false);
  });
});
