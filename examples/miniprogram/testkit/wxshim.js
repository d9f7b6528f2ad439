// A minimal `wx` for running the mini program's logic in Node: wx.login asks
// the WeChat simulator (wxsim's /sim/login) for the code that WeChat would
// give the simulated user, wx.request is fetch, storage lives in memory,
// and navigation, toasts and the scanner are recorded for the test to read.
'use strict';

function createWx({ simURL, appid, user }) {
  const storage = new Map();
  const calls = [];
  const wx = {
    user, // the simulated WeChat user holding the phone
    nextScan: null, // what wx.scanCode reads next
    calls,

    login(o) {
      post(simURL + '/sim/login', { appid, user: wx.user }).then(
        (r) => o.success && o.success({ code: r.code, errMsg: 'login:ok' }),
        (e) => o.fail && o.fail({ errMsg: 'login:fail ' + e.message }));
    },

    request(o) {
      const method = (o.method || 'GET').toUpperCase();
      let url = o.url;
      let body;
      if (o.data !== undefined && o.data !== null) {
        if (method === 'GET') {
          const q = new URLSearchParams(o.data).toString();
          if (q) url += (url.includes('?') ? '&' : '?') + q;
        } else {
          body = typeof o.data === 'string' ? o.data : JSON.stringify(o.data);
        }
      }
      fetch(url, { method, headers: o.header || {}, body }).then(async (res) => {
        const text = await res.text();
        let data = text;
        if (o.dataType !== 'text') {
          try {
            data = text ? JSON.parse(text) : '';
          } catch (e) {
            data = text;
          }
        }
        const header = {};
        res.headers.forEach((v, k) => { header[k] = v; });
        o.success && o.success({ statusCode: res.status, data, header, errMsg: 'request:ok' });
      }, (e) => o.fail && o.fail({ errMsg: 'request:fail ' + e.message }));
    },

    // WeChat's sync storage answers '' for a missing key.
    getStorageSync: (k) => (storage.has(k) ? structuredClone(storage.get(k)) : ''),
    setStorageSync: (k, v) => { storage.set(k, structuredClone(v)); },
    removeStorageSync: (k) => { storage.delete(k); },
    clearStorageSync: () => storage.clear(),

    navigateTo: (o) => record('navigateTo', o),
    redirectTo: (o) => record('redirectTo', o),
    reLaunch: (o) => record('reLaunch', o),
    navigateBack: (o) => record('navigateBack', o || {}),
    showToast: (o) => record('showToast', o),
    showLoading: (o) => record('showLoading', o),
    hideLoading: (o) => record('hideLoading', o || {}),

    scanCode(o) {
      calls.push({ api: 'scanCode' });
      if (wx.nextScan) o.success && o.success(wx.nextScan);
      else o.fail && o.fail({ errMsg: 'scanCode:fail cancel' });
    },

    /** last is the most recent call of one API. */
    last: (api) => calls.filter((c) => c.api === api).pop(),
  };

  function record(api, o) {
    calls.push({ api, url: o.url, title: o.title });
    if (o.success) o.success({ errMsg: api + ':ok' });
  }
  return wx;
}

async function post(url, body, headers) {
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...(headers || {}) }, body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${url}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

module.exports = { createWx, post };
