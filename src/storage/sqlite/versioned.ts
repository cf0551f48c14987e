/**
 * What the tables with sealed columns share: the id of the next row, needed before the insert because sealed values
 * are bound to their row id; and, for the three with an ETag version (apps, profiles, data sources), the conditional
 * delete.
 */
import type { IntegrityRules, Refusal, Versions } from '../../domain/ports/index.js';
import type { VersionedRow } from '../rows.js';
import type { SealedTable } from '../../sealing/barrier.js';
import { enforce } from '../refused.js';
import type { SqliteDb } from './db.js';

/** The id the next insert will get (inside the write that inserts). */
export function nextId(db: SqliteDb, table: SealedTable): number {
  const row = db.q('SELECT seq FROM sqlite_sequence WHERE name = ?').get(table) as { seq: number } | undefined;
  return (row?.seq ?? 0) + 1;
}

/** Deletes a row if it exists and, when asked, still has one of the accepted versions (checked in the same write). */
export function deleteVersioned(
  db: SqliteDb,
  rules: IntegrityRules,
  row: VersionedRow,
  ifVersion: Versions | undefined,
  /** runs in the same write once the delete is decided, before it (the revocation outbox) */
  before?: () => void,
): Promise<void | Refusal> {
  const { table, id, what } = row;
  return db.decide(() => {
    const row = db.present(db.q(`SELECT version FROM ${table} WHERE id = ?`).get(id) as { version: number } | undefined, what, id);
    enforce(rules.version(row.version, ifVersion));
    before?.();
    db.q(`DELETE FROM ${table} WHERE id = ?`).run(id);
  });
}
