/**
 * Authentication's state in SQLite: the principal of a name and the stamp that tells when it may have changed, failed
 * logins of users and of unknown names.
 */
import type { FailureCount, Logins, Principal, Status } from '../../domain/ports/index.js';
import { UNKNOWN_NAME_PRUNE_BATCH, nameKey, unknownNameDigest } from '../names.js';
import { failureTimes, ids, toUser } from '../rows.js';
import type { Row, SqliteDb } from './db.js';

const PRINCIPALS_VERSION = "SELECT value FROM meta WHERE key = 'principals_version'";

export class SqliteLogins implements Logins {
  constructor(private readonly db: SqliteDb) {}

  /** A user with its tenant's status and its grants, in one statement. */
  async principal(userName: string): Promise<Principal | undefined> {
    const row = this.db
      .q(
        `SELECT u.*, t.status AS tenant_status,
        (SELECT group_concat(p) FROM (
           SELECT permission AS p FROM user_permissions WHERE user_id = u.id
           UNION SELECT rp.permission FROM user_roles ur JOIN role_permissions rp ON rp.role_id = ur.role_id
           WHERE ur.user_id = u.id)) AS effective,
        (SELECT group_concat(tenant_id) FROM tenant_admins WHERE user_id = u.id) AS admin_tenants,
        (SELECT group_concat(role_id) FROM (SELECT role_id FROM user_roles WHERE user_id = u.id ORDER BY role_id)) AS role_ids,
        (SELECT group_concat(permission) FROM (SELECT permission FROM user_permissions WHERE user_id = u.id ORDER BY permission)) AS permission_ids
      FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE u.name_key = ?`,
      )
      .get(nameKey(userName)) as Row | undefined;
    if (!row) return undefined;
    return {
      ...toUser(row),
      tenantStatus: row.tenant_status as Status,
      effective: new Set(ids(row.effective)),
      adminTenants: new Set(ids(row.admin_tenants)),
    };
  }

  /**
   * meta's principals_version, which the triggers of migration 9 raise in every transaction that changes a user, a
   * grant or a tenant — of this process or any other — so a change is seen by the very next request (one indexed
   * read, under a microsecond).
   */
  principalsStamp(): number {
    return (this.db.q(PRINCIPALS_VERSION).get() as Row).value as number;
  }

  async recordFailure(userId: number, now: number, count: FailureCount): Promise<{ locked: boolean }> {
    return this.db.write(() => {
      const row = this.db.q('SELECT failure_times FROM users WHERE id = ?').get(userId) as Row | undefined;
      if (!row) return { locked: false };
      const next = count.next(failureTimes.parse(row.failure_times));
      if (next.lockedUntil !== null) {
        this.db
          .q(
            `UPDATE users SET failed_count = 0, failed_since = NULL, failure_times = NULL, locked_at = ?, locked_until = ?
          WHERE id = ?`,
          )
          .run(now, next.lockedUntil, userId);
        return { locked: true };
      }
      this.db
        .q('UPDATE users SET failed_count = ?, failed_since = ?, failure_times = ? WHERE id = ?')
        .run(next.times.length, next.times[0], failureTimes.format(next.times), userId);
      return { locked: false };
    });
  }

  async clearFailures(userId: number): Promise<void> {
    await this.db.write(() =>
      this.db
        .q(
          `UPDATE users SET failed_count = 0, failed_since = NULL, failure_times = NULL, locked_at = NULL,
      locked_until = NULL WHERE id = ?`,
        )
        .run(userId),
    );
  }

  async unknownNameLockedUntil(userName: string): Promise<number | null> {
    const row = this.db.q('SELECT locked_until FROM unknown_name_failures WHERE name_digest = ?').get(unknownNameDigest(userName)) as Row | undefined;
    return (row?.locked_until as number | null | undefined) ?? null;
  }

  /** The same rule as recordFailure; a lock, once set, stays until it ends (as an account's). */
  async recordUnknownNameFailure(userName: string, now: number, count: FailureCount): Promise<{ locked: boolean }> {
    const digest = unknownNameDigest(userName);
    return this.db.write(() => {
      const row = this.db.q('SELECT failure_times FROM unknown_name_failures WHERE name_digest = ?').get(digest) as Row | undefined;
      const next = count.next(failureTimes.parse(row?.failure_times));
      this.db
        .q(
          `INSERT INTO unknown_name_failures (name_digest, failure_times, last_failure, locked_until) VALUES (@digest, @times, @now, @until)
        ON CONFLICT (name_digest) DO UPDATE SET failure_times = excluded.failure_times, last_failure = excluded.last_failure,
          locked_until = coalesce(excluded.locked_until, locked_until)`,
        )
        .run({ digest, times: failureTimes.format(next.times), now, until: next.lockedUntil });
      this.db
        .q(
          `DELETE FROM unknown_name_failures WHERE name_digest IN (SELECT name_digest FROM unknown_name_failures
          WHERE last_failure <= @expired AND (locked_until IS NULL OR locked_until <= @now) LIMIT @batch)`,
        )
        .run({ expired: count.expiredBefore, now, batch: UNKNOWN_NAME_PRUNE_BATCH });
      return { locked: next.lockedUntil !== null };
    });
  }

  async upgradePasswordHash(userId: number, expected: string, next: string): Promise<void> {
    await this.db.write(() => this.db.q('UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?').run(next, userId, expected));
  }
}
