import { useCallback, useEffect, useState } from 'react';
import { ApiError } from '../lib/api';
import { isSuspended, parseProblems, problemsOf } from '../lib/problems';
import { navigate, onLinkClick } from '../lib/router';
import { listProjects, runProject, setProjectEnabled, type Project } from '../lib/tenant';
import type { Problem } from '../lib/types';
import { Problems } from '../components/Problems';
import '../tenant.css';

// An error with the workflow problems it names, if any.
interface Failure {
  message: string;
  problems: Problem[];
}

function failure(x: unknown): Failure {
  if (x instanceof ApiError) return { message: x.message, problems: problemsOf(x.details, x.message) };
  return { message: 'The server could not be reached. Try again.', problems: [] };
}

// ErrorNote shows an App error the way it is fixed: a suspended
// installation on GitHub, a workflow file by its lines, anything else as
// written (the server writes these messages to be acted on).
export function ErrorNote({ message, problems }: { message: string; problems?: Problem[] }) {
  const ps = problems ?? parseProblems(message);
  if (isSuspended(message)) {
    return (
      <div className="banner bad" role="alert">
        <h3>GitHub installation suspended</h3>
        <p>{message}</p>
        <p className="muted small">Runs of its repositories cannot start until an owner unsuspends the app on GitHub.</p>
      </div>
    );
  }
  if (ps.length > 0) {
    // A message that leads with its own sentence ("no run was created …")
    // keeps it above the list.
    const lead = tidy(message.split('\n')[0]);
    return (
      <div className="banner bad" role="alert">
        <h3>The workflow file has {ps.length === 1 ? 'an error' : `${ps.length} errors`}</h3>
        {parseProblems(lead).length === 0 && <p>{lead}.</p>}
        <Problems problems={ps} />
      </div>
    );
  }
  return (
    <div className="banner bad" role="alert">
      <p>{message}</p>
    </div>
  );
}

// tidy makes a server message a sentence: no "invalid input:" prefix or
// trailing colon, short commit shas.
function tidy(m: string): string {
  const t = m.replace(/^invalid input:\s*/, '').replace(/:$/, '').replace(/\b([0-9a-f]{40})\b/g, (sha) => sha.slice(0, 8));
  return t.charAt(0).toUpperCase() + t.slice(1);
}

type Load = { state: 'loading' } | { state: 'ok'; projects: Project[] } | { state: 'no-github' } | { state: 'error'; message: string };

export function ProjectsPage({ tenant }: { tenant: number }) {
  const [load, setLoad] = useState<Load>({ state: 'loading' });
  const [busy, setBusy] = useState<number | null>(null);
  const [errs, setErrs] = useState<Record<number, Failure>>({});

  const refresh = useCallback(async () => {
    try {
      setLoad({ state: 'ok', projects: await listProjects(tenant) });
    } catch (x) {
      if (x instanceof ApiError && x.code === 'github_not_configured') setLoad({ state: 'no-github' });
      else setLoad({ state: 'error', message: x instanceof ApiError ? x.message : 'The server could not be reached.' });
    }
  }, [tenant]);

  useEffect(() => {
    refresh();
  }, [refresh]);

  const act = async (p: Project, what: () => Promise<void>) => {
    setBusy(p.id);
    setErrs(({ [p.id]: _, ...rest }) => rest);
    try {
      await what();
    } catch (x) {
      setErrs((e) => ({ ...e, [p.id]: failure(x) }));
    } finally {
      setBusy(null);
      refresh(); // a failed run now may have recorded a last_error
    }
  };
  const toggle = (p: Project) => act(p, async () => { await setProjectEnabled(tenant, p.id, !p.enabled); });
  const runNow = (p: Project) => act(p, async () => {
    const r = await runProject(tenant, p.id);
    navigate(`/t/${tenant}/runs/${r.run_id}`);
  });

  const head = (
    <div className="toolbar">
      <h1>Projects</h1>
      <span className="spacer" />
      <a className="button secondary" href={`/t/${tenant}/runs/new`} onClick={onLinkClick}>Run a workflow file</a>
    </div>
  );

  if (load.state === 'loading') return <section>{head}<p className="muted">Loading projects…</p></section>;
  if (load.state === 'error') return <section>{head}<p className="error" role="alert">{load.message}</p></section>;
  if (load.state === 'no-github') {
    return (
      <section>
        {head}
        <div className="empty">
          <h2>GitHub is not connected to this server</h2>
          <p>Projects are the repositories of a GitHub App installation. The server's operator connects one with <span className="mono">runbook server --github-app-id …</span>; until then, start runs from a workflow file.</p>
          <a className="button" href={`/t/${tenant}/runs/new`} onClick={onLinkClick}>Start a run from a .runbook.yml</a>
        </div>
      </section>
    );
  }

  const projects = load.projects;
  // A suspended installation marks each of its projects: say it once, on top.
  const suspended = new Map<number, string>();
  for (const p of projects) if (isSuspended(p.last_error) && !suspended.has(p.installation_id)) suspended.set(p.installation_id, p.last_error!);

  return (
    <section>
      {head}
      {[...suspended].map(([id, msg]) => <ErrorNote key={id} message={msg} />)}
      {projects.length === 0 ? (
        <div className="empty">
          <h2>No repositories yet</h2>
          <p>Install the Runbook GitHub App on your GitHub account or organization and pick repositories: they appear here, ready to run on every push and pull request.</p>
          <p className="muted small">A repository runs the <span className="mono">.runbook.yml</span> at its root. You can also <a href={`/t/${tenant}/runs/new`} onClick={onLinkClick}>run a workflow file</a> without one.</p>
        </div>
      ) : (
        <ul className="projects" aria-label="Projects">
          {projects.map((p) => {
            const err = errs[p.id];
            return (
              <li key={p.id} className={`project${p.enabled ? '' : ' off'}`} aria-label={p.full_name}>
                <div className="project-head">
                  <span className="project-name">{p.full_name}</span>
                  <span className="muted small">{p.default_branch} · installation {p.installation_id}</span>
                  {isSuspended(p.last_error) && <span className="badge st-blocked">installation suspended</span>}
                  <span className="project-actions">
                  <label className="switch">
                    <input type="checkbox" checked={p.enabled} disabled={busy === p.id} onChange={() => toggle(p)} />
                    {p.enabled ? 'Enabled' : 'Disabled'}
                  </label>
                  <button disabled={!p.enabled || busy === p.id || isSuspended(p.last_error)}
                    title={isSuspended(p.last_error) ? 'Its GitHub installation is suspended' : p.enabled ? `Run ${p.default_branch} now` : 'Enable the project to run it'}
                    onClick={() => runNow(p)}>
                    {busy === p.id ? 'Working…' : 'Run now'}
                  </button>
                  </span>
                </div>
                {err && <ErrorNote message={err.message} problems={err.problems} />}
                {p.last_error && !isSuspended(p.last_error) && !err && <ErrorNote message={p.last_error} />}
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
