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

export async function rotate(store: Store, batchSize: number, progress: Progress): Promise<{ version: number; rows: number }> {
  const version = await store.addKeyVersion();
  const rows = await reencryptAll(store, batchSize, progress);
  return { version, rows };
}
