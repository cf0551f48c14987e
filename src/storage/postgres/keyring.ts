/**
 * PostgreSQL side of encryption at rest, as ../sqlite/keyring.ts: the stored key ring (data keys wrapped by the
 * master key, plus the key-check value), sealing and opening of secret columns, and re-encryption to the active key
 * version in small transactions, so a rotation can run beside serving nodes and be killed and resumed at any moment.
 *
 * Sealing is identical across backends (same associated data `table|rowId|column|version`); sealed values are BYTEA.
 * The ring is re-read now and then and on a miss, through the caller's own connection when inside a transaction (a
 * transaction never waits for a second pooled connection).
 */
import type pg from 'pg';
import { fail } from '../../errors.js';
import { KeyRing, MasterKey, SealError, SealedError, type SealContext } from '../../crypto/keyring.js';
import type { KeyVersionStatus } from '../store.js';
import { LOCK, PgDb, type Queryable, type Row } from './db.js';

/** Every sealed column, by table. A row's columns are always sealed together under one key version. */
export const SEALED = {
  oauth_apps: ['client_secret'],
  oauth_profiles: ['access_token', 'refresh_token'],
  datasources: ['options'],
} as const;
export type SealedTable = keyof typeof SEALED;

/** What a sealed row is called in an error message. */
const OBJECT_NAME: Record<SealedTable, string> = {
  oauth_apps: 'OAuth application',
  oauth_profiles: 'OAuth profile',
  datasources: 'data source',
};

const REFRESH_MS = 1000;

export class PgKeyringStore extends PgDb {
  private master?: MasterKey;
  private readonly ring = new KeyRing();
  private refreshedAt = 0;
  /** loads may overlap (several requests at once): only the most recently started one that finishes is applied */
  private loadsStarted = 0;
  private loadApplied = 0;

  async keyringInitialized(): Promise<boolean> {
    return (await this.one(this.pool, "SELECT 1 FROM meta WHERE key = 'key_check'")) !== undefined;
  }

  async initKeyring(master: MasterKey): Promise<void> {
    await this.tx(async (c) => {
      if (await this.one(c, "SELECT 1 FROM meta WHERE key = 'key_check'")) throw new SealedError('the key ring already exists');
      await this.run(c, "INSERT INTO meta (key, value) VALUES ('key_check', $1)", [master.checkValue()]);
      await this.run(c, 'INSERT INTO keyring (version, wrapped, created_at) VALUES (1, $1, $2)',
        [master.wrap(1, MasterKey.generate()), new Date().toISOString()]);
    }, { locks: [LOCK.keyring] });
    await this.unseal(master);
  }

  async unseal(master: MasterKey): Promise<void> {
    const check = await this.one<{ value: Buffer }>(this.pool, "SELECT value FROM meta WHERE key = 'key_check'");
    if (!check) throw new SealedError('the key ring does not exist yet');
    if (!master.verify(check.value)) throw new SealedError('the master key is not the one this database was sealed with');
    this.master = master;
    await this.loadRing(this.pool);
  }

  private async loadRing(on: Queryable): Promise<void> {
    if (!this.master) throw new SealedError('the store is sealed');
    const master = this.master;
    const started = ++this.loadsStarted;
    const rows = await this.all<{ version: number; wrapped: Buffer }>(on, 'SELECT version, wrapped FROM keyring ORDER BY version');
    if (started < this.loadApplied) return; // a later load already applied a newer view
    this.loadApplied = started;
    for (const r of rows) if (!this.ring.has(r.version)) this.ring.set(r.version, master.unwrap(r.version, r.wrapped));
    this.ring.retain(rows.map((r) => r.version));
    this.refreshedAt = Date.now();
  }

  /** Another process (a rotation) may have added a key version: look again now and then. */
  protected async freshRing(on: Queryable): Promise<KeyRing> {
    if (Date.now() - this.refreshedAt > REFRESH_MS) await this.loadRing(on);
    if (!this.master) throw new SealedError('the store is sealed');
    return this.ring;
  }

  /**
   * Seals the given columns of one row together, under one key version (read from the same ring, synchronously, so a
   * concurrent ring refresh cannot split them): returns the sealed values by column and that version.
   */
  protected async sealRow<C extends string>(on: Queryable, table: SealedTable, rowId: number, values: Record<C, string | null>)
    : Promise<{ sealed: Record<C, Buffer | null>; keyVersion: number }> {
    const ring = await this.freshRing(on);
    const keyVersion = ring.activeVersion;
    const sealed = {} as Record<C, Buffer | null>;
    for (const column of Object.keys(values) as C[]) {
      const v = values[column];
      sealed[column] = v === null ? null : ring.seal(v, { table, rowId, column });
    }
    return { sealed, keyVersion };
  }

  protected async open(on: Queryable, value: Buffer, table: SealedTable, rowId: number, column: string): Promise<string> {
    const ctx: SealContext = { table, rowId, column };
    try {
      return this.ring.open(value, ctx);
    } catch (err) {
      if (!(err instanceof SealError)) throw err;
      const version = KeyRing.versionOf(value);
      if (version !== undefined && !this.ring.has(version)) {
        await this.loadRing(on);
        if (this.ring.has(version)) {
          try {
            return this.ring.open(value, ctx);
          } catch (again) {
            if (!(again instanceof SealError)) throw again;
          }
        }
      }
      throw fail('secretUnreadable', `${OBJECT_NAME[table]} ${rowId}`);
    }
  }

  // ---- administration: status, rotation, retirement ------------------------------------------------------------

  async keyStatus(): Promise<KeyVersionStatus[]> {
    await this.loadRing(this.pool);
    const usage = new Map<number, number>();
    for (const table of Object.keys(SEALED)) {
      for (const r of await this.all<{ v: number; n: number }>(this.pool, `SELECT key_version AS v, count(*) AS n FROM ${table} GROUP BY key_version`)) {
        usage.set(r.v, (usage.get(r.v) ?? 0) + r.n);
      }
    }
    const rows = await this.all<{ version: number; created_at: string }>(this.pool, 'SELECT version, created_at FROM keyring ORDER BY version');
    const known = rows.map((r) => ({ version: r.version, createdAt: r.created_at, active: r.version === this.ring.activeVersion, rows: usage.get(r.version) ?? 0 }));
    // Rows under a version missing from the ring cannot be read: show them rather than hide them.
    const missing = [...usage.keys()].filter((v) => !rows.some((r) => r.version === v))
      .map((v) => ({ version: v, createdAt: null, active: false, rows: usage.get(v)! }));
    return [...known, ...missing];
  }

  async addKeyVersion(): Promise<number> {
    if (!this.master) throw new SealedError('the store is sealed');
    const master = this.master;
    const version = await this.tx(async (c) => {
      const { v } = (await this.one<{ v: number }>(c, 'SELECT coalesce(max(version), 0) + 1 AS v FROM keyring'))!;
      await this.run(c, 'INSERT INTO keyring (version, wrapped, created_at) VALUES ($1, $2, $3)',
        [v, master.wrap(v, MasterKey.generate()), new Date().toISOString()]);
      return v;
    }, { locks: [LOCK.keyring] });
    await this.loadRing(this.pool);
    return version;
  }

  /**
   * Re-encrypts up to `batchSize` rows that are not under the active version, in one transaction; returns how many
   * rows it re-encrypted (0 when none is left). The rows are locked while they are re-sealed (FOR NO KEY UPDATE, which
   * does not block inserts referencing them), so a request's concurrent write is either before (and re-sealed here)
   * or after (and sealed anew by that request), never overwritten.
   */
  async reencryptBatch(batchSize: number): Promise<number> {
    await this.loadRing(this.pool);
    return this.tx(async (c) => {
      const active = (await this.freshRing(c)).activeVersion;
      let done = 0;
      for (const [table, columns] of Object.entries(SEALED) as [SealedTable, readonly string[]][]) {
        if (done >= batchSize) break;
        const rows = await this.all(c, `SELECT id, key_version, ${columns.join(', ')} FROM ${table}
          WHERE key_version <> $1 ORDER BY id LIMIT $2 FOR NO KEY UPDATE`, [active, batchSize - done]);
        for (const row of rows as Row[]) {
          const id = row.id as number;
          const plain: Record<string, string | null> = {};
          for (const col of columns) {
            const v = row[col] as Buffer | null;
            plain[col] = v === null ? null : await this.open(c, v, table, id, col);
          }
          const { sealed, keyVersion } = await this.sealRow(c, table, id, plain);
          await this.run(c, `UPDATE ${table} SET ${columns.map((col, i) => `${col} = $${i + 1}`).join(', ')},
              key_version = $${columns.length + 1} WHERE id = $${columns.length + 2} AND key_version = $${columns.length + 3}`,
          [...columns.map((col) => sealed[col]), keyVersion, id, row.key_version]);
          done++;
        }
      }
      return done;
    });
  }

  async retireKeyVersion(version: number): Promise<void> {
    await this.loadRing(this.pool);
    if (version === this.ring.activeVersion) throw new SealedError(`key version ${version} is the active version`);
    await this.tx(async (c) => {
      for (const table of Object.keys(SEALED)) {
        if (await this.one(c, `SELECT 1 FROM ${table} WHERE key_version = $1 LIMIT 1`, [version])) {
          throw new SealedError(`key version ${version} is still used by rows of ${table}; run \`tokenkeep keys reencrypt\` first`);
        }
      }
      if ((await this.exec(c, 'DELETE FROM keyring WHERE version = $1', [version])) === 0) throw new SealedError(`there is no key version ${version}`);
    }, { locks: [LOCK.keyring] });
    await this.loadRing(this.pool);
  }
}
