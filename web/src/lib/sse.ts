// A text/event-stream parser and a follower over fetch. EventSource cannot
// send an Authorization header, so streams are read with fetch and parsed
// here, and a reconnect resumes with Last-Event-ID.

export interface SSEEvent {
  id?: string; // absent when the event set no id
  event: string;
  data: string;
}

// SSEParser turns chunks of a stream into events, per the WHATWG rules
// that matter here: fields split on the first colon, one optional space
// after it, multi-line data joined with \n, comments ignored, CRLF/CR/LF.
export class SSEParser {
  private buf = '';
  private data: string[] = [];
  private event = '';
  private id: string | undefined;
  private sawCR = false;

  constructor(private readonly onEvent: (e: SSEEvent) => void) {}

  push(chunk: string): void {
    // A CR at the end of the previous chunk may be half of a CRLF.
    if (this.sawCR && chunk.startsWith('\n')) chunk = chunk.slice(1);
    this.sawCR = chunk.endsWith('\r');
    this.buf += chunk;
    let start = 0;
    for (;;) {
      const m = /\r\n|\r|\n/g;
      m.lastIndex = start;
      const hit = m.exec(this.buf);
      if (!hit) break;
      this.line(this.buf.slice(start, hit.index));
      start = hit.index + hit[0].length;
    }
    this.buf = this.buf.slice(start);
  }

  private line(l: string): void {
    if (l === '') {
      if (this.data.length > 0) {
        this.onEvent({ id: this.id, event: this.event || 'message', data: this.data.join('\n') });
      }
      this.data = [];
      this.event = '';
      this.id = undefined;
      return;
    }
    if (l.startsWith(':')) return;
    const i = l.indexOf(':');
    const field = i < 0 ? l : l.slice(0, i);
    let value = i < 0 ? '' : l.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data': this.data.push(value); break;
      case 'event': this.event = value; break;
      case 'id': if (!value.includes('\0')) this.id = value; break;
    }
  }
}

export interface FollowOptions {
  url: string;
  headers: () => Promise<Record<string, string>>;
  onEvent: (e: SSEEvent) => void;
  onState?: (s: 'open' | 'retrying' | 'ended' | 'error', detail?: string) => void;
  lastEventId?: string;
  fetchFn?: typeof fetch;
  // Waits between reconnects; tests shorten it.
  backoffMs?: (attempt: number) => number;
}

// follow reads the stream until an `end` event or until stop() is called,
// reconnecting after a dropped connection with the last id seen, so the
// server replays from there: no gap, no duplicate.
export function follow(o: FollowOptions): { stop: () => void; done: Promise<void> } {
  const ctl = new AbortController();
  const fetchFn = o.fetchFn ?? fetch.bind(globalThis);
  const backoff = o.backoffMs ?? ((n: number) => Math.min(500 * 2 ** n, 10_000));
  let last = o.lastEventId;
  const done = (async () => {
    for (let attempt = 0; !ctl.signal.aborted; attempt++) {
      let ended = false;
      try {
        const h = await o.headers();
        if (last !== undefined) h['Last-Event-ID'] = last;
        const res = await fetchFn(o.url, { headers: { Accept: 'text/event-stream', ...h }, signal: ctl.signal });
        if (!res.ok || !res.body) {
          // 4xx will not heal by retrying (gone, forbidden): report and stop.
          if (res.status >= 400 && res.status < 500 && res.status !== 401 && res.status !== 429) {
            o.onState?.('error', `${res.status} ${res.statusText}`);
            return;
          }
          throw new Error(`stream answered ${res.status}`);
        }
        o.onState?.('open');
        attempt = 0;
        const parser = new SSEParser((e) => {
          if (e.id !== undefined) last = e.id;
          if (e.event === 'end') ended = true;
          o.onEvent(e);
        });
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.push(value);
        }
        if (ended) {
          o.onState?.('ended');
          return;
        }
        o.onState?.('retrying', 'the stream closed before its end');
      } catch (err) {
        if (ctl.signal.aborted) return;
        o.onState?.('retrying', String(err));
      }
      if (ended) return;
      await sleep(backoff(attempt), ctl.signal);
    }
  })();
  return { stop: () => ctl.abort(), done };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}
