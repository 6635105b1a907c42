import type { Problem } from '../lib/types';
import '../tenant.css';

// Problems lists a workflow file's errors with their line numbers.
export function Problems({ problems, file = '.runbook.yml' }: { problems: Problem[]; file?: string }) {
  if (problems.length === 0) return null;
  return (
    <ul className="problems" aria-label={`Errors in ${file}`}>
      {problems.map((p, i) => (
        <li key={i}>
          <span className="mono pos">{p.line ? `line ${p.line}${p.column ? `:${p.column}` : ''}` : file}</span> {p.message}
        </li>
      ))}
    </ul>
  );
}
