/**
 * The master key, kept apart from the data (an environment variable or a key file): it wraps the data keys stored in
 * the database and makes the key-check value that lets a start with a wrong key fail before any request.
 */
import { randomBytes } from 'node:crypto';
import { NONCE, gcmOpen, gcmSeal } from './aes-gcm.js';

export const KEY_BYTES = 32;

/** Parses base64 key text; undefined when it is not exactly 32 bytes. */
export function parseKey(text: string): Buffer | undefined {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) return undefined;
  const key = Buffer.from(trimmed, trimmed.includes('-') || trimmed.includes('_') ? 'base64url' : 'base64');
  return key.length === KEY_BYTES ? key : undefined;
}

const wrapAad = (version: number): Buffer => Buffer.from(`tokenkeep|data-key|${version}`);
const CHECK_AAD = Buffer.from('tokenkeep|key-check');
const CHECK_PLAINTEXT = Buffer.from('tokenkeep master key check');

/** The master key's own operations: wrap and unwrap data keys, make and verify the key-check value. */
export class MasterKey {
  constructor(private readonly key: Buffer) {
    if (key.length !== KEY_BYTES) throw new Error(`a master key has ${KEY_BYTES} bytes`);
  }

  /** A fresh random key: a master key, or a data key to wrap. */
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
