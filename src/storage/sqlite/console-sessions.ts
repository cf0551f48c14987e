/**
 * Console sessions in SQLite (api.md §10). Writes go through the group commit; SQLite runs one write at a time, so the
 * conditional insert of `create` sees every lock, deactivation or new password committed before it, and a change
 * committed after it finds the row to delete.
 */
import type { ConsoleSession, ConsoleSessions, NewConsoleSession, SignedInStanding } from '../../domain/ports/index.js';
import { CONSOLE_SESSION_COLUMNS, toConsoleSession } from '../rows.js';
import type { Row, SqliteDb } from './db.js';

export class SqliteConsoleSessions implements ConsoleSessions {
  constructor(private readonly db: SqliteDb) {}

  async create(session: NewConsoleSession, standing: SignedInStanding): Promise<boolean> {
    return this.db.write(
      () =>
        this.db
          .q(
            `INSERT INTO console_sessions (digest, user_id, password_digest, created_at, last_seen_at)
          SELECT @digest, u.id, @passwordDigest, @createdAt, @createdAt FROM users u JOIN tenants t ON t.id = u.tenant_id
          WHERE u.id = @userId AND u.password_hash = @passwordHash AND u.status = @status AND t.status = @tenantStatus
            AND u.locked_until IS @lockedUntil`,
          )
          .run({ ...session, ...standing }).changes === 1,
    );
  }

  async find(digest: string): Promise<ConsoleSession | undefined> {
    const row = this.db.q(`SELECT ${CONSOLE_SESSION_COLUMNS} FROM console_sessions s JOIN users u ON u.id = s.user_id WHERE s.digest = ?`).get(digest) as
      Row | undefined;
    return row && toConsoleSession(row);
  }

  async touch(digest: string, now: number): Promise<void> {
    await this.db.write(() => this.db.q('UPDATE console_sessions SET last_seen_at = ? WHERE digest = ? AND last_seen_at < ?').run(now, digest, now));
  }

  async delete(digest: string): Promise<void> {
    await this.db.write(() => this.db.q('DELETE FROM console_sessions WHERE digest = ?').run(digest));
  }

  async deleteOfUser(userId: number): Promise<void> {
    await this.db.write(() => this.db.q('DELETE FROM console_sessions WHERE user_id = ?').run(userId));
  }

  async deleteOfTenant(tenantId: number): Promise<void> {
    await this.db.write(() => this.db.q('DELETE FROM console_sessions WHERE user_id IN (SELECT id FROM users WHERE tenant_id = ?)').run(tenantId));
  }

  async deleteUnseenSince(seenUpTo: number, limit: number): Promise<number> {
    return this.db.write(
      () =>
        // Through the last_seen_at index: only the oldest rows are visited.
        this.db
          .q('DELETE FROM console_sessions WHERE digest IN (SELECT digest FROM console_sessions WHERE last_seen_at <= ? ORDER BY last_seen_at LIMIT ?)')
          .run(seenUpTo, limit).changes,
    );
  }
}
