/**
 * AES-256-GCM with a fresh random 96-bit nonce per message and associated data: the one cipher every sealed value,
 * wrapped data key and key-check value uses. Which associated data binds a value to what is the caller's business.
 */
import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';

export const NONCE = 12;
export const TAG = 16;

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

/** Encrypts under `key`; `body` is the ciphertext followed by the 16-byte tag. */
export function gcmSeal(key: Buffer, plaintext: Buffer, aad: Buffer): { nonce: Buffer; body: Buffer } {
  const nonce = freshNonce();
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG });
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return { nonce, body };
}

/** Returns undefined when authentication fails: wrong key, wrong associated data or tampering. */
export function gcmOpen(key: Buffer, nonce: Buffer, body: Buffer, aad: Buffer): Buffer | undefined {
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
