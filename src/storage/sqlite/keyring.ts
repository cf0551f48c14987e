/**
 * SQLite's hooks for the barrier (../sealing.ts): the stored key ring (`meta.key_check`, table `keyring`) and the
 * sealed rows, as SQL and row mapping only; every decision is the barrier's. Synchronous, like every SQLite write: a
 * value is sealed inside the synchronous transaction that stores it.
 */
import { Sealing, runSync, type KeyringBackend, type RingRow, type SealedRow, type SealedRows } from '../sealing.js';
import { SqliteDb, type Row } from './db.js';

export class SqliteKeyringStore extends SqliteDb {
  readonly keys = new Sealing<never, 'sync'>(this.keyringHooks(), runSync);

  private readRing(): RingRow[] {
    return this.q(
      `SELECT m.value AS key_check, k.version, k.wrapped FROM meta m LEFT JOIN keyring k ON 1
      WHERE m.key = 'key_check' ORDER BY k.version`,
    ).all() as RingRow[];
  }

  private keyringHooks(): KeyringBackend<never, 'sync'> {
    const rows: SealedRows<never, 'sync'> = {
      on: undefined,
      stale: (table, columns, activeVersion, afterId, limit) =>
        (
          this.q(`SELECT id, key_version, ${columns.join(', ')} FROM ${table} WHERE key_version <> ? AND id > ? ORDER BY id LIMIT ?`).all(
            activeVersion,
            afterId,
            limit,
          ) as Row[]
        ).map((r): SealedRow => ({ id: r.id as number, keyVersion: r.key_version as number, values: r as SealedRow['values'] })),
      replace: (table, id, fromVersion, sealed, keyVersion) => {
        const columns = Object.keys(sealed);
        this.q(`UPDATE ${table} SET ${columns.map((c) => `${c} = ?`).join(', ')}, key_version = ? WHERE id = ? AND key_version = ?`).run(
          ...columns.map((c) => sealed[c]),
          keyVersion,
          id,
          fromVersion,
        );
      },
    };
    return {
      readRing: () => this.readRing(),
      createRing: (ring, createdAt) =>
        this.tx(() => {
          if (this.q("SELECT 1 FROM meta WHERE key = 'key_check'").get()) return false;
          this.q("INSERT INTO meta (key, value) VALUES ('key_check', ?)").run(ring.keyCheck);
          for (const k of ring.keys) this.q('INSERT INTO keyring (version, wrapped, created_at) VALUES (?, ?, ?)').run(k.version, k.wrapped, createdAt);
          return true;
        }),
      addVersion: (wrap, createdAt) =>
        this.tx(() => {
          const { check, v } = this.q(
            `SELECT (SELECT value FROM meta WHERE key = 'key_check') AS "check",
          (SELECT coalesce(max(version), 0) + 1 FROM keyring) AS v`,
          ).get() as { check: Buffer; v: number };
          this.q('INSERT INTO keyring (version, wrapped, created_at) VALUES (?, ?, ?)').run(v, wrap(check, v), createdAt);
          return v;
        }),
      rewrapRing: (rewrap) =>
        this.tx(() => {
          const ring = rewrap(this.readRing());
          this.q("UPDATE meta SET value = ? WHERE key = 'key_check'").run(ring.keyCheck);
          for (const k of ring.keys) this.q('UPDATE keyring SET wrapped = ? WHERE version = ?').run(k.wrapped, k.version);
        }),
      versions: () =>
        (this.q('SELECT version, created_at FROM keyring ORDER BY version').all() as Row[]).map((r) => ({
          version: r.version as number,
          createdAt: r.created_at as string,
        })),
      usage: (table) =>
        (this.q(`SELECT key_version AS v, count(*) AS n FROM ${table} GROUP BY key_version`).all() as Row[]).map((r) => ({
          version: r.v as number,
          rows: r.n as number,
        })),
      retire: (version, tables) =>
        this.tx(() => {
          const usedBy = tables.find((table) => this.q(`SELECT 1 FROM ${table} WHERE key_version = ? LIMIT 1`).get(version));
          if (usedBy) return { usedBy };
          return { deleted: this.q('DELETE FROM keyring WHERE version = ?').run(version).changes > 0 };
        }),
      inTransaction: (work) => this.tx(() => work(rows)),
    };
  }
}
