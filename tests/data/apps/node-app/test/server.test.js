'use strict';
const test = require('node:test');
const assert = require('node:assert');
const http = require('node:http');
const { createApp, nativeLoaded } = require('../src/app');

function get(server, path) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: server.address().port, path }, (res) => {
      let body = '';
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(body) }));
    }).on('error', reject);
  });
}

test('the routes answer', async () => {
  const server = createApp().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    const root = await get(server, '/');
    assert.strictEqual(root.status, 200);
    assert.match(root.body.hello, /scratchpack/);
    const masked = await get(server, '/mask/abcd');
    assert.strictEqual(masked.body.masked, '60606060');
  } finally {
    server.close();
  }
});

test("bufferutil's native addon loads (not its fallback)", () => {
  assert.strictEqual(nativeLoaded(), true);
});
