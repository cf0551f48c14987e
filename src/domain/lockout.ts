/**
 * HDP's lockout rule (api.md §3.3), one for accounts and unknown user names alike. The stores apply it inside the
 * transaction that read the failures (`FailureCount`), so failures arriving at several nodes at once are all counted.
 */
import type { FailureCount } from './ports/index.js';
import { Limit, limitCatalogue } from './limits.js';

export interface LockoutPolicy {
  /** failures that lock the account; 0 turns lockout off */
  limit: number;
  intervalMs: number;
  periodMs: number;
}

/** The policy the limits in force give (a limit not stored has its default). */
export function lockoutPolicy(limits: ReadonlyMap<number, number>): LockoutPolicy {
  const value = (id: number) => limits.get(id) ?? limitCatalogue.find((l) => l.id === id)!.defaultValue;
  return {
    limit: value(Limit.PasswordLockoutLimit),
    intervalMs: value(Limit.PasswordLockoutInterval) * 1000,
    periodMs: value(Limit.PasswordLockoutPeriod) * 1000,
  };
}

/**
 * One more failed login, in a sliding window: `limit` failures within any `intervalMs` lock. (A window fixed at the
 * first failure would let 2 × (limit − 1) failures through in seconds by straddling its end.) `times` are the recent
 * failures still in the window, oldest first; at most limit − 1 are kept, and none once the account locks.
 */
export function nextFailures(times: readonly number[], now: number, policy: LockoutPolicy): { times: number[]; lock: boolean } {
  const recent = [...times.filter((t) => now - t < policy.intervalMs), now];
  if (policy.limit > 0 && recent.length >= policy.limit) return { times: [], lock: true };
  return { times: recent.slice(-Math.max(policy.limit - 1, 1)), lock: false };
}

/** What a store writes for a failure at `now`; undefined when lockout is off (nothing is counted then). */
export function failureCount(policy: LockoutPolicy, now: number): FailureCount | undefined {
  if (policy.limit <= 0) return undefined;
  return {
    next: (times) => {
      const next = nextFailures(times, now, policy);
      return { times: next.times, lockedUntil: next.lock ? now + policy.periodMs : null };
    },
    expiredBefore: now - policy.intervalMs,
  };
}
