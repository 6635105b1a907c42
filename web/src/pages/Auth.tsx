import { useEffect, useState, type FormEvent } from 'react';
import { ApiError, login, providers, signUp, type Provider } from '../lib/api';
import { navigate, onLinkClick } from '../lib/router';

const RETURN_KEY = 'runbook_return'; // the page an OAuth login goes back to

// safePath accepts a same-origin path ("/t/1/runs/2#x:L5") and nothing
// else, so ?next= cannot send a signed-in user to another site.
export function safePath(p: string | null | undefined): string | undefined {
  return p && p.startsWith('/') && !p.startsWith('//') && !p.startsWith('/\\') ? p : undefined;
}

// takeReturnPath reads (once) where the OAuth login started.
export function takeReturnPath(): string | undefined {
  try {
    const p = sessionStorage.getItem(RETURN_KEY);
    sessionStorage.removeItem(RETURN_KEY);
    return safePath(p);
  } catch {
    return undefined;
  }
}

function withNext(path: string, next: string): string {
  return next === '/' ? path : `${path}?next=${encodeURIComponent(next)}`;
}

// Forges shows a button for each OAuth login the server has configured,
// and none while it does not say (a dead button is worse than none).
function Forges({ next }: { next: string }) {
  const [list, setList] = useState<Provider[]>([]);
  useEffect(() => {
    let live = true;
    providers().then((p) => live && setList(p));
    return () => { live = false; };
  }, []);
  if (list.length === 0) return null;
  const remember = () => {
    try { sessionStorage.setItem(RETURN_KEY, next); } catch { /* the login lands on the runs list */ }
  };
  return (
    <div className="forges">
      {list.map((p) => <a key={p.name} className="button secondary" href={p.login_url} onClick={remember}>Sign in with {p.title}</a>)}
    </div>
  );
}

function message(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  return 'The server could not be reached. Check that runbook server is running, then try again.';
}

export function LoginPage({ next = '/' }: { next?: string }) {
  const [name, setName] = useState('');
  const [pw, setPw] = useState('');
  const [err, setErr] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setErr('');
    try {
      await login(name, pw);
      navigate(next, true);
    } catch (x) {
      setErr(message(x));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="auth">
      <h1>Sign in to Runbook</h1>
      {next !== '/' && <p className="muted">Sign in to see this page.</p>}
      <form onSubmit={submit}>
        <label>Username or email<input autoFocus autoComplete="username" value={name} onChange={(e) => setName(e.target.value)} required /></label>
        <label>Password<input type="password" autoComplete="current-password" value={pw} onChange={(e) => setPw(e.target.value)} required /></label>
        {err && <p className="error" role="alert">{err}</p>}
        <button disabled={busy}>{busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
      <Forges next={next} />
      <p className="muted">No account? <a href={withNext('/signup', next)} onClick={onLinkClick}>Sign up</a></p>
    </main>
  );
}

export function SignUpPage({ next = '/' }: { next?: string }) {
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [pw, setPw] = useState('');
  const [err, setErr] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setErr('');
    try {
      await signUp(email, name, pw);
      navigate(next, true);
    } catch (x) {
      setErr(message(x));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="auth">
      <h1>Create your account</h1>
      <form onSubmit={submit}>
        <label>Email<input type="email" autoFocus autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} required /></label>
        {/* The pattern is compiled with the v flag, where a bare "-" in a class is an error. */}
        <label>Username<input autoComplete="username" pattern="[a-z0-9\-]{2,39}" title="2 to 39 lower-case letters, digits or dashes" value={name} onChange={(e) => setName(e.target.value)} required /></label>
        <label>Password<input type="password" autoComplete="new-password" minLength={10} value={pw} onChange={(e) => setPw(e.target.value)} required /></label>
        <p className="muted small">At least 10 characters.</p>
        {err && <p className="error" role="alert">{err}</p>}
        <button disabled={busy}>{busy ? 'Creating…' : 'Sign up'}</button>
      </form>
      <Forges next={next} />
      <p className="muted">Have an account? <a href={withNext('/login', next)} onClick={onLinkClick}>Sign in</a></p>
    </main>
  );
}
