/**
 * Micro-batching of the hot statements of a PostgreSQL store, within one process: calls of one kind that arrive in the
 * same event-loop turn, or while a batch of that kind is in flight, go to PostgreSQL together as one statement over
 * arrays (`WHERE id = ANY($1)`, `UPDATE … FROM unnest(…)`). Under load this turns a hundred round trips — each a write
 * syscall here and a wake-up, parse, plan and (for a write) a commit there — into one; with one call at a time it
 * costs a turn of the event loop.
 *
 * Nothing is cached: every call is answered by a statement that started after the call was made, so a batched read
 * sees every change committed before its request, as an unbatched one would.
 *
 * A batch that fails is not allowed to fail its neighbours for one item's fault (a taken name, a value the database
 * cannot store): each item is then run alone and gets its own answer. Only an unavailable database fails them all.
 */
export interface BatcherOptions<I> {
  /** batches of this kind in flight at once (default 1) */
  inFlight?: number;
  /** items per batch at most (default 256) */
  maxSize?: number;
  /** items with one key never share a batch (two writes of one row): a later one waits for the next batch */
  conflictKey?: (item: I) => unknown;
  /** errors after which running the items alone is pointless */
  fatal?: (err: unknown) => boolean;
}

interface Pending<I, R> {
  item: I;
  resolve: (result: R) => void;
  reject: (err: unknown) => void;
}

export class Batcher<I, R> {
  private queue: Pending<I, R>[] = [];
  private running = 0;
  private scheduled = false;
  private readonly inFlight: number;
  private readonly maxSize: number;

  /** `run` answers a batch: one result per item, in the items' order. */
  constructor(
    private readonly run: (items: I[]) => Promise<R[]>,
    private readonly opts: BatcherOptions<I> = {},
  ) {
    this.inFlight = opts.inFlight ?? 1;
    this.maxSize = opts.maxSize ?? 256;
  }

  add(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      // Wait for the rest of this turn's calls; a batch in flight starts the next one when it ends.
      if (!this.scheduled && this.running < this.inFlight) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.drain();
        });
      }
    });
  }

  private drain(): void {
    while (this.running < this.inFlight && this.queue.length > 0) {
      const batch = this.take();
      this.running++;
      void this.execute(batch).finally(() => {
        this.running--;
        this.drain();
      });
    }
  }

  /** The next batch, oldest first, without two items of one conflict key; the rest stays queued in order. */
  private take(): Pending<I, R>[] {
    const { conflictKey } = this.opts;
    if (!conflictKey) return this.queue.splice(0, this.maxSize);
    const batch: Pending<I, R>[] = [];
    const rest: Pending<I, R>[] = [];
    const keys = new Set<unknown>();
    for (const pending of this.queue) {
      const key = conflictKey(pending.item);
      if (batch.length < this.maxSize && !keys.has(key)) {
        keys.add(key);
        batch.push(pending);
      } else {
        rest.push(pending);
      }
    }
    this.queue = rest;
    return batch;
  }

  private async execute(batch: Pending<I, R>[]): Promise<void> {
    try {
      const results = await this.run(batch.map((p) => p.item));
      batch.forEach((p, i) => p.resolve(results[i]));
    } catch (err) {
      if (batch.length === 1 || this.opts.fatal?.(err)) {
        for (const p of batch) p.reject(err);
        return;
      }
      await Promise.all(batch.map((p) => this.run([p.item]).then(([result]) => p.resolve(result), p.reject)));
    }
  }
}
