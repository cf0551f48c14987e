/**
 * Key rotation as an operator runs it beside serving nodes: add a data-key version (new writes use it from then on,
 * other nodes within a second), then re-encrypt existing rows in small transactions. Killing it at any moment leaves
 * every row readable under one of the ring's versions; running `reencrypt` again finishes the job.
 */
import type { Store } from '../storage/store.js';

export interface Progress {
  (rowsDone: number, batch: number): void;
}

export async function reencryptAll(store: Store, batchSize: number, progress: Progress): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await store.reencryptBatch(batchSize);
    if (n === 0) return total;
    total += n;
    progress(total, n);
    // Let other work (and other processes' transactions) in between batches.
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * How long after a new key version serving processes may still seal under the previous one: each looks at the
 * stored ring again at least every second (REFRESH_MS in the stores' keyring.ts), so twice that with margin.
 */
export const RING_PROPAGATION_MS = 2_500;

export async function rotate(store: Store, batchSize: number, progress: Progress, propagationMs = RING_PROPAGATION_MS): Promise<{ version: number; rows: number }> {
  const version = await store.addKeyVersion();
  const added = Date.now();
  let rows = await reencryptAll(store, batchSize, progress);
  // A server that has not seen the new version yet may have written rows under the old one after the pass above
  // went by them: wait until every server must have seen it, then pick those rows up.
  const wait = propagationMs - (Date.now() - added);
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  rows += await reencryptAll(store, batchSize, (done, n) => progress(rows + done, n));
  return { version, rows };
}
