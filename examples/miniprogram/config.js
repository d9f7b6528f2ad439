// Where Bindery runs and which login scheme (app) this mini program uses.
// The domain must be listed as a "request legal domain" (request合法域名)
// in the mini program admin console, and be HTTPS. For a local `bindery
// dev`, use http://127.0.0.1:8080 and turn off the domain check in the
// developer tools (详情 → 本地设置 → 不校验合法域名).
module.exports = {
  baseURL: 'https://bindery.example.com',
  app: 'demo',
};
