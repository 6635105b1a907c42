import { describe, expect, it } from 'vitest';
import { follow, SSEParser, type SSEEvent } from './sse';

function parse(chunks: string[]): SSEEvent[] {
  const out: SSEEvent[] = [];
  const p = new SSEParser((e) => out.push(e));
  for (const c of chunks) p.push(c);
  return out;
}

describe('SSEParser', () => {
  it('reads id, event and data, and ignores comments', () => {
    expect(parse([': keep-alive\n\nid: 7\nevent: line\ndata: {"n":7}\n\n'])).toEqual([{ id: '7', event: 'line', data: '{"n":7}' }]);
  });
  it('joins chunks split anywhere, including inside CRLF', () => {
    const text = 'id: 1\r\nevent: line\r\ndata: a\r\n\r\nid: 2\r\ndata: b\r\ndata: c\r\n\r\n';
    for (let cut = 1; cut < text.length; cut++) {
      expect(parse([text.slice(0, cut), text.slice(cut)])).toEqual([
        { id: '1', event: 'line', data: 'a' },
        { id: '2', event: 'message', data: 'b\nc' },
      ]);
    }
  });
  it('leaves id unset for an event without one and holds an unterminated event', () => {
    expect(parse(['event: end\ndata: {}\n\nid: 9\ndata: partial\n'])).toEqual([{ id: undefined, event: 'end', data: '{}' }]);
  });
});

// A fake server that drops the connection after some events, and records
// the Last-Event-ID each reconnect sends.
describe('follow', () => {
  it('resumes after a dropped connection with Last-Event-ID and stops at end', async () => {
    const sent: (string | null)[] = [];
    const fetchFn = (async (_url: string, init: RequestInit) => {
      const h = new Headers(init.headers);
      const last = h.get('Last-Event-ID');
      sent.push(last);
      const from = Number(last ?? 0) + 1;
      const body = sent.length < 3
        ? `id: ${from}\nevent: line\ndata: ${from}\n\nid: ${from + 1}\nevent: line\ndata: ${from + 1}\n\n`
        : `id: ${from}\nevent: line\ndata: ${from}\n\nevent: end\ndata: {}\n\n`;
      return new Response(new Blob([body]).stream(), { status: 200 });
    }) as unknown as typeof fetch;
    const got: string[] = [];
    const f = follow({ url: '/x', headers: async () => ({ Authorization: 'Bearer t' }), fetchFn, backoffMs: () => 1, onEvent: (e) => got.push(`${e.event}:${e.data}`) });
    await f.done;
    expect(sent).toEqual([null, '2', '4']);
    expect(got).toEqual(['line:1', 'line:2', 'line:3', 'line:4', 'line:5', 'end:{}']);
  });
  it('gives up on a 404 instead of retrying forever', async () => {
    let calls = 0;
    const fetchFn = (async () => { calls++; return new Response('{}', { status: 404 }); }) as unknown as typeof fetch;
    const states: string[] = [];
    await follow({ url: '/x', headers: async () => ({}), fetchFn, backoffMs: () => 1, onEvent: () => {}, onState: (s) => states.push(s) }).done;
    expect(calls).toBe(1);
    expect(states).toEqual(['error']);
  });
});
