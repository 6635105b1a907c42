import { onLinkClick } from '../lib/router';
import type { Run } from '../lib/types';
import '../tenant.css';

// WaitBanner says why a run has not started: blocked (quota exhausted: it
// starts by itself when minutes arrive) or pending (its place in line).
export function WaitBanner({ run }: { run: Pick<Run, 'tenant_id' | 'admission' | 'position' | 'reason'> }) {
  const usage = `/t/${run.tenant_id}/usage`;
  if (run.admission === 'blocked') {
    return (
      <div className="banner bad" role="alert">
        <strong>Quota exhausted: this run is blocked.</strong> {run.reason && <span>{cap(run.reason.replace(/^quota exhausted:\s*/i, ''))}.</span>}{' '}
        It starts by itself when minutes arrive (a grant, or the next cycle). <a href={usage} onClick={onLinkClick}>See usage</a>
      </div>
    );
  }
  if (run.admission === 'pending') {
    return (
      <div className="banner warn" role="status">
        <strong>Pending{run.position ? `: #${run.position} in line` : ''}.</strong> {run.reason && <span>{cap(run.reason)}.</span>}{' '}
        <a href={usage} onClick={onLinkClick}>See the line</a>
      </div>
    );
  }
  return null;
}

// BlockedRunsBanner sits above a list of runs when some are blocked.
export function BlockedRunsBanner({ tenant, runs }: { tenant: number; runs: Pick<Run, 'admission'>[] }) {
  const n = runs.filter((r) => r.admission === 'blocked').length;
  if (n === 0) return null;
  return (
    <div className="banner bad" role="alert">
      <strong>Quota exhausted.</strong> {n === 1 ? '1 run here is blocked' : `${n} runs here are blocked`} until minutes arrive
      (a grant, or the next cycle). <a href={`/t/${tenant}/usage`} onClick={onLinkClick}>See usage</a>
    </div>
  );
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
