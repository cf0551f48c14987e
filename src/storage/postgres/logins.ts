/**
 * PostgreSQL authentication state, as ../sqlite/'s: who a name is (the user with its grants, batched across
 * concurrent reads) and when that may have changed, failed logins of users and of unknown names, and password-hash
 * upgrades. None of it takes the identity lock (./grants.ts): each write touches one row under that row's lock.
 */
import type { FailureCount, Logins, Principal, Status } from '../../domain/ports/index.js';
import { UNKNOWN_NAME_PRUNE_BATCH, nameKey, unknownNameDigest } from '../names.js';
import { failureTimes } from '../rows.js';
import { ids, toUser } from '../rows.js';
import type { Lookup, PgDb } from './db.js';

export class PgLogins implements Logins {
  /** A user with its tenant's status and its grants, by name key; concurrent logins share one statement. */
  private readonly principalRow: Lookup<string>;
  /** An unknown name's lock by its digest; concurrent lookups (a flood of refused logins) share one statement. */
  private readonly unknownNameRow: Lookup<string>;

  constructor(private readonly db: PgDb) {
    this.principalRow = db.lookup<string>(
      'tokenkeep_principal',
      `
      SELECT u.id, u.user_name, u.name_key, u.tenant_id, u.status, u.password_hash, u.failed_count, u.failed_since,
        u.locked_at, u.locked_until, t.status AS tenant_status,
        ARRAY(SELECT permission FROM user_permissions WHERE user_id = u.id
              UNION SELECT rp.permission FROM user_roles ur JOIN role_permissions rp ON rp.role_id = ur.role_id
              WHERE ur.user_id = u.id) AS effective,
        ARRAY(SELECT tenant_id FROM tenant_admins WHERE user_id = u.id ORDER BY tenant_id) AS admin_tenants,
        ARRAY(SELECT role_id FROM user_roles WHERE user_id = u.id ORDER BY role_id) AS role_ids,
        ARRAY(SELECT permission FROM user_permissions WHERE user_id = u.id ORDER BY permission) AS permission_ids
      FROM users u JOIN tenants t ON t.id = u.tenant_id
      WHERE u.name_key = ANY($1::text[])`,
      (row) => row.name_key as string,
    );
    this.unknownNameRow = db.lookup<string>(
      'tokenkeep_unknown_name',
      'SELECT name_digest, locked_until FROM unknown_name_failures WHERE name_digest = ANY($1::text[])',
      (row) => row.name_digest as string,
    );
  }

  async principal(userName: string): Promise<Principal | undefined> {
    const row = await this.principalRow(nameKey(userName));
    if (!row) return undefined;
    return {
      ...toUser(row),
      tenantStatus: row.tenant_status as Status,
      effective: new Set(ids(row.effective)),
      adminTenants: new Set(ids(row.admin_tenants)),
    };
  }

  /** See ./principal-changes.ts: notifications of every node's changes, and this node's own writes. */
  principalsStamp(): number | undefined {
    return this.db.principalChanges.stamp();
  }

  /**
   * Counted under the user row's lock (FOR NO KEY UPDATE: it does not hold up inserts that reference the user), so
   * failures arriving at several nodes at once are all counted and lock the account exactly once.
   */
  async recordFailure(userId: number, now: number, count: FailureCount): Promise<{ locked: boolean }> {
    return this.db.tx(async (c) => {
      const row = await this.db.one(c, 'SELECT failure_times FROM users WHERE id = $1 FOR NO KEY UPDATE', [userId]);
      if (!row) return { locked: false };
      const next = count.next(failureTimes.parse(row.failure_times));
      if (next.lockedUntil !== null) {
        await this.db.run(
          c,
          `UPDATE users SET failed_count = 0, failed_since = NULL, failure_times = NULL, locked_at = $1, locked_until = $2
          WHERE id = $3`,
          [now, next.lockedUntil, userId],
        );
        return { locked: true };
      }
      await this.db.run(c, 'UPDATE users SET failed_count = $1, failed_since = $2, failure_times = $3 WHERE id = $4', [
        next.times.length,
        next.times[0],
        failureTimes.format(next.times),
        userId,
      ]);
      return { locked: false };
    });
  }

  async clearFailures(userId: number): Promise<void> {
    await this.db.run(
      this.db.pool,
      `UPDATE users SET failed_count = 0, failed_since = NULL, failure_times = NULL, locked_at = NULL,
      locked_until = NULL WHERE id = $1`,
      [userId],
    );
  }

  async unknownNameLockedUntil(userName: string): Promise<number | null> {
    const row = await this.unknownNameRow(unknownNameDigest(userName));
    return (row?.locked_until as number | null | undefined) ?? null;
  }

  /**
   * The same rule as recordFailure, counted under the name's row lock: the upsert creates the row or locks the
   * existing one (ON CONFLICT DO UPDATE takes the row lock and RETURNING gives its committed values), so failures
   * arriving at several nodes at once are all counted. Expired rows are then deleted by a separate autocommit
   * statement that skips rows other transactions hold, so pruning never waits for, or deadlocks with, a login.
   */
  async recordUnknownNameFailure(userName: string, now: number, count: FailureCount): Promise<{ locked: boolean }> {
    const digest = unknownNameDigest(userName);
    const result = await this.db.tx(async (c) => {
      const row = (await this.db.one(
        c,
        `INSERT INTO unknown_name_failures AS f (name_digest, failure_times, last_failure) VALUES ($1, NULL, $2)
        ON CONFLICT (name_digest) DO UPDATE SET last_failure = f.last_failure RETURNING f.failure_times`,
        [digest, now],
      ))!;
      const next = count.next(failureTimes.parse(row.failure_times));
      await this.db.run(
        c,
        `UPDATE unknown_name_failures SET failure_times = $2, last_failure = $3, locked_until = coalesce($4, locked_until)
        WHERE name_digest = $1`,
        [digest, failureTimes.format(next.times), now, next.lockedUntil],
      );
      return { locked: next.lockedUntil !== null };
    });
    await this.db.run(
      this.db.pool,
      `DELETE FROM unknown_name_failures WHERE name_digest IN (SELECT name_digest FROM unknown_name_failures
        WHERE last_failure <= $1 AND (locked_until IS NULL OR locked_until <= $2) LIMIT $3 FOR UPDATE SKIP LOCKED)`,
      [count.expiredBefore, now, UNKNOWN_NAME_PRUNE_BATCH],
    );
    return result;
  }

  async upgradePasswordHash(userId: number, expected: string, next: string): Promise<void> {
    await this.db.run(this.db.pool, 'UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3', [next, userId, expected]);
  }
}
