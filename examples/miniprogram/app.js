// The services (API client, session, login, QR) are built once and shared
// by the pages through getApp().services.
const config = require('./config');
const { createServices } = require('./lib/services');

App({
  services: createServices({ wx, baseURL: config.baseURL, app: config.app }),
});
