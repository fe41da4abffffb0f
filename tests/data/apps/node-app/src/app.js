'use strict';
// The app: an express router and a websocket-style frame mask from bufferutil, whose native
// addon (a prebuilt binary per platform) must load in the image, not its JavaScript fallback.
const path = require('node:path');
const express = require('express');
const bufferutil = require('bufferutil');

function nativeLoaded() {
  try {
    require('node-gyp-build')(path.dirname(require.resolve('bufferutil')));
    return true;
  } catch {
    return false;
  }
}

function createApp() {
  const app = express();
  app.get('/', (req, res) => {
    res.json({ hello: 'from a scratchpack node image', node: process.version });
  });
  app.get('/mask/:text', (req, res) => {
    const source = Buffer.from(req.params.text);
    const mask = Buffer.from([1, 2, 3, 4]);
    const output = Buffer.alloc(source.length);
    bufferutil.mask(source, mask, output, 0, source.length);
    res.json({ masked: output.toString('hex'), native: nativeLoaded() });
  });
  return app;
}

module.exports = { createApp, nativeLoaded };
