// The API client and the session. The access token lives only in memory.
// The refresh token: after an OAuth login it is the server's HttpOnly
// cookie (we never see it); after a password login the server returns it
// in JSON, and we keep it in sessionStorage, which is per tab and gone when
// the tab closes, so a reload keeps the session without a long-lived token
// on disk. Refreshes are serialised: a refresh token works once, and two
// concurrent refreshes with the same one would revoke the whole family.

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
  refresh_token: string;
}

const RT_KEY = 'runbook_rt';
let access: { token: string; expires: number } | null = null;
let inflight: Promise<boolean> | null = null;
const listeners = new Set<(signedIn: boolean) => void>();

export function onSession(fn: (signedIn: boolean) => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function setTokens(t: Tokens | null, fromCookie: boolean) {
  if (!t) {
    access = null;
    sessionStorage.removeItem(RT_KEY);
  } else {
    access = { token: t.access_token, expires: Date.parse(t.access_expires_at) };
    // A cookie session keeps its refresh token in the cookie only.
    if (fromCookie) sessionStorage.removeItem(RT_KEY);
    else sessionStorage.setItem(RT_KEY, t.refresh_token);
  }
  for (const l of listeners) l(t !== null);
}

async function errorFrom(res: Response): Promise<ApiError> {
  try {
    const b = await res.json();
    return new ApiError(res.status, b.error?.code ?? 'error', b.error?.message ?? res.statusText, b.error?.details);
  } catch {
    return new ApiError(res.status, 'error', `the server answered ${res.status} ${res.statusText}`);
  }
}

// refresh gets a new access token from the stored refresh token, or from
// the cookie when none is stored. It resolves false when there is no
// session to continue.
export function refresh(): Promise<boolean> {
  if (inflight) return inflight;
  inflight = (async () => {
    const rt = sessionStorage.getItem(RT_KEY);
    const res = await fetch('/api/v1/auth/refresh', {
      method: 'POST',
      credentials: 'same-origin',
      headers: rt ? { 'Content-Type': 'application/json' } : {},
      body: rt ? JSON.stringify({ refresh_token: rt }) : undefined,
    });
    if (!res.ok) {
      setTokens(null, false);
      return false;
    }
    setTokens(await res.json(), !rt);
    return true;
  })().finally(() => {
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
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ login: loginName, password }),
  });
  if (!res.ok) throw await errorFrom(res);
  setTokens(await res.json(), false);
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

export async function logout(): Promise<void> {
  const rt = sessionStorage.getItem(RT_KEY);
  try {
    await fetch('/api/v1/auth/logout', {
      method: 'POST',
      credentials: 'same-origin',
      headers: rt ? { 'Content-Type': 'application/json' } : {},
      body: rt ? JSON.stringify({ refresh_token: rt }) : undefined,
    });
  } finally {
    setTokens(null, false);
  }
}

export const me = () => api<Me>('/api/v1/user');

export function tenantPath(t: number | string, rest = ''): string {
  return `/api/v1/tenants/${encodeURIComponent(String(t))}${rest}`;
}
