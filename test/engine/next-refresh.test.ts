/** When a proactive profile is refreshed next (src/engine/next-refresh.ts), with an injected random source. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nextRefreshAt } from '../../src/engine/next-refresh.js';

const NOW = Date.parse('2026-12-02T12:00:00.000Z');
const HOUR = 3_600_000;

describe('next refresh', () => {
  test('refreshMargin before expiry, earlier by up to 10 % of the lifetime', () => {
    const expiresAt = NOW + HOUR;
    assert.equal(
      nextRefreshAt(expiresAt, NOW, 300_000, () => 0),
      expiresAt - 300_000,
    );
    assert.equal(
      nextRefreshAt(expiresAt, NOW, 300_000, () => 0.5),
      expiresAt - 300_000 - 180_000,
    );
    assert.equal(
      nextRefreshAt(expiresAt, NOW, 300_000, () => 0.999999),
      Math.round(expiresAt - 300_000 - 0.999999 * 360_000),
    );
  });

  test('a margin longer than the lifetime waits half the lifetime; an expired token is due now', () => {
    assert.equal(
      nextRefreshAt(NOW + 60_000, NOW, 300_000, () => 0.3),
      NOW + 30_000,
    );
    assert.equal(
      nextRefreshAt(NOW - 5_000, NOW, 300_000, () => 0.3),
      NOW,
    );
  });

  test('property: never before half the lifetime, never after the margin unless half the lifetime is later', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -HOUR, max: 48 * HOUR }),
        fc.integer({ min: 0, max: 24 * HOUR }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (life, margin, r) => {
          const at = nextRefreshAt(NOW + life, NOW, margin, () => r);
          const lifetime = Math.max(0, life);
          assert.ok(at >= NOW + lifetime / 2 - 0.5, `${at} before half the lifetime`);
          assert.ok(at <= Math.max(NOW + life - margin, NOW + lifetime / 2) + 0.5, `${at} after the margin`);
          assert.ok(at >= NOW + life - margin - 0.1 * lifetime - 0.5, `${at} earlier than the jitter allows`);
        },
      ),
    );
  });

  test('tokens issued together are spread: 1,000 of them get hundreds of distinct times', () => {
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const times = new Set(Array.from({ length: 1_000 }, () => nextRefreshAt(NOW + HOUR, NOW, 300_000, random)));
    assert.ok(times.size > 900, `${times.size} distinct times`);
  });
});
