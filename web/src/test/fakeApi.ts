// A stand-in for the server at the network boundary (fetch): tests give
// each "METHOD /path" an answer and read back what was asked.
import { vi } from 'vitest';

export type Answer = { status?: number; body?: unknown } | ((req: Request) => Response | Promise<Response>);

export function fakeApi(routes: Record<string, Answer>) {
  const calls: { method: string; path: string; body: string }[] = [];
  const fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url, 'http://runbook.test');
    const method = (init?.method ?? 'GET').toUpperCase();
    const body = typeof init?.body === 'string' ? init.body : '';
    // The session refresh finds no session: requests go without a token.
    if (url.pathname === '/api/v1/auth/refresh') return json(401, { error: { code: 'unauthorized', message: 'no session' } });
    calls.push({ method, path: url.pathname + url.search, body });
    const a = routes[`${method} ${url.pathname}${url.search}`] ?? routes[`${method} ${url.pathname}`];
    if (!a) return json(404, { error: { code: 'not_found', message: `no fake for ${method} ${url.pathname}` } });
    if (typeof a === 'function') return a(new Request(url, init));
    return a.status === 204 ? new Response(null, { status: 204 }) : json(a.status ?? 200, a.body);
  });
  vi.stubGlobal('fetch', fetch);
  return calls;
}

export function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}
