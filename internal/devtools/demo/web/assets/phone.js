// /demo/phone: plays the mini program. A simulated WeChat user logs in with
// a wx.login code, registers or binds when Bindery asks, then scans a PC's
// QR code, sees who asked, and confirms or cancels.
import { $, ago, api, browser, demoConfig, el, OPEN_QR_KEY, Problem, requestLog, show } from './api.js';

const USERS_KEY = 'bindery-demo:users';
const CURRENT_KEY = 'bindery-demo:current-user';
const SESSIONS_KEY = 'bindery-demo:sessions';
const QR_ID = /^[A-Za-z0-9_-]{22}$/;
const METHOD_LABEL = { register: 'Register', phone: 'WeChat phone', otp: 'One-time code', password: 'Password' };

let cfg = { app: 'demo', appid: '' };
let ticket = null; // { bind_ticket, status, bind_methods }
let scanned = null; // { id, expiresAt }

requestLog($('log'));
bindUI();
init();

async function init() {
  try {
    cfg = await demoConfig();
  } catch (err) {
    banner('login-status', 'bad', 'Could not read the demo configuration: ' + err.message);
    return;
  }
  const qr = new URLSearchParams(location.search).get('qr');
  if (qr) $('scan-input').value = qr;
  refreshUsers();
  const cur = localStorage.getItem(CURRENT_KEY);
  if (cur && users().some((u) => u.user === cur)) selectUser(cur);
  showOpenQR();
  window.addEventListener('storage', (e) => { if (e.key === OPEN_QR_KEY) showOpenQR(); });
  setInterval(tickRequester, 1000);
}

function bindUI() {
  $('create-user').addEventListener('click', createUser);
  $('random-phone').addEventListener('click', () => { $('phone').value = randomPhone(); });
  $('user-select').addEventListener('change', (e) => selectUser(e.target.value));
  $('wx-login').addEventListener('click', wxLogin);
  $('register').addEventListener('click', register);
  $('bind-phone').addEventListener('click', bindPhone);
  $('otp-send').addEventListener('click', otpSend);
  $('otp-verify').addEventListener('click', otpVerify);
  $('bind-pw').addEventListener('click', bindPassword);
  $('logout').addEventListener('click', logout);
  $('scan').addEventListener('click', scan);
  $('scan-input').addEventListener('keydown', (e) => { if (e.key === 'Enter') scan(); });
  $('use-open-qr').addEventListener('click', () => {
    const open = openQR();
    if (open) {
      $('scan-input').value = open.qr_url || open.qr_id;
      scan();
    }
  });
  $('confirm').addEventListener('click', () => decide('confirm'));
  $('cancel').addEventListener('click', () => decide('cancel'));
}

// ---- storage ---------------------------------------------------------------

function load(key, def) {
  try {
    return JSON.parse(localStorage.getItem(key)) || def;
  } catch {
    return def;
  }
}

function users() {
  return load(USERS_KEY, []);
}

function sessions() {
  return load(SESSIONS_KEY, {});
}

function currentUser() {
  const id = localStorage.getItem(CURRENT_KEY);
  return users().find((u) => u.user === id) || null;
}

function currentSession() {
  const u = currentUser();
  return u ? sessions()[u.user] || null : null;
}

function saveSession(user, s) {
  const all = sessions();
  if (s) all[user] = s;
  else delete all[user];
  localStorage.setItem(SESSIONS_KEY, JSON.stringify(all));
}

// ---- 1. the WeChat user ------------------------------------------------------

function refreshUsers() {
  const sel = $('user-select');
  const cur = localStorage.getItem(CURRENT_KEY);
  sel.textContent = '';
  const list = users();
  sel.append(el('option', { value: '' }, list.length ? '— choose —' : '— none yet —'));
  for (const u of list) {
    sel.append(el('option', { value: u.user, selected: u.user === cur }, `${u.nickname || 'unnamed'}${u.phone ? ' · ' + u.phone : ''}`));
  }
}

async function createUser() {
  const nickname = $('nickname').value.trim();
  const phone = $('phone').value.trim();
  const body = {};
  if (nickname) body.nickname = nickname;
  if (phone) body.phone = phone;
  busy('create-user', true);
  try {
    const u = await api('POST', '/demo/sim/users', { body });
    const list = users();
    list.push({ user: u.user, nickname: u.nickname || nickname, phone: u.phone || '' });
    localStorage.setItem(USERS_KEY, JSON.stringify(list));
    $('nickname').value = '';
    $('phone').value = '';
    refreshUsers();
    selectUser(u.user);
  } catch (err) {
    banner('user-current', 'bad', 'Could not create the user: ' + err.message);
  } finally {
    busy('create-user', false);
  }
}

function selectUser(id) {
  if (id) localStorage.setItem(CURRENT_KEY, id);
  else localStorage.removeItem(CURRENT_KEY);
  refreshUsers();
  ticket = null;
  show($('bind-panel'), false);
  show($('login-status'), false);
  const u = currentUser();
  if (!u) {
    show($('user-current'), false);
    $('wx-login').disabled = true;
    $('login-card').classList.add('off');
    loggedOut();
    return;
  }
  banner('user-current', 'ok', '');
  $('user-current').append('Holding the phone: ', el('b', { id: 'user-name' }, u.nickname || 'unnamed'),
    u.phone ? ` · ${u.phone}` : ' · no phone number', el('div', { class: 'small mono' }, u.user));
  $('wx-login').disabled = false;
  $('login-card').classList.remove('off');
  $('display-name').value = u.nickname || '';
  $('otp-to').value = u.phone || '';
  const s = currentSession();
  if (s) loggedIn(s);
  else loggedOut();
}

// ---- 2. logging in -------------------------------------------------------------

async function wxLogin() {
  const u = currentUser();
  if (!u) return;
  busy('wx-login', true);
  show($('bind-panel'), false);
  banner('login-status', '', 'wx.login()…');
  try {
    const { code } = await simCode('login', u);
    banner('login-status', '', 'Got a code; logging in…');
    const out = await api('POST', `/v1/apps/${encodeURIComponent(cfg.app)}/login/code`, { body: { code } });
    await outcome(out);
  } catch (err) {
    failed('login-status', err);
  } finally {
    busy('wx-login', false);
  }
}

/** simCode asks the simulator for what wx.login (or the phone button) returns. */
async function simCode(kind, u) {
  try {
    return await api('POST', '/demo/sim/' + kind, { body: { appid: cfg.appid, user: u.user } });
  } catch (err) {
    if (err instanceof Problem && err.code === 'simulator_not_found') {
      // The simulator restarted and forgot this user: drop it here too.
      localStorage.setItem(USERS_KEY, JSON.stringify(users().filter((x) => x.user !== u.user)));
      saveSession(u.user, null);
      selectUser('');
      throw new Error('The simulator no longer knows this user (it keeps users in memory and was restarted). Create a new one.');
    }
    throw err;
  }
}

/** outcome handles a login answer: OK, or a ticket to bind or register. */
async function outcome(out) {
  if (out.status === 'OK') {
    ticket = null;
    show($('bind-panel'), false);
    await loggedIn({ account_id: out.account_id, id_token: out.id_token, session_token: out.session_token }, true);
    return;
  }
  ticket = out;
  const register = out.status === 'USER_REGISTER';
  banner('login-status', 'warn', '');
  $('login-status').append(el('b', { id: 'login-outcome' }, out.status), register
    ? ' — no account has this WeChat identity yet. Register a new one, or bind an existing one.'
    : ' — no account has this WeChat identity yet. Bind it to an existing account.');
  $('bind-intro').textContent = `Bind ticket valid for ${Math.round(out.expires_in / 60)} minutes.`;
  const methods = (out.bind_methods && out.bind_methods.length ? out.bind_methods : ['register', 'phone', 'otp', 'password'])
    .slice().sort((a, b) => order(a) - order(b));
  const tabs = $('bind-tabs');
  tabs.textContent = '';
  for (const m of methods) {
    tabs.append(el('button', { type: 'button', 'data-tab': m, onclick: () => tab(m) }, METHOD_LABEL[m] || m));
  }
  tab(methods[0]);
  show($('bind-panel'), true);
  $('bind-phone').disabled = !(currentUser() || {}).phone;
}

function order(m) {
  const i = ['register', 'phone', 'otp', 'password'].indexOf(m);
  return i < 0 ? 99 : i;
}

function tab(method) {
  for (const b of $('bind-tabs').children) b.classList.toggle('active', b.dataset.tab === method);
  for (const p of $('bind-panel').querySelectorAll('[data-method]')) show(p, p.dataset.method === method);
}

async function withTicket(button, fn) {
  if (!ticket) return;
  busy(button, true);
  try {
    await outcome(await fn(ticket.bind_ticket));
  } catch (err) {
    failed('login-status', err);
  } finally {
    busy(button, false);
  }
}

function register() {
  return withTicket('register', (t) =>
    api('POST', '/v1/register', { body: { bind_ticket: t, display_name: $('display-name').value.trim() } }));
}

function bindPhone() {
  return withTicket('bind-phone', async (t) => {
    const { code } = await simCode('phone-code', currentUser());
    return api('POST', '/v1/bind/phone', { body: { bind_ticket: t, phone_code: code } });
  });
}

async function otpSend() {
  if (!ticket) return;
  const to = $('otp-to').value.trim();
  busy('otp-send', true);
  try {
    const out = await api('POST', '/v1/bind/otp/send', { body: { bind_ticket: ticket.bind_ticket, channel: to.includes('@') ? 'email' : 'sms', to } });
    banner('login-status', 'ok', `Code sent to ${to}; valid ${Math.round(out.expires_in / 60)} minutes. In dev mode it is in the bindery log.`);
  } catch (err) {
    failed('login-status', err);
  } finally {
    busy('otp-send', false);
  }
}

function otpVerify() {
  return withTicket('otp-verify', (t) =>
    api('POST', '/v1/bind/otp/verify', { body: { bind_ticket: t, to: $('otp-to').value.trim(), otp: $('otp-code').value.trim() } }));
}

function bindPassword() {
  return withTicket('bind-pw', (t) =>
    api('POST', '/v1/bind/password', { body: { bind_ticket: t, username: $('bind-username').value.trim(), password: $('bind-password').value } }));
}

/** loggedIn keeps the session of the current user and shows the account. */
async function loggedIn(s, fresh) {
  const u = currentUser();
  if (!u) return;
  saveSession(u.user, s);
  show($('account'), true);
  show($('login-actions'), false);
  $('me-id').textContent = s.account_id;
  setName(s.name || '…');
  banner('login-status', 'ok', fresh ? 'Logged in.' : 'Logged in (session kept in this browser).');
  $('scan-card').classList.remove('off');
  $('scan').disabled = false;
  try {
    const info = await authed('GET', '/v1/userinfo');
    const cur = sessions()[u.user];
    if (cur) saveSession(u.user, { ...cur, name: info.name || info.preferred_username || '' });
    setName(info.name || info.preferred_username || 'account');
    $('account').dataset.ready = 'true';
  } catch (err) {
    if (!currentSession()) return; // the session is gone: authed logged out
    setName('account');
  }
}

function setName(name) {
  $('me-name').textContent = name;
  $('me-avatar').textContent = (name || '?').trim().charAt(0).toUpperCase() || '?';
}

function loggedOut() {
  show($('account'), false);
  delete $('account').dataset.ready;
  show($('login-actions'), true);
  $('scan-card').classList.add('off');
  $('scan').disabled = true;
  show($('requester'), false);
  scanned = null;
}

async function logout() {
  const u = currentUser();
  const s = currentSession();
  if (s) {
    try {
      await api('POST', '/v1/sessions/revoke', { body: { session_token: s.session_token } });
    } catch {
      // gone already
    }
  }
  if (u) saveSession(u.user, null);
  loggedOut();
  banner('login-status', '', 'Logged out.');
}

/**
 * authed calls the API as the logged-in user. An expired id_token (15 min)
 * is renewed once with the session token, as a mini program would.
 */
async function authed(method, path, body) {
  const u = currentUser();
  let s = currentSession();
  if (!u || !s) throw new Error('not logged in');
  try {
    return await api(method, path, { body, token: s.id_token });
  } catch (err) {
    if (!(err instanceof Problem) || err.status !== 401 || err.code === 'poll_token_required') throw err;
  }
  try {
    const r = await api('POST', '/v1/sessions/refresh', { body: { session_token: s.session_token } });
    s = { ...s, id_token: r.id_token, session_token: r.session_token };
    saveSession(u.user, s);
  } catch (err) {
    saveSession(u.user, null);
    loggedOut();
    banner('login-status', 'warn', 'The session ended; log in again.');
    throw err;
  }
  return api(method, path, { body, token: s.id_token });
}

// ---- 3. scanning -----------------------------------------------------------------

/**
 * parseQR finds the QR id in what a camera would read: the id itself, the
 * plain-link URL ({issuer}/qr/{id}), a page link with ?q= (how WeChat hands a
 * plain-link QR to the mini program) or ?scene= / ?qr=.
 */
export function parseQR(text) {
  const s = String(text || '').trim();
  if (QR_ID.test(s)) return s;
  let u;
  try {
    u = new URL(s);
  } catch {
    return '';
  }
  for (const p of ['q', 'scene', 'qr']) {
    const v = u.searchParams.get(p);
    if (v) {
      const id = parseQR(v);
      if (id) return id;
    }
  }
  const m = u.pathname.match(/\/qr\/([A-Za-z0-9_-]{22})\/?$/);
  return m ? m[1] : '';
}

async function scan() {
  const id = parseQR($('scan-input').value);
  show($('requester'), false);
  if (!id) {
    banner('scan-status', 'bad', 'That is not a QR id (22 characters) or a QR URL.');
    return;
  }
  busy('scan', true);
  banner('scan-status', '', 'Scanning…');
  try {
    const st = await authed('POST', `/v1/qr/${id}/scan`);
    scanned = { id, expiresAt: Date.now() + st.expires_in * 1000, createdAt: new Date(st.requester.created_at) };
    show($('scan-status'), false);
    $('req-app').textContent = st.app;
    $('req-ip').textContent = st.requester.ip || 'unknown';
    $('req-browser').textContent = browser(st.requester.user_agent);
    $('req-ua').textContent = st.requester.user_agent || '';
    tickRequester();
    show($('requester'), true);
    $('confirm').disabled = false;
    $('cancel').disabled = false;
  } catch (err) {
    failed('scan-status', err);
  } finally {
    busy('scan', false);
  }
}

async function decide(step) {
  if (!scanned) return;
  $('confirm').disabled = true;
  $('cancel').disabled = true;
  try {
    await authed('POST', `/v1/qr/${scanned.id}/${step}`);
    show($('requester'), false);
    if (step === 'confirm') banner('scan-status', 'ok', 'Confirmed. The computer is now logged in as you.');
    else banner('scan-status', 'warn', 'Cancelled. The computer was not logged in.');
    $('scan-status').dataset.done = step;
    $('scan-input').value = '';
    scanned = null;
  } catch (err) {
    failed('scan-status', err);
    $('confirm').disabled = false;
    $('cancel').disabled = false;
  }
}

function tickRequester() {
  if (!scanned) return;
  const left = Math.max(0, Math.round((scanned.expiresAt - Date.now()) / 1000));
  $('req-ttl').textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`;
  $('req-time').textContent = `${scanned.createdAt.toLocaleTimeString()} (${ago(scanned.createdAt)})`;
}

function openQR() {
  try {
    const open = JSON.parse(localStorage.getItem(OPEN_QR_KEY) || 'null');
    return open && open.expires_at > Date.now() ? open : null;
  } catch {
    return null;
  }
}

function showOpenQR() {
  show($('open-qr'), !!openQR());
}

// ---- helpers -----------------------------------------------------------------------

const FRIENDLY = {
  qr_expired: 'This code expired. Ask the computer for a new one.',
  qr_cancelled: 'This login was cancelled.',
  qr_consumed: 'This code was already used.',
  qr_not_found: 'No QR login has this id.',
  qr_not_scanner: 'Another user scanned this code first.',
  ticket_expired: 'The bind ticket expired; log in again.',
  ticket_used: 'The bind ticket was already used; log in again.',
  already_bound: 'That account already has another WeChat user bound.',
};

function failed(id, err) {
  const msg = (err instanceof Problem && FRIENDLY[err.code]) || err.message;
  banner(id, 'bad', '');
  $(id).append(msg, err.code ? ' ' : '', err.code ? el('span', { class: 'pill' }, err.code) : '');
}

function banner(id, kind, text) {
  const b = $(id);
  b.className = 'status' + (kind ? ' ' + kind : '');
  b.textContent = text;
  delete b.dataset.done;
  show(b, true);
}

function busy(id, on) {
  $(id).disabled = on;
}

function randomPhone() {
  const prefixes = ['130', '131', '132', '135', '136', '137', '138', '139', '150', '151', '186', '188'];
  const p = prefixes[Math.floor(Math.random() * prefixes.length)];
  return '+86' + p + String(Math.floor(Math.random() * 1e8)).padStart(8, '0');
}
