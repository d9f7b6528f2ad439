// The running `bindery dev` the tests talk to, from the environment:
// BINDERY_URL, WXSIM_URL, and optionally BINDERY_APP / WXSIM_APPID (the demo
// app). `go test ./internal/devtools/devstack -run MiniProgram` starts a stack on
// free ports and sets them.
'use strict';

const { createWx, post } = require('./wxshim');
const { createServices } = require('../lib/services');

const env = {
  bindery: process.env.BINDERY_URL || '',
  sim: process.env.WXSIM_URL || '',
  app: process.env.BINDERY_APP || 'demo',
  appid: process.env.WXSIM_APPID || 'wxdemo000000000001',
};

/** skip is the reason to skip the tests that need a server, or false. */
const skip = env.bindery && env.sim ? false
  : 'set BINDERY_URL and WXSIM_URL to a running `bindery dev` (go test ./internal/devtools/devstack -run MiniProgram does)';

/** newUser creates a simulated WeChat user. */
function newUser(profile) {
  return post(env.sim + '/sim/users', profile || {}).then((r) => r.user);
}

/** phoneCode is what the phone-number button gives that user. */
function phoneCode(user) {
  return post(env.sim + '/sim/phone-code', { appid: env.appid, user }).then((r) => r.code);
}

/** phone is a mini program in the hands of a new simulated user. */
async function phone(profile) {
  const user = await newUser(profile);
  const wx = createWx({ simURL: env.sim, appid: env.appid, user });
  const services = createServices({ wx, baseURL: env.bindery, app: env.app });
  return { wx, services, user };
}

/** startPCLogin plays the PC: starts a QR login with a browser's user agent. */
function startPCLogin(userAgent) {
  return post(env.bindery + '/v1/apps/' + env.app + '/qr', {}, {
    'User-Agent': userAgent || 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
  });
}

/**
 * poll is the PC's GET /v1/qr/{id} with its poll token. With `state` (the
 * state the PC shows) it long-polls until the state differs from it, as a
 * PC page does: a poll right after a phone's step may otherwise still see
 * the state before it (the views follow the stream).
 */
async function poll(qr, wait, state) {
  const q = `wait=${wait || 0}` + (state ? `&state=${state}` : '');
  const res = await fetch(`${env.bindery}/v1/qr/${qr.qr_id}?${q}`, { headers: { 'X-Poll-Token': qr.poll_token } });
  return { status: res.status, body: await res.json() };
}

/** mount instantiates a page definition the way Page() would. */
function mount(def) {
  const page = Object.assign({}, def);
  page.data = structuredClone(def.data);
  page.setData = function setData(patch) {
    Object.assign(this.data, patch);
  };
  return page;
}

/** claims decodes a JWT's payload. */
function claims(jwt) {
  return JSON.parse(Buffer.from(String(jwt).split('.')[1], 'base64url').toString());
}

module.exports = { env, skip, newUser, phoneCode, phone, startPCLogin, poll, mount, claims };
