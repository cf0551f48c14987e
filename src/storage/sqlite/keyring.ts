/**
 * SQLite side of encryption at rest: the stored key ring (data keys wrapped by the master key, plus the key-check
 * value), sealing and opening of secret columns, and re-encryption to the active key version in small
 * transactions, so a rotation can run beside serving nodes and be killed and resumed at any moment.
 */
import { fail } from '../../errors.js';
import { KeyRing, MasterKey, SealError, SealedError, type SealContext } from '../../crypto/keyring.js';
import type { KeyVersionStatus } from '../store.js';
import { SqliteDb, type Row } from './db.js';

/** Every sealed column, by table. A row's columns are always sealed together under one key version. */
export const SEALED = {
  oauth_apps: ['client_secret'],
  oauth_profiles: ['access_token', 'refresh_token'],
  datasources: ['options'],
} as const;
type SealedTable = keyof typeof SEALED;

/** What a sealed row is called in an error message. */
const OBJECT_NAME: Record<SealedTable, string> = {
  oauth_apps: 'OAuth application',
  oauth_profiles: 'OAuth profile',
  datasources: 'data source',
};

const REFRESH_MS = 1000;

export class SqliteKeyringStore extends SqliteDb {
  private master?: MasterKey;
  private readonly ring = new KeyRing();
  private refreshedAt = 0;

  async keyringInitialized(): Promise<boolean> {
    return this.q("SELECT 1 FROM meta WHERE key = 'key_check'").get() !== undefined;
  }

  async initKeyring(master: MasterKey): Promise<void> {
    this.tx(() => {
      if (this.q("SELECT 1 FROM meta WHERE key = 'key_check'").get()) throw new SealedError('the key ring already exists');
      this.q("INSERT INTO meta (key, value) VALUES ('key_check', ?)").run(master.checkValue());
      this.q('INSERT INTO keyring (version, wrapped, created_at) VALUES (1, ?, ?)')
        .run(master.wrap(1, MasterKey.generate()), new Date().toISOString());
    });
    await this.unseal(master);
  }

  async unseal(master: MasterKey): Promise<void> {
    const check = this.q("SELECT value FROM meta WHERE key = 'key_check'").get() as { value: Buffer } | undefined;
    if (!check) throw new SealedError('the key ring does not exist yet');
    if (!master.verify(check.value)) throw new SealedError('the master key is not the one this database was sealed with');
    this.master = master;
    this.loadRing();
  }

  private loadRing(): void {
    if (!this.master) throw new SealedError('the store is sealed');
    const rows = this.q('SELECT version, wrapped FROM keyring ORDER BY version').all() as { version: number; wrapped: Buffer }[];
    for (const r of rows) if (!this.ring.has(r.version)) this.ring.set(r.version, this.master.unwrap(r.version, r.wrapped));
    this.ring.retain(rows.map((r) => r.version));
    this.refreshedAt = Date.now();
  }

  /** Another process (a rotation) may have added a key version: look again now and then, and on a miss. */
  private freshRing(): KeyRing {
    if (!this.ringFrozen) {
      if (Date.now() - this.refreshedAt > REFRESH_MS) this.loadRing();
      // No refresh until the current synchronous stretch of work (a write, a batch) is over: a refresh between two
      // seal() calls, or between seal() and activeKeyVersion, would seal one row's columns under different versions
      // than the key_version it records, and retiring the older version would then lose them.
      this.ringFrozen = true;
      queueMicrotask(() => {
        this.ringFrozen = false;
      });
    }
    return this.ring;
  }
  private ringFrozen = false;

  protected get activeKeyVersion(): number {
    return this.freshRing().activeVersion;
  }

  protected seal(value: string, table: SealedTable, rowId: number, column: string): Buffer {
    return this.freshRing().seal(value, { table, rowId, column });
  }

  protected open(value: Buffer, table: SealedTable, rowId: number, column: string): string {
    const ctx: SealContext = { table, rowId, column };
    try {
      return this.ring.open(value, ctx);
    } catch (err) {
      if (!(err instanceof SealError)) throw err;
      const version = KeyRing.versionOf(value);
      if (version !== undefined && !this.ring.has(version)) {
        this.loadRing();
        if (this.ring.has(version)) return this.ring.open(value, ctx);
      }
      throw fail('secretUnreadable', `${OBJECT_NAME[table]} ${rowId}`);
    }
  }

  // ---- administration: status, rotation, retirement ------------------------------------------------------------

  async keyStatus(): Promise<KeyVersionStatus[]> {
    this.loadRing();
    const usage = new Map<number, number>();
    for (const table of Object.keys(SEALED)) {
      for (const r of this.q(`SELECT key_version AS v, count(*) AS n FROM ${table} GROUP BY key_version`).all() as { v: number; n: number }[]) {
        usage.set(r.v, (usage.get(r.v) ?? 0) + r.n);
      }
    }
    const rows = this.q('SELECT version, created_at FROM keyring ORDER BY version').all() as { version: number; created_at: string }[];
    const known = rows.map((r) => ({ version: r.version, createdAt: r.created_at, active: r.version === this.ring.activeVersion, rows: usage.get(r.version) ?? 0 }));
    // Rows under a version missing from the ring cannot be read: show them rather than hide them.
    const missing = [...usage.keys()].filter((v) => !rows.some((r) => r.version === v))
      .map((v) => ({ version: v, createdAt: null, active: false, rows: usage.get(v)! }));
    return [...known, ...missing];
  }

  async addKeyVersion(): Promise<number> {
    if (!this.master) throw new SealedError('the store is sealed');
    const master = this.master;
    const version = this.tx(() => {
      const { v } = this.q('SELECT coalesce(max(version), 0) + 1 AS v FROM keyring').get() as { v: number };
      this.q('INSERT INTO keyring (version, wrapped, created_at) VALUES (?, ?, ?)')
        .run(v, master.wrap(v, MasterKey.generate()), new Date().toISOString());
      return v;
    });
    this.loadRing();
    return version;
  }

  /**
   * Re-encrypts up to `batchSize` rows that are not under the active version, each batch one transaction; returns
   * how many rows it re-encrypted (0 when none is left). A row changed by a request meanwhile is simply sealed anew
   * by that request: the update here only replaces a row whose key version is still the old one.
   */
  async reencryptBatch(batchSize: number): Promise<number> {
    this.loadRing();
    const active = this.ring.activeVersion;
    return this.tx(() => {
      let done = 0;
      for (const [table, columns] of Object.entries(SEALED) as [SealedTable, readonly string[]][]) {
        if (done >= batchSize) break;
        const rows = this.q(`SELECT id, key_version, ${columns.join(', ')} FROM ${table} WHERE key_version <> ? LIMIT ?`)
          .all(active, batchSize - done) as Row[];
        for (const row of rows) {
          const id = row.id as number;
          const values = columns.map((c) => {
            const v = row[c] as Buffer | null;
            return v === null ? null : this.seal(this.open(v, table, id, c), table, id, c);
          });
          this.q(`UPDATE ${table} SET ${columns.map((c) => `${c} = ?`).join(', ')}, key_version = ? WHERE id = ? AND key_version = ?`)
            .run(...values, active, id, row.key_version);
          done++;
        }
      }
      return done;
    });
  }

  async retireKeyVersion(version: number): Promise<void> {
    this.loadRing();
    if (version === this.ring.activeVersion) throw new SealedError(`key version ${version} is the active version`);
    this.tx(() => {
      for (const table of Object.keys(SEALED)) {
        if (this.q(`SELECT 1 FROM ${table} WHERE key_version = ? LIMIT 1`).get(version)) {
          throw new SealedError(`key version ${version} is still used by rows of ${table}; run \`tokenkeep keys reencrypt\` first`);
        }
      }
      if (this.q('DELETE FROM keyring WHERE version = ?').run(version).changes === 0) throw new SealedError(`there is no key version ${version}`);
    });
    this.loadRing();
  }
}
