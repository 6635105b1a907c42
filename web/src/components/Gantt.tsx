import { criticalPath, elapsed, formatDuration } from '../lib/dag';
import type { Step } from '../lib/types';

// Gantt draws each started step as a bar on the run's time axis and marks
// the critical path: the dependency chain that set the run's length.
export function Gantt({ steps, now, onSelect }: { steps: Step[]; now: number; onSelect: (s: string) => void }) {
  const started = steps.filter((s) => s.started_at);
  if (started.length === 0) return <p className="muted">No step has started yet.</p>;
  const t0 = Math.min(...started.map((s) => Date.parse(s.started_at!)));
  const end = (s: Step) => Date.parse(s.started_at!) + elapsed(s, now);
  const span = Math.max(1, Math.max(...started.map(end)) - t0);
  const crit = new Set(criticalPath(steps, now));
  return (
    <div className="gantt" role="list" aria-label="Timeline">
      {started.map((s) => {
        const left = ((Date.parse(s.started_at!) - t0) / span) * 100;
        const width = Math.max(0.5, (elapsed(s, now) / span) * 100);
        return (
          <div className="g-row" role="listitem" key={s.name} onClick={() => onSelect(s.name)}>
            <span className="g-name ellipsis">{s.name}</span>
            <span className="g-track">
              <span className={`g-bar st-${s.status}${crit.has(s.name) ? ' crit' : ''}`} style={{ left: `${left}%`, width: `${width}%` }} title={`${s.name}: ${formatDuration(elapsed(s, now))}${crit.has(s.name) ? ' (critical path)' : ''}`} />
            </span>
            <span className="g-dur">{formatDuration(elapsed(s, now))}</span>
          </div>
        );
      })}
      <p className="muted small"><span className="g-key crit" /> critical path: {[...crit].join(' → ')} ({formatDuration(span)} total)</p>
    </div>
  );
}
