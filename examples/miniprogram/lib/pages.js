// The pages' logic, as plain objects for Page(): each factory takes wx and
// the services, so the same code runs in WeChat and in Node tests. The
// files under pages/ only call Page(factory({wx, services})).
'use strict';

const { parseQRId, qrIdFromScan, describeRequester } = require('./qr');

const MESSAGES = {
  invalid_code: 'WeChat did not accept the login code. Please try again.',
  code_used: 'That login code was used already. Please try again.',
  ticket_expired: 'This step took too long. Please log in again.',
  ticket_used: 'This step was already done. Please log in again.',
  already_bound: 'That account is already bound to another WeChat user.',
  account_disabled: 'This account is disabled.',
  rate_limited: 'Too many attempts. Please wait a moment.',
  too_many_attempts: 'Too many attempts. Please try again later.',
  qr_expired: 'This QR code expired. Refresh it on the computer and scan again.',
  qr_cancelled: 'This login was cancelled.',
  qr_consumed: 'This QR code was already used.',
  qr_not_found: 'This is not a login QR code.',
  qr_not_scanner: 'Someone else scanned this QR code first.',
  qr_state: 'This login cannot take that step any more.',
  not_logged_in: 'Please log in first.',
  network_error: 'No connection to the server.',
};

/** message is what a page shows for an error: by its stable code. */
function message(err) {
  return (err && MESSAGES[err.code]) || (err && err.message) || 'Something went wrong.';
}

function decodeNext(s) {
  if (!s) return '';
  try {
    const next = decodeURIComponent(s);
    return next.charAt(0) === '/' ? next : ''; // only pages of this mini program
  } catch (e) {
    return '';
  }
}

/** loginPage: logs in on open; sends a new user to the bind page. */
function loginPage({ wx, services }) {
  return {
    data: { state: 'idle', error: '', next: '', profile: null },

    onLoad(options) {
      this.setData({ next: decodeNext(options && options.next) });
      if (services.session.get()) return this.loggedIn();
      return this.login();
    },

    async login() {
      this.setData({ state: 'busy', error: '' });
      try {
        const out = await services.login.login();
        if (out.status === 'OK') return this.loggedIn();
        return this.toBind();
      } catch (e) {
        this.setData({ state: 'error', error: message(e) });
      }
    },

    // bindgetphonenumber of <button open-type="getPhoneNumber">.
    async onPhoneNumber(e) {
      const code = e && e.detail && e.detail.code;
      if (!code) {
        this.setData({ error: 'The phone number was not shared.' });
        return;
      }
      this.setData({ state: 'busy', error: '' });
      try {
        const out = await services.login.loginWithPhone(code);
        if (out.status === 'OK') return this.loggedIn();
        return this.toBind();
      } catch (err) {
        this.setData({ state: 'error', error: message(err) });
      }
    },

    toBind() {
      this.setData({ state: 'bind' });
      const next = this.data.next ? '?next=' + encodeURIComponent(this.data.next) : '';
      wx.navigateTo({ url: '/pages/bind/bind' + next });
    },

    async loggedIn() {
      if (this.data.next) {
        wx.redirectTo({ url: this.data.next });
        return;
      }
      this.setData({ state: 'done', error: '' });
      try {
        this.setData({ profile: await services.session.profile() });
      } catch (e) {
        if (!services.session.get()) this.setData({ state: 'idle', error: message(e) });
      }
    },

    scan() {
      return new Promise((resolve) => {
        wx.scanCode({
          onlyFromCamera: true,
          success: (res) => {
            const id = qrIdFromScan(res);
            if (id) wx.navigateTo({ url: '/pages/auth/auth?id=' + id });
            else this.setData({ error: MESSAGES.qr_not_found });
            resolve(id);
          },
          fail: () => resolve(''),
        });
      });
    },

    async logout() {
      await services.session.logout();
      this.setData({ state: 'idle', profile: null });
    },
  };
}

/** bindPage: finishes a login that needs a binding or a registration. */
function bindPage({ wx, services }) {
  return {
    data: {
      state: 'idle', error: '', info: '', status: '', methods: [], next: '',
      displayName: '', to: '', otp: '', username: '', password: '', sent: false,
    },

    onLoad(options) {
      const t = services.login.pendingTicket();
      if (!t) {
        this.setData({ state: 'error', error: MESSAGES.ticket_expired });
        return;
      }
      this.setData({ status: t.status, methods: t.bind_methods, next: decodeNext(options && options.next) });
    },

    // bindinput of the form fields: data-field names the field.
    onInput(e) {
      this.setData({ [e.currentTarget.dataset.field]: e.detail.value });
    },

    register() {
      return this.run(() => services.login.register(this.data.displayName.trim()));
    },

    onPhoneNumber(e) {
      const code = e && e.detail && e.detail.code;
      if (!code) {
        this.setData({ error: 'The phone number was not shared.' });
        return Promise.resolve();
      }
      return this.run(() => services.login.bindPhone(code));
    },

    async sendOTP() {
      this.setData({ error: '', info: '' });
      try {
        const out = await services.login.sendOTP(this.data.to.trim());
        this.setData({ sent: true, info: 'Code sent. It is valid for ' + Math.round(out.expires_in / 60) + ' minutes.' });
      } catch (e) {
        this.setData({ error: message(e) });
      }
    },

    verifyOTP() {
      return this.run(() => services.login.verifyOTP(this.data.to.trim(), this.data.otp.trim()));
    },

    bindPassword() {
      return this.run(() => services.login.bindPassword(this.data.username.trim(), this.data.password));
    },

    async run(call) {
      this.setData({ state: 'busy', error: '', info: '' });
      try {
        const out = await call();
        if (out.status !== 'OK') throw new Error('unexpected answer ' + out.status);
        this.setData({ state: 'done' });
        if (this.data.next) wx.redirectTo({ url: this.data.next });
        else wx.reLaunch({ url: '/pages/login/login' });
      } catch (e) {
        const dead = e.code === 'ticket_expired' || e.code === 'ticket_used';
        this.setData({ state: dead ? 'error' : 'idle', error: message(e) });
      }
    },
  };
}

/**
 * authPage: the QR confirmation. It scans the PC's code as the logged-in
 * user (logging in first if needed), shows who asked, and confirms or
 * cancels.
 */
function authPage({ wx, services, now }) {
  const clock = now || Date.now;
  return {
    data: { state: 'loading', error: '', qrId: '', app: '', requester: null, expiresIn: 0 },

    onLoad(options) {
      const id = parseQRId(options);
      if (!id) {
        this.setData({ state: 'error', error: MESSAGES.qr_not_found });
        return Promise.resolve();
      }
      this.setData({ qrId: id });
      return this.scan();
    },

    // Back from the login page: scan now that there is a session.
    onShow() {
      if (this.data.state === 'login' && services.session.get()) return this.scan();
      return Promise.resolve();
    },

    async scan() {
      if (!services.session.get()) {
        this.setData({ state: 'login' });
        wx.navigateTo({ url: '/pages/login/login?next=' + encodeURIComponent('/pages/auth/auth?id=' + this.data.qrId) });
        return;
      }
      this.setData({ state: 'loading', error: '' });
      try {
        const st = await services.qr.scan(this.data.qrId);
        this.setData({ state: 'confirm', app: st.app, expiresIn: st.expires_in, requester: describeRequester(st.requester, clock()) });
      } catch (e) {
        this.setData({ state: 'error', error: message(e) });
      }
    },

    confirm() {
      return this.decide('confirm', 'confirmed');
    },

    cancel() {
      return this.decide('cancel', 'cancelled');
    },

    async decide(step, done) {
      this.setData({ state: 'busy', error: '' });
      try {
        await services.qr[step](this.data.qrId);
        this.setData({ state: done });
        wx.showToast({ title: step === 'confirm' ? 'Logged in on the computer' : 'Cancelled', icon: step === 'confirm' ? 'success' : 'none' });
      } catch (e) {
        this.setData({ state: 'error', error: message(e) });
      }
    },

    close() {
      wx.reLaunch({ url: '/pages/login/login' });
    },
  };
}

module.exports = { loginPage, bindPage, authPage, message, MESSAGES };
