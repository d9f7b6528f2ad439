// The pages as WeChat would run them (Page definitions with setData), with
// a PC on the other side of the QR login.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { skip, phone, mount, startPCLogin, poll, claims } = require('../testkit/env');
const { loginPage, bindPage, authPage } = require('../lib/pages');

test('scan a plain-link QR code, log in on the way, see the PC, confirm', { skip }, async () => {
  const pc = await startPCLogin();
  const { wx, services } = await phone({ nickname: 'Ada' });

  // WeChat opens pages/auth/auth with the scanned URL in q.
  const auth = mount(authPage({ wx, services }));
  await auth.onLoad({ q: encodeURIComponent(pc.qr_url), scancode_time: '1700000000' });
  assert.equal(auth.data.state, 'login');
  const toLogin = wx.last('navigateTo').url;
  assert.match(toLogin, /^\/pages\/login\/login\?next=/);

  // The login page logs in; the user is new: on to the bind page.
  const login = mount(loginPage({ wx, services }));
  await login.onLoad({ next: toLogin.split('next=')[1] });
  assert.equal(login.data.state, 'bind');
  const toBind = wx.last('navigateTo').url;
  assert.match(toBind, /^\/pages\/bind\/bind\?next=/);

  const bind = mount(bindPage({ wx, services }));
  bind.onLoad({ next: toBind.split('next=')[1] });
  assert.equal(bind.data.status, 'USER_REGISTER');
  assert.ok(bind.data.methods.includes('register'));
  bind.onInput({ currentTarget: { dataset: { field: 'displayName' } }, detail: { value: 'Ada Lovelace' } });
  await bind.register();
  assert.equal(bind.data.state, 'done', bind.data.error);
  assert.equal(wx.last('redirectTo').url, '/pages/auth/auth?id=' + pc.qr_id);

  // Back on the auth page: it scans and shows who asked.
  await auth.onShow();
  assert.equal(auth.data.state, 'confirm', auth.data.error);
  assert.equal(auth.data.app, 'demo');
  assert.equal(auth.data.requester.ip, '127.0.0.1');
  assert.equal(auth.data.requester.browser, 'Chrome on Windows');
  assert.equal(auth.data.requester.ago, 'just now');
  assert.equal((await poll(pc, 5, 'PENDING')).body.state, 'SCANNED');

  await auth.confirm();
  assert.equal(auth.data.state, 'confirmed', auth.data.error);
  assert.equal(wx.last('showToast').title, 'Logged in on the computer');

  // The PC collects the login, once.
  const got = await poll(pc, 5);
  assert.equal(got.status, 200);
  assert.ok(got.body.id_token, JSON.stringify(got.body));
  assert.equal(claims(got.body.id_token).sub, services.session.get().account_id);
  assert.equal(claims(got.body.id_token).name, 'Ada Lovelace');
  const again = await poll(pc);
  assert.equal(again.body.id_token, undefined);
});

test('cancel on the phone: the PC is not logged in; the code cannot be reused', { skip }, async () => {
  const { wx, services } = await phone({ nickname: 'Bob' });
  const login = mount(loginPage({ wx, services }));
  await login.onLoad({});
  const bind = mount(bindPage({ wx, services }));
  bind.onLoad({});
  bind.onInput({ currentTarget: { dataset: { field: 'displayName' } }, detail: { value: 'Bob' } });
  await bind.register();
  assert.equal(wx.last('reLaunch').url, '/pages/login/login');
  const home = mount(loginPage({ wx, services }));
  await home.onLoad({});
  assert.equal(home.data.state, 'done');
  assert.equal(home.data.profile.name, 'Bob');

  // The scanner button reads the PC's code and opens the auth page.
  const pc = await startPCLogin('Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0');
  wx.nextScan = { result: pc.qr_url, scanType: 'QR_CODE' };
  assert.equal(await home.scan(), pc.qr_id);
  const url = wx.last('navigateTo').url;
  const auth = mount(authPage({ wx, services }));
  await auth.onLoad({ id: url.split('id=')[1] });
  assert.equal(auth.data.state, 'confirm', auth.data.error);
  assert.equal(auth.data.requester.browser, 'Firefox on Linux');
  await auth.cancel();
  assert.equal(auth.data.state, 'cancelled');
  assert.equal((await poll(pc, 5, 'SCANNED')).body.state, 'CANCELLED');

  // Scanning it again is refused with a message for people.
  const later = mount(authPage({ wx, services }));
  await later.onLoad({ id: pc.qr_id });
  assert.equal(later.data.state, 'error');
  assert.equal(later.data.error, 'This login was cancelled.');
});

test('a code another user scanned first cannot be confirmed by me', { skip }, async () => {
  const pc = await startPCLogin();
  const first = await phone({ nickname: 'First' });
  const second = await phone({ nickname: 'Second' });
  for (const p of [first, second]) {
    await p.services.login.login();
    await p.services.login.register(p.user);
  }
  const a = mount(authPage({ wx: first.wx, services: first.services }));
  await a.onLoad({ id: pc.qr_id });
  assert.equal(a.data.state, 'confirm', a.data.error);
  const b = mount(authPage({ wx: second.wx, services: second.services }));
  await b.onLoad({ id: pc.qr_id });
  assert.equal(b.data.state, 'error');
  assert.ok(b.data.error.length > 0);
});

test('a page opened with a bad code says so', { skip }, async () => {
  const { wx, services } = await phone({});
  const auth = mount(authPage({ wx, services }));
  await auth.onLoad({ q: encodeURIComponent('https://example.com/not-a-login') });
  assert.equal(auth.data.state, 'error');
  assert.equal(auth.data.error, 'This is not a login QR code.');
  const bind = mount(bindPage({ wx, services }));
  bind.onLoad({});
  assert.equal(bind.data.state, 'error', 'no ticket, no binding');
});
