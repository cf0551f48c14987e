/**
 * Operations written once and run over either kind of backend, as Babel's gensync does: an operation is a generator
 * that yields each hook's answer (a value from SQLite, a promise from PostgreSQL) and gets it back; the backend's
 * runner (runSync / runAsync) drives it.
 */

/** Whether a backend's hooks answer at once (SQLite) or by promise (PostgreSQL). */
export type Mode = 'sync' | 'async';
export type Out<M extends Mode, T> = M extends 'sync' ? T : Promise<T>;

/** An operation: a generator that yields each hook's answer (a value or a promise) and gets it back. */
// `any`: each step gets back the answer to what it yielded, whose type `answer` restores at the call.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a generator has one TNext for all its steps (see above)
export type Steps<T> = Generator<unknown, T, any>;
export type Runner<M extends Mode> = <T>(steps: Steps<T>) => Out<M, T>;

/** Hands a hook's answer back to the operation: `const x = yield* answer(backend.hook())`. */
export function* answer<T>(value: T | Promise<T>): Generator<T | Promise<T>, T, T> {
  return yield value;
}

/** Runs an operation over synchronous hooks: every yielded value is the answer itself. */
export const runSync: Runner<'sync'> = <T>(steps: Steps<T>): T => {
  let step = steps.next();
  while (!step.done) step = steps.next(step.value);
  return step.value;
};

/** Runs an operation over asynchronous hooks: a rejection is thrown into the operation, where its try/catch sees it. */
export const runAsync: Runner<'async'> = async <T>(steps: Steps<T>): Promise<T> => {
  let step = steps.next();
  while (!step.done) {
    let value: unknown;
    try {
      value = await step.value;
    } catch (err) {
      step = steps.throw(err);
      continue;
    }
    step = steps.next(value);
  }
  return step.value;
};
