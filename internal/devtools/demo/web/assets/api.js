// Shared helpers of the demo pages: calls to Bindery's public API (same
// origin), the simulator proxy (/demo/sim/), and small DOM utilities.
// Plain ES modules, no build step.

/** A problem+json answer (RFC 9457) from Bindery. */
export class Problem extends Error {
  constructor(status, body) {
    const b = body || {};
    super(b.detail || b.title || `HTTP ${status}`);
    this.status = status;
    this.code = b.code || 'http_' + status;
    this.body = b;
    this.retryAfter = 0;
  }
}

const listeners = [];

/** onCall registers fn(entry) for every API call, for the request log. */
export function onCall(fn) {
  listeners.push(fn);
}

/**
 * api sends a JSON request and returns the decoded answer, or throws a
 * Problem. token is an id_token sent as bearer; headers are extra headers.
 */
export async function api(method, path, { body, token, headers, signal } = {}) {
  const h = { Accept: 'application/json', ...(headers || {}) };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  if (token) h.Authorization = 'Bearer ' + token;
  const started = performance.now();
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: 'no-store',
    });
  } catch (err) {
    if (err.name !== 'AbortError') notify({ method, path, status: 'network error', ms: performance.now() - started });
    throw err;
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  // Only a problem's code: a successful answer's "code" may be a login code.
  notify({ method, path, status: res.status, ms: performance.now() - started, code: !res.ok && data ? data.code : undefined });
  if (!res.ok) {
    const p = new Problem(res.status, data || { detail: text });
    p.retryAfter = Number(res.headers.get('Retry-After')) || 0;
    throw p;
  }
  return data;
}

function notify(entry) {
  // Never show the poll token or a bearer: only the method, the path without
  // its query, and the outcome.
  entry.path = entry.path.split('?')[0];
  entry.at = new Date();
  for (const fn of listeners) fn(entry);
}

/** config reads the demo's app id and WeChat appid. */
export async function demoConfig() {
  const res = await fetch('/demo/config.json', { cache: 'no-store' });
  if (!res.ok) throw new Error('demo config: HTTP ' + res.status);
  return res.json();
}

/** decodeJWT shows a JWT's payload (no verification: display only). */
export function decodeJWT(token) {
  const part = String(token).split('.')[1] || '';
  const b64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

/** $ finds one element by id. */
export function $(id) {
  return document.getElementById(id);
}

/** el builds an element: el('div', {class: 'x'}, 'text', child). */
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/** show toggles hidden. */
export function show(e, visible) {
  e.hidden = !visible;
}

/** ago says how long ago a time was, in words. */
export function ago(date, now = new Date()) {
  const s = Math.max(0, Math.round((now - date) / 1000));
  if (s < 5) return 'just now';
  if (s < 60) return s + ' s ago';
  const m = Math.round(s / 60);
  if (m < 60) return m + ' min ago';
  return Math.round(m / 60) + ' h ago';
}

/** browser names the browser and system a user agent claims. */
export function browser(ua) {
  if (!ua) return 'unknown browser';
  const name =
    (/Edg\//.test(ua) && 'Edge') ||
    (/HeadlessChrome\//.test(ua) && 'Headless Chrome') ||
    (/Chrome\//.test(ua) && 'Chrome') ||
    (/Firefox\//.test(ua) && 'Firefox') ||
    (/Safari\//.test(ua) && 'Safari') ||
    (/curl\//.test(ua) && 'curl') ||
    'a browser';
  const os =
    (/Windows/.test(ua) && 'Windows') ||
    (/Mac OS X/.test(ua) && !/Mobile/.test(ua) && 'macOS') ||
    (/Android/.test(ua) && 'Android') ||
    (/iPhone|iPad/.test(ua) && 'iOS') ||
    (/Linux/.test(ua) && 'Linux') ||
    '';
  return os ? `${name} on ${os}` : name;
}

/** sleep waits ms, or until signal aborts. */
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    if (signal) signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

/** requestLog renders the API calls into a list element. */
export function requestLog(list) {
  onCall((e) => {
    const ok = typeof e.status === 'number' && e.status < 400;
    const li = el('li', { class: ok ? 'ok' : 'bad' },
      el('span', { class: 'm' }, e.method),
      el('span', { class: 'p' }, e.path),
      el('span', { class: 's' }, String(e.status) + (e.code ? ' ' + e.code : '')),
      el('span', { class: 't' }, Math.round(e.ms) + ' ms'));
    list.prepend(li);
    while (list.children.length > 30) list.lastChild.remove();
  });
}

const ICONS = {
  check: 'M20 6 9 17l-5-5',
  x: 'M18 6 6 18M6 6l12 12',
  clock: 'M12 7v5l3 2M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z',
  phone: 'M8 2h8a2 2 0 0 1 2 2v16a2 2 0 0 1-2 2H8a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2zM11 18h2',
  info: 'M12 16v-4M12 8h.01M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z',
  wait: 'M12 3a9 9 0 1 0 9 9',
};

/** icon draws a small line icon (SVG, so it needs no emoji font). */
export function icon(name, cls) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', 'icon' + (cls ? ' ' + cls : '') + (name === 'wait' ? ' spin' : ''));
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', ICONS[name] || ICONS.info);
  svg.append(path);
  return svg;
}

/** The localStorage key where /demo/pc leaves its open QR code for /demo/phone. */
export const OPEN_QR_KEY = 'bindery-demo:open-qr';
