/**
 * Whether the database can write, as the store's writes last found out. A database can answer reads and still refuse
 * every write (a full disk, a read-only file or server, I/O errors): the health check must say so, or a load balancer
 * keeps sending writes to a node that fails them all. Each store records here the outcome of its commits — a request's
 * or the health check's probe (`Store.probeWrite`) — and `ping()` reports the last one.
 */
import { StoreUnavailable } from './errors.js';

export class WriteHealth {
  /** the short public reason of the last failed write (no path, no driver text); undefined when it succeeded */
  private reason: string | undefined;

  /** `reasonOf` names a failure that means "the database cannot write", and returns undefined for any other error. */
  constructor(private readonly reasonOf: (err: unknown) => string | undefined) {}

  /** A write committed. */
  succeeded(): void {
    this.reason = undefined;
  }

  /** A write failed: remembered when the failure means the database cannot write (a broken rule does not). */
  failed(err: unknown): void {
    const reason = this.reasonOf(err);
    if (reason !== undefined) this.reason = reason;
  }

  /** Throws StoreUnavailable, with `cannotWrite` set, while the last write failed because the database cannot write. */
  assertWritable(): void {
    if (this.reason !== undefined) throw new StoreUnavailable(`the database cannot write (${this.reason})`, { cannotWrite: this.reason });
  }
}
