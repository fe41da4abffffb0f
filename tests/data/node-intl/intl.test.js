'use strict';
// Run inside an image packed with --icu-locales de,sv: what a kept language and a dropped
// one give with the reduced ICU data (with Debian's full data, the "dropped" tests fail).
const test = require('node:test');
const assert = require('node:assert');

const day = new Date(Date.UTC(2024, 0, 15, 12));

test('a kept language formats and collates its own way, with its regions', () => {
  const date = new Intl.DateTimeFormat('de-AT', { dateStyle: 'long', timeZone: 'UTC' });
  assert.strictEqual(date.resolvedOptions().locale, 'de-AT');
  assert.strictEqual(date.format(day), '15. Jänner 2024');
  assert.strictEqual(new Intl.NumberFormat('de').format(1234567.5), '1.234.567,5');
  assert.strictEqual(new Intl.Collator('sv').resolvedOptions().locale, 'sv');
  assert.ok(new Intl.Collator('sv').compare('ä', 'z') > 0); // Swedish: ä after z
  assert.strictEqual(new Intl.RelativeTimeFormat('de').format(-1, 'day'), 'vor 1 Tag');
});

test('a dropped language falls back to en-US cleanly', () => {
  const date = new Intl.DateTimeFormat('fr', { dateStyle: 'long', timeZone: 'UTC' });
  assert.strictEqual(date.resolvedOptions().locale, 'en-US');
  assert.strictEqual(date.format(day), 'January 15, 2024');
  assert.strictEqual(new Intl.NumberFormat('fr').format(1234567.5), '1,234,567.5');
  assert.deepStrictEqual(Intl.DateTimeFormat.supportedLocalesOf(['fr', 'de']), ['de']);
  assert.strictEqual(new Intl.Collator('da').resolvedOptions().locale, 'en-US');
  assert.ok(new Intl.Collator('da').compare('å', 'z') < 0); // the root order, not Danish
});

test('what is not per-locale data stays', () => {
  assert.strictEqual('\ufb03'.normalize('NFKC'), 'ffi');
  assert.strictEqual(new TextDecoder('shift_jis').decode(new Uint8Array([0x82, 0xa0])), 'あ');
  const tokyo = { timeZone: 'Asia/Tokyo', hour: '2-digit', hourCycle: 'h23' };
  assert.strictEqual(new Intl.DateTimeFormat('en-US', tokyo).format(new Date(0)), '09');
  assert.strictEqual(new Intl.DateTimeFormat().resolvedOptions().locale, 'en-US');
});
