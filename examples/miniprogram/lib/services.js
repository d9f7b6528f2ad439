// Everything the pages use, built once in app.js from wx and the config.
'use strict';

const { createAPI } = require('./api');
const { createSession } = require('./session');
const { createLogin } = require('./login');
const { createQR } = require('./qr');

function createServices({ wx, baseURL, app }) {
  const api = createAPI({ wx, baseURL });
  const session = createSession({ wx, api });
  return { api, session, login: createLogin({ wx, api, session, app }), qr: createQR({ session }), app };
}

module.exports = { createServices };
