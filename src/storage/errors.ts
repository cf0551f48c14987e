/** The errors storage throws across the contract: both are about the database, neither about a request. */

/** The database cannot be reached or cannot write right now; the HTTP layer answers 503 with Retry-After. */
export class StoreUnavailable extends Error {
  /** Set when the database answers but cannot write: a short reason fit for a response ("disk full", "read-only"). */
  readonly cannotWrite: string | undefined;

  constructor(message: string, options?: { cause?: unknown; cannotWrite?: string }) {
    super(message, options);
    this.name = 'StoreUnavailable';
    this.cannotWrite = options?.cannotWrite;
  }
}

/**
 * The configured database file cannot be created or is not a database this store can open: the operator's setting
 * is wrong (the command line names `TOKENKEEP_DB` and exits 2), not a passing unavailability.
 */
export class DatabaseFileError extends Error {
  constructor(problem: string) {
    super(problem);
    this.name = 'DatabaseFileError';
  }
}
