// Login, registration, binding and sessions against a running `bindery dev`.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { skip, phone, phoneCode, claims, env } = require('../testkit/env');
const { SESSION_KEY } = require('../lib/session');

test('a new WeChat user registers, then logs straight in', { skip }, async () => {
  const { wx, services, user } = await phone({ nickname: 'Grace' });
  const first = await services.login.login();
  assert.equal(first.status, 'USER_REGISTER');
  assert.ok(first.bind_ticket);
  assert.ok(services.login.pendingTicket(), 'the ticket is kept for the bind page');
  assert.equal(services.session.get(), null);

  const out = await services.login.register('Grace Hopper');
  assert.equal(out.status, 'OK');
  assert.equal(services.login.pendingTicket(), null, 'a used ticket is forgotten');
  const s = services.session.get();
  assert.equal(claims(s.id_token).sub, out.account_id);
  assert.equal(claims(s.id_token).aud, env.app);
  const me = await services.session.profile();
  assert.equal(me.sub, out.account_id);
  assert.equal(me.name, 'Grace Hopper');

  // The same WeChat user on a fresh install: wx.login alone finds the account.
  wx.clearStorageSync();
  const again = await services.login.login();
  assert.equal(again.status, 'OK');
  assert.equal(again.account_id, out.account_id);
  assert.notEqual(user, '');
});

test('binding with the WeChat phone number', { skip }, async () => {
  const number = '+86139' + String(Date.now() % 1e8).padStart(8, '0');
  const { services, user } = await phone({ nickname: 'Lin', phone: number });
  const first = await services.login.login();
  assert.equal(first.status, 'USER_REGISTER');
  assert.ok(first.bind_methods.includes('phone'));
  const out = await services.login.bindPhone(await phoneCode(user));
  assert.equal(out.status, 'OK');
  const me = await services.session.profile();
  assert.equal(me.phone_number, number);
});

test('a used ticket is refused with its code and forgotten', { skip }, async () => {
  const { wx, services } = await phone({ nickname: 'Kay' });
  await services.login.login();
  const ticket = services.login.pendingTicket();
  await services.login.register('Kay');
  wx.setStorageSync('bindery.ticket', ticket); // replay the spent ticket
  await assert.rejects(services.login.register('Kay again'), (e) => e.code === 'ticket_used' && e.status === 410);
  assert.equal(services.login.pendingTicket(), null);
  await assert.rejects(services.login.register('nobody'), (e) => e.code === 'ticket_expired');
});

test('an expired id_token is renewed once, even by calls racing', { skip }, async () => {
  const { wx, services } = await phone({ nickname: 'Ren' });
  await services.login.login();
  const { account_id: id } = await services.login.register('Ren');
  const before = services.session.get();
  // A token the server refuses stands in for one past its 15 minutes.
  wx.setStorageSync(SESSION_KEY, { ...before, id_token: before.id_token.slice(0, -4) + 'AAAA' });
  const [a, b, c] = await Promise.all([services.session.profile(), services.session.profile(), services.session.profile()]);
  for (const me of [a, b, c]) assert.equal(me.sub, id);
  const after = services.session.get();
  assert.notEqual(after.session_token, before.session_token, 'the session token rotated');
  // Had two refreshes raced, the second would have looked like token theft
  // and ended the session: it still works.
  assert.equal((await services.session.refresh()).account_id, id);
});

test('logout revokes the session', { skip }, async () => {
  const { wx, services } = await phone({ nickname: 'Out' });
  await services.login.login();
  await services.login.register('Out');
  const s = services.session.get();
  await services.session.logout();
  assert.equal(services.session.get(), null);
  wx.setStorageSync(SESSION_KEY, s);
  await assert.rejects(services.session.refresh(), (e) => e.status === 401);
  assert.equal(services.session.get(), null, 'a dead session is forgotten');
});

test('problems carry their stable code', { skip }, async () => {
  const { services } = await phone({});
  await assert.rejects(services.api.request('POST', '/v1/apps/' + env.app + '/login/code', { data: { code: 'not-a-code' } }),
    (e) => e.status === 400 && typeof e.code === 'string' && e.code !== 'http_400');
  await assert.rejects(services.qr.scan('AbCdEfGhIjKlMnOpQrSt_-'), (e) => e.code === 'not_logged_in');
});
