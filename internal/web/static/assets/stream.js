// The live event stream (GET /v1/events/stream, Server-Sent Events) read with
// fetch: EventSource cannot send the Authorization header, and a token in the
// URL would end up in logs. Reconnects resume after the last event seen, so
// none is lost or shown twice.

import { headers } from './api.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// parseFrame reads one SSE frame ("id: 7\nevent: app.scale\ndata: {...}").
export function parseFrame(frame) {
  let data = '';
  for (const line of frame.split('\n')) {
    if (line.startsWith('data:')) data += line.slice(5).replace(/^ /, '');
  }
  if (!data) return null; // a comment: ": ping", ": connected"
  return JSON.parse(data);
}

// openStream calls onEvent for every event after `after`, and onState with
// 'live', 'reconnecting' or 'unauthorized'. close() ends it.
export function openStream({ after = 0, onEvent, onState }) {
  const ctl = new AbortController();
  let last = after;
  let stopped = false;
  let backoff = 500;
  (async () => {
    while (!stopped) {
      try {
        const res = await fetch(`v1/events/stream?after=${last}`, {
          headers: headers({ Accept: 'text/event-stream' }), cache: 'no-store', credentials: 'omit', signal: ctl.signal,
        });
        if (res.status === 401 || res.status === 403) { onState('unauthorized', res.status); return; }
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        onState('live');
        backoff = 500;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const frame = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const ev = parseFrame(frame);
            if (ev && ev.seq > last) {
              last = ev.seq;
              onEvent(ev);
            }
          }
        }
      } catch (e) {
        if (stopped || e.name === 'AbortError') return;
      }
      if (stopped) return;
      onState('reconnecting');
      await sleep(backoff);
      backoff = Math.min(backoff * 2, 10000);
    }
  })();
  return {
    close() { stopped = true; ctl.abort(); },
    get last() { return last; },
  };
}
