/**
 * The micro-batcher behind the PostgreSQL store's hot statements (src/storage/postgres/batcher.ts), driven with real
 * asynchronous batch functions: calls of one turn share a batch, every call gets its own item's answer, two items of
 * one conflict key never share a batch, and one bad item does not fail its neighbours.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Batcher } from '../../src/storage/postgres/batcher.js';

const RUNS = Number(process.env.PROP_RUNS ?? 80);
const turn = () => new Promise((resolve) => setImmediate(resolve));

class Poisoned extends Error {}
class Down extends Error {}

/** A batch function that records its batches, answers `item * 10`, and fails any batch holding a poisoned item. */
function recorder(poisoned: ReadonlySet<number> = new Set(), delay = () => turn()) {
  const batches: number[][] = [];
  const run = async (items: number[]) => {
    batches.push([...items]);
    await delay();
    const bad = items.find((i) => poisoned.has(i));
    if (bad !== undefined) throw new Poisoned(`item ${bad}`);
    return items.map((i) => i * 10);
  };
  return { batches, run };
}

describe('Batcher', () => {
  test('calls made in one turn go out as one batch; a call made while it is in flight waits for the next', async () => {
    const { batches, run } = recorder();
    const batcher = new Batcher(run);
    const first = [1, 2, 3].map((i) => batcher.add(i));
    await turn(); // the first batch starts and is now in flight
    const late = batcher.add(4);
    assert.deepEqual(await Promise.all([...first, late]), [10, 20, 30, 40]);
    assert.deepEqual(batches, [[1, 2, 3], [4]]);
  });

  test('maxSize splits a long queue; inFlight lets that many batches run at once', async () => {
    let running = 0;
    let most = 0;
    const { batches, run } = recorder(new Set(), async () => {
      most = Math.max(most, ++running);
      await turn();
      await turn();
      running--;
    });
    const batcher = new Batcher(run, { maxSize: 4, inFlight: 2 });
    const all = await Promise.all(Array.from({ length: 10 }, (_, i) => batcher.add(i)));
    assert.deepEqual(
      all,
      Array.from({ length: 10 }, (_, i) => i * 10),
    );
    assert.deepEqual(
      batches.map((b) => b.length),
      [4, 4, 2],
    );
    assert.equal(most, 2);
  });

  test('a fatal error fails the whole batch without retrying its items alone', async () => {
    let calls = 0;
    const batcher = new Batcher(
      async (items: number[]) => {
        calls++;
        throw new Down(`down with ${items.length}`);
      },
      { fatal: (err) => err instanceof Down },
    );
    const settled = await Promise.allSettled([1, 2, 3].map((i) => batcher.add(i)));
    assert.deepEqual(
      settled.map((s) => s.status),
      ['rejected', 'rejected', 'rejected'],
    );
    assert.equal(calls, 1);
  });

  test('property: each call gets its own answer or its own error, batches respect maxSize and conflict keys, and nothing is lost', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.nat(30), { maxLength: 12 }), { minLength: 1, maxLength: 6 }),
        fc.uniqueArray(fc.nat(30), { maxLength: 3 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 3 }),
        async (turns, poisonList, maxSize, inFlight) => {
          const poisoned = new Set(poisonList);
          const { batches, run } = recorder(poisoned);
          const batcher = new Batcher(run, { maxSize, inFlight, conflictKey: (i) => i % 7 });
          const calls: { item: number; outcome: Promise<unknown> }[] = [];
          for (const items of turns) {
            for (const item of items) calls.push({ item, outcome: batcher.add(item).catch((err: unknown) => err) });
            await turn();
          }
          for (const { item, outcome } of calls) {
            const got = await outcome;
            if (poisoned.has(item)) assert.ok(got instanceof Poisoned && got.message === `item ${item}`, `item ${item}: ${got}`);
            else assert.equal(got, item * 10);
          }
          for (const batch of batches) {
            assert.ok(batch.length <= maxSize, `batch ${batch} is larger than ${maxSize}`);
            // Retries of a failed batch run alone; a first attempt never holds two items of one key.
            assert.equal(new Set(batch.map((i) => i % 7)).size, batch.length, `batch ${batch} holds two items of one key`);
          }
          // Every call ran once in a batch, plus once alone if its batch of several failed: no call ran twice otherwise.
          const retries = batches.filter((b) => b.length > 1 && b.some((i) => poisoned.has(i))).reduce((n, b) => n + b.length, 0);
          assert.equal(
            batches.reduce((n, b) => n + b.length, 0),
            calls.length + retries,
          );
        },
      ),
      { numRuns: RUNS },
    );
  });
});
