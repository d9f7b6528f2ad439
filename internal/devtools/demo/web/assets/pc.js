// /demo/pc: a PC login page. It starts a QR login, shows the code, follows
// its state with a long poll, and once the phone confirms, shows the account
// it is logged in as.
import { $, api, decodeJWT, demoConfig, el, icon, OPEN_QR_KEY, Problem, requestLog, show, sleep } from './api.js';

const FINAL = ['CONSUMED', 'CANCELLED', 'EXPIRED'];
let app = 'demo';
let current = null; // { qr, controller, expiresAt, state }
let session = null; // { id_token, session_token, account_id }

requestLog($('log'));

$('new-code').addEventListener('click', () => start());
$('copy-id').addEventListener('click', () => copy($('qr-id').textContent, $('copy-id')));
$('copy-url').addEventListener('click', () => copy($('qr-url').textContent, $('copy-url')));
$('logout').addEventListener('click', logout);
setInterval(tick, 1000);

init();

async function init() {
  try {
    app = (await demoConfig()).app || app;
  } catch (err) {
    status('bad', 'Could not read the demo configuration: ' + err.message);
    return;
  }
  $('app-name').textContent = app;
  start();
}

/** start opens a new QR login and follows it. */
async function start() {
  if (current) current.controller.abort();
  const controller = new AbortController();
  current = { qr: null, controller, expiresAt: 0, state: 'loading' };
  const mine = current;
  show($('new-code'), false);
  show($('account-card'), false);
  show($('login-card'), true);
  overlay('loading', 'wait', 'Starting…');
  status('', 'Starting a QR login…');
  let qr;
  try {
    qr = await api('POST', `/v1/apps/${encodeURIComponent(app)}/qr`);
  } catch (err) {
    if (mine !== current) return;
    overlay('EXPIRED', 'info', 'No code');
    status('bad', `Could not start a QR login: ${err.message}` + (err.code ? ` (${err.code})` : ''));
    show($('new-code'), true);
    return;
  }
  if (mine !== current) return;
  mine.qr = qr;
  mine.expiresAt = Date.now() + qr.expires_in * 1000;
  $('qr-img').src = qr.image_url;
  $('qr-id').textContent = qr.qr_id;
  $('qr-url').textContent = qr.qr_url;
  $('phone-link').href = 'phone?qr=' + encodeURIComponent(qr.qr_id);
  try {
    localStorage.setItem(OPEN_QR_KEY, JSON.stringify({ qr_id: qr.qr_id, qr_url: qr.qr_url, expires_at: mine.expiresAt }));
  } catch {
    // private mode: the phone page can still take the id by paste
  }
  render({ state: 'PENDING', expires_in: qr.expires_in });
  tick();
  follow(mine, '');
}

/**
 * follow long-polls the QR login: each GET waits up to 25 s for the state to
 * differ from the one shown, so a change reaches the page at once.
 */
async function follow(mine, known) {
  const { qr, controller } = mine;
  const signal = controller.signal;
  let failures = 0;
  while (!signal.aborted && mine === current) {
    let st;
    try {
      const q = new URLSearchParams({ wait: '25' });
      if (known) q.set('state', known);
      st = await api('GET', `/v1/qr/${encodeURIComponent(qr.qr_id)}?${q}`, {
        headers: { 'X-Poll-Token': qr.poll_token },
        signal,
      });
      failures = 0;
    } catch (err) {
      if (signal.aborted || mine !== current) return;
      if (err instanceof Problem) {
        const ended = { qr_expired: 'EXPIRED', qr_cancelled: 'CANCELLED', qr_consumed: 'CONSUMED' }[err.code];
        if (ended) {
          render({ state: ended });
          return;
        }
        if (err.status === 429) {
          await sleep(Math.max(1, err.retryAfter) * 1000, signal);
          continue;
        }
        if (err.status < 500) {
          status('bad', `The poll was refused: ${err.message} (${err.code})`);
          show($('new-code'), true);
          return;
        }
      }
      failures++;
      status('warn', 'Connection trouble; trying again…');
      await sleep(Math.min(8000, 400 * 2 ** failures), signal);
      continue;
    }
    if (mine !== current) return;
    render(st);
    if (st.id_token) {
      loggedIn(st);
      return;
    }
    if (FINAL.includes(st.state)) return;
    known = st.state;
  }
}

/** render shows a state of the QR login. */
function render(st) {
  if (!current) return;
  current.state = st.state;
  if (!FINAL.includes(st.state) && typeof st.expires_in === 'number' && !st.id_token) {
    current.expiresAt = Date.now() + st.expires_in * 1000;
  }
  const who = (st.scanned_by && st.scanned_by.display_name) || 'someone';
  switch (st.state) {
    case 'PENDING':
      overlay('PENDING', '', '');
      status('', 'Waiting for the code to be scanned…');
      break;
    case 'SCANNED':
      overlay('SCANNED', 'phone', `Scanned by ${who}`);
      status('', '');
      $('status').append('Scanned by ', el('b', { id: 'scanned-by' }, who), ' — waiting for the confirmation on the phone…');
      break;
    case 'CONFIRMED':
      overlay('CONFIRMED', 'check', 'Confirmed — logging in…');
      status('ok', 'Confirmed on the phone; collecting the login…');
      break;
    case 'CONSUMED':
      if (st.id_token) {
        overlay('CONSUMED', 'check', 'Logged in');
      } else {
        overlay('CONSUMED', 'info', 'Already used');
        status('warn', 'This login was already collected (the tokens are handed out once).');
        ended();
      }
      break;
    case 'CANCELLED':
      overlay('CANCELLED', 'x', 'Cancelled on the phone');
      status('bad', 'The login was cancelled on the phone.');
      ended();
      break;
    case 'EXPIRED':
      overlay('EXPIRED', 'clock', 'Code expired');
      status('warn', 'The code expired. Get a new one to try again.');
      ended();
      break;
    default:
      status('', 'State: ' + st.state);
  }
}

function ended() {
  show($('new-code'), true);
  $('qr-ttl').textContent = '—';
  forgetOpenQR();
}

/** loggedIn shows the account the PC is now logged in as. */
async function loggedIn(st) {
  session = { id_token: st.id_token, session_token: st.session_token, account_id: st.account_id };
  forgetOpenQR();
  const claims = decodeJWT(st.id_token);
  $('claims').textContent = JSON.stringify(claims, null, 2);
  $('acc-id').textContent = claims.sub || st.account_id;
  setName(claims.name || claims.preferred_username || 'your account', claims.picture);
  status('ok', '');
  $('status').append('Logged in as ', el('b', {}, claims.name || claims.sub), '.');
  $('qr-ttl').textContent = '—';
  show($('account-card'), true);
  try {
    const info = await api('GET', '/v1/userinfo', { token: st.id_token });
    $('userinfo').textContent = JSON.stringify(info, null, 2);
    if (info.name) setName(info.name, info.picture);
  } catch (err) {
    $('userinfo').textContent = `${err.message} (${err.code || 'error'})`;
  }
  $('account-card').dataset.ready = 'true';
}

function setName(name, picture) {
  $('acc-name').textContent = name;
  const av = $('acc-avatar');
  av.textContent = '';
  if (picture && /^https?:\/\//.test(picture)) av.append(el('img', { src: picture, alt: '' }));
  else av.textContent = (name || '?').trim().charAt(0).toUpperCase() || '?';
}

async function logout() {
  if (session) {
    try {
      await api('POST', '/v1/sessions/revoke', { body: { session_token: session.session_token } });
    } catch {
      // the session may already be gone; a new QR login follows anyway
    }
  }
  session = null;
  delete $('account-card').dataset.ready;
  start();
}

/** tick counts the code's lifetime down; at zero it asks the server at once. */
function tick() {
  if (!current || !current.qr || FINAL.includes(current.state) || current.state === 'loading') return;
  const left = Math.max(0, Math.round((current.expiresAt - Date.now()) / 1000));
  $('qr-ttl').textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`;
  if (left === 0 && !current.checkedExpiry) {
    // The server decides expiry on its clock; ask it now instead of waiting
    // for the long poll to time out.
    current.checkedExpiry = true;
    const mine = current;
    mine.controller.abort();
    mine.controller = new AbortController();
    follow(mine, '');
  }
}

function overlay(state, name, text) {
  $('qr-wrap').dataset.state = state;
  const o = $('qr-overlay');
  o.textContent = '';
  if (text) o.append(el('div', {}, name ? icon(name, 'big-icon ' + state.toLowerCase()) : null, el('div', {}, text)));
}

function status(kind, text) {
  const s = $('status');
  s.className = 'status' + (kind ? ' ' + kind : '');
  s.textContent = text;
}

function forgetOpenQR() {
  try {
    const open = JSON.parse(localStorage.getItem(OPEN_QR_KEY) || 'null');
    if (open && current && current.qr && open.qr_id === current.qr.qr_id) localStorage.removeItem(OPEN_QR_KEY);
  } catch {
    // nothing to forget
  }
}

async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = 'copied';
  } catch {
    button.textContent = 'select and copy';
  }
  setTimeout(() => { button.textContent = 'copy'; }, 1500);
}

