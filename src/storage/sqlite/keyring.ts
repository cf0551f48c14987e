/**
 * SQLite's hooks for the barrier (src/sealing/barrier.ts): the stored key ring (`meta.key_check`, table `keyring`) and the
 * sealed rows, as SQL and row mapping only; every decision is the barrier's. Synchronous, like every SQLite write: a
 * value is sealed inside the synchronous transaction that stores it.
 */
import type { KeyringBackend, RingRow, SealedRow, SealedRows } from '../../sealing/barrier.js';
import type { Row, SqliteDb } from './db.js';

export function keyringHooks(db: SqliteDb): KeyringBackend<never, 'sync'> {
  const readRing = (): RingRow[] =>
    db
      .q(
        `SELECT m.value AS key_check, k.version, k.wrapped FROM meta m LEFT JOIN keyring k ON 1
      WHERE m.key = 'key_check' ORDER BY k.version`,
      )
      .all() as RingRow[];
  const rows: SealedRows<never, 'sync'> = {
    on: undefined,
    stale: (table, columns, activeVersion, afterId, limit) =>
      (
        db
          .q(`SELECT id, key_version, ${columns.join(', ')} FROM ${table} WHERE key_version <> ? AND id > ? ORDER BY id LIMIT ?`)
          .all(activeVersion, afterId, limit) as Row[]
      ).map((r): SealedRow => ({ id: r.id as number, keyVersion: r.key_version as number, values: r as SealedRow['values'] })),
    replace: (table, id, fromVersion, sealed, keyVersion) => {
      const columns = Object.keys(sealed);
      db.q(`UPDATE ${table} SET ${columns.map((c) => `${c} = ?`).join(', ')}, key_version = ? WHERE id = ? AND key_version = ?`).run(
        ...columns.map((c) => sealed[c]),
        keyVersion,
        id,
        fromVersion,
      );
    },
  };
  return {
    readRing: () => readRing(),
    createRing: (ring, createdAt) =>
      db.tx(() => {
        if (db.q("SELECT 1 FROM meta WHERE key = 'key_check'").get()) return false;
        db.q("INSERT INTO meta (key, value) VALUES ('key_check', ?)").run(ring.keyCheck);
        for (const k of ring.keys) db.q('INSERT INTO keyring (version, wrapped, created_at) VALUES (?, ?, ?)').run(k.version, k.wrapped, createdAt);
        return true;
      }),
    addVersion: (wrap, createdAt) =>
      db.tx(() => {
        const { check, v } = db
          .q(
            `SELECT (SELECT value FROM meta WHERE key = 'key_check') AS "check",
          (SELECT coalesce(max(version), 0) + 1 FROM keyring) AS v`,
          )
          .get() as { check: Buffer; v: number };
        db.q('INSERT INTO keyring (version, wrapped, created_at) VALUES (?, ?, ?)').run(v, wrap(check, v), createdAt);
        return v;
      }),
    rewrapRing: (rewrap) =>
      db.tx(() => {
        const ring = rewrap(readRing());
        db.q("UPDATE meta SET value = ? WHERE key = 'key_check'").run(ring.keyCheck);
        for (const k of ring.keys) db.q('UPDATE keyring SET wrapped = ? WHERE version = ?').run(k.wrapped, k.version);
      }),
    versions: () =>
      (db.q('SELECT version, created_at FROM keyring ORDER BY version').all() as Row[]).map((r) => ({
        version: r.version as number,
        createdAt: r.created_at as string,
      })),
    usage: (table) =>
      (db.q(`SELECT key_version AS v, count(*) AS n FROM ${table} GROUP BY key_version`).all() as Row[]).map((r) => ({
        version: r.v as number,
        rows: r.n as number,
      })),
    retire: (version, tables) =>
      db.tx(() => {
        const usedBy = tables.find((table) => db.q(`SELECT 1 FROM ${table} WHERE key_version = ? LIMIT 1`).get(version));
        if (usedBy) return { usedBy };
        return { deleted: db.q('DELETE FROM keyring WHERE version = ?').run(version).changes > 0 };
      }),
    inTransaction: (work) => db.tx(() => work(rows)),
  };
}
