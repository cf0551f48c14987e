/**
 * Test harness: the real app on a real SQLite file in a fresh temporary folder — or, when
 * TOKENKEEP_TEST_BACKEND=postgres, on a fresh PostgreSQL database created on the server TOKENKEEP_TEST_PG_URL names
 * and dropped again by close() — fast password hashing, a clock the test moves, and a response check that fails a
 * test when a body carries a field its schema does not declare.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import Ajv from 'ajv';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp, type AppDeps } from '../src/app.js';
import { hashPassword, type ScryptParams } from '../src/crypto/passwords.js';
import { SqliteStore } from '../src/storage/sqlite/store.js';
import { PostgresStore } from '../src/storage/postgres/store.js';
import type { Profiles, ProfileSummary, Refusal, Store } from '../src/domain/ports/index.js';
import { integrityRules } from '../src/domain/integrity.js';
import { isRefusal, refusalError } from '../src/domain/refusals.js';
import { seed } from '../src/domain/seed.js';
import { MasterKey } from '../src/crypto/master-key.js';

export const FAST_HASH: ScryptParams = { logN: 10, r: 8, p: 1 };
export const ADMIN_PASSWORD = 'Admin-Passw0rd';
export const USER_PASSWORD = 'User-Passw0rd';

export class ManualClock {
  constructor(public ms = Date.UTC(2026, 0, 1)) {}
  now = (): number => this.ms;
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

/** The backend the tests run on: SQLite unless TOKENKEEP_TEST_BACKEND=postgres. */
export const BACKEND: 'sqlite' | 'postgres' = process.env.TOKENKEEP_TEST_BACKEND === 'postgres' ? 'postgres' : 'sqlite';

/**
 * For a test or suite that needs SQLite internals (the database file, its WAL, the SQLite store's own hooks): the
 * `skip` option, a reason on the PostgreSQL pass and false on SQLite.
 */
export const sqliteOnly = (why: string): string | false => (BACKEND === 'postgres' ? `SQLite only: ${why}; skipped on the PostgreSQL pass` : false);

/** The harness's store as the SQLite store, for tests of SQLite internals (which skip on the PostgreSQL pass). */
export function sqliteStoreOf(h: Harness): SqliteStore {
  assert.ok(h.store instanceof SqliteStore, 'this test needs the SQLite store');
  return h.store;
}

export interface Harness {
  app: FastifyInstance;
  store: Store;
  backend: 'sqlite' | 'postgres';
  clock: ManualClock;
  /** a fresh temporary folder; on SQLite it holds tokenkeep.db */
  dir: string;
  /** inject + assert the response matches its declared schema exactly */
  call(opts: InjectOptions & { as?: [string, string] | string }): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;

const ajv = new Ajv.default({ strict: false, allErrors: true });

/** The server TOKENKEEP_TEST_PG_URL names (a database to connect to for CREATE/DROP DATABASE). */
export function testPgUrl(): string {
  const url = process.env.TOKENKEEP_TEST_PG_URL;
  if (!url) throw new Error('the PostgreSQL tests need TOKENKEEP_TEST_PG_URL=postgres://user@host:port/postgres');
  return url;
}

/** The same server's URL, naming another database. */
export function pgDatabaseUrl(name: string): string {
  const url = new URL(testPgUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: testPgUrl(), connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A fresh, empty PostgreSQL database `tk_<random>` on the test server; returns its name. */
export async function createPgDatabase(): Promise<string> {
  const name = `tk_${randomBytes(8).toString('hex')}`;
  for (let attempt = 1; ; attempt++) {
    try {
      await adminQuery(`CREATE DATABASE ${name}`);
      return name;
    } catch (err) {
      // 55006: template1 is briefly in use by a concurrent CREATE DATABASE
      if ((err as { code?: string }).code !== '55006' || attempt >= 10) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}

export async function dropPgDatabase(name: string): Promise<void> {
  await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

async function openTestStore(dir: string, backend: 'sqlite' | 'postgres'): Promise<{ store: Store; dispose(): Promise<void> }> {
  if (backend === 'sqlite') return { store: new SqliteStore(join(dir, 'tokenkeep.db'), integrityRules), dispose: async () => {} };
  const name = await createPgDatabase();
  return { store: new PostgresStore(pgDatabaseUrl(name), integrityRules, { max: 4 }), dispose: () => dropPgDatabase(name) };
}

/** `options.backend` overrides TOKENKEEP_TEST_BACKEND (for the PostgreSQL-only tests). */
export async function harness(overrides: Partial<AppDeps> = {}, options: { backend?: 'sqlite' | 'postgres' } = {}): Promise<Harness> {
  const backend = options.backend ?? BACKEND;
  const dir = mkdtempSync(join(tmpdir(), 'tokenkeep-test-'));
  const { store, dispose } = await openTestStore(dir, backend);
  try {
    await store.migrate();
    await store.keys.init(new MasterKey(MasterKey.generate()));
    await store.bootstrap(
      seed({
        adminPasswordHash: await hashPassword(ADMIN_PASSWORD, FAST_HASH),
        userPasswordHash: await hashPassword(USER_PASSWORD, FAST_HASH),
      }),
    );
  } catch (err) {
    await store.close();
    await dispose();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const clock = new ManualClock();
  const app = await buildApp({ store, hashParams: FAST_HASH, clock: clock.now, failuresPerAddress: 1000, ...overrides });
  const violations: string[] = [];
  app.addHook('preSerialization', async (request, reply, payload) => {
    const schema = (request.routeOptions.schema?.response as Record<number, object> | undefined)?.[reply.statusCode];
    if (!schema) {
      violations.push(`${request.method} ${request.url}: no response schema for ${reply.statusCode}`);
    } else if (!ajv.validate(schema, payload)) {
      violations.push(`${request.method} ${request.url} ${reply.statusCode}: ${ajv.errorsText(ajv.errors)}`);
    }
    return payload;
  });
  await app.ready();
  const passwords = new Map([
    ['d2cadmin', ADMIN_PASSWORD],
    ['d2cuser', USER_PASSWORD],
  ]);
  return {
    app,
    store,
    backend,
    clock,
    dir,
    async call(opts) {
      const { as, ...rest } = opts;
      const headers = { ...(rest.headers ?? {}) };
      if (as !== undefined) {
        const [user, password] = typeof as === 'string' ? [as, passwords.get(as) ?? DEFAULT_PASSWORD] : as;
        headers.authorization = basic(user, password);
      }
      violations.length = 0;
      const res = await app.inject({ ...rest, headers });
      assert.deepEqual(violations, [], 'response matches its declared schema');
      return res;
    },
    async close() {
      await app.close();
      await store.close();
      await dispose();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Password given to users the tests create. */
export const DEFAULT_PASSWORD = 'Test-Passw0rd!';

/** A user's profiles as the store lists them (its JSON text, parsed). */
export const listProfiles = async (store: { profiles: Pick<Profiles, 'listJson'> }, userId: number): Promise<ProfileSummary[]> =>
  JSON.parse(await store.profiles.listJson(userId)) as ProfileSummary[];

/**
 * A store's answer for tests that call the store directly: the value, or its refusal thrown as the catalogue error
 * the domain would give (without the subject the domain adds to 409 and 412 messages).
 */
export async function must<T>(answer: Promise<T | Refusal>): Promise<T> {
  const value = await answer;
  if (isRefusal(value)) throw refusalError(value);
  return value;
}

/** The repositories of a store (src/domain/ports/store.ts): the objects whose methods answer refusals. */
const REPOSITORIES = [
  'logins',
  'limits',
  'tenants',
  'roles',
  'users',
  'apps',
  'profiles',
  'dataSources',
  'tokens',
  'appEngines',
  'consentStates',
] as const satisfies readonly (keyof Store)[];
type Repository = (typeof REPOSITORIES)[number];

/** Every method's refusals removed from its answer. */
type SettledMethods<S> = {
  [K in keyof S]: S[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => Promise<Exclude<R, Refusal>> : S[K];
};

/** What `settled` makes of a store: its methods and those of its repositories without refusals. */
export type Settled<S> = { [K in keyof S]: K extends Repository ? SettledMethods<S[K]> : SettledMethods<S>[K] };

/** A method that throws a refusal as its catalogue error (`must`) instead of answering it. */
const settledMethod =
  (method: (...args: unknown[]) => unknown, self: object) =>
  (...args: unknown[]): unknown => {
    const result = method.apply(self, args);
    return result instanceof Promise ? must(result) : result;
  };

/** An object whose methods are `settledMethod`s. */
function settledMethods<S extends object>(target: S): SettledMethods<S> {
  return new Proxy(target, {
    get(t, prop, receiver) {
      const value = Reflect.get(t, prop, receiver) as unknown;
      return typeof value === 'function' ? settledMethod(value as (...args: unknown[]) => unknown, t) : value;
    },
  }) as unknown as SettledMethods<S>;
}

/**
 * The store, with each refusal thrown as its catalogue error (`must`) instead of answered: for tests that drive stores.
 * The repositories are wrapped one level down; other objects (the connection, the key ring) are handed out as they are.
 */
export function settled<S extends object>(store: S): Settled<S> {
  const repositories = new Map<PropertyKey, object>();
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if ((REPOSITORIES as readonly PropertyKey[]).includes(prop) && typeof value === 'object' && value !== null) {
        let wrapped = repositories.get(prop);
        if (!wrapped) repositories.set(prop, (wrapped = settledMethods(value)));
        return wrapped;
      }
      return typeof value === 'function' ? settledMethod(value as (...args: unknown[]) => unknown, target) : value;
    },
  }) as unknown as Settled<S>;
}
