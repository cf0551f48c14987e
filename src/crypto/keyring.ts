/**
 * Envelope encryption in the manner of HashiCorp Vault's barrier. A master key, kept apart from the data, wraps a
 * ring of versioned data keys stored in the database. Every secret value is sealed with AES-256-GCM under the
 * active data key, with a fresh random 96-bit nonce, and with associated data that binds it to its table, row,
 * column and key version: a ciphertext copied to another row or column, or a flipped byte, fails to open.
 *
 * Sealed value layout: [format 0x01][key version, uint32 BE][nonce, 12 bytes][ciphertext][tag, 16 bytes].
 */
import { createCipheriv, createDecipheriv, randomBytes, randomFillSync } from 'node:crypto';

const FORMAT = 0x01;
const NONCE = 12;
const TAG = 16;
const HEADER = 1 + 4 + NONCE;
export const KEY_BYTES = 32;

/** Where a sealed value lives; part of its associated data. */
export interface SealContext {
  table: string;
  rowId: number;
  column: string;
}

export class SealError extends Error {
  constructor(readonly context: SealContext, reason: string) {
    super(`sealed value ${context.table}.${context.column} of row ${context.rowId} cannot be opened: ${reason}`);
    this.name = 'SealError';
  }
}

/** The store cannot be unsealed or its key ring cannot do what was asked. */
export class SealedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SealedError';
  }
}

/**
 * Nonces are drawn from the CSPRNG a block at a time (one call costs ~2 µs, as much as the encryption itself) and
 * handed out once each, in order; a nonce is not secret (it is stored beside the ciphertext), only never repeated.
 */
const nonces = Buffer.alloc(NONCE * 256);
let nextNonce = nonces.length;
function freshNonce(): Buffer {
  if (nextNonce === nonces.length) {
    randomFillSync(nonces);
    nextNonce = 0;
  }
  const nonce = Buffer.from(nonces.subarray(nextNonce, nextNonce + NONCE));
  nextNonce += NONCE;
  return nonce;
}

function gcmSeal(key: Buffer, plaintext: Buffer, aad: Buffer): { nonce: Buffer; body: Buffer } {
  const nonce = freshNonce();
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG });
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return { nonce, body };
}

/** Returns undefined when authentication fails: wrong key, wrong associated data or tampering. */
function gcmOpen(key: Buffer, nonce: Buffer, body: Buffer, aad: Buffer): Buffer | undefined {
  if (body.length < TAG) return undefined;
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG });
  decipher.setAAD(aad);
  decipher.setAuthTag(body.subarray(body.length - TAG));
  try {
    return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG)), decipher.final()]);
  } catch {
    return undefined;
  }
}

const valueAad = (ctx: SealContext, version: number): Buffer =>
  Buffer.from(`tokenkeep|value|${ctx.table}|${ctx.rowId}|${ctx.column}|${version}`);
const wrapAad = (version: number): Buffer => Buffer.from(`tokenkeep|data-key|${version}`);
const CHECK_AAD = Buffer.from('tokenkeep|key-check');
const CHECK_PLAINTEXT = Buffer.from('tokenkeep master key check');

/** The master key's own operations: wrap and unwrap data keys, make and verify the key-check value. */
export class MasterKey {
  constructor(private readonly key: Buffer) {
    if (key.length !== KEY_BYTES) throw new Error(`a master key has ${KEY_BYTES} bytes`);
  }

  static generate(): Buffer {
    return randomBytes(KEY_BYTES);
  }

  private pack(nonce: Buffer, body: Buffer): Buffer {
    return Buffer.concat([nonce, body]);
  }

  /** A value that only this master key opens: lets a start with a wrong key fail before any request. */
  checkValue(): Buffer {
    const { nonce, body } = gcmSeal(this.key, CHECK_PLAINTEXT, CHECK_AAD);
    return this.pack(nonce, body);
  }

  verify(checkValue: Buffer): boolean {
    const opened = gcmOpen(this.key, checkValue.subarray(0, NONCE), checkValue.subarray(NONCE), CHECK_AAD);
    return opened !== undefined && opened.equals(CHECK_PLAINTEXT);
  }

  wrap(version: number, dataKey: Buffer): Buffer {
    const { nonce, body } = gcmSeal(this.key, dataKey, wrapAad(version));
    return this.pack(nonce, body);
  }

  unwrap(version: number, wrapped: Buffer): Buffer {
    const key = gcmOpen(this.key, wrapped.subarray(0, NONCE), wrapped.subarray(NONCE), wrapAad(version));
    if (!key || key.length !== KEY_BYTES) throw new Error(`data key version ${version} does not open with this master key`);
    return key;
  }
}

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
    if (version === undefined) throw new SealError(ctx, 'not a sealed value');
    const key = this.keys.get(version);
    if (!key) throw new SealError(ctx, `key version ${version} is not in the key ring`);
    const opened = gcmOpen(key, sealed.subarray(5, HEADER), sealed.subarray(HEADER), valueAad(ctx, version));
    if (!opened) throw new SealError(ctx, 'integrity check failed');
    return opened.toString('utf8');
  }
}

/** The key ring as stored: the key-check value and the wrapped data keys, read in one statement (one snapshot). */
export interface StoredRing {
  keyCheck: Buffer;
  keys: { version: number; wrapped: Buffer }[];
}

/** What a serving node that still holds the old master key says, once, when it meets a rekeyed ring. */
export const MASTER_KEY_CHANGED = 'the master key of this database was changed (tokenkeep keys rekey) and this process still holds '
  + 'the old one: it keeps serving with the data keys it has, but cannot use key versions added from now on. Restart it '
  + 'with the new master key (TOKENKEEP_MASTER_KEY or TOKENKEEP_MASTER_KEY_FILE).';

/**
 * What an unsealed store holds: its master key and the data keys unwrapped with it. Both backends keep their stored
 * ring in step through this: another process may add or retire a version (`keys rotate`, `keys retire`) or re-wrap
 * the whole ring under a new master key (`keys rekey`).
 */
export class Keyholder {
  readonly ring = new KeyRing();
  /** the last key-check value this master key verified: an unchanged value needs no new GCM check */
  private verifiedCheck?: Buffer;
  /** the stored ring is wrapped under a master key this process does not have */
  private stale = false;

  constructor(private master: MasterKey, private readonly warn: (message: string) => void) {}

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
    if (!this.opens(keyCheck)) throw new SealedError('the master key of this database was changed by `tokenkeep keys rekey` since this command started; run it again with the new key');
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
