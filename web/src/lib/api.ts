// The API client and the session (ADR 0021). The access token lives only
// in memory. The refresh token is the server's HttpOnly cookie, after a
// password login (which asks for it with cookie: true) as after an OAuth
// one, so page scripts never hold it and every tab of the browser shares
// the one session. A refresh token works once, and two refreshes with the
// same one revoke the whole family, so refreshes are serialised across
// tabs (a Web Lock) and a tab that refreshed shares its access token with
// the others (a BroadcastChannel). The cookie is invisible to scripts, so a
// flag in localStorage says whether there is a session to refresh at all:
// signed out, the app sends no request that is bound to fail.

import type { Me } from './types';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

interface Tokens {
  access_token: string;
  access_expires_at: string;
}

const HINT = 'runbook_session'; // "1" while this browser holds a session cookie
let access: { token: string; expires: number } | null = null;
let inflight: Promise<boolean> | null = null;
const listeners = new Set<(signedIn: boolean) => void>();
const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('runbook-session') : null;

type Message = { type: 'tokens'; token: string; expires: number } | { type: 'signed-out' };

channel?.addEventListener('message', (e: MessageEvent<Message>) => {
  const m = e.data;
  if (m.type === 'tokens') {
    const had = access !== null;
    if (!access || m.expires > access.expires) access = { token: m.token, expires: m.expires };
    if (!had) notify(true);
  } else if (m.type === 'signed-out' && access) {
    access = null;
    notify(false);
  }
});

function notify(signedIn: boolean) {
  for (const l of listeners) l(signedIn);
}

export function onSession(fn: (signedIn: boolean) => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function hinted(): boolean {
  try {
    return localStorage.getItem(HINT) === '1';
  } catch {
    return true; // storage blocked: ask the server
  }
}

function setHint(on: boolean) {
  try {
    if (on) localStorage.setItem(HINT, '1');
    else localStorage.removeItem(HINT);
  } catch {
    // storage blocked: every load asks the server
  }
}

function setTokens(t: Tokens | null, tell = true) {
  if (!t) {
    access = null;
    setHint(false);
    if (tell) channel?.postMessage({ type: 'signed-out' } satisfies Message);
  } else {
    access = { token: t.access_token, expires: Date.parse(t.access_expires_at) };
    setHint(true);
    channel?.postMessage({ type: 'tokens', token: access.token, expires: access.expires } satisfies Message);
  }
  notify(t !== null);
}

// exclusive runs fn while no other tab of this origin runs a refresh.
// Without Web Locks (plain-http origins other than localhost), fn runs
// at once: tabs that refresh in the same instant may then end the session.
function exclusive<T>(fn: () => Promise<T>): Promise<T> {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  return locks ? (locks.request('runbook-refresh', fn) as Promise<T>) : fn();
}

async function errorFrom(res: Response): Promise<ApiError> {
  try {
    const b = await res.json();
    return new ApiError(res.status, b.error?.code ?? 'error', b.error?.message ?? res.statusText, b.error?.details);
  } catch {
    return new ApiError(res.status, 'error', `the server answered ${res.status} ${res.statusText}`);
  }
}

// refresh gets a new access token with the refresh cookie. It resolves
// false when there is no session to continue; without the flag that says
// this browser has one, it does not ask (force: after an OAuth login,
// whose cookie the flag does not know about yet).
export function refresh(force = false): Promise<boolean> {
  if (inflight) return inflight;
  if (!force && !hinted()) {
    if (access) setTokens(null);
    return Promise.resolve(false);
  }
  const stale = access?.token;
  inflight = exclusive(async () => {
    // Another tab may have refreshed while this one waited for the lock.
    if (access && access.token !== stale && access.expires - Date.now() > 30_000) return true;
    const res = await fetch('/api/v1/auth/refresh', { method: 'POST', credentials: 'same-origin' });
    if (!res.ok) {
      setTokens(null, false);
      return false;
    }
    setTokens(await res.json());
    return true;
  }).finally(() => {
    inflight = null;
  });
  return inflight;
}

export function signedIn(): boolean {
  return access !== null;
}

// authHeader refreshes a token that expires within 30 s first.
export async function authHeader(): Promise<Record<string, string>> {
  if (!access || access.expires - Date.now() < 30_000) await refresh();
  return access ? { Authorization: `Bearer ${access.token}` } : {};
}

export async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const go = async () => fetch(path, { ...init, headers: { ...(init.headers ?? {}), ...(await authHeader()) } });
  let res = await go();
  if (res.status === 401 && (await refresh())) res = await go();
  if (!res.ok) {
    if (res.status === 401) setTokens(null, false);
    throw await errorFrom(res);
  }
  if (res.status === 204) return undefined as T;
  return res.json();
}

export async function login(loginName: string, password: string): Promise<void> {
  const res = await fetch('/api/v1/auth/login', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ login: loginName, password, cookie: true }),
  });
  if (!res.ok) throw await errorFrom(res);
  setTokens(await res.json());
}

export async function signUp(email: string, username: string, password: string): Promise<void> {
  const res = await fetch('/api/v1/auth/signup', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, username, password }),
  });
  if (!res.ok) throw await errorFrom(res);
  await login(username, password);
}

// logout ends the session of every tab: the cookie's token family is
// revoked and the other tabs are told.
export async function logout(): Promise<void> {
  try {
    await fetch('/api/v1/auth/logout', { method: 'POST', credentials: 'same-origin' });
  } finally {
    setTokens(null);
  }
}

export interface Provider {
  name: string;
  title: string;
  login_url: string;
}

// providers lists the OAuth logins the server offers; none if it cannot say.
export async function providers(): Promise<Provider[]> {
  try {
    const res = await fetch('/api/v1/auth/providers');
    if (!res.ok) return [];
    return ((await res.json()) as { providers?: Provider[] }).providers ?? [];
  } catch {
    return [];
  }
}

export const me = () => api<Me>('/api/v1/user');

export function tenantPath(t: number | string, rest = ''): string {
  return `/api/v1/tenants/${encodeURIComponent(String(t))}${rest}`;
}
