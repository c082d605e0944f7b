// api.js — talking to iot-httpd: the person's token (this tab's
// sessionStorage, sent in the Authorization header, never in a URL),
// JSON requests, and the Server-Sent Events stream read with fetch()
// (EventSource cannot send headers), reconnecting after a failure.

const KEY = 'iotflow.token';

export function token() {
  return sessionStorage.getItem(KEY);
}

export function setToken(t) {
  sessionStorage.setItem(KEY, t);
}

export function clearToken() {
  sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.message || body.error)) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

function headers(accept) {
  return { Authorization: `Bearer ${token()}`, Accept: accept };
}

// GET path (a path of this server, with its query): the JSON body, or an ApiError.
export async function get(path, tok) {
  const h = headers('application/json');
  if (tok) h.Authorization = `Bearer ${tok}`;
  const r = await fetch(path, { headers: h, cache: 'no-store', credentials: 'omit' });
  let body = null;
  try {
    body = await r.json();
  } catch (e) {
    body = null;
  }
  if (!r.ok) throw new ApiError(r.status, body);
  return body;
}

// The blocks of an event stream: "data:" lines joined, comments as
// {comment}. Returns the unparsed rest.
function parseBlocks(buf, onBlock) {
  let i;
  while ((i = buf.indexOf('\n\n')) >= 0) {
    const block = buf.slice(0, i);
    buf = buf.slice(i + 2);
    const data = [];
    let event = 'message';
    let comment = null;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) comment = line.slice(1).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      else if (line.startsWith('event:')) event = line.slice(6).trim();
    }
    onBlock({ event, data: data.length ? data.join('\n') : null, comment });
  }
  return buf;
}

// Follow the event stream at path until close(): onEvent(obj) for each
// data event (parsed JSON), onState('connecting'|'live'|'retrying'|'denied').
// A 401 ends it (the token is no good); anything else is retried with a
// growing pause (1 s .. 30 s).
export function stream(path, onEvent, onState) {
  const ctl = new AbortController();
  let closed = false;
  let pause = 1000;
  async function once() {
    onState('connecting');
    const r = await fetch(path, { headers: headers('text/event-stream'), cache: 'no-store',
      credentials: 'omit', signal: ctl.signal });
    if (r.status === 401) {
      onState('denied');
      return false;
    }
    if (!r.ok || !r.body) throw new ApiError(r.status, null);
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf = parseBlocks((buf + value).replace(/\r\n?/g, '\n'), (b) => {
        if (b.comment === 'connected') {
          pause = 1000;
          onState('live');
        }
        if (b.data === null) return;
        if (b.event === 'error') throw new ApiError(503, null);
        try {
          onEvent(JSON.parse(b.data));
        } catch (e) {
          if (e instanceof ApiError) throw e;
        }
      });
    }
    return true;
  }
  (async () => {
    while (!closed) {
      try {
        if (!(await once())) return;
      } catch (e) {
        if (closed) return;
      }
      if (closed) return;
      onState('retrying');
      await new Promise((res) => setTimeout(res, pause));
      pause = Math.min(pause * 2, 30000);
    }
  })();
  return {
    close() {
      closed = true;
      ctl.abort();
    },
  };
}

// "2026-12-01T10:00:00.123456+00:00" -> a Date (JavaScript reads at most
// milliseconds reliably).
export function parseTs(s) {
  if (!s) return null;
  const d = new Date(String(s).replace(/(\.\d{3})\d+/, '$1'));
  return Number.isNaN(d.getTime()) ? null : d;
}

export function ago(d, now = Date.now()) {
  if (!d) return 'never';
  const s = Math.max(0, Math.round((now - d.getTime()) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function formatValue(v) {
  if (v === null || v === undefined) return '–';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Math.round(v * 1000) / 1000);
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

// A new element with text (never HTML: names and values come from users).
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('data-')) e.dataset[k.slice(5).replace(/-(.)/g, (m, c) => c.toUpperCase())] = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

export function timeEl(d) {
  return el('time', { datetime: d ? d.toISOString() : null, title: d ? d.toLocaleString() : null,
    text: ago(d) });
}
