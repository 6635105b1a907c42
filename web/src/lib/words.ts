import type { Run, Step } from './types';

// stepLabel is the word a step's status shows as. A step the run ended
// before it began is "not started": "cancelled" would say it ran.
export function stepLabel(s: Pick<Step, 'status' | 'attempt' | 'started_at'>): string {
  return s.status === 'cancelled' && s.attempt === 0 && !s.started_at ? 'not started' : s.status;
}

// exitNote is what a finished step's header says of its exit, once: the
// reason when it already names the code ("exit code 3"), else "exit N".
export function exitNote(s: Pick<Step, 'exit_code' | 'reason'>): { exit?: string; reason?: string } {
  const mentions = s.exit_code !== undefined && !!s.reason && new RegExp(`\\bexit(ed)?( with)?( code| status)? ${s.exit_code}\\b`, 'i').test(s.reason);
  return { exit: s.exit_code !== undefined && !mentions ? `exit ${s.exit_code}` : undefined, reason: s.reason || undefined };
}

const marks: Record<string, string> = { succeeded: '✓', failed: '✗', cancelled: '⊘', running: '▶', queued: '…', pending: '…', blocked: '⏸' };

// runTitle names a run and its state for the window title and tab:
// "✗ Run 12 · CI · failed".
export function runTitle(r: Pick<Run, 'id' | 'status' | 'file' | 'name' | 'admission'>): string {
  const state = r.admission ?? r.status;
  return `${marks[state] ?? '·'} Run ${r.id} · ${r.name || r.file} · ${state}`;
}

// relativeTime says how long ago t was, as a person would ("3 min ago").
export function relativeTime(t: string | number, now: number = Date.now()): string {
  const ms = typeof t === 'number' ? t : Date.parse(t);
  if (!Number.isFinite(ms)) return '';
  const s = Math.round((now - ms) / 1000);
  const f = new Intl.RelativeTimeFormat('en', { numeric: 'auto', style: 'short' });
  const a = Math.abs(s);
  if (a < 45) return 'just now';
  if (a < 3600) return f.format(-Math.round(s / 60), 'minute');
  if (a < 86400) return f.format(-Math.round(s / 3600), 'hour');
  if (a < 86400 * 30) return f.format(-Math.round(s / 86400), 'day');
  return new Date(ms).toLocaleDateString();
}

// exactTime is the full local date and time, for a tooltip.
export function exactTime(t: string | number): string {
  const d = new Date(t);
  return Number.isFinite(d.getTime()) ? d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' }) : '';
}
