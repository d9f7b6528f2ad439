// Calls to Bindery's public HTTP API through wx.request. Every answer that
// is not 2xx becomes an ApiError carrying the problem's stable `code`
// (RFC 9457 problem details), so pages decide by code, never by message.
'use strict';

/** ApiError is a refused call: status 0 means the request never got an answer. */
class ApiError extends Error {
  constructor(status, body) {
    const b = body && typeof body === 'object' ? body : {};
    super(b.detail || b.title || (status ? 'HTTP ' + status : 'network error'));
    this.name = 'ApiError';
    this.status = status;
    this.code = b.code || (status ? 'http_' + status : 'network_error');
    this.problem = b;
  }
}

/**
 * createAPI returns request(method, path, {data, token}) → Promise of the
 * decoded JSON answer (null for 204). token is an id_token sent as bearer.
 */
function createAPI({ wx, baseURL }) {
  if (!wx || typeof wx.request !== 'function') throw new Error('createAPI: wx.request is required');
  const base = String(baseURL || '').replace(/\/+$/, '');
  function request(method, path, opts) {
    const o = opts || {};
    const header = Object.assign({ 'Content-Type': 'application/json', Accept: 'application/json' }, o.header || {});
    if (o.token) header.Authorization = 'Bearer ' + o.token;
    return new Promise((resolve, reject) => {
      wx.request({
        url: base + path,
        method,
        data: o.data,
        header,
        dataType: 'json',
        success(res) {
          const body = parseBody(res.data);
          if (res.statusCode >= 200 && res.statusCode < 300) resolve(body === '' ? null : body);
          else reject(new ApiError(res.statusCode, body));
        },
        fail(err) {
          reject(new ApiError(0, { code: 'network_error', detail: (err && err.errMsg) || 'request failed' }));
        },
      });
    });
  }
  return { request, baseURL: base };
}

// wx.request parses JSON itself for application/json answers; problem+json
// may arrive as text.
function parseBody(data) {
  if (typeof data !== 'string' || data === '') return data;
  try {
    return JSON.parse(data);
  } catch (e) {
    return { detail: data };
  }
}

module.exports = { ApiError, createAPI };
