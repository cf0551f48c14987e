/**
 * The SQLite connection every SQLite store class shares: one better-sqlite3 connection per process, durable
 * settings, a prepared-statement cache and immediate transactions.
 *
 * Durability: WAL with synchronous=FULL, so a transaction is on disk before its method resolves. better-sqlite3 is
 * synchronous; each method runs to completion on the event loop, which also makes every method atomic with
 * respect to every other request of this process.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type Row = Record<string, unknown>;

/** Names are unique case-insensitively through a lower-cased key column. */
export const nameKey = (name: string): string => name.normalize('NFC').toLowerCase();
/** group_concat() output back to numbers. */
export const ids = (csv: unknown): number[] => (typeof csv === 'string' && csv !== '' ? csv.split(',').map(Number) : []);

export class SqliteDb {
  readonly kind = 'sqlite' as const;
  protected readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();

  constructor(readonly file: string) {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
  }

  /** Prepared statements are cached: preparing is the larger part of a simple query's cost. */
  protected q(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  protected tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }
}
