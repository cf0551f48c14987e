/**
 * In-memory failure counting per key (a remote address, an unknown user name), bounded in size: the oldest key is
 * forgotten first. Per process by design: it throttles floods; the authoritative lockout of real accounts is in
 * the database.
 */
import { nextFailures, type LockoutPolicy } from '../storage/store.js';

interface Entry {
  count: number;
  since: number;
  lockedUntil: number;
  /** recent failed logins, for fail(): the same sliding window as an account's */
  failures: number[];
}

export class WindowCounter {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly clock: () => number, private readonly maxKeys: number) {}

  /** The key's entry, created if missing and made the most recently used. */
  private touch(key: string): Entry {
    const e = this.entries.get(key) ?? { count: 0, since: this.clock(), lockedUntil: 0, failures: [] };
    this.entries.delete(key);
    this.entries.set(key, e);
    if (this.entries.size > this.maxKeys) this.entries.delete(this.entries.keys().next().value!);
    return e;
  }

  private current(key: string, windowMs: number): Entry {
    const now = this.clock();
    const e = this.touch(key);
    if (now - e.since >= windowMs) {
      e.count = 0;
      e.since = now;
    }
    return e;
  }

  count(key: string, windowMs: number): number {
    const e = this.entries.get(key);
    return e && this.clock() - e.since < windowMs ? e.count : 0;
  }

  add(key: string, windowMs: number): number {
    return ++this.current(key, windowMs).count;
  }

  /** Counts a failed login and locks the key as the lockout policy would lock an account. */
  fail(key: string, policy: LockoutPolicy): void {
    if (policy.limit <= 0) return;
    const e = this.touch(key);
    const now = this.clock();
    const next = nextFailures(e.failures, now, policy);
    e.failures = next.times;
    if (next.lock) e.lockedUntil = now + policy.periodMs;
  }

  locked(key: string): boolean {
    const e = this.entries.get(key);
    return e !== undefined && e.lockedUntil > this.clock();
  }
}
