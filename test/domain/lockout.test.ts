/** The lockout rule as stores receive it (src/domain/lockout.ts): what to write for one more failure. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { failureCount, lockoutPolicy, nextFailures } from '../../src/domain/lockout.js';
import { Limit } from '../../src/domain/limits.js';

const POLICY = { limit: 3, intervalMs: 1000, periodMs: 5000 };

describe('lockout rule', () => {
  test('the policy reads the limits in force, and the defaults for those not stored', () => {
    assert.deepEqual(lockoutPolicy(new Map()), { limit: 3, intervalMs: 900_000, periodMs: 1_800_000 });
    assert.deepEqual(
      lockoutPolicy(
        new Map([
          [Limit.PasswordLockoutLimit, 0],
          [Limit.PasswordLockoutPeriod, 60],
        ]),
      ),
      { limit: 0, intervalMs: 900_000, periodMs: 60_000 },
    );
  });

  test('failures older than the interval drop out of the window; the limit-th within it locks and clears the times', () => {
    assert.deepEqual(nextFailures([], 100, POLICY), { times: [100], lock: false });
    assert.deepEqual(nextFailures([100], 600, POLICY), { times: [100, 600], lock: false });
    assert.deepEqual(nextFailures([100, 600], 1100, POLICY), { times: [600, 1100], lock: false }, 'a failure exactly intervalMs old no longer counts');
    assert.deepEqual(nextFailures([100, 600], 1200, POLICY), { times: [600, 1200], lock: false }, '100 is out of the window at 1200');
    assert.deepEqual(nextFailures([600, 1200], 1300, POLICY), { times: [], lock: true });
  });

  test('what a store writes: the times to keep and, on locking, the end of the lock', () => {
    const count = failureCount(POLICY, 2000)!;
    assert.equal(count.expiredBefore, 1000);
    assert.deepEqual(count.next([1500]), { times: [1500, 2000], lockedUntil: null });
    assert.deepEqual(count.next([1500, 1900]), { times: [], lockedUntil: 7000 });
  });

  test('lockout off (limit 0): nothing is counted, so no store is asked to write', () => {
    assert.equal(failureCount({ ...POLICY, limit: 0 }, 2000), undefined);
  });
});
