/** Exponential backoff with full jitter (src/engine/backoff.ts), with an injected random source. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { backoffCeiling, backoffDelay, nextAttempt, TOKEN_CALL_BACKOFF, worstCaseDelayMs, type BackoffPolicy } from '../../src/engine/backoff.js';

const POLICY: BackoffPolicy = { baseMs: 100, capMs: 1_000, maxAttempts: 6 };

describe('backoff', () => {
  test('the ceiling doubles from base and stops at the cap', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 60, 5000].map((n) => backoffCeiling(POLICY, n)),
      [100, 200, 400, 800, 1000, 1000, 1000, 1000],
    );
  });

  test('full jitter: the random source spans [0, ceiling]; out-of-range sources are clamped', () => {
    assert.equal(
      backoffDelay(POLICY, 3, () => 0),
      0,
    );
    assert.equal(
      backoffDelay(POLICY, 3, () => 0.5),
      200,
    );
    assert.equal(
      backoffDelay(POLICY, 3, () => 0.999999),
      399,
    );
    assert.equal(
      backoffDelay(POLICY, 3, () => 7),
      400,
    );
    assert.equal(
      backoffDelay(POLICY, 3, () => -1),
      0,
    );
    assert.equal(
      backoffDelay(POLICY, 3, () => Number.NaN),
      0,
    );
  });

  test('bounded attempts: after maxAttempts calls, no more', () => {
    const half = () => 0.5;
    assert.deepEqual(nextAttempt(POLICY, 1, { random: half }), { retry: true, delayMs: 50 });
    assert.deepEqual(nextAttempt(POLICY, 5, { random: half }), { retry: true, delayMs: 500 });
    assert.deepEqual(nextAttempt(POLICY, 6, { random: half }), { retry: false });
    assert.deepEqual(nextAttempt(TOKEN_CALL_BACKOFF, 3), { retry: false });
  });

  test("a transient answer's Retry-After is the least wait; one beyond the cap ends the retries", () => {
    assert.deepEqual(nextAttempt(POLICY, 1, { random: () => 0.5, retryAfterMs: 700 }), { retry: true, delayMs: 700 });
    assert.deepEqual(nextAttempt(POLICY, 1, { random: () => 0.5, retryAfterMs: 10 }), { retry: true, delayMs: 50 });
    assert.deepEqual(nextAttempt(POLICY, 1, { random: () => 0.5, retryAfterMs: 1_001 }), { retry: false });
  });

  test('the default policy: three calls, waits below 0.5 s then 1 s, 8 s at worst with Retry-After', () => {
    assert.equal(TOKEN_CALL_BACKOFF.maxAttempts, 3);
    assert.deepEqual(
      [1, 2].map((n) => backoffCeiling(TOKEN_CALL_BACKOFF, n)),
      [500, 1000],
    );
    assert.equal(worstCaseDelayMs(TOKEN_CALL_BACKOFF), 8_000);
  });

  test('property: the waits of any run of one refresh stay within worstCaseDelayMs, and the run ends', () => {
    const policy = fc.record({
      baseMs: fc.integer({ min: 1, max: 10_000 }),
      capMs: fc.integer({ min: 1, max: 60_000 }),
      maxAttempts: fc.integer({ min: 1, max: 10 }),
    });
    fc.assert(
      fc.property(
        policy,
        fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 10, maxLength: 10 }),
        fc.array(fc.option(fc.nat(100_000), { nil: undefined }), { minLength: 10, maxLength: 10 }),
        (p, randoms, retryAfters) => {
          let total = 0;
          let attempts = 1;
          for (;;) {
            const next = nextAttempt(p, attempts, { random: () => randoms[attempts - 1], retryAfterMs: retryAfters[attempts - 1] });
            if (!next.retry) break;
            assert.ok(next.delayMs >= 0 && next.delayMs <= p.capMs);
            total += next.delayMs;
            attempts += 1;
          }
          assert.ok(attempts <= p.maxAttempts);
          assert.ok(total <= worstCaseDelayMs(p), `${total} > ${worstCaseDelayMs(p)}`);
        },
      ),
    );
  });
});
