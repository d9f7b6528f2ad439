// Confirming a PC login by QR code. The PC shows a plain-link QR code
// ({issuer}/qr/{id}); the mini program admin console maps that URL prefix
// to pages/auth/auth, and WeChat opens the page with the scanned URL in the
// `q` parameter. A mini-program code (wxacode) carries the id in `scene`.
'use strict';

const QR_ID = /^[A-Za-z0-9_-]{22}$/;

function decode(s) {
  try {
    return decodeURIComponent(String(s));
  } catch (e) {
    return String(s);
  }
}

/**
 * qrIdFromText finds a QR id in what a camera read: the id itself, the
 * plain-link URL (…/qr/{id}), or a link with ?q= / ?scene= / ?id=. No URL
 * class: the mini program runtime has none.
 */
function qrIdFromText(text) {
  const s = String(text == null ? '' : text).trim();
  if (QR_ID.test(s)) return s;
  const path = s.match(/\/qr\/([A-Za-z0-9_-]{22})(?:[/?#]|$)/);
  if (path) return path[1];
  const param = s.match(/[?&](?:q|scene|id|qr)=([^&#]+)/);
  if (param) {
    const inner = decode(param[1]);
    if (inner !== s) return qrIdFromText(inner);
  }
  return '';
}

/**
 * parseQRId reads the QR id from a page's onLoad options: `q` (a plain-link
 * QR, URL-encoded), `scene` (a mini-program code), or `id`.
 */
function parseQRId(options) {
  const o = options || {};
  for (const key of ['q', 'scene', 'id']) {
    if (o[key]) {
      const id = qrIdFromText(decode(o[key]));
      if (id) return id;
    }
  }
  return '';
}

/** qrIdFromScan reads the id from a wx.scanCode result. */
function qrIdFromScan(res) {
  const r = res || {};
  // A mini-program code answers with the page path (…?scene=…); a plain QR
  // code with its text.
  return qrIdFromText(r.path ? r.path : r.result);
}

/** browser names the browser and system a user agent claims. */
function browser(ua) {
  if (!ua) return 'unknown browser';
  const name =
    (/Edg\//.test(ua) && 'Edge') ||
    (/HeadlessChrome\//.test(ua) && 'Headless Chrome') ||
    (/Chrome\//.test(ua) && 'Chrome') ||
    (/Firefox\//.test(ua) && 'Firefox') ||
    (/Safari\//.test(ua) && 'Safari') ||
    'a browser';
  const os =
    (/Windows/.test(ua) && 'Windows') ||
    (/Mac OS X/.test(ua) && !/Mobile/.test(ua) && 'macOS') ||
    (/Android/.test(ua) && 'Android') ||
    (/iPhone|iPad/.test(ua) && 'iOS') ||
    (/Linux/.test(ua) && 'Linux') ||
    '';
  return os ? name + ' on ' + os : name;
}

function pad(n) {
  return (n < 10 ? '0' : '') + n;
}

/**
 * describeRequester turns the scan answer's requester into what the
 * confirm screen shows: so the user can tell a PC in front of them from a
 * code someone relayed.
 */
function describeRequester(r, now) {
  const at = new Date(r && r.created_at);
  const valid = !isNaN(at.getTime());
  const secs = valid ? Math.max(0, Math.round(((now || Date.now()) - at.getTime()) / 1000)) : 0;
  let ago = 'just now';
  if (secs >= 60) ago = Math.round(secs / 60) + ' min ago';
  else if (secs >= 5) ago = secs + ' s ago';
  return {
    ip: (r && r.ip) || 'unknown',
    browser: browser(r && r.user_agent),
    userAgent: (r && r.user_agent) || '',
    time: valid ? pad(at.getHours()) + ':' + pad(at.getMinutes()) + ':' + pad(at.getSeconds()) : '',
    ago,
  };
}

/** createQR runs the logged-in user's steps: scan, then confirm or cancel. */
function createQR({ session }) {
  const step = (id, what) => {
    if (!QR_ID.test(id)) {
      const e = new Error('not a QR id');
      e.code = 'qr_not_found';
      return Promise.reject(e);
    }
    return session.authed('POST', '/v1/qr/' + id + '/' + what);
  };
  return {
    scan: (id) => step(id, 'scan'),
    confirm: (id) => step(id, 'confirm'),
    cancel: (id) => step(id, 'cancel'),
  };
}

module.exports = { parseQRId, qrIdFromText, qrIdFromScan, describeRequester, browser, createQR, QR_ID };
