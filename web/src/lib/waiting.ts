import type { Run, Step } from './types';

// displaySteps shows a waiting run's unstarted steps as the run's admission
// (pending with its place in line, or blocked): a step of a run that is not
// admitted is not "waiting on its dependencies", it waits for the quota.
export function displaySteps(run: Pick<Run, 'steps' | 'admission' | 'position'>): Step[] {
  const steps = run.steps ?? [];
  if (run.admission !== 'pending' && run.admission !== 'blocked') return steps;
  return steps.map((s) =>
    s.status === 'waiting' || s.status === 'queued'
      ? { ...s, status: run.admission!, place_in_line: run.admission === 'pending' ? run.position : undefined }
      : s,
  );
}
