import { describe, expect, it } from 'vitest';
import { parseHash } from '../pages/Run';

describe('parseHash', () => {
  it('reads step deep links with and without a line', () => {
    expect(parseHash('build:L42')).toEqual({ step: 'build', line: 42 });
    expect(parseHash('deploy:prod')).toEqual({ step: 'deploy:prod', line: undefined });
    expect(parseHash('')).toEqual({});
  });
});
