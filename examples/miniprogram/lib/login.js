// Logging in with the identity WeChat already has, and binding or
// registering when Bindery does not know it yet.
//
// login() sends the wx.login code to Bindery. The answer is OK (tokens,
// kept by the session), or SOCIAL_BIND / USER_REGISTER with a bind ticket:
// the ticket is kept in storage for the bind page, which finishes with one
// of register / bindPhone / verifyOTP / bindPassword.
'use strict';

const TICKET_KEY = 'bindery.ticket';

/** wxLogin is wx.login as a promise of the code. */
function wxLogin(wx) {
  return new Promise((resolve, reject) => {
    wx.login({
      success(res) {
        if (res && res.code) resolve(res.code);
        else reject(new Error('wx.login gave no code'));
      },
      fail(err) {
        reject(new Error((err && err.errMsg) || 'wx.login failed'));
      },
    });
  });
}

function createLogin({ wx, api, session, app }) {
  const appPath = '/v1/apps/' + encodeURIComponent(app);

  /** pendingTicket is the bind ticket of the last login, while it is valid. */
  function pendingTicket() {
    const t = wx.getStorageSync(TICKET_KEY);
    if (!t || !t.bind_ticket || t.expires_at <= Date.now()) return null;
    return t;
  }

  function clearTicket() {
    wx.removeStorageSync(TICKET_KEY);
  }

  /** outcome keeps what a login or bind answered: tokens or a ticket. */
  function outcome(out) {
    if (out.status === 'OK') {
      session.save(out);
      clearTicket();
    } else if (out.bind_ticket) {
      wx.setStorageSync(TICKET_KEY, {
        bind_ticket: out.bind_ticket,
        status: out.status,
        bind_methods: out.bind_methods || [],
        expires_at: Date.now() + (out.expires_in || 600) * 1000,
      });
    }
    return out;
  }

  /** login logs in with a fresh wx.login code. */
  async function login() {
    const code = await wxLogin(wx);
    return outcome(await api.request('POST', appPath + '/login/code', { data: { code } }));
  }

  /**
   * loginWithPhone logs in with the phone-number button's code (and a
   * wx.login code, so that the openid is bound too).
   */
  async function loginWithPhone(phoneCode) {
    const loginCode = await wxLogin(wx);
    return outcome(await api.request('POST', appPath + '/login/phone', { data: { code: phoneCode, login_code: loginCode } }));
  }

  // withTicket runs a bind call with the pending ticket; a dead ticket is
  // forgotten so that the page sends the user back to log in.
  async function withTicket(path, body) {
    const t = pendingTicket();
    if (!t) {
      const e = new Error('no bind ticket: log in first');
      e.code = 'ticket_expired';
      throw e;
    }
    try {
      return outcome(await api.request('POST', path, { data: Object.assign({ bind_ticket: t.bind_ticket }, body) }));
    } catch (e) {
      if (e.code === 'ticket_expired' || e.code === 'ticket_used') clearTicket();
      throw e;
    }
  }

  return {
    login,
    loginWithPhone,
    pendingTicket,
    clearTicket,
    /** register creates a new account (USER_REGISTER only). */
    register: (displayName, avatarURL) =>
      withTicket('/v1/register', avatarURL ? { display_name: displayName, avatar_url: avatarURL } : { display_name: displayName }),
    /** bindPhone binds with the getPhoneNumber button's code. */
    bindPhone: (phoneCode) => withTicket('/v1/bind/phone', { phone_code: phoneCode }),
    /** sendOTP sends a one-time code to a phone (E.164) or an e-mail address. */
    sendOTP: (to) => withTicket('/v1/bind/otp/send', { channel: String(to).indexOf('@') >= 0 ? 'email' : 'sms', to }),
    /** verifyOTP binds with the one-time code that was sent to `to`. */
    verifyOTP: (to, otp) => withTicket('/v1/bind/otp/verify', { to, otp }),
    /** bindPassword binds to an existing account by username and password. */
    bindPassword: (username, password) => withTicket('/v1/bind/password', { username, password }),
  };
}

module.exports = { createLogin, wxLogin, TICKET_KEY };
