// The logged-in user's tokens, kept in the mini program's storage: the
// id_token (15 minutes, sent as bearer) and the session_token (30 days,
// rotated on every refresh). authed() renews an expired id_token once.
'use strict';

const { ApiError } = require('./api');

const KEY = 'bindery.session';

function createSession({ wx, api }) {
  let refreshing = null;

  /** get is the stored session, or null. */
  function get() {
    const s = wx.getStorageSync(KEY);
    return s && s.id_token ? s : null;
  }

  /** save keeps the tokens of a login or refresh answer. */
  function save(out) {
    const prev = get() || {};
    const s = {
      account_id: out.account_id || prev.account_id,
      id_token: out.id_token,
      session_token: out.session_token,
      saved_at: Date.now(),
    };
    wx.setStorageSync(KEY, s);
    return s;
  }

  function clear() {
    wx.removeStorageSync(KEY);
  }

  /**
   * refresh trades the session token for new tokens. Calls that need it at
   * the same time share one refresh: presenting a session token twice
   * counts as token theft and ends the whole session (reuse detection).
   */
  function refresh() {
    if (!refreshing) {
      refreshing = doRefresh().then(
        (s) => { refreshing = null; return s; },
        (e) => { refreshing = null; throw e; });
    }
    return refreshing;
  }

  async function doRefresh() {
    const s = get();
    if (!s) throw new ApiError(401, { code: 'not_logged_in', detail: 'log in first' });
    try {
      return save(await api.request('POST', '/v1/sessions/refresh', { data: { session_token: s.session_token } }));
    } catch (e) {
      if (e.status === 401 || e.status === 403) clear(); // the session is over: log in again
      throw e;
    }
  }

  /** authed calls the API as the user, renewing the id_token once on a 401. */
  async function authed(method, path, data) {
    const s = get();
    if (!s) throw new ApiError(401, { code: 'not_logged_in', detail: 'log in first' });
    try {
      return await api.request(method, path, { data, token: s.id_token });
    } catch (e) {
      if (e.status !== 401) throw e;
    }
    const fresh = await refresh();
    return api.request(method, path, { data, token: fresh.id_token });
  }

  /** profile is the OIDC userinfo of the logged-in account. */
  function profile() {
    return authed('GET', '/v1/userinfo');
  }

  /** logout revokes the session at Bindery and forgets it here. */
  async function logout() {
    const s = get();
    clear();
    if (!s) return;
    try {
      await api.request('POST', '/v1/sessions/revoke', { data: { session_token: s.session_token } });
    } catch (e) {
      // Already revoked or expired: nothing left to end.
    }
  }

  return { get, save, clear, refresh, authed, profile, logout };
}

module.exports = { createSession, SESSION_KEY: KEY };
