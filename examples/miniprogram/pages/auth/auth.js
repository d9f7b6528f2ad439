const { authPage } = require('../../lib/pages');

Page(authPage({ wx, services: getApp().services }));
