/**
 * Property tests that check what is stored only when the answer is a success check nothing there when their
 * generator produces only refused input, and would still pass. So they count their successes and must see enough.
 */
import assert from 'node:assert/strict';

/**
 * 4 successes: 5% of the default 80 runs. The least successful route (POST /api/admin/roles) succeeds in about 6% of
 * its runs, so one round of 80 falls short about one time in three: another round with a new seed follows then, up
 * to MAX_ROUNDS (400 runs), where a working generator falls short less than once in a million times and a generator
 * that produces only refused input always does.
 */
export const MIN_SUCCESSES = 4;
const MAX_ROUNDS = 5;

/**
 * Runs `round` (one fc.assert of the property) until `successes()` (how many runs took the success branch so far)
 * reaches MIN_SUCCESSES, and fails naming `what` when MAX_ROUNDS rounds did not get there.
 */
export async function withEnoughSuccesses(what: string, successes: () => number, round: () => Promise<void>): Promise<void> {
  let rounds = 0;
  while (rounds < MAX_ROUNDS && successes() < MIN_SUCCESSES) {
    await round();
    rounds += 1;
  }
  assert.ok(
    successes() >= MIN_SUCCESSES,
    `${what}: ${successes()} successful runs in ${rounds} rounds (at least ${MIN_SUCCESSES} needed): the generator must also produce accepted input`,
  );
}
