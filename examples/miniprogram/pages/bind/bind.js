const { bindPage } = require('../../lib/pages');

Page(bindPage({ wx, services: getApp().services }));
