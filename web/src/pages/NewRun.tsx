import { useRef, useState, type FormEvent } from 'react';
import { Editor, goToLine } from '../components/Editor';
import { api, ApiError, tenantPath } from '../lib/api';
import { navigate } from '../lib/router';
import type { Problem, Run } from '../lib/types';
import { Problems } from '../components/Problems';
import { problemsOf } from '../lib/problems';

const sample = `name: "Diamond"
steps:
  - name: A
    command: echo "A"
  - name: B
    command: echo "B"
  - name: C
    depends_on: [A, B]
    command: echo "C after A and B"
`;

export function NewRunPage({ tenant }: { tenant: number }) {
  const [text, setText] = useState(sample);
  const [file, setFile] = useState('.runbook.yml');
  const [branch, setBranch] = useState('');
  const [err, setErr] = useState('');
  const [problems, setProblems] = useState<Problem[]>([]);
  const [busy, setBusy] = useState(false);
  const editor = useRef<HTMLTextAreaElement>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setErr('');
    setProblems([]);
    const form = new FormData();
    form.append('file', new Blob([text], { type: 'application/yaml' }), file || '.runbook.yml');
    const q = new URLSearchParams({ event: 'manual', trigger: 'ui' });
    if (branch) q.set('branch', branch);
    try {
      const run = await api<Run>(tenantPath(tenant, `/runs?${q}`), { method: 'POST', body: form });
      navigate(`/t/${tenant}/runs/${run.id}`);
    } catch (x) {
      if (x instanceof ApiError) {
        const ps = problemsOf(x.details, x.message);
        setProblems(ps);
        // The message repeats the problems; with them listed, a summary says it.
        setErr(ps.length ? `${file || '.runbook.yml'} has ${ps.length === 1 ? 'an error' : `${ps.length} errors`}; nothing was started.` : x.message);
      } else setErr('The server could not be reached. Try again.');
    } finally {
      setBusy(false);
    }
  };

  return (
    <section>
      <h1>New run</h1>
      <p className="muted">Paste a workflow or choose a .runbook.yml file. Runs of a repository's commits start from its project.</p>
      <form className="newrun" onSubmit={submit}>
        <label>Workflow file
          <input type="file" accept=".yml,.yaml,text/yaml" onChange={async (e) => {
            const f = e.target.files?.[0];
            if (f) { setFile(f.name); setText(await f.text()); }
          }} />
        </label>
        <label>File name<input value={file} onChange={(e) => setFile(e.target.value)} /></label>
        <label>Branch (optional)<input value={branch} onChange={(e) => setBranch(e.target.value)} /></label>
        <div className="field">Workflow
          <Editor value={text} onChange={setText} problems={problems} describedBy={err ? 'run-problems' : undefined} editorRef={editor} />
        </div>
        {err && (
          <div className="error" role="alert" id="run-problems">
            <p>{err}</p>
            <Problems problems={problems} file={file || '.runbook.yml'} onLine={(n) => editor.current && goToLine(editor.current, n)} />
          </div>
        )}
        <button disabled={busy}>{busy ? 'Starting…' : 'Start run'}</button>
      </form>
    </section>
  );
}
