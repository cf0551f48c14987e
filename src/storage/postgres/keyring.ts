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
import { ApiError, fail } from '../../errors.js';
import { KeyRing, Keyholder, MasterKey, SealError, SealedError, type SealContext, type StoredRing } from '../../crypto/keyring.js';
import type { KeyVersionStatus, ReencryptPass } from '../store.js';
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
  private keys?: Keyholder;
  private refreshedAt = 0;
  /** loads may overlap (several requests at once): only the most recently started one that finishes is applied */
  private loadsStarted = 0;
  private loadApplied = 0;
  onKeyWarning = (message: string): void => {
    process.stderr.write(`tokenkeep: warning: ${message}\n`);
  };

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
    const stored = await this.storedRing(this.pool);
    if (!stored) throw new SealedError('the key ring does not exist yet');
    if (!master.verify(stored.keyCheck)) throw new SealedError('the master key is not the one this database was sealed with');
    this.keys = new Keyholder(master, (message) => this.onKeyWarning(message));
    await this.loadRing(this.pool);
  }

  /** The key-check value and the wrapped data keys, in one statement; undefined before the key ring exists. */
  private async storedRing(on: Queryable): Promise<StoredRing | undefined> {
    const rows = await this.all<{ key_check: Buffer; version: number | null; wrapped: Buffer | null }>(on,
      `SELECT m.value AS key_check, k.version, k.wrapped FROM meta m LEFT JOIN keyring k ON true
        WHERE m.key = 'key_check' ORDER BY k.version`);
    if (rows.length === 0) return undefined;
    return {
      keyCheck: rows[0].key_check,
      keys: rows.filter((r) => r.version !== null).map((r) => ({ version: r.version!, wrapped: r.wrapped! })),
    };
  }

  private get holder(): Keyholder {
    if (!this.keys) throw new SealedError('the store is sealed');
    return this.keys;
  }

  private get ring(): KeyRing {
    return this.holder.ring;
  }

  private async loadRing(on: Queryable): Promise<void> {
    const keys = this.holder;
    const started = ++this.loadsStarted;
    const stored = await this.storedRing(on);
    if (started < this.loadApplied) return; // a later load already applied a newer view
    this.loadApplied = started;
    if (!stored) throw new SealedError('the key ring does not exist');
    keys.take(stored);
    this.refreshedAt = Date.now();
  }

  /** Another process (a rotation) may have added a key version: look again now and then. */
  protected async freshRing(on: Queryable): Promise<KeyRing> {
    if (Date.now() - this.refreshedAt > REFRESH_MS) await this.loadRing(on);
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
    const keys = this.holder;
    const version = await this.tx(async (c) => {
      const { check, v } = (await this.one<{ check: Buffer; v: number }>(c, `SELECT (SELECT value FROM meta WHERE key = 'key_check') AS "check",
        (SELECT coalesce(max(version), 0) + 1 FROM keyring) AS v`))!;
      await this.run(c, 'INSERT INTO keyring (version, wrapped, created_at) VALUES ($1, $2, $3)',
        [v, keys.wrapNewVersion(check, v), new Date().toISOString()]);
      return v;
    }, { locks: [LOCK.keyring] });
    await this.loadRing(this.pool);
    return version;
  }

  /**
   * Re-encrypts up to `batchSize` rows that are not under the active version, in one transaction; returns how many
   * rows it took (0 when none is left). The rows are locked while they are re-sealed (FOR NO KEY UPDATE, which does
   * not block inserts referencing them), so a request's concurrent write is either before (and re-sealed here) or
   * after (and sealed anew by that request), never overwritten. With a pass, rows are taken in id order after its
   * cursor, and a row with a damaged value is left as it is and recorded in the pass.
   */
  async reencryptBatch(batchSize: number, pass?: ReencryptPass): Promise<number> {
    await this.loadRing(this.pool);
    // The cursor moves only once the batch commits: a batch run again after a deadlock starts where this one did.
    const after = { ...pass?.after };
    const damaged: ReencryptPass['damaged'] = [];
    const done = await this.tx(async (c) => {
      damaged.length = 0;
      Object.assign(after, pass?.after);
      const active = (await this.freshRing(c)).activeVersion;
      let taken = 0;
      for (const [table, columns] of Object.entries(SEALED) as [SealedTable, readonly string[]][]) {
        if (taken >= batchSize) break;
        const rows = await this.all(c, `SELECT id, key_version, ${columns.join(', ')} FROM ${table}
          WHERE key_version <> $1 AND id > $2 ORDER BY id LIMIT $3 FOR NO KEY UPDATE`, [active, after[table] ?? 0, batchSize - taken]);
        for (const row of rows as Row[]) {
          const id = Number(row.id);
          taken++;
          after[table] = id;
          const plain: Record<string, string | null> = {};
          let readable = true;
          for (const col of columns) {
            const v = row[col] as Buffer | null;
            try {
              plain[col] = v === null ? null : await this.open(c, v, table, id, col);
            } catch (err) {
              if (!pass || !(err instanceof ApiError && err.kind === 'secretUnreadable')) throw err;
              damaged.push({ table, id, column: col });
              readable = false;
            }
          }
          if (!readable) continue;
          const { sealed, keyVersion } = await this.sealRow(c, table, id, plain);
          await this.run(c, `UPDATE ${table} SET ${columns.map((col, i) => `${col} = $${i + 1}`).join(', ')},
              key_version = $${columns.length + 1} WHERE id = $${columns.length + 2} AND key_version = $${columns.length + 3}`,
          [...columns.map((col) => sealed[col]), keyVersion, id, row.key_version]);
        }
      }
      return taken;
    });
    if (pass) {
      Object.assign(pass.after, after);
      pass.damaged.push(...damaged);
    }
    return done;
  }

  async rekey(next: MasterKey): Promise<void> {
    const keys = this.holder;
    await this.tx(async (c) => {
      const stored = await this.storedRing(c);
      if (!stored) throw new SealedError('the key ring does not exist');
      const rewrapped = keys.rewrap(stored, next);
      await this.run(c, "UPDATE meta SET value = $1 WHERE key = 'key_check'", [rewrapped.keyCheck]);
      for (const k of rewrapped.keys) await this.run(c, 'UPDATE keyring SET wrapped = $1 WHERE version = $2', [k.wrapped, k.version]);
    }, { locks: [LOCK.keyring] });
    keys.adopt(next);
    await this.loadRing(this.pool);
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
