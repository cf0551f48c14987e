/**
 * In-memory failure counting per key (a remote address, an unknown user name), bounded in size: the oldest key is
 * forgotten first. Per process by design: it throttles floods; the authoritative lockout of real accounts is in
 * the database.
 */
import type { LockoutPolicy } from '../storage/store.js';

interface Entry {
  count: number;
  since: number;
  lockedUntil: number;
}

export class WindowCounter {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly clock: () => number, private readonly maxKeys: number) {}

  private current(key: string, windowMs: number): Entry {
    const now = this.clock();
    let e = this.entries.get(key);
    if (!e || now - e.since >= windowMs) {
      e = { count: 0, since: now, lockedUntil: e?.lockedUntil ?? 0 };
      this.entries.delete(key);
      this.entries.set(key, e);
      if (this.entries.size > this.maxKeys) this.entries.delete(this.entries.keys().next().value!);
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
    const e = this.current(key, policy.intervalMs);
    if (++e.count >= policy.limit) {
      e.count = 0;
      e.lockedUntil = this.clock() + policy.periodMs;
    }
  }

  locked(key: string): boolean {
    const e = this.entries.get(key);
    return e !== undefined && e.lockedUntil > this.clock();
  }
}
