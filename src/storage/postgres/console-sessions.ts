/**
 * Console sessions in PostgreSQL (api.md §10), as ../sqlite/console-sessions.ts, each method one autocommit statement.
 * `create` reads the user's row FOR SHARE: a lock, deactivation or new password being written on any node either
 * commits first (the insert then re-reads the row, finds it changed and stores nothing) or waits for the insert to
 * commit (and the domain's deletion of the user's sessions that follows it then sees the new row).
 */
import type { ConsoleSession, ConsoleSessions, NewConsoleSession, SignedInStanding } from '../../domain/ports/index.js';
import { Refused } from '../refused.js';
import { CONSOLE_SESSION_COLUMNS, toConsoleSession } from '../rows.js';
import type { PgDb } from './db.js';

const CREATE = `INSERT INTO console_sessions (digest, user_id, password_digest, created_at, last_seen_at)
  SELECT $1::text, u.id, $3::text, $4::bigint, $4::bigint FROM users u JOIN tenants t ON t.id = u.tenant_id
  WHERE u.id = $2::bigint AND u.password_hash = $5::text AND u.status = $6::int AND t.status = $7::int
    AND u.locked_until IS NOT DISTINCT FROM $8::bigint
  FOR SHARE OF u`;

export class PgConsoleSessions implements ConsoleSessions {
  constructor(private readonly db: PgDb) {}

  async create(session: NewConsoleSession, standing: SignedInStanding): Promise<boolean> {
    const params = [
      session.digest,
      session.userId,
      session.passwordDigest,
      session.createdAt,
      standing.passwordHash,
      standing.status,
      standing.tenantStatus,
      standing.lockedUntil,
    ];
    try {
      return (await this.db.exec(this.db.pool, CREATE, params)) === 1;
    } catch (err) {
      // The user deleted between the read and the insert's foreign-key check: no session.
      if (err instanceof Refused) return false;
      throw err;
    }
  }

  async find(digest: string): Promise<ConsoleSession | undefined> {
    const row = await this.db.one(
      this.db.pool,
      `SELECT ${CONSOLE_SESSION_COLUMNS} FROM console_sessions s JOIN users u ON u.id = s.user_id WHERE s.digest = $1::text`,
      [digest],
    );
    return row && toConsoleSession(row);
  }

  async touch(digest: string, now: number): Promise<void> {
    await this.db.exec(this.db.pool, 'UPDATE console_sessions SET last_seen_at = $2::bigint WHERE digest = $1::text AND last_seen_at < $2::bigint', [
      digest,
      now,
    ]);
  }

  async delete(digest: string): Promise<void> {
    await this.db.exec(this.db.pool, 'DELETE FROM console_sessions WHERE digest = $1::text', [digest]);
  }

  async deleteOfUser(userId: number): Promise<void> {
    await this.db.exec(this.db.pool, 'DELETE FROM console_sessions WHERE user_id = $1::bigint', [userId]);
  }

  async deleteOfTenant(tenantId: number): Promise<void> {
    await this.db.exec(this.db.pool, 'DELETE FROM console_sessions WHERE user_id IN (SELECT id FROM users WHERE tenant_id = $1::bigint)', [tenantId]);
  }

  async deleteUnseenSince(seenUpTo: number, limit: number): Promise<number> {
    return this.db.exec(
      this.db.pool,
      // SKIP LOCKED: prunes running on several nodes at once take different rows instead of queueing on the same ones.
      `DELETE FROM console_sessions WHERE digest IN (SELECT digest FROM console_sessions WHERE last_seen_at <= $1::bigint
        ORDER BY last_seen_at LIMIT $2::int FOR UPDATE SKIP LOCKED)`,
      [seenUpTo, limit],
    );
  }
}
