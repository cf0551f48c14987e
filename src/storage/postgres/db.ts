/**
 * The PostgreSQL connection every PostgreSQL repository shares: one pg.Pool per process, a query helper, and a
 * transaction helper that retries serialization failures and deadlocks a bounded number of times.
 *
 * Concurrency: unlike SQLite, several server processes write to one database at once. Every mutating method runs
 * in one READ COMMITTED transaction that takes the row locks its checks depend on (`SELECT … FOR UPDATE`, `FOR SHARE`
 * on referenced rows), or a transaction-level advisory lock where an invariant spans many rows (identity changes,
 * bootstrap, the key ring, migrations). Unique indexes back every name rule; a unique_violation on a name becomes
 * the refusal `name`. A lost connection, a server shutting down or a full pool becomes `StoreUnavailable`.
 *
 * Durability: synchronous_commit must be on (or remote_write / remote_apply), so a commit is on disk before its
 * method resolves; the first use of the store checks it and refuses to go on otherwise.
 */
import pg from 'pg';
import type { Missing, Refusal } from '../../domain/ports/index.js';
import { SealedError } from '../../sealing/key-ring.js';
import { StoreUnavailable } from '../errors.js';
import { nameKey } from '../names.js';
import { Refused, answerRefusal } from '../refused.js';
import { Batcher } from './batcher.js';
import { WriteHealth } from '../write-health.js';
import { PRINCIPALS_NOTICE, PrincipalChanges } from './principal-changes.js';

export type Row = Record<string, unknown>;
/** A pooled client inside a transaction, or the pool itself for a single autocommit statement. */
export type Queryable = pg.Pool | pg.PoolClient;

/** A row's id, the key of a batched lookup by id. */
export const byId = (row: Row): number => row.id as number;

/** The database's clock in epoch milliseconds; clock_timestamp(), not now(): the time of the statement, not of its transaction. */
export const DB_NOW = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

/** Advisory lock keys (transaction-level). One namespace number, then the lock's own number. */
export const LOCK = {
  migrations: 1,
  keyring: 2,
  bootstrap: 3,
  /** every change of tenants, roles, users and their grants: the invariants span many rows */
  identity: 4,
} as const;
const LOCK_NAMESPACE = 0x746b6b70; // 'tkkp'

const MAX_TRIES = 5;
const RETRYABLE = new Set(['40001', '40P01']); // serialization_failure, deadlock_detected
/**
 * Errors of a server that is gone, going, not accepting or out of resources, or of a lock not granted in time: the
 * store is unavailable (503, retry later), not broken. Socket errors; SQLSTATE classes 08 (connection exception),
 * 53 (insufficient resources: disk full, out of memory, too many connections), 57P (shutdown, cannot connect now),
 * 58 (I/O error); 55P03 (lock_timeout); 25006 (read_only_sql_transaction: a read-only database or a standby).
 */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  '55P03',
  '25006',
]);
const UNAVAILABLE_CLASSES = /^(08|53|57P|58)/;
const UNAVAILABLE_MESSAGES =
  /timeout exceeded when trying to connect|Connection terminated|connection timeout|Client has encountered a connection error|Client was closed|Cannot use a pool after calling end/i;

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

const int8 = (v: string): number => Number(v);
const intArray = pg.types.getTypeParser(1007 as never, 'text') as (v: string) => number[];
/** BIGINT ids and epoch milliseconds fit a double; read them as numbers, like SQLite gives them. */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === 20) return int8; // int8
    if (oid === 1016) return intArray; // int8[]
    return pg.types.getTypeParser(oid as never, format as never);
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/** PostgreSQL errors that mean the database answers but cannot write, as a short public reason (see ../write-health.ts). */
function cannotWriteReason(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return undefined;
  if (code === '25006') return 'read-only';
  if (code === '53100') return 'disk full';
  if (code.startsWith('53')) return 'out of resources';
  if (code.startsWith('58')) return 'I/O error';
  return undefined;
}

export function isUnavailable(err: unknown): boolean {
  if (err instanceof StoreUnavailable) return true;
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  const code = typeof e.code === 'string' ? e.code : '';
  if (UNAVAILABLE_CODES.has(code) || UNAVAILABLE_CLASSES.test(code)) return true;
  return typeof e.message === 'string' && UNAVAILABLE_MESSAGES.test(e.message);
}

export interface PostgresOptions {
  /** pool size (default 10) */
  max?: number;
  /** how long to wait for a pooled connection before answering unavailable (default 10 s) */
  connectionTimeoutMillis?: number;
}

export interface TxOptions {
  /** a unique_violation on a name constraint is the refusal `name` (a race that slipped past the name check) */
  names?: boolean;
  /** advisory locks taken first, in this order */
  locks?: number[];
  /** a consistent read-only snapshot instead of a read-write READ COMMITTED transaction */
  readOnlySnapshot?: boolean;
}

/** A batched single-row lookup (PgDb.lookup): each call resolves to its own row, or undefined. */
export type Lookup<K> = (key: K) => Promise<Row | undefined>;

const WRITE_COMMANDS = new Set(['INSERT', 'UPDATE', 'DELETE']);

/** Pooled clients whose statements changed a principal since their last commit or rollback (the triggers' NOTICE). */
const changedPrincipals = new WeakSet<pg.ClientBase>();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class PgDb {
  readonly pool: pg.Pool;
  private durabilityChecked?: Promise<void>;
  private closed = false;
  /** the outcome of the last write this store committed or failed (see ../write-health.ts) */
  private readonly writeHealth = new WriteHealth(cannotWriteReason);
  /**
   * The principals stamp (./principal-changes.ts). A statement that changed a user, a grant or a tenant says so to its
   * session (a NOTICE of migration 9's triggers); the write that ran it resolves only once it is committed and every
   * node has seen it.
   */
  readonly principalChanges: PrincipalChanges;

  constructor(
    readonly url: string,
    options: PostgresOptions = {},
  ) {
    this.pool = new pg.Pool({
      connectionString: url,
      max: options.max ?? 10,
      connectionTimeoutMillis: options.connectionTimeoutMillis ?? 10_000,
      idleTimeoutMillis: 30_000,
      application_name: 'tokenkeep',
      // A request waits for a row or advisory lock at most this long, then answers 503 (55P03 below); a session
      // that sits in an open transaction (a frozen process holding locks) is ended by the server.
      lock_timeout: 30_000,
      idle_in_transaction_session_timeout: 60_000,
      types,
    });
    // An idle client whose server went away emits 'error' on the pool; without a listener that would end the
    // process. The next query gets a fresh connection (or StoreUnavailable).
    this.pool.on('error', () => {});
    this.principalChanges = new PrincipalChanges(url);
    this.pool.on('connect', (client) =>
      client.on('notice', (notice) => {
        if (notice.message === PRINCIPALS_NOTICE) changedPrincipals.add(client);
      }),
    );
  }

  /** Where this store points, without the password. */
  get location(): string {
    return redactUrl(this.url);
  }

  /**
   * Turns driver errors into the store's own: unavailable, or a refusal (a taken name, a row deleted under the write,
   * text the database cannot store); others pass unchanged.
   */
  mapError(err: unknown, opts: TxOptions = {}): unknown {
    // Errors of the store's own (and a damaged secret's, whose numeric code matches nothing below) pass as they are.
    if (err instanceof Refused || err instanceof SealedError || err instanceof StoreUnavailable) return err;
    if (isUnavailable(err)) {
      this.writeHealth.failed(err);
      const e = err as { code?: string; message?: string };
      return new StoreUnavailable(`PostgreSQL is unavailable (${e.code ?? e.message ?? 'error'})`, { cause: err });
    }
    const e = err as { code?: string; constraint?: string };
    if (e?.code === '23505' && opts.names && e.constraint?.endsWith('_name_unique')) return new Refused({ refused: 'name' });
    // foreign_key_violation: a row this write refers to (an owner, a tenant) was deleted by a concurrent transaction
    // after the checks ran; SQLite, the only writer, cannot get here.
    if (e?.code === '23503') return new Refused({ refused: 'concurrentDelete' });
    // U+0000 or text PostgreSQL cannot encode: the request's fault, never a 500.
    if (e?.code === '22021' || e?.code === '22P05') return new Refused({ refused: 'unstorableText' });
    return err;
  }

  /** A row that must be there: refuses (`missing`) inside a transaction when it is not. */
  present<T>(row: T | undefined, what: Missing, id: number): T {
    if (row === undefined) throw new Refused({ refused: 'missing', what, id });
    return row;
  }

  /**
   * A transaction that a rule or a missing row may refuse: the refusal, thrown inside it, rolls it back and is the
   * answer (as are a taken name, a row deleted under it, or text the database cannot store).
   */
  decide<T>(fn: (c: pg.PoolClient) => Promise<T>, opts: TxOptions = {}): Promise<T | Refusal> {
    return this.tx(fn, opts).catch(answerRefusal);
  }

  /**
   * Names are unique case-insensitively within a scope (a tenant, an owner, or the whole table): refuses (`name`)
   * when another row of the scope has the name. The unique index backs it against races (`names` above).
   */
  async nameFree(c: Queryable, table: string, scope: { column: string; value: number } | null, name: string, exceptId = 0): Promise<void> {
    const params = [nameKey(name), exceptId, ...(scope ? [scope.value] : [])];
    if (await this.one(c, `SELECT 1 FROM ${table} WHERE name_key = $1 AND id <> $2${scope ? ` AND ${scope.column} = $3` : ''}`, params)) {
      throw new Refused({ refused: 'name' });
    }
  }

  /** synchronous_commit off or local would let a commit that was answered vanish in a crash: refuse. */
  ensureDurable(): Promise<void> {
    return (this.durabilityChecked ??= (async () => {
      let value: string | undefined;
      try {
        value = (await this.pool.query<{ synchronous_commit: string }>('SHOW synchronous_commit')).rows[0]?.synchronous_commit;
      } catch (err) {
        // The first statement of a start: name the setting, so the operator knows where to look (never the password).
        throw new StoreUnavailable(`TOKENKEEP_DB: PostgreSQL at ${this.location} cannot be used: ${(err as Error).message}`, { cause: err });
      }
      if (!['on', 'remote_write', 'remote_apply'].includes(value ?? '')) {
        throw new Error(
          `refusing to use PostgreSQL at ${this.location}: synchronous_commit is '${value}', so a committed change ` +
            'could be lost in a crash after it was acknowledged; set synchronous_commit = on for this database or role ' +
            '(ALTER DATABASE … SET synchronous_commit = on)',
        );
      }
    })().catch((err: unknown) => {
      this.durabilityChecked = undefined;
      throw err;
    }));
  }

  /** One statement on a client or (autocommit) on the pool, with errors mapped. */
  async run<R extends pg.QueryResultRow = Row>(on: Queryable, sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      if (on !== this.pool) return await on.query<R>(sql, params);
      // An autocommit statement on a client of its own, so that a principal it changed is known to be its doing.
      const client = await this.pool.connect();
      let result: pg.QueryResult<R>;
      try {
        result = await client.query<R>(sql, params);
      } catch (err) {
        changedPrincipals.delete(client);
        client.release(err as Error); // as pool.query does: a client whose statement failed is not reused
        throw err;
      }
      const changed = changedPrincipals.delete(client);
      client.release();
      this.committed(on, result);
      if (changed) await this.principalChanges.committed();
      return result;
    } catch (err) {
      throw this.mapError(err);
    }
  }

  /** An autocommit write went through: the database can write (a statement inside a transaction counts at COMMIT). */
  private committed(on: Queryable, result: pg.QueryResult<pg.QueryResultRow>): void {
    if (on === this.pool && WRITE_COMMANDS.has(result.command)) this.writeHealth.succeeded();
  }

  /** Rows of one statement. */
  async all<R extends pg.QueryResultRow = Row>(on: Queryable, sql: string, params: unknown[] = []): Promise<R[]> {
    return (await this.run<R>(on, sql, params)).rows;
  }

  /** The first row of one statement, or undefined. */
  async one<R extends pg.QueryResultRow = Row>(on: Queryable, sql: string, params: unknown[] = []): Promise<R | undefined> {
    return (await this.run<R>(on, sql, params)).rows[0];
  }

  /**
   * Rows of a prepared statement: each pooled connection parses and plans it once, under `name`, instead of on every
   * call. For the hot, batched statements only, and never with `*`: a column added by a migration while the server
   * runs would change a prepared statement's result type, which PostgreSQL refuses.
   */
  async prepared(name: string, sql: string, params: unknown[]): Promise<Row[]> {
    try {
      const result = await this.pool.query<Row>({ name, text: sql, values: params });
      this.committed(this.pool, result);
      return result.rows;
    } catch (err) {
      throw this.mapError(err);
    }
  }

  /**
   * A single-row lookup by key, batched (./batcher.ts) and prepared (`name`): `sql` selects the rows whose key is in
   * the array $1, `keyOf` reads a row's key back. Each call resolves to its own row, or undefined.
   */
  lookup<K>(name: string, sql: string, keyOf: (row: Row) => K): Lookup<K> {
    const batcher = new Batcher<K, Row | undefined>(
      async (keys) => {
        const byKey = new Map<K, Row>();
        for (const row of await this.prepared(name, sql, [keys])) byKey.set(keyOf(row), row);
        return keys.map((key) => byKey.get(key));
      },
      { inFlight: 2, fatal: isUnavailable },
    );
    return (key) => batcher.add(key);
  }

  /** Changed rows of one statement. */
  async exec(on: Queryable, sql: string, params: unknown[] = []): Promise<number> {
    return (await this.run(on, sql, params)).rowCount ?? 0;
  }

  /**
   * Runs `attempt` again after a serialization failure or a deadlock, up to MAX_TRIES times with a small jittered
   * backoff; anything else is thrown. (mapError keeps those two errors as they are, so `attempt` may map.)
   */
  async retrying<T>(attempt: () => Promise<T>): Promise<T> {
    for (let n = 1; ; n++) {
      try {
        return await attempt();
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === undefined || !RETRYABLE.has(code) || n >= MAX_TRIES) throw err;
        await sleep(Math.random() * 10 * 2 ** n);
      }
    }
  }

  /**
   * Runs `fn` in one transaction on one pooled client, retrying (above) after serialization failures and deadlocks;
   * on any error the transaction rolls back and the error is thrown (mapped).
   */
  async tx<T>(fn: (c: pg.PoolClient) => Promise<T>, opts: TxOptions = {}): Promise<T> {
    if (this.closed) throw new StoreUnavailable('the store is closed');
    return this.retrying(async () => {
      let client: pg.PoolClient;
      try {
        client = await this.pool.connect();
      } catch (err) {
        throw this.mapError(err, opts);
      }
      let broken: Error | undefined;
      let result: T;
      let changed: boolean;
      try {
        await client.query(opts.readOnlySnapshot ? 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' : 'BEGIN');
        for (const lock of opts.locks ?? []) await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_NAMESPACE, lock]);
        result = await fn(client);
        await client.query('COMMIT');
        if (!opts.readOnlySnapshot) this.writeHealth.succeeded();
      } catch (err) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          broken = rollbackError as Error; // the connection is unusable: do not return it to the pool
        }
        throw this.mapError(err, opts);
      } finally {
        changed = changedPrincipals.delete(client);
        client.release(broken);
      }
      // Answered once every node has seen the change; the connection is back in the pool meanwhile.
      if (changed) await this.principalChanges.committed();
      return result;
    });
  }

  async ping(): Promise<void> {
    await this.run(this.pool, 'SELECT 1');
    this.writeHealth.assertWritable();
  }

  /** One autocommit upsert; several servers probing at once only queue for the row for an instant. */
  async probeWrite(): Promise<void> {
    await this.run(
      this.pool,
      `INSERT INTO meta (key, value) VALUES ('write_probe', $1)
      ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
      [Buffer.from(String(Date.now()))],
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([this.pool.end(), this.principalChanges.close()]);
  }
}
