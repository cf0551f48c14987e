/**
 * What the tables with sealed columns share: the id of the next row, needed before the insert because sealed values
 * are bound to their row id; and, for the three with an ETag version (apps, profiles, data sources), the conditional
 * delete.
 */
import type { IntegrityRules, Refusal, Versions } from '../../domain/ports/index.js';
import type { VersionedRow } from '../rows.js';
import type { SealedTable } from '../../sealing/barrier.js';
import type { PgDb, Queryable } from './db.js';
import { Refused, enforce } from '../refused.js';

/** The id the insert will use: sealed values are bound to their row id, so it is taken from the sequence first. */
export async function nextId(db: PgDb, c: Queryable, table: SealedTable): Promise<number> {
  const { id } = (await db.one<{ id: number }>(c, `SELECT nextval(pg_get_serial_sequence('${table}', 'id')) AS id`))!;
  return id;
}

/**
 * Deletes a row if it exists and, when asked, still has one of the accepted versions: one conditional DELETE, autocommit (a
 * statement is atomic with its cascades; a transaction around it cost two more round trips), run again if its
 * cascade meets a deadlock. Only when nothing was deleted does a second read tell 404 from 412.
 */
export async function deleteVersioned(
  db: PgDb,
  rules: IntegrityRules,
  target: VersionedRow,
  ifVersion: Versions | undefined,
  /** runs in the delete's transaction once the delete is decided, before it (the revocation outbox) */
  before?: (c: Queryable) => Promise<void>,
): Promise<void | Refusal> {
  const { table, id, what } = target;
  if (before) {
    // One transaction: the row locked, its version checked, `before`, then the delete with its cascades.
    return db.decide(async (c) => {
      const row = await db.one<{ version: number }>(c, `SELECT version FROM ${table} WHERE id = $1 FOR UPDATE`, [id]);
      if (!row) throw new Refused({ refused: 'missing', what, id });
      enforce(rules.version(row.version, ifVersion));
      await before(c);
      await db.exec(c, `DELETE FROM ${table} WHERE id = $1`, [id]);
    });
  }
  const deleted = await db.retrying(() =>
    ifVersion === undefined
      ? db.exec(db.pool, `DELETE FROM ${table} WHERE id = $1`, [id])
      : db.exec(db.pool, `DELETE FROM ${table} WHERE id = $1 AND version = ANY($2::bigint[])`, [id, ifVersion]),
  );
  if (deleted > 0) return;
  const row = await db.one<{ version: number }>(db.pool, `SELECT version FROM ${table} WHERE id = $1`, [id]);
  if (!row) return { refused: 'missing', what, id };
  const stale = rules.version(row.version, ifVersion);
  if (stale) return stale;
  // Between the two statements a concurrent write brought the row to an accepted version: the condition holds now.
  return deleteVersioned(db, rules, target, ifVersion);
}
