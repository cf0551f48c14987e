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
 * Sealed value layout: [format 0x01][key version, uint32 BE][nonce, 12 bytes][ciphertext][tag, 16 bytes].
 */
import { NONCE, TAG, gcmOpen, gcmSeal } from '../crypto/aes-gcm.js';
import { MasterKey } from '../crypto/master-key.js';

/** Every sealed column, by table. A row's columns are always sealed together under one key version. */
export const SEALED = {
  oauth_apps: ['client_secret'],
  oauth_profiles: ['access_token', 'refresh_token'],
  datasources: ['options'],
} as const;
export type SealedTable = keyof typeof SEALED;
const SEALED_TABLES = Object.keys(SEALED) as SealedTable[];

/** How often a process looks at the stored ring again for versions another process added or retired. */
export const REFRESH_MS = 1000;

const FORMAT = 0x01;
const HEADER = 1 + 4 + NONCE;

/** Where a sealed value lives; part of its associated data. */
export interface SealContext {
  table: string;
  rowId: number;
  column: string;
}

/**
 * A sealed value that fails to open: a flipped byte, a value copied from another row or column, a key version the ring
 * does not have. It names the place, never the value; the HTTP layer answers it as the catalogue's `secretUnreadable`.
 */
export class SealedValueUnreadable extends Error {
  readonly table: string;
  readonly id: number;
  readonly column: string;

  constructor(context: SealContext, reason: string) {
    super(`sealed value ${context.table}.${context.column} of row ${context.rowId} cannot be opened: ${reason}`);
    this.name = 'SealedValueUnreadable';
    this.table = context.table;
    this.id = context.rowId;
    this.column = context.column;
  }
}

/** The store cannot be unsealed or its key ring cannot do what was asked. */
export class SealedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SealedError';
  }
}

/** The associated data of a sealed value: this exact text, so that every database sealed so far stays readable. */
const valueAad = (ctx: SealContext, version: number): Buffer => Buffer.from(`tokenkeep|value|${ctx.table}|${ctx.rowId}|${ctx.column}|${version}`);

/** The unwrapped data keys, by version; the highest version seals new values. */
export class KeyRing {
  private readonly keys = new Map<number, Buffer>();
  private active = 0;

  set(version: number, key: Buffer): void {
    this.keys.set(version, key);
    if (version > this.active) this.active = version;
  }

  /** Forget versions no longer in the stored ring (retired). */
  retain(versions: Iterable<number>): void {
    const keep = new Set(versions);
    for (const v of [...this.keys.keys()]) if (!keep.has(v)) this.keys.delete(v);
    this.active = Math.max(0, ...this.keys.keys());
  }

  has(version: number): boolean {
    return this.keys.has(version);
  }

  get activeVersion(): number {
    return this.active;
  }

  seal(plaintext: string, ctx: SealContext): Buffer {
    const key = this.keys.get(this.active);
    if (!key) throw new Error('the key ring is empty');
    const version = Buffer.alloc(4);
    version.writeUInt32BE(this.active);
    const { nonce, body } = gcmSeal(key, Buffer.from(plaintext, 'utf8'), valueAad(ctx, this.active));
    return Buffer.concat([Buffer.of(FORMAT), version, nonce, body]);
  }

  /** The key version a sealed value was made with (undefined if it is not a sealed value). */
  static versionOf(sealed: Buffer): number | undefined {
    return sealed.length >= HEADER + TAG && sealed[0] === FORMAT ? sealed.readUInt32BE(1) : undefined;
  }

  open(sealed: Buffer, ctx: SealContext): string {
    const version = KeyRing.versionOf(sealed);
    if (version === undefined) throw new SealedValueUnreadable(ctx, 'not a sealed value');
    const key = this.keys.get(version);
    if (!key) throw new SealedValueUnreadable(ctx, `key version ${version} is not in the key ring`);
    const opened = gcmOpen(key, sealed.subarray(5, HEADER), sealed.subarray(HEADER), valueAad(ctx, version));
    if (!opened) throw new SealedValueUnreadable(ctx, 'integrity check failed');
    return opened.toString('utf8');
  }
}

/** The key ring as stored: the key-check value and the wrapped data keys, read in one statement (one snapshot). */
export interface StoredRing {
  keyCheck: Buffer;
  keys: { version: number; wrapped: Buffer }[];
}

/** What a serving node that still holds the old master key says, once, when it meets a rekeyed ring. */
export const MASTER_KEY_CHANGED =
  'the master key of this database was changed (tokenkeep keys rekey) and this process still holds ' +
  'the old one: it keeps serving with the data keys it has, but cannot use key versions added from now on. Restart it ' +
  'with the new master key (TOKENKEEP_MASTER_KEY or TOKENKEEP_MASTER_KEY_FILE).';

/**
 * What an unsealed store holds: its master key and the data keys unwrapped with it, kept in step with the stored ring:
 * another process may add or retire a version (`keys rotate`, `keys retire`) or re-wrap the whole ring under a new
 * master key (`keys rekey`).
 */
class Keyholder {
  readonly ring = new KeyRing();
  /** the last key-check value this master key verified: an unchanged value needs no new GCM check */
  private verifiedCheck?: Buffer;
  /** the stored ring is wrapped under a master key this process does not have */
  private stale = false;

  constructor(
    private master: MasterKey,
    private readonly warn: (message: string) => void,
  ) {}

  private opens(keyCheck: Buffer): boolean {
    if (this.verifiedCheck?.equals(keyCheck)) return true;
    if (!this.master.verify(keyCheck)) return false;
    this.verifiedCheck = keyCheck;
    return true;
  }

  /**
   * Takes in the stored ring: unwraps versions added since, forgets retired ones. A ring re-wrapped under another
   * master key cannot be unwrapped any more; the data keys themselves did not change, so this process goes on with
   * the ones it has (its writes stay readable by everyone) and warns once that it must be restarted with the new key.
   */
  take(stored: StoredRing): void {
    if (this.opens(stored.keyCheck)) {
      this.stale = false;
      for (const k of stored.keys) if (!this.ring.has(k.version)) this.ring.set(k.version, this.master.unwrap(k.version, k.wrapped));
    } else if (!this.stale) {
      this.stale = true;
      this.warn(MASTER_KEY_CHANGED);
    }
    this.ring.retain(stored.keys.map((k) => k.version));
  }

  /** Refuses to change the stored ring under a master key it is no longer wrapped with (a rekey since the start). */
  private assertCurrent(keyCheck: Buffer): void {
    if (!this.opens(keyCheck))
      throw new SealedError('the master key of this database was changed by `tokenkeep keys rekey` since this command started; run it again with the new key');
  }

  /** A new data key version, wrapped, to be stored in the transaction that read `keyCheck`. */
  wrapNewVersion(keyCheck: Buffer, version: number): Buffer {
    this.assertCurrent(keyCheck);
    return this.master.wrap(version, MasterKey.generate());
  }

  /**
   * The stored ring re-wrapped under `next` (to be written in the transaction that read `stored`): the same data keys,
   * so no row changes; a new key-check value, so a start with the old master key is refused.
   */
  rewrap(stored: StoredRing, next: MasterKey): StoredRing {
    this.assertCurrent(stored.keyCheck);
    if (next.verify(stored.keyCheck)) throw new SealedError('the new master key is the current one');
    return {
      keyCheck: next.checkValue(),
      keys: stored.keys.map((k) => ({ version: k.version, wrapped: next.wrap(k.version, this.master.unwrap(k.version, k.wrapped)) })),
    };
  }

  /** After a rekey this process committed: the ring is now wrapped under `next`. */
  adopt(next: MasterKey): void {
    this.master = next;
    this.verifiedCheck = undefined;
    this.stale = false;
  }
}

// ---- what a backend provides ---------------------------------------------------------------------------------------

/** Whether a backend's hooks answer at once (SQLite) or by promise (PostgreSQL). */
export type Mode = 'sync' | 'async';
export type Out<M extends Mode, T> = M extends 'sync' ? T : Promise<T>;

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

// ---- running an operation written once -------------------------------------------------------------------------

/** An operation: a generator that yields each hook's answer (a value or a promise) and gets it back. */
// `any`: each step gets back the answer to what it yielded, whose type `answer` restores at the call.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a generator has one TNext for all its steps (see above)
type Steps<T> = Generator<unknown, T, any>;
export type Runner<M extends Mode> = <T>(steps: Steps<T>) => Out<M, T>;

/** Hands a hook's answer back to the operation: `const x = yield* answer(backend.hook())`. */
function* answer<T>(value: T | Promise<T>): Generator<T | Promise<T>, T, T> {
  return yield value;
}

/** Runs an operation over synchronous hooks: every yielded value is the answer itself. */
export const runSync: Runner<'sync'> = <T>(steps: Steps<T>): T => {
  let step = steps.next();
  while (!step.done) step = steps.next(step.value);
  return step.value;
};

/** Runs an operation over asynchronous hooks: a rejection is thrown into the operation, where its try/catch sees it. */
export const runAsync: Runner<'async'> = async <T>(steps: Steps<T>): Promise<T> => {
  let step = steps.next();
  while (!step.done) {
    let value: unknown;
    try {
      value = await step.value;
    } catch (err) {
      step = steps.throw(err);
      continue;
    }
    step = steps.next(value);
  }
  return step.value;
};

/** The readRing rows as a stored ring; undefined before the ring exists. */
function ringOf(rows: RingRow[]): StoredRing | undefined {
  if (rows.length === 0) return undefined;
  return {
    keyCheck: rows[0].key_check,
    keys: rows.filter((r) => r.version !== null).map((r) => ({ version: Number(r.version), wrapped: r.wrapped! })),
  };
}

// ---- the barrier ------------------------------------------------------------------------------------------------

export interface KeyVersionStatus {
  version: number;
  /** null for a version that rows use but the key ring no longer has */
  createdAt: string | null;
  active: boolean;
  /** rows whose secrets are sealed under this version */
  rows: number;
}

/** A sealed value that fails its integrity check (a flipped byte, a value copied from elsewhere): re-encryption skips it. */
export interface DamagedValue {
  table: string;
  id: number;
  column: string;
}

/**
 * One pass of re-encryption over every table, in id order: where it has got to in each table, and the values it had to
 * skip. Damaged rows stay under their old version, so without the cursor the next batch would select them again.
 */
export interface ReencryptPass {
  after: Record<string, number>;
  damaged: DamagedValue[];
}

/** The key ring's administration, as the operator flows (src/keys) and the start-up use it; nothing secret is read before unseal(). */
export interface Keys {
  /** Whether the key ring exists, i.e. the database may hold sealed values. */
  initialized(): Promise<boolean>;
  /** Creates the key-check value and data key 1, then unseals; SealedError when a key ring exists. */
  init(master: MasterKey): Promise<void>;
  /** Verifies the master key against the key-check value and loads the data keys; throws SealedError. */
  unseal(master: MasterKey): Promise<void>;
  status(): Promise<KeyVersionStatus[]>;
  /** Adds a data key version; new writes use it from then on (other nodes within REFRESH_MS). */
  addVersion(): Promise<number>;
  /**
   * Re-encrypts up to batchSize rows to the active version in one transaction; returns the rows it took (re-encrypted
   * or, with a pass, skipped as damaged and added to `pass.damaged`); 0 when none is left. Without a pass a damaged
   * row throws SealedValueUnreadable. A row a request rewrites meanwhile is simply sealed anew by that request.
   */
  reencryptBatch(batchSize: number, pass?: ReencryptPass): Promise<number>;
  /** Re-wraps the ring's data keys and the key-check value under a new master key, in one transaction (keys rekey). */
  rekey(next: MasterKey): Promise<void>;
  /** Removes a version that no row uses and that is not active. */
  retire(version: number): Promise<void>;
  /** Where a serving store reports that its master key no longer opens the stored ring (set by the server to its log). */
  onWarning: (message: string) => void;
}

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
