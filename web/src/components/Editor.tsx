import { useRef, useState } from 'react';
import type { Problem } from '../lib/types';

const LINE = 20; // px; the gutter and the text share it

// Editor is a plain textarea with a line-number gutter that marks the lines
// with problems (their messages on hover). The problem list below it is
// the accessible account of them; goTo moves the caret to a line.
export function Editor({ value, onChange, problems, describedBy, editorRef }: {
  value: string; onChange: (v: string) => void; problems: Problem[]; describedBy?: string;
  editorRef?: React.RefObject<HTMLTextAreaElement | null>;
}) {
  const own = useRef<HTMLTextAreaElement>(null);
  const ta = editorRef ?? own;
  const [top, setTop] = useState(0);
  const count = value.split('\n').length;
  const bad = new Map<number, string[]>();
  for (const p of problems) if (p.line) bad.set(p.line, [...(bad.get(p.line) ?? []), p.message]);
  const nums = [];
  for (let i = 1; i <= count; i++) {
    const msgs = bad.get(i);
    nums.push(<div key={i} className={msgs ? 'gl bad' : 'gl'} title={msgs?.join('\n')} data-line={i}>{msgs ? '● ' : ''}{i}</div>);
  }
  return (
    <div className="editor">
      <div className="gutter" aria-hidden="true">
        <div style={{ transform: `translateY(${-top}px)` }}>{nums}</div>
      </div>
      <div className="editor-text">
        {[...bad.keys()].map((l) => <div key={l} className="line-mark" style={{ top: (l - 1) * LINE + 6 - top }} />)}
        <textarea ref={ta} aria-label="Workflow text" spellCheck={false} wrap="off" rows={16} value={value}
          aria-invalid={problems.length > 0 || undefined} aria-describedby={describedBy}
          onChange={(e) => onChange(e.target.value)} onScroll={(e) => setTop(e.currentTarget.scrollTop)} />
      </div>
    </div>
  );
}

// goToLine puts the caret at the start of line n and selects the line.
export function goToLine(el: HTMLTextAreaElement, n: number) {
  const lines = el.value.split('\n');
  let start = 0;
  for (let i = 0; i < n - 1 && i < lines.length; i++) start += lines[i].length + 1;
  const end = start + (lines[n - 1]?.length ?? 0);
  el.focus();
  el.setSelectionRange(start, end);
  el.scrollTop = Math.max(0, (n - 3) * LINE);
}
