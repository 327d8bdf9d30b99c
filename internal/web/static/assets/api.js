// The /v1 API with the user's token. The token lives in sessionStorage (this
// tab only, gone when it closes) and travels as a bearer header; it is never
// put in a URL, where logs and history would keep it.

const KEY = 'hoist.token';

export const session = {
  get token() { return sessionStorage.getItem(KEY) || ''; },
  set(t) { sessionStorage.setItem(KEY, t); },
  clear() { sessionStorage.removeItem(KEY); },
};

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || String(status);
    this.field = e.field || '';
    this.details = e.details || [];
  }
  // describe is the sentence shown to the user.
  describe() {
    const what = { 401: 'not signed in', 403: 'refused', 404: 'not found', 409: 'conflict', 400: 'invalid' }[this.status] || 'failed';
    return `${what} (${this.status} ${this.code}): ${this.field ? this.field + ': ' : ''}${this.message}`;
  }
}

export function headers(extra) {
  const h = { Accept: 'application/json', ...extra };
  const t = session.token;
  if (t) h.Authorization = 'Bearer ' + t;
  return h;
}

// Paths are relative ("v1/apps") so the dashboard also works under a
// reverse proxy's prefix.
export async function request(method, path, body, { signal } = {}) {
  const init = { method, headers: headers(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    cache: 'no-store', credentials: 'omit', signal };
  if (body !== undefined) init.body = JSON.stringify(body);
  const res = await fetch(path, init);
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { error: { message: text.slice(0, 200) } }; }
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export const get = (path, opt) => request('GET', path, undefined, opt);
export const post = (path, body, opt) => request('POST', path, body, opt);
export const put = (path, body, opt) => request('PUT', path, body, opt);
export const del = (path, opt) => request('DELETE', path, undefined, opt);

export const enc = encodeURIComponent;
