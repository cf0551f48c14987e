/** Picks the storage implementation a configuration names. */
import { PostgresStore } from './postgres/store.js';
import { SqliteStore } from './sqlite/store.js';
import type { IntegrityRules, Store } from '../domain/ports/index.js';

/**
 * The database: a SQLite file, or a PostgreSQL server (`postgres://` / `postgresql://` URL; its password is never
 * logged). The absent member is typed as absent, so `db.file` reads as undefined for PostgreSQL.
 */
export type DbConfig = { kind: 'sqlite'; file: string; url?: undefined } | { kind: 'postgres'; url: string; file?: undefined };

/**
 * The stored key-check value, read without opening the database for writing (SQLite: a read-only connection, whose
 * close never checkpoints the WAL). undefined when there is no database or no key ring yet; PostgreSQL is checked
 * after connecting, since refusing there changes nothing.
 */
export function peekKeyCheck(db: DbConfig): Buffer | undefined {
  return db.kind === 'sqlite' ? SqliteStore.peekKeyCheck(db.file) : undefined;
}

/** `rules`: the domain's integrity rules (src/domain/integrity.ts), which the store applies inside its writes. */
export function openStore(db: DbConfig, rules: IntegrityRules): Store {
  return db.kind === 'postgres' ? new PostgresStore(db.url, rules) : new SqliteStore(db.file, rules);
}
