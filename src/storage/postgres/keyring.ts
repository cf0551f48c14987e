/**
 * PostgreSQL's hooks for the barrier (src/sealing/barrier.ts): the stored key ring (`meta.key_check`, table `keyring`)
 * and the sealed rows (BYTEA), as SQL and row mapping only; every decision is the barrier's. Changes of the ring take
 * the keyring advisory lock, so two operators' rotations or rekeys queue instead of racing. A hook given a connection
 * reads through it: a transaction never waits for a second pooled connection.
 */
import type pg from 'pg';
import type { KeyringBackend, RingRow, SealedRow, SealedRows, Sealing } from '../../sealing/barrier.js';
import { LOCK, type PgDb, type Queryable } from './db.js';

const KEYRING = { locks: [LOCK.keyring] };

/** The barrier over these hooks, as the repositories with sealed columns (apps, profiles, data sources) use it. */
export type PgSealing = Sealing<Queryable, 'async'>;

export function keyringHooks(db: PgDb): KeyringBackend<Queryable, 'async'> {
  const readRing = (on: Queryable): Promise<RingRow[]> =>
    db.all<RingRow>(
      on,
      `SELECT m.value AS key_check, k.version, k.wrapped FROM meta m LEFT JOIN keyring k ON true
      WHERE m.key = 'key_check' ORDER BY k.version`,
    );

  const sealedRows = (c: pg.PoolClient): SealedRows<Queryable, 'async'> => ({
    on: c,
    // FOR NO KEY UPDATE (which does not block inserts referencing the rows): a request's concurrent write is either
    // before (and re-sealed here) or after (and sealed anew by that request), never overwritten.
    stale: async (table, columns, activeVersion, afterId, limit) =>
      (
        await db.all(
          c,
          `SELECT id, key_version, ${columns.join(', ')} FROM ${table}
          WHERE key_version <> $1 AND id > $2 ORDER BY id LIMIT $3 FOR NO KEY UPDATE`,
          [activeVersion, afterId, limit],
        )
      ).map((r): SealedRow => ({ id: Number(r.id), keyVersion: r.key_version as number, values: r as SealedRow['values'] })),
    replace: async (table, id, fromVersion, sealed, keyVersion) => {
      const columns = Object.keys(sealed);
      const n = columns.length;
      await db.run(
        c,
        `UPDATE ${table} SET ${columns.map((col, i) => `${col} = $${i + 1}`).join(', ')}, key_version = $${n + 1}
          WHERE id = $${n + 2} AND key_version = $${n + 3}`,
        [...columns.map((col) => sealed[col]), keyVersion, id, fromVersion],
      );
    },
  });

  return {
    readRing: (on = db.pool) => readRing(on),
    createRing: (ring, createdAt) =>
      db.tx(async (c) => {
        if (await db.one(c, "SELECT 1 FROM meta WHERE key = 'key_check'")) return false;
        await db.run(c, "INSERT INTO meta (key, value) VALUES ('key_check', $1)", [ring.keyCheck]);
        for (const k of ring.keys) {
          await db.run(c, 'INSERT INTO keyring (version, wrapped, created_at) VALUES ($1, $2, $3)', [k.version, k.wrapped, createdAt]);
        }
        return true;
      }, KEYRING),
    addVersion: (wrap, createdAt) =>
      db.tx(async (c) => {
        const { check, v } = (await db.one<{ check: Buffer; v: number }>(
          c,
          `SELECT (SELECT value FROM meta WHERE key = 'key_check') AS "check",
          (SELECT coalesce(max(version), 0) + 1 FROM keyring) AS v`,
        ))!;
        await db.run(c, 'INSERT INTO keyring (version, wrapped, created_at) VALUES ($1, $2, $3)', [v, wrap(check, v), createdAt]);
        return v;
      }, KEYRING),
    rewrapRing: (rewrap) =>
      db.tx(async (c) => {
        const ring = rewrap(await readRing(c));
        await db.run(c, "UPDATE meta SET value = $1 WHERE key = 'key_check'", [ring.keyCheck]);
        for (const k of ring.keys) await db.run(c, 'UPDATE keyring SET wrapped = $1 WHERE version = $2', [k.wrapped, k.version]);
      }, KEYRING),
    versions: async () =>
      (await db.all(db.pool, 'SELECT version, created_at FROM keyring ORDER BY version')).map((r) => ({
        version: r.version as number,
        createdAt: r.created_at as string,
      })),
    usage: async (table) =>
      (await db.all(db.pool, `SELECT key_version AS v, count(*) AS n FROM ${table} GROUP BY key_version`)).map((r) => ({
        version: r.v as number,
        rows: Number(r.n),
      })),
    retire: (version, tables) =>
      db.tx(async (c) => {
        for (const table of tables) {
          if (await db.one(c, `SELECT 1 FROM ${table} WHERE key_version = $1 LIMIT 1`, [version])) return { usedBy: table };
        }
        return { deleted: (await db.exec(c, 'DELETE FROM keyring WHERE version = $1', [version])) > 0 };
      }, KEYRING),
    inTransaction: (work) => db.tx((c) => work(sealedRows(c))),
  };
}
