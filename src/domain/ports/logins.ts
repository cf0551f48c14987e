import type { FailureCount } from './rules.js';
import type { Status } from './tenants.js';
import type { User } from './users.js';

/**
 * A user as authentication sees it: the row plus what it may do, read in one go, and kept between requests only while
 * the store's principals stamp stays the same (../principals.ts).
 */
export interface Principal extends User {
  tenantStatus: Status;
  effective: ReadonlySet<number>;
  adminTenants: ReadonlySet<number>;
}

/** Authentication's state: who a name is, and the failed logins the lockout rule counts. */
export interface Logins {
  principal(userName: string): Promise<Principal | undefined>;
  /**
   * A number that is different, on this node, by the next request after any change of a user, its grants or its
   * tenant committed by any node or process (and after anything that may have hidden one from this node); undefined
   * while the store cannot tell, when every principal must be read afresh. Synchronous and cheap: called per request.
   */
  principalsStamp(): number | undefined;
  /** Counts one failure of an existing user with the domain's rule, under the user row's lock; no user, no change. */
  recordFailure(userId: number, now: number, count: FailureCount): Promise<{ locked: boolean }>;
  clearFailures(userId: number): Promise<void>;
  /**
   * Failed logins for user names that no user has, counted per name in the database with the accounts' sliding
   * window, so every node and every restart sees the same "lock" for an unknown name as for an account (the answers
   * must not tell whether a name exists): the end of the name's lock (epoch ms) or null. Recording also deletes a
   * bounded number of rows that no longer count (no failure within the interval and no lock in force).
   */
  unknownNameLockedUntil(userName: string): Promise<number | null>;
  recordUnknownNameFailure(userName: string, now: number, count: FailureCount): Promise<{ locked: boolean }>;
  /** Replaces a password hash only if it is still `expected` (used for transparent upgrades). */
  upgradePasswordHash(userId: number, expected: string, next: string): Promise<void>;
}

/** HDP's numbered limits, by id. */
export interface Limits {
  all(): Promise<Map<number, number>>;
  set(id: number, value: number): Promise<void>;
}
