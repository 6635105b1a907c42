import type { Problem } from './types';

// A workflow error reaches the UI either as the API's problem list (run
// creation answers 422 with details) or as text: a project's last_error or
// a message that quotes the parser, one "file:line:col: message" per line.
// parseProblems finds those lines, so both show with their line numbers.
const at = /^(?:[^\s:]+):(\d+)(?::(\d+))?: (.+)$/;

export function parseProblems(text: string): Problem[] {
  const out: Problem[] = [];
  for (const raw of text.split('\n')) {
    const m = raw.trim().match(at);
    if (m) out.push({ line: Number(m[1]), column: m[2] ? Number(m[2]) : undefined, message: m[3] });
  }
  return out;
}

// problemsOf prefers the structured details and falls back to the text.
export function problemsOf(details: unknown, text: string): Problem[] {
  if (Array.isArray(details)) {
    const ps = details.filter((d): d is Problem => typeof d === 'object' && d !== null && typeof (d as Problem).message === 'string');
    if (ps.length) return ps;
  }
  return parseProblems(text);
}

// isSuspended tells a suspended installation from other App errors: it is
// the one the user fixes on GitHub, not in Runbook.
export function isSuspended(msg: string | undefined): boolean {
  return !!msg && /\bsuspended\b/i.test(msg);
}
