/**
 * The SQLite connection every SQLite repository shares: one better-sqlite3 connection per process, durable
 * settings, a prepared-statement cache, and group commit.
 *
 * Durability: WAL with synchronous=FULL, so a transaction is on disk (fsync of the WAL) before COMMIT returns, and a
 * write's promise resolves only after the COMMIT that contains it. An fsync costs about a millisecond here and
 * better-sqlite3 blocks the event loop for it, so one fsync per request would cap writes near 1 000/s. Instead
 * `write()` queues each mutation and runs every mutation queued during one turn of the event loop in a single
 * transaction — each in its own savepoint, so one failing mutation rolls back alone — and commits once.
 *
 * WAL checkpoints run on a worker thread (./checkpointer.ts), not inside a commit on the event loop.
 *
 * better-sqlite3 is synchronous: each mutation runs to completion without interleaving, which makes every store
 * method atomic with respect to every other request of this process; reads between batches see only committed data.
 */
import Database from 'better-sqlite3';
import type { Missing, Refusal } from '../../domain/ports/index.js';
import { DatabaseFileError, StoreUnavailable } from '../errors.js';
import { nameKey } from '../names.js';
import { Refused, answerRefusal } from '../refused.js';
import { closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { Checkpointer } from './checkpointer.js';
import { WriteHealth } from '../write-health.js';

export type Row = Record<string, unknown>;
interface PendingWrite {
  run: () => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}
type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export class SqliteDb {
  readonly connection: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  /** Built once: `db.transaction()` makes a new wrapper on every call, which costs more than the savepoint itself. */
  private readonly commitBatch: Database.Transaction<(batch: PendingWrite[], outcomes: Outcome[]) => void>;
  private readonly inSavepoint: Database.Transaction<(run: () => unknown) => unknown>;
  /** The file this connection opened, by device and inode (none for :memory:). */
  private readonly identity: { dev: number; ino: number } | undefined;
  readonly checkpointer: Checkpointer | undefined;
  /** the outcome of the last group commit (see ../write-health.ts) */
  readonly writeHealth = new WriteHealth(cannotWriteReason);

  constructor(readonly file: string) {
    if (file !== ':memory:') createPrivately(file);
    this.connection = openOrNameTheSetting(file);
    this.connection.pragma('synchronous = FULL');
    this.connection.pragma('foreign_keys = ON');
    this.connection.pragma('busy_timeout = 5000');
    // 32 MiB of page cache instead of SQLite's 2 MiB: the inner B-tree pages of a million profiles stay cached, so a
    // lookup at 1M rows costs what it costs at 1k (GET at 1M: 98 → 87 µs of CPU per request).
    this.connection.pragma('cache_size = -32768');
    // Refuse to acknowledge writes that are not durable: a file system without WAL support, or a pragma that did not
    // take, would silently weaken every 2xx.
    if (file !== ':memory:' && this.connection.pragma('journal_mode', { simple: true }) !== 'wal') {
      this.connection.close();
      throw new StoreUnavailable(`SQLite refused WAL mode for ${file}; tokenkeep will not acknowledge writes that are not durable`);
    }
    if (this.synchronous() < 2) {
      this.connection.close();
      throw new StoreUnavailable('SQLite synchronous is below FULL; tokenkeep will not acknowledge writes that are not durable');
    }
    this.identity = file === ':memory:' ? undefined : (({ dev, ino }) => ({ dev, ino }))(statSync(file));
    if (file !== ':memory:') {
      this.connection.pragma('wal_autocheckpoint = 0');
      // Without the worker, SQLite's own checkpoints keep the WAL bounded, as they would by default.
      this.checkpointer = new Checkpointer(file, () => {
        if (this.connection.open) this.connection.pragma('wal_autocheckpoint = 1000');
      });
    }
    this.inSavepoint = this.connection.transaction((run: () => unknown) => run());
    this.commitBatch = this.connection.transaction((batch: PendingWrite[], outcomes: Outcome[]) => {
      for (const item of batch) {
        try {
          outcomes.push({ ok: true, value: this.inSavepoint(item.run) });
        } catch (error) {
          // On SQLITE_FULL, IOERR, NOMEM or BUSY SQLite may roll back the whole transaction, not just the savepoint:
          // the batch is lost, and the next items must not run in autocommit mode. Fail the whole batch.
          if (!this.connection.inTransaction) throw error;
          outcomes.push({ ok: false, error });
        }
      }
    });
  }

  /** Prepared statements are cached: preparing is the larger part of a simple query's cost. */
  q(sql: string): Database.Statement {
    this.assertOpen();
    let s = this.statements.get(sql);
    if (!s) {
      s = this.connection.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  /**
   * Names are unique case-insensitively within a scope (a tenant, an owner, or the whole table): refuses (`name`)
   * when another row of the scope has the name. Inside a write: the refusal rolls the write's savepoint back.
   */
  nameFree(table: string, scope: { column: string; value: number } | null, name: string, exceptId = 0): void {
    const where = scope ? `${scope.column} = @scope AND ` : '';
    if (this.q(`SELECT 1 FROM ${table} WHERE ${where}name_key = @key AND id <> @except`).get({ scope: scope?.value, key: nameKey(name), except: exceptId })) {
      throw new Refused({ refused: 'name' });
    }
  }

  /** A row that must be there: refuses (`missing`) inside a write when it is not. */
  present<T>(row: T | undefined, what: Missing, id: number): T {
    if (row === undefined || row === null) throw new Refused({ refused: 'missing', what, id });
    return row;
  }

  /** The connection's synchronous level (2 = FULL, 3 = EXTRA), for the start-up check and tests. */
  synchronous(): number {
    return this.connection.pragma('synchronous', { simple: true }) as number;
  }

  /** A synchronous transaction (a savepoint when one is open): for start-up work and inside `write()`. */
  tx<T>(fn: () => T): T {
    this.assertOpen();
    const result = this.connection.transaction(fn).immediate();
    this.checkpointer?.nudge();
    return result;
  }

  /**
   * A database file deleted or replaced under the running server: SQLite would go on committing into the unlinked
   * file it holds open, and every acknowledged write would be lost at the next start. Checked (one stat()) before each
   * group commit, which is the path where it loses data; the outcome is remembered for the health check, whose own
   * write probe (at most once a second, through the group commit) keeps it fresh without traffic. A stat() on every
   * health check was 6.6 % of its CPU (BENCHMARKS.md, "Issue 16, part 1").
   */
  assertFileIsOurs(): void {
    if (!this.identity) return;
    const now = statSync(this.file, { throwIfNoEntry: false });
    this.fileLost = !now || now.dev !== this.identity.dev || now.ino !== this.identity.ino;
    if (this.fileLost) throw this.fileLostError();
  }

  /** Set by the last check of the file (assertFileIsOurs) when the file was deleted or replaced. */
  private fileLost = false;

  private fileLostError(): StoreUnavailable {
    return new StoreUnavailable(`SQLite: the database file ${this.file} was deleted or replaced while the server ran; restart it on the right file`);
  }

  /** A closed connection (after close()) cannot answer: StoreUnavailable (503), not better-sqlite3's TypeError (500). */
  private assertOpen(): void {
    if (!this.connection.open) throw new StoreUnavailable('SQLite: the database connection is closed');
  }

  async ping(): Promise<void> {
    if (this.fileLost) throw this.fileLostError();
    this.q('SELECT 1').get();
    this.writeHealth.assertWritable();
  }

  /** Through the group commit, like any write: it shares a commit with the writes of the moment. */
  async probeWrite(): Promise<void> {
    await this.write(() =>
      this.q(
        `INSERT INTO meta (key, value) VALUES ('write_probe', 1)
      ON CONFLICT (key) DO UPDATE SET value = value + 1`,
      ).run(),
    );
  }

  async close(): Promise<void> {
    await this.checkpointer?.close();
    if (this.connection.open) this.connection.close();
  }

  private pending: PendingWrite[] = [];
  private flushScheduled = false;
  /** transactions committed by write(): lets tests see that concurrent writes share commits */
  commits = 0;

  /** WAL checkpoints completed by the worker: lets tests see that they happen */
  get checkpoints(): number {
    return this.checkpointer?.completed ?? 0;
  }

  /**
   * A group-committed mutation that a rule or a missing row may refuse: the refusal, thrown inside it, rolls back its
   * savepoint alone (as any failing mutation of the batch) and is the answer.
   */
  decide<T>(run: () => T): Promise<T | Refusal> {
    return this.write(run).catch(answerRefusal);
  }

  /** Queues a mutation for the next group commit; resolves after the commit is on disk. */
  write<T>(run: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ run, resolve: resolve as (v: unknown) => void, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = [];
    const outcomes: Outcome[] = [];
    try {
      this.assertFileIsOurs();
      this.commitBatch.immediate(batch, outcomes);
      this.commits++;
      this.checkpointer?.nudge();
      // A write that failed alone in its savepoint because the database cannot write (a full disk for a larger row, a
      // read-only connection) counts as the batch's outcome, though the commit of the others went through.
      const refused = outcomes.find((o) => !o.ok && cannotWriteReason(o.error) !== undefined);
      if (refused && !refused.ok) this.writeHealth.failed(refused.error);
      else this.writeHealth.succeeded();
    } catch (error) {
      // The commit itself failed (disk full, I/O error, lock timeout, closed connection): nothing of the batch is on disk.
      this.writeHealth.failed(error);
      const failure = this.connection.open ? unavailable(error) : new StoreUnavailable('SQLite: the database connection is closed', { cause: error });
      for (const item of batch) item.reject(failure);
      return;
    }
    batch.forEach((item, i) => {
      const outcome = outcomes[i];
      if (outcome.ok) item.resolve(outcome.value);
      else item.reject(unavailable(outcome.error));
    });
  }
}

/**
 * The database holds password hashes and sealed secrets: its folder is made 0700 and the file 0600 before SQLite
 * opens it (SQLite gives the -wal and -shm files the database file's mode). An existing file keeps its mode; the
 * server warns about it at start (./permissions.ts).
 */
function createPrivately(file: string): void {
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    closeSync(openSync(file, 'a', 0o600));
  } catch (err) {
    throw new DatabaseFileError(`cannot be created: ${(err as NodeJS.ErrnoException).code ?? 'error'} on ${(err as NodeJS.ErrnoException).path ?? file}`);
  }
}

/** SQLite's answers to a path it cannot use as a database: the setting's problem, not the database's state. */
const UNUSABLE_FILE = /^SQLITE_(CANTOPEN|NOTADB|IOERR|READONLY|PERM|AUTH)/;

function openOrNameTheSetting(file: string): Database.Database {
  let db: Database.Database | undefined;
  try {
    db = new Database(file);
    // The first statement that reads the file: a file that is not a database fails here, not at open.
    db.pragma('journal_mode = WAL');
    return db;
  } catch (err) {
    db?.close();
    const code = (err as { code?: unknown }).code;
    if (typeof code !== 'string' || !UNUSABLE_FILE.test(code)) throw err;
    throw new DatabaseFileError(`cannot be opened as a SQLite database: ${code} (${(err as Error).message}) on ${file}`);
  }
}

/** SQLite errors that mean "the database cannot do this now", as opposed to a rule the request broke. */
const TRANSIENT = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|READONLY|NOMEM|PROTOCOL)/;

/** SQLite errors that mean the database cannot write (disk full, read-only, I/O errors), as a short public reason. */
function cannotWriteReason(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return undefined;
  if (code.startsWith('SQLITE_FULL')) return 'disk full';
  if (code.startsWith('SQLITE_READONLY')) return 'read-only';
  if (code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_CANTOPEN')) return 'I/O error';
  return undefined;
}

function unavailable(error: unknown): unknown {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && TRANSIENT.test(code) ? new StoreUnavailable(`SQLite: ${code}`, { cause: error }) : error;
}
