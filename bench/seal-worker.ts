/**
 * A worker thread that seals the tokens of a chunk of seeded profiles with the store's own KeyRing (AES-256-GCM,
 * bound to table, row id and column). Sealing is most of the seeding time; two workers keep both cores busy while
 * the main thread writes the previous chunk. The sealed values come back packed in one transferred buffer.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { KeyRing } from '../src/sealing/key-ring.js';
import { accessToken, refreshToken } from './tokens.js';

export interface SealRequest {
  seq: number;
  ids: number[];
}
export interface SealedChunk {
  seq: number;
  data: ArrayBuffer;
  offsets: Int32Array;
}

const ring = new KeyRing();
const { version, key } = workerData as { version: number; key: Uint8Array };
ring.set(version, Buffer.from(key));

parentPort!.on('message', ({ seq, ids }: SealRequest) => {
  const parts: Buffer[] = [];
  const offsets = new Int32Array(ids.length * 2 + 1);
  let at = 0;
  ids.forEach((id, i) => {
    const access = ring.seal(accessToken(id), { table: 'oauth_profiles', rowId: id, column: 'access_token' });
    const refresh = ring.seal(refreshToken(id), { table: 'oauth_profiles', rowId: id, column: 'refresh_token' });
    parts.push(access, refresh);
    offsets[2 * i] = at;
    at += access.length;
    offsets[2 * i + 1] = at;
    at += refresh.length;
  });
  offsets[ids.length * 2] = at;
  const packed = Buffer.concat(parts, at);
  // A fresh ArrayBuffer of exactly the packed bytes, so it can be transferred rather than copied.
  const data = packed.buffer.slice(packed.byteOffset, packed.byteOffset + packed.length);
  parentPort!.postMessage({ seq, data, offsets } satisfies SealedChunk, [data, offsets.buffer]);
});
