import { useEffect, useState } from 'react';
import { logout, me, onSession, refresh } from './lib/api';
import { navigate, onLinkClick, useLocation } from './lib/router';
import type { Me } from './lib/types';
import { LoginPage, SignUpPage, safePath, takeReturnPath } from './pages/Auth';
import { RunsPage } from './pages/Runs';
import { NewRunPage } from './pages/NewRun';
import { RunPage } from './pages/Run';
import { ProjectsPage } from './pages/Projects';
import { UsagePage } from './pages/Usage';

export default function App() {
  const loc = useLocation();
  const [user, setUser] = useState<Me | null | undefined>(undefined);

  useEffect(() => {
    const load = async () => {
      try {
        setUser(await me());
      } catch {
        setUser(null);
      }
    };
    // An OAuth login ends at /#/login/done with the refresh cookie set; it
    // goes on to the page that asked for the sign-in.
    const oauthDone = location.hash === '#/login/done';
    if (oauthDone) history.replaceState(null, '', takeReturnPath() ?? '/');
    refresh(oauthDone).then((ok) => (ok ? load() : setUser(null)), () => setUser(null));
    return onSession((inNow) => (inNow ? load() : setUser(null)));
  }, []);

  if (user === undefined) return <div className="center muted">Loading…</div>;
  const open = loc.path === '/login' || loc.path === '/signup';
  // Signed out, any page asks for a sign-in where it is, and the sign-in
  // goes back to it: a deep link survives. /login and /signup carry the
  // page in ?next=.
  const next = open ? safePath(loc.query.get('next')) ?? '/' : location.pathname + location.search + location.hash;
  if (!user) return loc.path === '/signup' ? <SignUpPage next={next} /> : <LoginPage next={next} />;
  if (open && next !== '/') {
    queueMicrotask(() => navigate(next, true));
    return null;
  }
  if (open || loc.path === '/') {
    const t = user.memberships.find((m) => m.personal) ?? user.memberships[0];
    queueMicrotask(() => navigate(t ? `/t/${t.tenant_id}/runs` : '/none', true));
    return null;
  }

  const m = loc.path.match(/^\/t\/(\d+)\/runs(?:\/(new|\d+))?\/?$/);
  const tm = loc.path.match(/^\/t\/(\d+)\/(projects|usage)\/?$/);
  let page;
  if (tm) page = tm[2] === 'projects' ? <ProjectsPage key={tm[1]} tenant={Number(tm[1])} /> : <UsagePage key={tm[1]} tenant={Number(tm[1])} />;
  else if (!m) page = <div className="empty"><h2>Not found</h2><p>There is no page at {loc.path}.</p><a href="/" onClick={onLinkClick}>Go to your runs</a></div>;
  else if (m[2] === 'new') page = <NewRunPage tenant={Number(m[1])} />;
  else if (m[2]) page = <RunPage key={m[2]} tenant={Number(m[1])} runId={Number(m[2])} hash={loc.hash} />;
  else page = <RunsPage tenant={Number(m[1])} query={loc.query} />;
  const tenant = m ? Number(m[1]) : tm ? Number(tm[1]) : undefined;
  const here = (p: string) => (loc.path.startsWith(`/t/${tenant}/${p}`) && !(p === 'runs' && loc.path.endsWith('/new')) ? 'page' : undefined);

  return (
    <div className="app">
      <header className="top">
        <a className="brand" href="/" onClick={onLinkClick}>Runbook</a>
        {user.memberships.length > 1 && (
          <select aria-label="Tenant" value={tenant} onChange={(e) => navigate(`/t/${e.target.value}/runs`)}>
            {user.memberships.map((t) => <option key={t.tenant_id} value={t.tenant_id}>{t.name}</option>)}
          </select>
        )}
        <nav>
          {tenant !== undefined && <a href={`/t/${tenant}/runs`} aria-current={here('runs')} onClick={onLinkClick}>Runs</a>}
          {tenant !== undefined && <a href={`/t/${tenant}/projects`} aria-current={here('projects')} onClick={onLinkClick}>Projects</a>}
          {tenant !== undefined && <a href={`/t/${tenant}/usage`} aria-current={here('usage')} onClick={onLinkClick}>Usage</a>}
          {tenant !== undefined && <a href={`/t/${tenant}/runs/new`} aria-current={loc.path.endsWith('/runs/new') ? 'page' : undefined} onClick={onLinkClick}>New run</a>}
        </nav>
        <span className="spacer" />
        <span className="muted user">{user.username}</span>
        <button className="link" onClick={() => logout().then(() => navigate('/login'))}>Sign out</button>
      </header>
      <main>{page}</main>
    </div>
  );
}
