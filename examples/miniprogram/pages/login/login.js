const { loginPage } = require('../../lib/pages');

Page(loginPage({ wx, services: getApp().services }));
