/**
 * SQLite side of encryption at rest: the stored key ring (data keys wrapped by the master key, plus the key-check
 * value), sealing and opening of secret columns, and re-encryption to the active key version in small
 * transactions, so a rotation can run beside serving nodes and be killed and resumed at any moment.
 */
import { ApiError, fail } from '../../errors.js';
import { KeyRing, Keyholder, MasterKey, SealError, SealedError, type SealContext, type StoredRing } from '../../crypto/keyring.js';
import type { KeyVersionStatus, ReencryptPass } from '../store.js';
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

const isUnreadable = (err: unknown): boolean => err instanceof ApiError && err.kind === 'secretUnreadable';

export class SqliteKeyringStore extends SqliteDb {
  private keys?: Keyholder;
  private refreshedAt = 0;
  onKeyWarning = (message: string): void => {
    process.stderr.write(`tokenkeep: warning: ${message}\n`);
  };

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
    const stored = this.storedRing();
    if (!stored) throw new SealedError('the key ring does not exist yet');
    if (!master.verify(stored.keyCheck)) throw new SealedError('the master key is not the one this database was sealed with');
    this.keys = new Keyholder(master, (message) => this.onKeyWarning(message));
    this.loadRing(stored);
  }

  /** The key-check value and the wrapped data keys, in one statement; undefined before the key ring exists. */
  private storedRing(): StoredRing | undefined {
    const rows = this.q(`SELECT m.value AS key_check, k.version, k.wrapped FROM meta m LEFT JOIN keyring k ON 1
      WHERE m.key = 'key_check' ORDER BY k.version`).all() as { key_check: Buffer; version: number | null; wrapped: Buffer | null }[];
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

  private loadRing(stored = this.storedRing()): void {
    const keys = this.holder;
    if (!stored) throw new SealedError('the key ring does not exist');
    keys.take(stored);
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
    const keys = this.holder;
    const version = this.tx(() => {
      const { check, v } = this.q(`SELECT (SELECT value FROM meta WHERE key = 'key_check') AS "check",
        (SELECT coalesce(max(version), 0) + 1 FROM keyring) AS v`).get() as { check: Buffer; v: number };
      this.q('INSERT INTO keyring (version, wrapped, created_at) VALUES (?, ?, ?)')
        .run(v, keys.wrapNewVersion(check, v), new Date().toISOString());
      return v;
    });
    this.loadRing();
    return version;
  }

  /**
   * Re-encrypts up to `batchSize` rows that are not under the active version, each batch one transaction; returns
   * how many rows it took (0 when none is left). A row changed by a request meanwhile is simply sealed anew by that
   * request: the update here only replaces a row whose key version is still the old one. With a pass, rows are taken
   * in id order after its cursor, and a row with a damaged value is left as it is and recorded in the pass.
   */
  async reencryptBatch(batchSize: number, pass?: ReencryptPass): Promise<number> {
    this.loadRing();
    const active = this.ring.activeVersion;
    return this.tx(() => {
      let done = 0;
      for (const [table, columns] of Object.entries(SEALED) as [SealedTable, readonly string[]][]) {
        if (done >= batchSize) break;
        const rows = this.q(`SELECT id, key_version, ${columns.join(', ')} FROM ${table} WHERE key_version <> ? AND id > ? ORDER BY id LIMIT ?`)
          .all(active, pass?.after[table] ?? 0, batchSize - done) as Row[];
        for (const row of rows) {
          const id = row.id as number;
          done++;
          if (pass) pass.after[table] = id;
          const plain = columns.map((c) => {
            const v = row[c] as Buffer | null;
            return v === null ? null : this.openForReencryption(v, table, id, c, pass);
          });
          if (plain.includes(undefined)) continue;
          const values = plain.map((v, i) => (v === null || v === undefined ? null : this.seal(v, table, id, columns[i])));
          this.q(`UPDATE ${table} SET ${columns.map((c) => `${c} = ?`).join(', ')}, key_version = ? WHERE id = ? AND key_version = ?`)
            .run(...values, active, id, row.key_version);
        }
      }
      return done;
    });
  }

  /** A value's plaintext, or undefined (recorded in the pass) when it fails its integrity check; without a pass it throws. */
  private openForReencryption(value: Buffer, table: SealedTable, id: number, column: string, pass: ReencryptPass | undefined): string | undefined {
    try {
      return this.open(value, table, id, column);
    } catch (err) {
      if (!pass || !isUnreadable(err)) throw err;
      pass.damaged.push({ table, id, column });
      return undefined;
    }
  }

  async rekey(next: MasterKey): Promise<void> {
    const keys = this.holder;
    this.tx(() => {
      const stored = this.storedRing();
      if (!stored) throw new SealedError('the key ring does not exist');
      const rewrapped = keys.rewrap(stored, next);
      this.q("UPDATE meta SET value = ? WHERE key = 'key_check'").run(rewrapped.keyCheck);
      for (const k of rewrapped.keys) this.q('UPDATE keyring SET wrapped = ? WHERE version = ?').run(k.wrapped, k.version);
    });
    keys.adopt(next);
    this.loadRing();
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
