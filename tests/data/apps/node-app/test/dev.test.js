'use strict';
// A devDependency: in the test variant of the image, never in the production one.
const test = require('node:test');
const assert = require('node:assert');
const isNumber = require('is-number');

test('devDependencies reach the tests', () => {
  assert.strictEqual(isNumber(5), true);
});
