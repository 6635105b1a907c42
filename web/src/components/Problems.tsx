import type { Problem } from '../lib/types';
import '../tenant.css';

// Problems lists a workflow file's errors with their line numbers.
// With onLine, each line number is a button that shows the line.
export function Problems({ problems, file = '.runbook.yml', onLine }: { problems: Problem[]; file?: string; onLine?: (line: number) => void }) {
  if (problems.length === 0) return null;
  return (
    <ul className="problems" aria-label={`Errors in ${file}`}>
      {problems.map((p, i) => (
        <li key={i}>
          {p.line && onLine
            ? <button type="button" className="link mono pos" onClick={() => onLine(p.line!)}>{`line ${p.line}${p.column ? `:${p.column}` : ''}`}</button>
            : <span className="mono pos">{p.line ? `line ${p.line}${p.column ? `:${p.column}` : ''}` : file}</span>} {p.message}
        </li>
      ))}
    </ul>
  );
}
