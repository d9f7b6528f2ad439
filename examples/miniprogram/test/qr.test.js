// The QR id parsing and requester display: pure functions, no server.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { parseQRId, qrIdFromText, qrIdFromScan, describeRequester, browser } = require('../lib/qr');

const ID = 'AbCdEfGhIjKlMnOpQrSt_-';

test('parseQRId reads q, scene and id, and nothing else', () => {
  const link = 'https://bindery.example.com/qr/' + ID;
  const cases = [
    [{ q: encodeURIComponent(link), scancode_time: '1700000000' }, ID],
    [{ q: encodeURIComponent(link + '?from=pc') }, ID],
    [{ q: encodeURIComponent('https://bindery.example.com/login?id=' + ID) }, ID],
    [{ scene: ID }, ID],
    [{ scene: encodeURIComponent(ID) }, ID],
    [{ id: ID }, ID],
    [{}, ''],
    [undefined, ''],
    [{ q: encodeURIComponent('https://evil.example/qr/short') }, ''],
    [{ scene: 'has spaces in it' }, ''],
    [{ q: '%E0%A4%A' }, ''], // broken escape
    [{ id: ID + 'x' }, ''],
  ];
  for (const [options, want] of cases) {
    assert.equal(parseQRId(options), want, JSON.stringify(options));
  }
});

test('qrIdFromText and qrIdFromScan', () => {
  assert.equal(qrIdFromText('  ' + ID + '\n'), ID);
  assert.equal(qrIdFromText('http://127.0.0.1:8080/qr/' + ID), ID);
  assert.equal(qrIdFromText('http://127.0.0.1:8080/demo/phone?qr=' + ID), ID);
  assert.equal(qrIdFromText('http://127.0.0.1:8080/qr/' + ID + 'extra'), '');
  assert.equal(qrIdFromText(null), '');
  assert.equal(qrIdFromScan({ result: 'https://b.example/qr/' + ID, scanType: 'QR_CODE' }), ID);
  assert.equal(qrIdFromScan({ result: '', path: 'pages/auth/auth?scene=' + encodeURIComponent(ID) }), ID);
  assert.equal(qrIdFromScan({ result: 'https://example.com/' }), '');
});

test('describeRequester shows who asked, and when', () => {
  const at = new Date(2026, 0, 2, 9, 5, 7);
  const d = describeRequester({ ip: '203.0.113.9', user_agent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15', created_at: at.toISOString() }, at.getTime() + 42000);
  assert.deepEqual(d, {
    ip: '203.0.113.9',
    browser: 'Safari on macOS',
    userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
    time: '09:05:07',
    ago: '42 s ago',
  });
  assert.equal(describeRequester({}, 0).ip, 'unknown');
  assert.equal(browser('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 Edg/126.0'), 'Edge on Windows');
  assert.equal(browser(''), 'unknown browser');
});
