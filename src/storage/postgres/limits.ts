/** PostgreSQL storage of HDP's numbered limits, as ../sqlite/'s: one row per limit id. */
import type { Limits } from '../../domain/ports/index.js';
import type { PgDb } from './db.js';

export class PgLimits implements Limits {
  constructor(private readonly db: PgDb) {}

  async all(): Promise<Map<number, number>> {
    const rows = await this.db.all<{ id: number; value: number }>(this.db.pool, 'SELECT id, value FROM limits');
    return new Map(rows.map((r) => [r.id, r.value]));
  }

  async set(id: number, value: number): Promise<void> {
    await this.db.run(this.db.pool, 'INSERT INTO limits (id, value) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET value = excluded.value', [id, value]);
  }
}
