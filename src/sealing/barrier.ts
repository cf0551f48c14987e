/**
 * The barrier, in the manner of HashiCorp Vault's (`AESGCMBarrier{backend physical.Backend}`): encryption at rest
 * written once, above both databases. A master key, kept apart from the data, wraps a ring of versioned data keys
 * stored in the database. Every secret column (SEALED) is sealed with AES-256-GCM under the active data key, with
 * associated data that binds it to its table, row, column and key version: a ciphertext copied to another row or
 * column, or a flipped byte, fails to open (SealedValueUnreadable) instead of decrypting into wrong data.
 *
 * This module decides everything: which columns are sealed, the value format and its associated data, when the
 * stored ring is read again (another process may rotate, retire or rekey), key status, re-encryption and rekey. A
 * backend gives only small hooks that run SQL and map rows (KeyringBackend): synchronous for SQLite, whose writes run
 * inside a synchronous transaction, asynchronous for PostgreSQL. Each operation is written once, as a generator
 * that yields the hooks' answers, and run by the backend's runner (runSync / runAsync), as Babel's gensync does.
 *
 * The key ring and the value format are ./key-ring.ts; the runners are ./steps.ts.
 */
import { MasterKey } from '../crypto/master-key.js';
import type { DamagedValue, KeyVersionStatus, Keys, ReencryptPass } from '../domain/ports/keys.js';
import { KeyRing, Keyholder, SealedError, SealedValueUnreadable, type SealContext, type StoredRing } from './key-ring.js';
import { answer, type Mode, type Out, type Runner, type Steps } from './steps.js';

/** Every sealed column, by table. A row's columns are always sealed together under one key version. */
export const SEALED = {
  oauth_apps: ['client_secret'],
  oauth_profiles: ['access_token', 'refresh_token'],
  datasources: ['options'],
  revocations: ['client_secret', 'refresh_token', 'access_token'],
  /** the PKCE verifier of a consent in progress (api.md §9) */
  consent_states: ['verifier'],
} as const;
export type SealedTable = keyof typeof SEALED;
const SEALED_TABLES = Object.keys(SEALED) as SealedTable[];

/** How often a process looks at the stored ring again for versions another process added or retired. */
export const REFRESH_MS = 1000;

// ---- what a backend provides ---------------------------------------------------------------------------------------

/** One row of `SELECT m.value AS key_check, k.version, k.wrapped FROM meta m LEFT JOIN keyring k …` (see ringOf). */
export interface RingRow {
  key_check: Buffer;
  version: number | null;
  wrapped: Buffer | null;
}

/** A row to re-encrypt: its id, its key version and its sealed columns. */
export interface SealedRow {
  id: number;
  keyVersion: number;
  values: Record<string, Buffer | null>;
}

/** What re-encryption may do inside its one transaction; `on` is that transaction's connection (PostgreSQL). */
export interface SealedRows<C, M extends Mode> {
  on: C | undefined;
  /** rows of `table` not under `activeVersion`, id > `afterId`, in id order, at most `limit`; locked until commit */
  stale(table: SealedTable, columns: readonly string[], activeVersion: number, afterId: number, limit: number): Out<M, SealedRow[]>;
  /** stores `sealed` and `keyVersion` only if the row is still under `fromVersion` (a request may have rewritten it) */
  replace(table: SealedTable, id: number, fromVersion: number, sealed: Record<string, Buffer | null>, keyVersion: number): Out<M, void>;
}

/**
 * The hooks a backend gives the barrier: SQL and row mapping only. `on` is the connection to read through when the
 * caller is inside a transaction (PostgreSQL: a transaction never waits for a second pooled connection).
 */
export interface KeyringBackend<C, M extends Mode> {
  /** The key-check value joined to every wrapped data key, in one statement; no row before the ring exists. */
  readRing(on?: C): Out<M, RingRow[]>;
  /** In one transaction: stores `ring` unless a key-check value exists; whether it did. */
  createRing(ring: StoredRing, createdAt: string): Out<M, boolean>;
  /** In one transaction: reads the key-check value and the next version number, stores `wrap(keyCheck, version)`. */
  addVersion(wrap: (keyCheck: Buffer, version: number) => Buffer, createdAt: string): Out<M, number>;
  /** In one transaction: reads the ring (readRing's rows) and writes back the key-check value and wrapped keys `rewrap` returns. */
  rewrapRing(rewrap: (rows: RingRow[]) => StoredRing): Out<M, void>;
  /** The stored versions, in order. */
  versions(): Out<M, { version: number; createdAt: string }[]>;
  /** How many rows of `table` each key version seals. */
  usage(table: SealedTable): Out<M, { version: number; rows: number }[]>;
  /** In one transaction: the first of `tables` with a row under `version`, or else deletes the version (whether it existed). */
  retire(version: number, tables: readonly SealedTable[]): Out<M, { usedBy: SealedTable } | { deleted: boolean }>;
  /** Runs `work` in one transaction (again from the start if the database asks to retry it). */
  inTransaction<T>(work: (rows: SealedRows<C, M>) => Out<M, T>): Out<M, T>;
}

/** The readRing rows as a stored ring; undefined before the ring exists. */
function ringOf(rows: RingRow[]): StoredRing | undefined {
  if (rows.length === 0) return undefined;
  return {
    keyCheck: rows[0].key_check,
    keys: rows.filter((r) => r.version !== null).map((r) => ({ version: Number(r.version), wrapped: r.wrapped! })),
  };
}

// ---- the barrier ------------------------------------------------------------------------------------------------

/** What re-encrypting one batch did, applied to the pass only once its transaction committed. */
interface BatchOutcome {
  taken: number;
  after: Record<string, number>;
  damaged: DamagedValue[];
}

export class Sealing<C, M extends Mode> implements Keys {
  private holder?: Keyholder;
  private refreshedAt = 0;
  /** loads may overlap (several requests at once, PostgreSQL): only the most recently started one that finishes is applied */
  private loadsStarted = 0;
  private loadApplied = 0;

  onWarning = (message: string): void => {
    process.stderr.write(`tokenkeep: warning: ${message}\n`);
  };

  constructor(
    private readonly backend: KeyringBackend<C, M>,
    private readonly run: Runner<M>,
  ) {}

  // ---- sealing and opening ---------------------------------------------------------------------------------------

  /**
   * Seals the given columns of one row together, under one key version (read from the same ring, without a refresh in
   * between, so a concurrent ring refresh cannot split them): the sealed values by column and that version, which the
   * row records. The ring is read again first when it is older than REFRESH_MS.
   */
  sealRow<K extends string>(
    table: SealedTable,
    rowId: number,
    values: Record<K, string | null>,
    on?: C,
  ): Out<M, { sealed: Record<K, Buffer | null>; keyVersion: number }> {
    return this.run(this.sealRowSteps(table, rowId, values, on));
  }

  /** A sealed column's plaintext; a version the ring lacks makes it read the stored ring again. Throws SealedValueUnreadable. */
  open(table: SealedTable, rowId: number, column: string, value: Buffer, on?: C): Out<M, string> {
    return this.run(this.openSteps({ table, rowId, column }, value, on));
  }

  private get keyholder(): Keyholder {
    if (!this.holder) throw new SealedError('the store is sealed');
    return this.holder;
  }

  private *load(on?: C): Steps<void> {
    const holder = this.keyholder;
    const started = ++this.loadsStarted;
    const stored = ringOf(yield* answer(this.backend.readRing(on)));
    if (started < this.loadApplied) return; // a later load already applied a newer view
    this.loadApplied = started;
    if (!stored) throw new SealedError('the key ring does not exist');
    holder.take(stored);
    this.refreshedAt = Date.now();
  }

  /** Another process (a rotation) may have added a key version: look again now and then. */
  private *fresh(on?: C): Steps<KeyRing> {
    if (Date.now() - this.refreshedAt > REFRESH_MS) yield* this.load(on);
    return this.keyholder.ring;
  }

  private *sealRowSteps<K extends string>(
    table: SealedTable,
    rowId: number,
    values: Record<K, string | null>,
    on?: C,
  ): Steps<{ sealed: Record<K, Buffer | null>; keyVersion: number }> {
    const ring = yield* this.fresh(on);
    const sealed = {} as Record<K, Buffer | null>;
    for (const column of Object.keys(values) as K[]) {
      const v = values[column];
      sealed[column] = v === null ? null : ring.seal(v, { table, rowId, column });
    }
    return { sealed, keyVersion: ring.activeVersion };
  }

  private *openSteps(ctx: SealContext, value: Buffer, on?: C): Steps<string> {
    const ring = this.keyholder.ring;
    try {
      return ring.open(value, ctx);
    } catch (err) {
      if (!(err instanceof SealedValueUnreadable)) throw err;
      // A version this process has not seen yet (another process rotated): read the ring again, once.
      const version = KeyRing.versionOf(value);
      if (version === undefined || ring.has(version)) throw err;
      yield* this.load(on);
      return ring.open(value, ctx);
    }
  }

  // ---- administration --------------------------------------------------------------------------------------------

  /** Admin operations answer by promise on either backend, like the rest of the store's interface. */
  private async admin<T>(steps: Steps<T>): Promise<T> {
    return this.run(steps) as T | Promise<T>;
  }

  initialized(): Promise<boolean> {
    return this.admin(this.initializedSteps());
  }

  private *initializedSteps(): Steps<boolean> {
    return (yield* answer(this.backend.readRing())).length > 0;
  }

  init(master: MasterKey): Promise<void> {
    return this.admin(this.initSteps(master));
  }

  private *initSteps(master: MasterKey): Steps<void> {
    const ring = { keyCheck: master.checkValue(), keys: [{ version: 1, wrapped: master.wrap(1, MasterKey.generate()) }] };
    if (!(yield* answer(this.backend.createRing(ring, new Date().toISOString())))) throw new SealedError('the key ring already exists');
    yield* this.unsealSteps(master);
  }

  unseal(master: MasterKey): Promise<void> {
    return this.admin(this.unsealSteps(master));
  }

  private *unsealSteps(master: MasterKey): Steps<void> {
    const stored = ringOf(yield* answer(this.backend.readRing()));
    if (!stored) throw new SealedError('the key ring does not exist yet');
    if (!master.verify(stored.keyCheck)) throw new SealedError('the master key is not the one this database was sealed with');
    this.holder = new Keyholder(master, (message) => this.onWarning(message));
    yield* this.load();
  }

  status(): Promise<KeyVersionStatus[]> {
    return this.admin(this.statusSteps());
  }

  private *statusSteps(): Steps<KeyVersionStatus[]> {
    yield* this.load();
    const active = this.keyholder.ring.activeVersion;
    const usage = new Map<number, number>();
    for (const table of SEALED_TABLES) {
      for (const u of yield* answer(this.backend.usage(table))) usage.set(u.version, (usage.get(u.version) ?? 0) + u.rows);
    }
    const stored = yield* answer(this.backend.versions());
    const known = stored.map((r) => ({ version: r.version, createdAt: r.createdAt, active: r.version === active, rows: usage.get(r.version) ?? 0 }));
    // Rows under a version missing from the ring cannot be read: show them rather than hide them.
    const missing = [...usage.keys()]
      .filter((v) => !stored.some((r) => r.version === v))
      .map((v) => ({ version: v, createdAt: null, active: false, rows: usage.get(v)! }));
    return [...known, ...missing];
  }

  addVersion(): Promise<number> {
    return this.admin(this.addVersionSteps());
  }

  private *addVersionSteps(): Steps<number> {
    const holder = this.keyholder;
    const version = yield* answer(this.backend.addVersion((keyCheck, v) => holder.wrapNewVersion(keyCheck, v), new Date().toISOString()));
    yield* this.load();
    return version;
  }

  reencryptBatch(batchSize: number, pass?: ReencryptPass): Promise<number> {
    return this.admin(this.reencryptSteps(batchSize, pass));
  }

  private *reencryptSteps(batchSize: number, pass: ReencryptPass | undefined): Steps<number> {
    yield* this.load();
    const outcome = yield* answer(this.backend.inTransaction((rows) => this.run(this.batchSteps(rows, batchSize, pass))));
    // The cursor moves only once the batch commits: a batch run again (after a deadlock) starts where this one did.
    if (pass) {
      Object.assign(pass.after, outcome.after);
      pass.damaged.push(...outcome.damaged);
    }
    return outcome.taken;
  }

  /**
   * Re-encrypts up to `batchSize` rows that are not under the active version: rows in id order after the pass's
   * cursor, and with a pass a row with a damaged value is left as it is and recorded.
   */
  private *batchSteps(rows: SealedRows<C, M>, batchSize: number, pass: ReencryptPass | undefined): Steps<BatchOutcome> {
    const after = { ...pass?.after };
    const damaged: DamagedValue[] = [];
    const active = (yield* this.fresh(rows.on)).activeVersion;
    let taken = 0;
    for (const table of SEALED_TABLES) {
      if (taken >= batchSize) break;
      const columns = SEALED[table];
      for (const row of yield* answer(rows.stale(table, columns, active, after[table] ?? 0, batchSize - taken))) {
        taken++;
        after[table] = row.id;
        const plain: Record<string, string | null> = {};
        let readable = true;
        for (const column of columns) {
          const v = row.values[column];
          try {
            plain[column] = v === null ? null : yield* this.openSteps({ table, rowId: row.id, column }, v, rows.on);
          } catch (err) {
            if (!pass || !(err instanceof SealedValueUnreadable)) throw err;
            damaged.push({ table, id: row.id, column });
            readable = false;
          }
        }
        if (!readable) continue;
        const { sealed, keyVersion } = yield* this.sealRowSteps(table, row.id, plain, rows.on);
        yield* answer(rows.replace(table, row.id, row.keyVersion, sealed, keyVersion));
      }
    }
    return { taken, after, damaged };
  }

  rekey(next: MasterKey): Promise<void> {
    return this.admin(this.rekeySteps(next));
  }

  private *rekeySteps(next: MasterKey): Steps<void> {
    const holder = this.keyholder;
    yield* answer(
      this.backend.rewrapRing((rows) => {
        const stored = ringOf(rows);
        if (!stored) throw new SealedError('the key ring does not exist');
        return holder.rewrap(stored, next);
      }),
    );
    holder.adopt(next);
    yield* this.load();
  }

  retire(version: number): Promise<void> {
    return this.admin(this.retireSteps(version));
  }

  private *retireSteps(version: number): Steps<void> {
    yield* this.load();
    if (version === this.keyholder.ring.activeVersion) throw new SealedError(`key version ${version} is the active version`);
    const outcome = yield* answer(this.backend.retire(version, SEALED_TABLES));
    if ('usedBy' in outcome) {
      throw new SealedError(`key version ${version} is still used by rows of ${outcome.usedBy}; run \`tokenkeep keys reencrypt\` first`);
    }
    if (!outcome.deleted) throw new SealedError(`there is no key version ${version}`);
  }
}
