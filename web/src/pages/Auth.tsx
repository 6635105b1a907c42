import { useState, type FormEvent } from 'react';
import { ApiError, login, signUp } from '../lib/api';
import { navigate, onLinkClick } from '../lib/router';

function Forges() {
  return (
    <div className="forges">
      <a className="button secondary" href="/auth/github/login">Sign in with GitHub</a>
      <a className="button secondary" href="/auth/gitlab/login">Sign in with GitLab</a>
    </div>
  );
}

function message(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  return 'The server could not be reached. Check that runbook server is running, then try again.';
}

export function LoginPage() {
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
      navigate('/', true);
    } catch (x) {
      setErr(message(x));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="auth">
      <h1>Sign in to Runbook</h1>
      <form onSubmit={submit}>
        <label>Username or email<input autoFocus autoComplete="username" value={name} onChange={(e) => setName(e.target.value)} required /></label>
        <label>Password<input type="password" autoComplete="current-password" value={pw} onChange={(e) => setPw(e.target.value)} required /></label>
        {err && <p className="error" role="alert">{err}</p>}
        <button disabled={busy}>{busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
      <Forges />
      <p className="muted">No account? <a href="/signup" onClick={onLinkClick}>Sign up</a></p>
    </div>
  );
}

export function SignUpPage() {
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
      navigate('/', true);
    } catch (x) {
      setErr(message(x));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="auth">
      <h1>Create your account</h1>
      <form onSubmit={submit}>
        <label>Email<input type="email" autoFocus autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} required /></label>
        <label>Username<input autoComplete="username" pattern="[a-z0-9-]{2,39}" title="2 to 39 lower-case letters, digits or dashes" value={name} onChange={(e) => setName(e.target.value)} required /></label>
        <label>Password<input type="password" autoComplete="new-password" minLength={10} value={pw} onChange={(e) => setPw(e.target.value)} required /></label>
        <p className="muted small">At least 10 characters.</p>
        {err && <p className="error" role="alert">{err}</p>}
        <button disabled={busy}>{busy ? 'Creating…' : 'Sign up'}</button>
      </form>
      <Forges />
      <p className="muted">Have an account? <a href="/login" onClick={onLinkClick}>Sign in</a></p>
    </div>
  );
}
