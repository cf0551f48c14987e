/**
 * The key ring and the sealed-value format: AES-256-GCM under versioned data keys, each value bound by its associated
 * data to its table, row, column and key version; and the keyholder that keeps an unsealed process's ring in step with
 * the stored one. Used only by the barrier (./barrier.ts).
 *
 * Sealed value layout: [format 0x01][key version, uint32 BE][nonce, 12 bytes][ciphertext][tag, 16 bytes].
 */
import { NONCE, TAG, gcmOpen, gcmSeal } from '../crypto/aes-gcm.js';
import { MasterKey } from '../crypto/master-key.js';

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
export class Keyholder {
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
