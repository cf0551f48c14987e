/**
 * How a refusal leaves a transaction: thrown inside it, so the transaction (or the group commit's savepoint) rolls
 * back, and turned back into the method's answer at its edge. Never leaves a store.
 */
import type { Refusal } from '../domain/ports/refusal.js';

export class Refused extends Error {
  constructor(readonly refusal: Refusal) {
    super(`refused: ${refusal.refused}`);
    this.name = 'Refused';
  }
}

/** Throws a rule's refusal inside a transaction; nothing when the rule passes. */
export function enforce(refusal: Refusal | undefined): void {
  if (refusal) throw new Refused(refusal);
}

/** At a method's edge: a thrown refusal is the answer; anything else stays an error. */
export function answerRefusal(err: unknown): Refusal {
  if (err instanceof Refused) return err.refusal;
  throw err;
}
