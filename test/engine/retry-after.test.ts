/** `Retry-After` read into a delay (src/engine/retry-after.ts): both forms, the three date formats, skew, bounds. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_RETRY_AFTER_MS, parseHttpDate, retryAfterMs } from '../../src/engine/retry-after.js';

const NOV_6_1994 = Date.UTC(1994, 10, 6, 8, 49, 37);
const NOW = Date.UTC(2026, 0, 2, 10, 0, 0);

describe('Retry-After', () => {
  test('the three HTTP-date formats RFC 9110 §5.6.7 asks recipients to accept', () => {
    assert.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT', NOW), NOV_6_1994);
    assert.equal(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', NOW), NOV_6_1994);
    assert.equal(parseHttpDate('Sun Nov  6 08:49:37 1994', NOW), NOV_6_1994, 'asctime carries no zone and is read as UTC');
  });

  test('RFC 850 two-digit years: more than 50 years ahead means the past century', () => {
    assert.equal(parseHttpDate('Friday, 02-Jan-26 10:00:00 GMT', NOW), NOW);
    assert.equal(parseHttpDate('Thursday, 01-Jan-76 00:00:00 GMT', NOW), Date.UTC(2076, 0, 1), '50 years ahead stays');
    assert.equal(parseHttpDate('Thursday, 01-Jan-77 00:00:00 GMT', NOW), Date.UTC(1977, 0, 1));
  });

  test('not HTTP-dates: what Date.parse would accept, impossible days, other zones', () => {
    for (const v of [
      '1',
      '2026-01-02T10:00:00Z',
      'Sun, 31 Feb 2026 00:00:00 GMT',
      'Sun, 06 Nov 1994 24:00:00 GMT',
      'Sun, 06 Nov 1994 08:49:37 CET',
      'tomorrow',
      '',
    ]) {
      assert.equal(parseHttpDate(v, NOW), undefined, v);
    }
  });

  test('delay-seconds, capped at a day; absent or malformed → undefined', () => {
    assert.equal(retryAfterMs('120', undefined, NOW), 120_000);
    assert.equal(retryAfterMs(' 0 ', undefined, NOW), 0);
    assert.equal(retryAfterMs('99999999999999999999999', undefined, NOW), MAX_RETRY_AFTER_MS);
    assert.equal(retryAfterMs(undefined, undefined, NOW), undefined);
    for (const v of ['-5', '1.5', '2 minutes', '0x10', 'Sun, 06 Nov']) assert.equal(retryAfterMs(v, undefined, NOW), undefined, v);
  });

  test("an HTTP-date counts from the answer's Date (clock skew), else from its arrival; the past means now", () => {
    // The AS's clock is 1 hour behind ours: it asks for 2 minutes, by its own Date.
    assert.equal(retryAfterMs('Fri, 02 Jan 2026 09:02:00 GMT', 'Fri, 02 Jan 2026 09:00:00 GMT', NOW), 120_000);
    assert.equal(retryAfterMs('Fri, 02 Jan 2026 10:02:00 GMT', undefined, NOW), 120_000);
    assert.equal(retryAfterMs('Fri, 02 Jan 2026 10:02:00 GMT', 'garbage', NOW), 120_000);
    assert.equal(retryAfterMs('Sun, 06 Nov 1994 08:49:37 GMT', undefined, NOW), 0);
    assert.equal(retryAfterMs('Fri, 02 Jan 2099 10:00:00 GMT', undefined, NOW), MAX_RETRY_AFTER_MS);
  });

  test('property: any IMF-fixdate written by toUTCString parses back; any value gives undefined or a bounded delay', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date(Date.UTC(1000, 0, 1)), max: new Date(Date.UTC(9999, 11, 31)), noInvalidDate: true }), (d) => {
        const whole = Math.floor(d.getTime() / 1000) * 1000;
        assert.equal(parseHttpDate(new Date(whole).toUTCString(), NOW), whole);
      }),
    );
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), fc.option(fc.string({ maxLength: 40 }), { nil: undefined }), fc.double(), (v, date, at) => {
        const ms = retryAfterMs(v, date, at);
        assert.ok(ms === undefined || (ms >= 0 && ms <= MAX_RETRY_AFTER_MS), String(ms));
      }),
    );
  });
});
