/** HDP's numbered limits in SQLite: one row per limit id. */
import type { Limits } from '../../domain/ports/index.js';
import type { SqliteDb } from './db.js';

export class SqliteLimits implements Limits {
  constructor(private readonly db: SqliteDb) {}

  async all(): Promise<Map<number, number>> {
    const rows = this.db.q('SELECT id, value FROM limits').all() as { id: number; value: number }[];
    return new Map(rows.map((r) => [r.id, r.value]));
  }

  async set(id: number, value: number): Promise<void> {
    await this.db.write(() => this.db.q('INSERT INTO limits (id, value) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET value = excluded.value').run(id, value));
  }
}
