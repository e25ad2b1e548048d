// The console's only way to keymgr: its public REST API with the operator's bearer token. The
// token lives in sessionStorage (this tab, until it closes or the operator signs out) and nowhere
// else: never in a URL, a cookie or localStorage.
const KEY = 'keymgr.token';

export const session = {
  token: () => sessionStorage.getItem(KEY),
  set: (t) => sessionStorage.setItem(KEY, t),
  clear: () => sessionStorage.removeItem(KEY),
};

// An answer other than 2xx, with keymgr's own error code and message.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || '';
  }
}

async function request(method, path, body, accept) {
  const headers = { Accept: accept || 'application/json' };
  const t = session.token();
  if (t) headers.Authorization = 'Bearer ' + t;
  const init = { method, headers, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'network', 'keymgr cannot be reached: ' + e.message);
  }
  const text = await res.text();
  if (!res.ok) {
    let j = null;
    try { j = JSON.parse(text); } catch { /* not JSON */ }
    throw new ApiError(res.status, j && j.error, (j && j.message) || text || res.statusText);
  }
  return text;
}

export async function api(method, path, body) {
  const text = await request(method, path, body);
  return text ? JSON.parse(text) : null;
}
export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body);
export const del = (path) => api('DELETE', path);
export const getText = (path, accept) => request('GET', path, undefined, accept || '*/*');

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? '?' + s : '';
}

// Signatures per key and hour of a keyset (GET /v1/keysets/{name}/usage: any role that can read
// the keyset). `from`/`to` in Unix seconds; keymgr counts whole hours.
export const usage = (keyset, from, to) => get(`/v1/keysets/${keyset}/usage` + query({ from, to }));

// The signatures of a usage answer, summed over its keys and hours.
export const usageTotal = (u) => u.keys.reduce((a, k) => a + k.hours.reduce((b, x) => b + x.signatures, 0), 0);
