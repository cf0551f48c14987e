/**
 * Key rotation as an operator runs it beside serving nodes: add a data-key version (new writes use it from then on,
 * other nodes within a second), then re-encrypt existing rows in small transactions. Killing it at any moment leaves
 * every row readable under one of the ring's versions; running `reencrypt` again finishes the job.
 */
import type { DamagedValue, Keys, ReencryptPass } from '../domain/ports/index.js';
import { REFRESH_MS } from '../sealing/barrier.js';

export interface Progress {
  (rowsDone: number, batch: number): void;
}

export interface Reencrypted {
  /** rows re-encrypted to the active version */
  rows: number;
  /** values that fail their integrity check: their rows stay under their old version until repaired or deleted */
  damaged: DamagedValue[];
}

/** One pass over every table in id order; damaged rows are skipped (and named), so the pass always ends. */
export async function reencryptAll(keys: Keys, batchSize: number, progress: Progress): Promise<Reencrypted> {
  const pass: ReencryptPass = { after: {}, damaged: [] };
  let rows = 0;
  for (;;) {
    const skippedBefore = pass.damaged.length;
    const taken = await keys.reencryptBatch(batchSize, pass);
    if (taken === 0) return { rows, damaged: pass.damaged };
    const n = taken - new Set(pass.damaged.slice(skippedBefore).map((d) => `${d.table}.${d.id}`)).size;
    rows += n;
    if (n > 0) progress(rows, n);
    // Let other work (and other processes' transactions) in between batches.
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** What the operator is told about damaged values: each by table, row id and column, and how to finish. */
export function damagedReport(damaged: DamagedValue[]): string {
  const rows = new Set(damaged.map((d) => `${d.table}.${d.id}`)).size;
  return (
    `${rows} row${rows === 1 ? '' : 's'} could not be re-encrypted: a sealed value fails its integrity check ` +
    '(damaged or tampered with); they stay under their old key version:\n' +
    damaged.map((d) => `  ${d.table} id ${d.id} column ${d.column}\n`).join('') +
    'Replace their secrets through the API (PUT) or delete them, then run `tokenkeep keys reencrypt`.\n'
  );
}

/**
 * How long after a new key version serving processes may still seal under the previous one: each looks at the
 * stored ring again at least every REFRESH_MS (../sealing/barrier.ts), so twice that with margin.
 */
export const RING_PROPAGATION_MS = 2 * REFRESH_MS + 500;

export async function rotate(
  keys: Keys,
  batchSize: number,
  progress: Progress,
  propagationMs = RING_PROPAGATION_MS,
): Promise<Reencrypted & { version: number }> {
  const version = await keys.addVersion();
  const added = Date.now();
  const first = await reencryptAll(keys, batchSize, progress);
  // A server that has not seen the new version yet may have written rows under the old one after the pass above
  // went by them: wait until every server must have seen it, then pick those rows up. The second pass meets the
  // damaged rows again (unless repaired meanwhile): its list is the one that still holds.
  const wait = propagationMs - (Date.now() - added);
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  const second = await reencryptAll(keys, batchSize, (done, n) => progress(first.rows + done, n));
  return { version, rows: first.rows + second.rows, damaged: second.damaged };
}
