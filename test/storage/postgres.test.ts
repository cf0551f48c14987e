/**
 * PostgreSQL only (runs when TOKENKEEP_TEST_PG_URL names a server, else skipped with the reason): what the shared
 * API tests cannot show on one process.
 *
 * - The store in-process, with several store objects (several pools: what several nodes look like to the database):
 *   durability refusal, unreachable and closed databases, dropped connections, concurrent migrators and bootstraps,
 *   unique names, the last-Administrator rule, lockout counting, If-Match and the key ring across stores.
 * - Two real server processes (`node dist/cli.js serve`) on one database, started at the same moment: lockout
 *   counters and locks are shared; a password change, deactivation or permission change made through one node is
 *   enforced by the other on its next request although it had the credentials cached; concurrent PUTs through both
 *   nodes never mix fields; an If-Match race across nodes has exactly one winner; ids never clash.
 *
 * Everything binds to 127.0.0.1; every database is fresh and dropped afterwards; every process is killed in `after`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { ApiError } from '../../src/errors.js';
import { MasterKey } from '../../src/crypto/master-key.js';
import { KeyRing } from '../../src/sealing/key-ring.js';
import { hashPassword } from '../../src/crypto/passwords.js';
import { Perm } from '../../src/domain/permissions.js';
import { buildApp } from '../../src/app.js';
import { PostgresStore } from '../../src/storage/postgres/store.js';
import type { PostgresOptions } from '../../src/storage/postgres/db.js';
import { migrations } from '../../src/storage/postgres/migrations.js';
import type { OAuthProfile } from '../../src/domain/ports/index.js';
import { StoreUnavailable } from '../../src/storage/errors.js';
import {
  ADMIN_PASSWORD,
  FAST_HASH,
  USER_PASSWORD,
  basic,
  createPgDatabase,
  dropPgDatabase,
  harness,
  listProfiles,
  must,
  pgDatabaseUrl,
  settled,
  type Settled,
} from '../helpers.js';
import { integrityRules } from '../../src/domain/integrity.js';
import { failureCount } from '../../src/domain/lockout.js';
import { seed as seedRows } from '../../src/domain/seed.js';
import { api, ensureBuilt, killAll, pool, runCli, startServer, withTimeout, type Running } from '../process-support.js';

const PG_URL = process.env.TOKENKEEP_TEST_PG_URL;
const skip = PG_URL ? false : 'TOKENKEEP_TEST_PG_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/postgres): no PostgreSQL server to test against';

/** Every migration's version, in order: what a fresh database gets. */
const VERSIONS = migrations.map((m) => m.version);

const APP = {
  name: 'pg app',
  dataStore: 54,
  tenantId: 1,
  description: null,
  clientId: 'cid',
  clientSecret: 'pg-client-secret',
  authorizeURI: 'https://auth.example/authorize',
  tokenURI: 'https://auth.example/token',
  scope: null,
};
const profileInput = (name: string, oauthAppId: number, refreshToken = `refresh-${name}`) => ({
  name,
  oauthAppId,
  description: null,
  accessToken: null,
  refreshToken,
  tokenOrigin: 'https://auth.example',
});

/** A fresh database on the test server, removed by dispose(). */
async function freshDatabase(): Promise<{ name: string; url: string; dispose(): Promise<void> }> {
  const name = await createPgDatabase();
  return { name, url: pgDatabaseUrl(name), dispose: () => dropPgDatabase(name) };
}

async function adminQuery<R extends pg.QueryResultRow>(database: string, sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: pgDatabaseUrl(database), connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** `n` stores on one database: the first migrates, creates the key ring and bootstraps; the others unseal. */
/** A store on `url` whose refusals are thrown as the catalogue's errors, as these tests expect of the domain. */
const pgStore = (url: string, options?: PostgresOptions): Settled<PostgresStore> => settled(new PostgresStore(url, integrityRules, options));

async function nodes(url: string, n: number): Promise<{ stores: Settled<PostgresStore>[]; master: MasterKey }> {
  const master = new MasterKey(MasterKey.generate());
  const stores = Array.from({ length: n }, () => pgStore(url, { max: 6 }));
  await stores[0].migrate();
  await stores[0].keys.init(master);
  await stores[0].bootstrap(
    seedRows({ adminPasswordHash: await hashPassword(ADMIN_PASSWORD, FAST_HASH), userPasswordHash: await hashPassword(USER_PASSWORD, FAST_HASH) }),
  );
  for (const s of stores.slice(1)) await s.keys.unseal(master);
  return { stores, master };
}

const isApiError =
  (kind: string) =>
  (err: unknown): boolean => {
    assert.ok(err instanceof ApiError, `expected ApiError ${kind}, got ${(err as Error)?.name}: ${(err as Error)?.message}`);
    assert.equal(err.kind, kind);
    return true;
  };

/** Outcomes of concurrent calls: how many succeeded, and the error kinds of the rest (anything else fails the test). */
async function outcomes<T>(calls: Promise<T>[]): Promise<{ ok: T[]; kinds: string[] }> {
  const settled = await Promise.allSettled(calls);
  const ok: T[] = [];
  const kinds: string[] = [];
  for (const s of settled) {
    if (s.status === 'fulfilled') ok.push(s.value);
    else if (s.reason instanceof ApiError) kinds.push(s.reason.kind);
    else throw s.reason;
  }
  return { ok, kinds };
}

// ---- the store in-process ------------------------------------------------------------------------------------------

describe('PostgreSQL store: durability and availability', { skip }, () => {
  test('synchronous_commit off or local is refused at the first use, with a clear message', async () => {
    const db = await freshDatabase();
    try {
      for (const setting of ['off', 'local']) {
        await adminQuery('postgres', `ALTER DATABASE ${db.name} SET synchronous_commit = ${setting}`);
        const store = pgStore(db.url);
        try {
          await assert.rejects(store.migrate(), (err: Error) => {
            assert.match(err.message, new RegExp(`synchronous_commit is '${setting}'`));
            assert.match(err.message, /synchronous_commit = on/);
            return true;
          });
        } finally {
          await store.close();
        }
      }
      await adminQuery('postgres', `ALTER DATABASE ${db.name} SET synchronous_commit = on`);
      const store = pgStore(db.url);
      try {
        assert.deepEqual(await store.migrate(), VERSIONS);
      } finally {
        await store.close();
      }
    } finally {
      await db.dispose();
    }
  });

  test('an unreachable server: StoreUnavailable from the store, 503 from the app, and the password never shows', async () => {
    const store = pgStore('postgres://tokenkeep:S3cret-pw@127.0.0.1:1/tk', { connectionTimeoutMillis: 2000 });
    try {
      await assert.rejects(
        store.migrate(),
        (err: Error) =>
          err instanceof StoreUnavailable && /^TOKENKEEP_DB: PostgreSQL at postgres:\/\/tokenkeep:\*\*\*@127\.0\.0\.1:1\/tk cannot be used/.test(err.message),
      );
      for (const call of [() => store.ping(), () => store.migrate(), () => store.logins.principal('d2cadmin'), () => store.apps.create(APP)]) {
        await assert.rejects(call(), (err: Error) => {
          assert.ok(err instanceof StoreUnavailable, `${err.name}: ${err.message}`);
          assert.doesNotMatch(err.message, /S3cret-pw/);
          return true;
        });
      }
      assert.doesNotMatch(store.db.location, /S3cret-pw/);
      const app = await buildApp({ store, hashParams: FAST_HASH });
      try {
        const health = await app.inject({ method: 'GET', url: '/api/healthcheck' });
        assert.equal(health.statusCode, 503);
        assert.ok(health.headers['retry-after']);
        const res = await app.inject({ method: 'GET', url: '/api/mgmt/oauthapps', headers: { authorization: basic('d2cadmin', ADMIN_PASSWORD) } });
        assert.equal(res.statusCode, 503, res.body);
        assert.equal(JSON.parse(res.body).error.code, 223000503);
        assert.doesNotMatch(res.body, /S3cret-pw|ECONNREFUSED|127\.0\.0\.1/);
      } finally {
        await app.close();
      }
    } finally {
      await store.close();
    }
  });

  test('a closed store: every method rejects with StoreUnavailable, and the app answers 503', async () => {
    const h = await harness({}, { backend: 'postgres' });
    try {
      const app = await must(h.store.apps.create(APP));
      const profile = await must(h.store.profiles.create({ ...profileInput('closed', app.id), ownerId: 2, creatorId: 2 }));
      await h.store.close();
      const s = h.store;
      const calls: [string, () => Promise<unknown>][] = [
        ['ping', () => s.ping()],
        ['logins.principal', () => s.logins.principal('d2cadmin')],
        ['limits.all', () => s.limits.all()],
        ['apps.get', () => s.apps.get(app.id)],
        ['apps.list', () => s.apps.list()],
        ['profiles.get', () => s.profiles.get(profile.id)],
        ['profiles.stats', () => s.profiles.stats(profile.id)],
        ['apps.create', () => s.apps.create({ ...APP, name: 'late' })],
        ['profiles.update', () => s.profiles.update(profile, profileInput('late', app.id))],
        ['profiles.delete', () => s.profiles.delete(profile.id)],
        ['logins.recordFailure', () => s.logins.recordFailure(1, Date.now(), failureCount({ limit: 5, intervalMs: 1000, periodMs: 1000 }, Date.now())!)],
        ['users.create', () => s.users.create({ userName: 'late', tenantId: 1, status: 1, passwordHash: 'x', roles: [2], permissions: [] })],
      ];
      for (const [name, call] of calls) {
        await assert.rejects(call(), (err: Error) => {
          assert.ok(err instanceof StoreUnavailable, `${name}: ${err?.name}: ${err?.message}`);
          return true;
        });
      }
      assert.equal((await h.app.inject({ method: 'GET', url: '/api/healthcheck' })).statusCode, 503);
      const res = await h.app.inject({
        method: 'GET',
        url: `/api/mgmt/oauthprofiles/${profile.id}`,
        headers: { authorization: basic('d2cuser', USER_PASSWORD) },
      });
      assert.equal(res.statusCode, 503, res.body);
    } finally {
      await h.close();
    }
  });

  test('connections killed by the server: requests answer 200 or 503, never 500, and the store recovers by itself', async () => {
    const h = await harness({}, { backend: 'postgres' });
    try {
      const auth = { authorization: basic('d2cuser', USER_PASSWORD) };
      const database = new URL((h.store as PostgresStore).db.url).pathname.slice(1);
      for (let round = 0; round < 3; round++) {
        // Fill the pool with open connections, then have the server terminate every one of them.
        await Promise.all(Array.from({ length: 8 }, () => h.app.inject({ method: 'GET', url: '/api/mgmt/permissions', headers: auth })));
        const killed = await adminQuery<{ ok: boolean }>(
          'postgres',
          'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
          [database],
        );
        assert.ok(killed.length > 0, 'the store had connections to terminate');
        const statuses: number[] = [];
        for (let i = 0; i < 10; i++) {
          const res = await h.app.inject({ method: 'GET', url: '/api/mgmt/permissions', headers: auth });
          assert.ok(res.statusCode === 200 || res.statusCode === 503, `${res.statusCode} ${res.body}`);
          statuses.push(res.statusCode);
        }
        assert.equal(statuses.at(-1), 200, `the store reconnects: ${statuses.join()}`);
      }
    } finally {
      await h.close();
    }
  });
});

describe('PostgreSQL store: several nodes on one database', { skip }, () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let stores: Settled<PostgresStore>[] = [];
  let master: MasterKey;
  let appId: number;
  before(async () => {
    db = await freshDatabase();
    ({ stores, master } = await nodes(db.url, 3));
    appId = (await stores[0].apps.create(APP)).id;
  });
  after(async () => {
    for (const s of stores) await s.close();
    await db?.dispose();
  });

  test('concurrent migrators and bootstraps on a fresh database apply each exactly once', async () => {
    const fresh = await freshDatabase();
    const many = Array.from({ length: 5 }, () => pgStore(fresh.url, { max: 2 }));
    try {
      const applied = await Promise.all(many.map((s) => s.migrate()));
      assert.deepEqual(
        VERSIONS,
        VERSIONS.map((_, i) => i + 1),
        'migrations are numbered 1, 2, 3, …',
      );
      assert.deepEqual(
        applied.flat().sort((x, y) => x - y),
        VERSIONS,
        `each version applied once: ${JSON.stringify(applied)}`,
      );
      assert.deepEqual(
        await adminQuery(fresh.name, 'SELECT version FROM schema_migrations ORDER BY version'),
        VERSIONS.map((version) => ({ version })),
      );
      const seed = seedRows({
        adminPasswordHash: await hashPassword(ADMIN_PASSWORD, FAST_HASH),
        userPasswordHash: await hashPassword(USER_PASSWORD, FAST_HASH),
      });
      const booted = await Promise.all(many.map((s) => s.bootstrap(seed)));
      assert.equal(booted.filter(Boolean).length, 1, 'one bootstrap created the first users');
      assert.deepEqual(
        (await many[1].users.list()).map((u) => u.userName),
        ['d2cadmin', 'd2cuser'],
      );
      // Explicit bootstrap ids moved the sequences on: the next role and tenant do not collide with them.
      const key = new MasterKey(MasterKey.generate());
      await many[0].keys.init(key);
      const role = await many[2].roles.create({ name: 'after bootstrap', tenantId: 1, description: null, permissions: [1], users: [] });
      assert.ok(role.id > 3, `role id ${role.id}`);
      const { tenant } = await many[3].tenants.create({ name: 'second', parentTenant: 1, description: null, status: 1, importedRoles: [2], admins: [1] });
      assert.ok(tenant.id > 1, `tenant id ${tenant.id}`);
    } finally {
      for (const s of many) await s.close();
      await fresh.dispose();
    }
  });

  test('ids are never reused, across nodes and after deletes', async () => {
    const created = await Promise.all(
      Array.from({ length: 30 }, (_, i) => stores[i % 3].profiles.create({ ...profileInput(`ids_${i}`, appId), ownerId: 2, creatorId: 2 })),
    );
    const ids = created.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'distinct ids');
    const max = Math.max(...ids);
    for (const id of ids.slice(-5)) await stores[1].profiles.delete(id);
    const next = await stores[2].profiles.create({ ...profileInput('ids_next', appId), ownerId: 2, creatorId: 2 });
    assert.ok(next.id > max, `a new profile after deletes gets a new id (${next.id} > ${max})`);
    // Each row's sealed values are bound to its own id: every one of them opens.
    for (const p of created.slice(0, 25)) assert.equal((await stores[p.id % 3].profiles.get(p.id))?.refreshToken, `refresh-${p.name}`);
  });

  test('one name, created concurrently through three nodes in varying case: exactly one wins, the rest are 409 duplicateName', async () => {
    for (let round = 0; round < 3; round++) {
      const name = `dup_${round}`;
      const { ok, kinds } = await outcomes(
        Array.from({ length: 12 }, (_, i) =>
          stores[i % 3].profiles.create({ ...profileInput(i % 2 ? name.toUpperCase() : name, appId), ownerId: 2, creatorId: 2 }),
        ),
      );
      assert.equal(ok.length, 1, `round ${round}: one create succeeded`);
      assert.deepEqual([...new Set(kinds)], ['duplicateName']);
      const { ok: apps, kinds: appKinds } = await outcomes(Array.from({ length: 6 }, (_, i) => stores[i % 3].apps.create({ ...APP, name: `App ${round}` })));
      assert.equal(apps.length, 1);
      assert.deepEqual([...new Set(appKinds)], ['duplicateName']);
      const { ok: users, kinds: userKinds } = await outcomes(
        Array.from({ length: 6 }, (_, i) =>
          stores[i % 3].users.create({ userName: `Racer${round}`, tenantId: 1, status: 1, passwordHash: 'x', roles: [2], permissions: [] }),
        ),
      );
      assert.equal(users.length, 1);
      assert.deepEqual([...new Set(userKinds)], ['duplicateName']);
    }
  });

  test('at least one active Administrator remains when two nodes demote the last two at once', async () => {
    for (let round = 0; round < 4; round++) {
      const other = await stores[0].users.create({ userName: `admin_${round}`, tenantId: 1, status: 1, passwordHash: 'x', roles: [1], permissions: [] });
      const d2cadmin = (await stores[0].users.byName('d2cadmin'))!;
      const { ok, kinds } = await outcomes([
        stores[1].users.update(d2cadmin.id, { userName: 'd2cadmin', status: 1, roles: [2], permissions: [] }),
        stores[2].users.update(other.id, { userName: other.userName, status: 1, roles: [2], permissions: [] }),
      ]);
      assert.equal(ok.length, 1, `round ${round}: exactly one demotion succeeded`);
      assert.deepEqual(kinds, ['conflict']);
      const admins = (await stores[0].users.list()).filter((u) => u.status === 1 && u.roles.includes(1));
      assert.equal(admins.length, 1, 'one Administrator is left');
      // restore d2cadmin for the next round, remove the helper user
      await stores[0].users.update(d2cadmin.id, { userName: 'd2cadmin', status: 1, roles: [1], permissions: [] });
      await stores[0].users.delete(other.id);
    }
    // And deleting versus deactivating across nodes:
    const other = await stores[0].users.create({ userName: 'admin_last', tenantId: 1, status: 1, passwordHash: 'x', roles: [1], permissions: [] });
    const d2cadmin = (await stores[0].users.byName('d2cadmin'))!;
    const { ok } = await outcomes<unknown>([
      stores[1].users.delete(other.id),
      stores[2].users.update(d2cadmin.id, { userName: 'd2cadmin', status: 0, roles: [1], permissions: [] }),
    ]);
    assert.equal(ok.length, 1);
    const active = (await stores[0].users.list()).filter((u) => u.status === 1 && u.roles.includes(1));
    assert.equal(active.length, 1);
    // whichever lost, d2cadmin ends active again for the tests that follow
    if (await stores[0].users.get(other.id)) await stores[0].users.update(d2cadmin.id, { userName: 'd2cadmin', status: 1, roles: [1], permissions: [] });
  });

  test("every user keeps a role when one node deletes a role while another makes it a user's only role", async () => {
    for (let round = 0; round < 4; round++) {
      const role = await stores[0].roles.create({ name: `only_${round}`, tenantId: 1, description: null, permissions: [8], users: [] });
      const user = await stores[0].users.create({ userName: `member_${round}`, tenantId: 1, status: 1, passwordHash: 'x', roles: [2], permissions: [] });
      await outcomes<unknown>([
        stores[1].users.update(user.id, { userName: user.userName, status: 1, roles: [role.id], permissions: [] }),
        stores[2].roles.delete(role.id),
      ]);
      const after = (await stores[0].users.get(user.id))!;
      assert.ok(after.roles.length > 0, `round ${round}: the user kept a role (${JSON.stringify(after.roles)})`);
      const orphans = (await stores[0].users.list()).filter((u) => u.roles.length === 0);
      assert.deepEqual(orphans, []);
    }
  });

  test('failed logins counted through three nodes at once: every one counts, the account locks exactly once', async () => {
    const user = await stores[0].users.create({ userName: 'lockme', tenantId: 1, status: 1, passwordHash: 'x', roles: [2], permissions: [] });
    const now = Date.now();
    const policy = { limit: 30, intervalMs: 60_000, periodMs: 600_000 };
    const results = await Promise.all(
      Array.from({ length: 29 }, (_, i) => stores[i % 3].logins.recordFailure(user.id, now + i, failureCount(policy, now + i)!)),
    );
    assert.equal(results.filter((r) => r.locked).length, 0);
    assert.equal((await stores[1].users.get(user.id))!.failedCount, 29, 'no failure was lost');
    const last = await Promise.all([stores[2].logins.recordFailure(user.id, now + 100, failureCount(policy, now + 100)!)]);
    assert.deepEqual(last, [{ locked: true }]);
    const locked = (await stores[0].logins.principal('LOCKME'))!;
    assert.equal(locked.lockedUntil, now + 100 + policy.periodMs);
    assert.equal(locked.failedCount, 0);
  });

  test('If-Match across nodes: of many updates of one version exactly one applies; deletes too', async () => {
    const p = await stores[0].profiles.create({ ...profileInput('ifmatch', appId), ownerId: 2, creatorId: 2 });
    const { ok, kinds } = await outcomes(
      Array.from({ length: 15 }, (_, i) =>
        stores[i % 3].profiles.update(p, profileInput('ifmatch', appId, `won-${i}`), i % 2 ? [p.version] : [p.version + 3, p.version]),
      ),
    );
    assert.equal(ok.length, 1);
    assert.equal(kinds.length, 14);
    assert.deepEqual([...new Set(kinds)], ['preconditionFailed']);
    const stored = (await stores[1].profiles.get(p.id))!;
    assert.equal(stored.version, p.version + 1);
    assert.equal(stored.refreshToken, ok[0].refreshToken);
    const del = await outcomes<unknown>(Array.from({ length: 6 }, (_, i) => stores[i % 3].profiles.delete(p.id, [stored.version])));
    assert.equal(del.ok.length, 1);
    assert.ok(
      del.kinds.every((k) => k === 'profileNotFound' || k === 'preconditionFailed'),
      del.kinds.join(),
    );
    await assert.rejects(stores[2].profiles.update(stored, profileInput('ifmatch', appId)), isApiError('profileNotFound'));
  });

  test('a key version added by one node: the others open its rows at once, seal under it within a second; re-encryption beside writers loses nothing', async () => {
    const [a, b, c] = stores;
    const before = await a.profiles.create({ ...profileInput('ring_before', appId), ownerId: 2, creatorId: 2 });
    const version = await b.keys.addVersion();
    const byB = await b.profiles.create({ ...profileInput('ring_by_b', appId), ownerId: 2, creatorId: 2 });
    assert.equal((await a.profiles.get(byB.id))?.refreshToken, 'refresh-ring_by_b', 'a node opens a row sealed under a version it had not loaded');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const byA = await a.profiles.create({ ...profileInput('ring_by_a', appId), ownerId: 2, creatorId: 2 });
    const rows = await adminQuery<{ id: number; key_version: number; refresh_token: Buffer }>(
      db.name,
      'SELECT id, key_version, refresh_token FROM oauth_profiles WHERE id = ANY($1::bigint[])',
      [[before.id, byB.id, byA.id]],
    );
    const versions = new Map(rows.map((r) => [Number(r.id), r.key_version]));
    assert.equal(versions.get(byA.id), version, 'after the refresh interval new writes use the new version');

    // Re-encrypt through node c while nodes a and b keep rewriting profiles: the last write of each wins.
    const targets = (await listProfiles(a, 2)).slice(0, 6).map((p) => p.id);
    const last = new Map<number, { token: string; version: number }>();
    let stop = false;
    const writers = [a, b].map(async (s, w) => {
      for (let i = 0; !stop && i < 40; i++) {
        const id = targets[(i + w) % targets.length];
        const current = (await s.profiles.get(id))!;
        const token = `rewritten-${w}-${i}`;
        const updated = await s.profiles
          .update(current, { ...profileInput(current.name, appId), refreshToken: token }, [current.version])
          .catch((err: unknown) => {
            if (err instanceof ApiError && err.kind === 'preconditionFailed') return undefined;
            throw err;
          });
        if (updated && updated.version > (last.get(id)?.version ?? 0)) last.set(id, { token, version: updated.version });
      }
    });
    const rotation = (async () => {
      let total = 0;
      for (;;) {
        const n = await c.keys.reencryptBatch(3);
        if (n === 0) return total;
        total += n;
      }
    })();
    await rotation;
    stop = true;
    await Promise.all(writers);
    // A writer that had not seen the new version yet may have written under the old one: one more pass.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    while ((await c.keys.reencryptBatch(50)) > 0);
    assert.ok(last.size > 0, 'the writers wrote');
    for (const [id, { token }] of last) assert.equal((await c.profiles.get(id))?.refreshToken, token, `profile ${id} keeps its last acknowledged write`);
    const status = await c.keys.status();
    assert.deepEqual(
      status.filter((v) => v.rows > 0).map((v) => v.version),
      [version],
      'every row is under the new version',
    );
    await c.keys.retire(version - 1);
    // every sealed value is under its row's key_version, and every node still reads every row
    for (const table of ['oauth_profiles', 'oauth_apps', 'datasources']) {
      const column = table === 'oauth_apps' ? 'client_secret' : table === 'datasources' ? 'options' : 'refresh_token';
      for (const r of await adminQuery<Record<string, unknown>>(db.name, `SELECT id, key_version, ${column} AS v FROM ${table}`)) {
        assert.equal(KeyRing.versionOf(r.v as Buffer), r.key_version, `${table} ${r.id}`);
      }
    }
    for (const s of stores) for (const p of await listProfiles(s, 2)) assert.ok((await s.profiles.get(p.id))!.refreshToken);
    const fresh = pgStore(db.url, { max: 1 });
    try {
      await fresh.keys.unseal(master);
      assert.equal((await fresh.apps.get(appId))?.clientSecret, 'pg-client-secret');
    } finally {
      await fresh.close();
    }
  });

  test('statements batched within a turn: every PUT, read and login gets its own answer, and a bad item fails alone', async () => {
    const [a, b] = stores;
    const profiles = await Promise.all(
      Array.from({ length: 40 }, (_, i) => a.profiles.create({ ...profileInput(`batch_${i}`, appId), ownerId: 2, creatorId: 2 })),
    );
    await a.profiles.create({ ...profileInput('batch_taken', appId), ownerId: 2, creatorId: 2 });
    const odd = await a.profiles.create({ ...profileInput('batch_odd', appId), ownerId: 2, creatorId: 2 });
    // Values that array literals must quote: quotes, backslashes, braces, commas, the word NULL, an empty string.
    const oddInput = { name: 'q"uo\\te{,} NULL', oauthAppId: appId, description: 'NULL', accessToken: '', refreshToken: '\\x00"}' };
    const [p0, p1, p2] = profiles;
    // All in one turn: one write per profile, three more of p0 (never in one batch with each other), a rename to a
    // taken name (its batch fails at the unique index, then each item runs alone), a stale If-Match, a missing id.
    const writes = [
      ...profiles.map((p, i) => a.profiles.update(p, profileInput(p.name, appId, `new-${i}`))),
      ...[1, 2, 3].map((k) => a.profiles.update(p0, profileInput(p0.name, appId, `p0-again-${k}`))),
      a.profiles.update(odd, { ...oddInput, tokenOrigin: 'https://auth.example' }),
      a.profiles.update(p1, profileInput('BATCH_TAKEN', appId)),
      a.profiles.update(p2, profileInput(p2.name, appId), [p2.version + 7, p2.version + 8]),
      a.profiles.update({ ...p2, id: 999_999_999 }, profileInput('gone', appId)),
    ].map((w) =>
      w.then(
        (value) => ({ value }),
        (err: unknown) => ({ kind: err instanceof ApiError ? err.kind : String(err) }),
      ),
    );
    const results = await Promise.all(writes);
    const tail = results.slice(profiles.length + 4);
    assert.deepEqual(tail, [{ kind: 'duplicateName' }, { kind: 'preconditionFailed' }, { kind: 'profileNotFound' }]);
    const stored = (await b.profiles.get(odd.id))!;
    assert.deepEqual(
      { name: stored.name, oauthAppId: stored.oauthAppId, description: stored.description, accessToken: stored.accessToken, refreshToken: stored.refreshToken },
      oddInput,
    );
    for (const [i, r] of results.slice(0, profiles.length + 3).entries()) {
      assert.ok('value' in r, `write ${i}: ${JSON.stringify(r)}`);
      const expected = i < profiles.length ? `new-${i}` : `p0-again-${i - profiles.length + 1}`;
      assert.equal(r.value.refreshToken, expected);
    }
    // What another node reads is what was answered; p0 took four writes, one after another.
    const p0Answers = results
      .filter((r, i) => (i === 0 || (i >= profiles.length && i < profiles.length + 3)) && 'value' in r)
      .map((r) => (r as { value: { version: number; refreshToken: string } }).value);
    assert.deepEqual(p0Answers.map((v) => v.version).sort(), [2, 3, 4, 5]);
    const reads = await Promise.all([...profiles.map((p) => b.profiles.get(p.id)), b.profiles.get(999_999_999)]);
    assert.equal(reads.at(-1), undefined);
    assert.equal(reads[0]!.refreshToken, p0Answers.find((v) => v.version === 5)!.refreshToken);
    for (let i = 1; i < profiles.length; i++) assert.equal(reads[i]!.refreshToken, `new-${i}`, `profile ${i}`);
    assert.equal(reads[1]!.name, 'batch_1', 'the refused rename left the name as it was');
    // Logins of several names in one turn, in any case, known and unknown.
    const names = ['d2cadmin', 'D2CUSER', 'nobody-here', 'lockme', 'd2cadmin'];
    const principals = await Promise.all(names.map((n) => b.logins.principal(n)));
    assert.deepEqual(
      principals.map((p) => p?.userName),
      ['d2cadmin', 'd2cuser', undefined, 'lockme', 'd2cadmin'],
    );
    assert.ok(principals[0]!.effective.has(Perm.Administrator) && !principals[1]!.effective.has(Perm.Administrator), 'each got its own grants');
    // A create is one INSERT that reads its app: no app, no row.
    await assert.rejects(a.profiles.create({ ...profileInput('batch_no_app', 999_999_999), ownerId: 2, creatorId: 2 }), isApiError('appReferenceInvalid'));
  });

  test('batched PUTs in flight on two nodes, over the same rows in opposite orders: no deadlock, no lost update', async () => {
    const pair = [pgStore(db.url, { max: 4 }), pgStore(db.url, { max: 4 })];
    const deadlocks = async () =>
      Number((await adminQuery<{ n: string }>(db.name, 'SELECT deadlocks AS n FROM pg_stat_database WHERE datname = current_database()'))[0].n);
    const before = await deadlocks();
    try {
      for (const s of pair) await s.keys.unseal(master);
      const rows = await Promise.all(
        Array.from({ length: 12 }, (_, i) => pair[0].profiles.create({ ...profileInput(`order_${i}`, appId), ownerId: 2, creatorId: 2 })),
      );
      const writes: Promise<OAuthProfile>[] = [];
      // Several turns without waiting, so that batches overlap; one node goes up the ids, the other down.
      for (let round = 0; round < 6; round++) {
        for (const [n, order] of [
          [0, rows],
          [1, [...rows].reverse()],
        ] as const) {
          // Each write hands over the row as created, as concurrent requests that read it at the same moment would.
          for (const row of order) writes.push(pair[n].profiles.update(row, profileInput(`order_${rows.indexOf(row)}`, appId, `r${round}-n${n}`)));
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
      await Promise.all(writes);
      for (const r of rows) assert.equal((await pair[1].profiles.get(r.id))!.version, r.version + 12, `profile ${r.id}: every write applied once`);
    } finally {
      for (const s of pair) await s.close(); // a backend reports its statistics when it ends
    }
    assert.equal(await deadlocks(), before, 'PostgreSQL saw no deadlock');
  });

  test('a DELETE whose cascade meets a deadlock is run again, and the profile goes', async () => {
    const [a] = stores;
    const dataStore = (await a.apps.get(appId))!.dataStore;
    const profile = await a.profiles.create({ ...profileInput('deadlock_victim', appId), ownerId: 2, creatorId: 2 });
    const ds = await a.dataSources.create({
      ownerId: 2,
      name: 'deadlock_ds',
      dataStore,
      connectionType: 'Cloud',
      description: null,
      options: {},
      oauthProfileId: profile.id,
    });
    const deadlocks = async () =>
      Number((await adminQuery<{ n: string }>(db.name, 'SELECT deadlocks AS n FROM pg_stat_database WHERE datname = current_database()'))[0].n);
    const before = await deadlocks();
    const other = new pg.Client({ connectionString: db.url });
    await other.connect();
    try {
      // The other transaction holds the data source, then wants the profile; the DELETE holds the profile, then its
      // cascade wants the data source. The other waits longer before it looks for a deadlock, so the DELETE is the victim.
      await other.query("BEGIN; SET LOCAL deadlock_timeout = '20s'");
      await other.query('UPDATE datasources SET name = name WHERE id = $1', [ds.id]);
      const deleting = a.profiles.delete(profile.id).then(
        () => 'deleted',
        (err: unknown) => err,
      );
      // Only once the DELETE waits for the data source's lock does the other ask for the profile's.
      for (let waited = 0; ; waited += 20) {
        const [{ n }] = await adminQuery<{ n: number }>(
          db.name,
          `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'DELETE FROM oauth_profiles%'`,
        );
        if (n > 0) break;
        assert.ok(waited < 10_000, 'the DELETE never waited for the data source');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await other.query('SELECT 1 FROM oauth_profiles WHERE id = $1 FOR UPDATE', [profile.id]);
      await other.query('COMMIT');
      assert.equal(await deleting, 'deleted');
    } finally {
      await other.end();
    }
    assert.equal(await a.profiles.get(profile.id), undefined, 'the profile is gone');
    assert.equal((await a.dataSources.get(ds.id))!.oauthProfileId, null, 'the data source lost its reference');
    // A backend reports its statistics up to a second after its transaction (PostgreSQL 15), and other backends of
    // this database may report earlier deadlocks of their own late: wait for this one, and count at least it.
    let after = await deadlocks();
    for (let waited = 0; after <= before && waited < 5_000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = await deadlocks();
    }
    assert.ok(after >= before + 1, `PostgreSQL reported the deadlock the DELETE was retried after (${before} → ${after})`);
  });
});

// ---- two real server processes on one database ---------------------------------------------------------------------

describe('two server processes on one PostgreSQL database', { skip, timeout: 300_000 }, () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let A: Running;
  let B: Running;
  const ADMIN = basic('d2cadmin', ADMIN_PASSWORD);
  const USER = basic('d2cuser', USER_PASSWORD);
  const PASSWORD = 'Node-Passw0rd!';
  const appIds: number[] = [];

  before(async () => {
    ensureBuilt();
    db = await freshDatabase();
    // A password in the URL (the test server trusts local connections and ignores it) that must never be logged.
    const url = new URL(db.url);
    if (!url.password) url.password = 'Url-S3cret-pw';
    const env = {
      TOKENKEEP_DB: url.toString(),
      TOKENKEEP_MASTER_KEY: MasterKey.generate().toString('base64'),
      TOKENKEEP_ADMIN_PASSWORD: ADMIN_PASSWORD,
      TOKENKEEP_USER_PASSWORD: USER_PASSWORD,
    };
    // Both at the same moment on the empty database: migrations, key ring and bootstrap must sort themselves out.
    [A, B] = await Promise.all([startServer(env), startServer(env)]);
    for (const node of [A, B]) assert.ok(!node.output().includes(url.password), "the URL's password is not in the log");
    for (const name of ['node app 1', 'node app 2']) {
      const res = await api(A.base, 'POST', '/api/mgmt/oauthapps', ADMIN, {
        name,
        dataStore: 54,
        clientId: 'cid',
        clientSecret: 'node-secret',
        authorizeURI: 'https://auth.example/a',
        tokenURI: 'https://auth.example/t',
      });
      assert.equal(res.status, 201, res.text);
      appIds.push(res.body.id);
    }
  });

  after(async () => {
    killAll();
    await db?.dispose();
  });

  const createUser = async (node: Running, userName: string, roles: number[] = [2]): Promise<number> => {
    const res = await api(node.base, 'POST', '/api/admin/users', ADMIN, {
      userName,
      statusInfo: { status: 1 },
      passwordInfo: { password: PASSWORD },
      permissions: { roles },
    });
    assert.equal(res.status, 201, res.text);
    return res.body.id;
  };

  test('both nodes started together on an empty database and serve the same data', async () => {
    for (const node of [A, B]) {
      const res = await api(node.base, 'GET', '/api/mgmt/oauthapps', ADMIN);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(
        res.body.applications.map((a: { id: number }) => a.id),
        appIds,
      );
      const app = await api(node.base, 'GET', `/api/mgmt/oauthapps/${appIds[0]}`, ADMIN);
      assert.equal(app.body.clientSecret, 'node-secret', 'both nodes unsealed with the one key ring');
    }
  });

  test('failed logins spread across both nodes lock the account on both; an unlock through one frees it on both', async () => {
    const id = await createUser(A, 'lock_user');
    const wrong = basic('lock_user', 'Wrong-Passw0rd!');
    for (const node of [A, B, A]) assert.equal((await api(node.base, 'GET', '/api/mgmt/permissions', wrong)).status, 401);
    const right = basic('lock_user', PASSWORD);
    for (const node of [A, B]) {
      assert.equal((await api(node.base, 'GET', '/api/mgmt/permissions', right)).status, 401, 'locked: even the right password is refused');
      const status = await api(node.base, 'GET', `/api/admin/users/${id}/statusinfo`, ADMIN);
      assert.equal(status.body.accountLocked, true);
    }
    assert.equal((await api(B.base, 'PUT', `/api/admin/users/${id}/statusinfo`, ADMIN, { status: 1, accountLocked: false })).status, 200);
    for (const node of [A, B]) assert.equal((await api(node.base, 'GET', '/api/mgmt/permissions', right)).status, 200);
  });

  test('a password change through A is enforced by B on its next request, although B had the old password cached', async () => {
    const id = await createUser(A, 'pw_user');
    const old = basic('pw_user', PASSWORD);
    assert.equal((await api(B.base, 'GET', '/api/mgmt/permissions', old)).status, 200);
    assert.equal((await api(B.base, 'GET', '/api/mgmt/permissions', old)).status, 200, 'cached on B');
    const next = 'Changed-Passw0rd!';
    assert.equal((await api(A.base, 'PUT', `/api/admin/users/${id}/passwordinfo`, ADMIN, { password: next })).status, 204);
    assert.equal((await api(B.base, 'GET', '/api/mgmt/permissions', old)).status, 401);
    assert.equal((await api(B.base, 'GET', '/api/mgmt/permissions', basic('pw_user', next))).status, 200);
  });

  test('a deactivation through A is enforced by B on its next request', async () => {
    const id = await createUser(A, 'off_user');
    const auth = basic('off_user', PASSWORD);
    assert.equal((await api(B.base, 'GET', '/api/mgmt/permissions', auth)).status, 200);
    assert.equal((await api(A.base, 'PUT', `/api/admin/users/${id}/statusinfo`, ADMIN, { status: 0 })).status, 200);
    assert.equal((await api(B.base, 'GET', '/api/mgmt/permissions', auth)).status, 401);
    assert.equal((await api(A.base, 'GET', '/api/mgmt/permissions', auth)).status, 401);
  });

  test('a permission change through A is enforced by B on its next request', async () => {
    const id = await createUser(A, 'perm_user');
    const auth = basic('perm_user', PASSWORD);
    assert.equal((await api(B.base, 'GET', '/api/mgmt/oauthprofiles', auth)).status, 200);
    const role = await api(A.base, 'POST', '/api/admin/roles', ADMIN, { name: 'web only', tenantId: 1, permissions: [8] });
    assert.equal(role.status, 201, role.text);
    assert.equal((await api(A.base, 'PUT', `/api/admin/users/${id}/permissions`, ADMIN, { roles: [role.body.id], permissions: [] })).status, 200);
    const refused = await api(B.base, 'GET', '/api/mgmt/oauthprofiles', auth);
    assert.equal(refused.status, 403, refused.text);
    assert.equal(refused.body.error.code, 222208103);
  });

  test('concurrent PUTs to one profile through both nodes never mix fields: the stored profile is exactly one body', async () => {
    const created = await api(A.base, 'POST', '/api/mgmt/oauthprofiles', USER, { name: 'contended', oauthAppId: appIds[0], refreshToken: 'r0' });
    assert.equal(created.status, 201, created.text);
    const id = created.body.id;
    // Each node verifies d2cuser once before the burst.
    for (const node of [A, B]) assert.equal((await api(node.base, 'GET', `/api/mgmt/oauthprofiles/${id}`, USER)).status, 200);
    const bodies = Array.from({ length: 30 }, (_, i) => ({
      name: `contended_${i}`,
      oauthAppId: appIds[i % 2],
      description: i % 3 === 0 ? null : `description ${i}`,
      accessToken: i % 4 === 0 ? null : `access-${i}-${'a'.repeat(i * 37)}`,
      refreshToken: `refresh-${i}-${'r'.repeat(i * 53)}`,
    }));
    const responses = await withTimeout(
      Promise.all(bodies.map((body, i) => api((i % 2 ? B : A).base, 'PUT', `/api/mgmt/oauthprofiles/${id}`, USER, body))),
      120_000,
      'the PUT burst',
    );
    responses.forEach((res, i) => {
      assert.equal(res.status, 200, `PUT ${i}: ${res.text.slice(0, 200)}`);
      assert.deepEqual(res.body, { id, ...bodies[i] }, `PUT ${i} got its own body back`);
    });
    const stored = [A, B].map(async (node) => (await api(node.base, 'GET', `/api/mgmt/oauthprofiles/${id}`, USER)).body);
    const [fromA, fromB] = await Promise.all(stored);
    assert.deepEqual(fromA, fromB, 'both nodes read the same row');
    const matches = bodies.filter((b) => JSON.stringify({ id, ...b }) === JSON.stringify(fromA));
    assert.equal(matches.length, 1, `the stored profile is exactly one request's body: ${JSON.stringify(fromA).slice(0, 200)}`);
  });

  test('an If-Match race across nodes: exactly one 200, the rest 412', async () => {
    const created = await api(B.base, 'POST', '/api/mgmt/oauthprofiles', USER, { name: 'etag_race', oauthAppId: appIds[0], refreshToken: 'r0' });
    assert.equal(created.status, 201);
    const id = created.body.id;
    const get = await fetch(`${A.base}/api/mgmt/oauthprofiles/${id}`, { headers: { authorization: USER }, signal: AbortSignal.timeout(30_000) });
    const etag = get.headers.get('etag')!;
    assert.ok(etag);
    await get.text();
    const statuses = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const res = await fetch(`${(i % 2 ? B : A).base}/api/mgmt/oauthprofiles/${id}`, {
          method: 'PUT',
          headers: { authorization: USER, 'content-type': 'application/json', 'if-match': etag },
          body: JSON.stringify({ name: 'etag_race', oauthAppId: appIds[0], refreshToken: `winner-${i}` }),
          signal: AbortSignal.timeout(60_000),
        });
        await res.text();
        return res.status;
      }),
    );
    assert.equal(statuses.filter((s) => s === 200).length, 1, statuses.join());
    assert.equal(statuses.filter((s) => s === 412).length, 11, statuses.join());
  });

  test('the CLI: migrate on the shared database is a no-op; an unreachable server fails naming TOKENKEEP_DB, without the password', async () => {
    const migrate = await runCli(['migrate'], { TOKENKEEP_DB: db.url });
    assert.equal(migrate.code, 0, migrate.stderr);
    assert.match(migrate.stdout, /database is up to date/);
    const down = await runCli(['serve'], { TOKENKEEP_DB: 'postgres://tokenkeep:Cli-S3cret@127.0.0.1:1/tk', PORT: '0', HOST: '127.0.0.1' }, 30_000);
    assert.notEqual(down.code, 0);
    assert.notEqual(down.code, null, 'exited by itself');
    assert.match(down.stderr, /TOKENKEEP_DB/);
    assert.ok(!`${down.stdout}${down.stderr}`.includes('Cli-S3cret'), 'the password is not printed');
  });

  test('parallel creates through both nodes get distinct ids, each readable through the other node', async () => {
    const results: { node: Running; id: number; name: string }[] = [];
    await pool(
      Array.from({ length: 24 }, (_, i) => i),
      12,
      async (i) => {
        const node = i % 2 ? B : A;
        const name = `parallel_${i}`;
        const res = await api(node.base, 'POST', '/api/mgmt/oauthprofiles', USER, { name, oauthAppId: appIds[i % 2], refreshToken: `r-${i}` });
        assert.equal(res.status, 201, res.text);
        results.push({ node, id: res.body.id, name });
      },
    );
    assert.equal(new Set(results.map((r) => r.id)).size, results.length, 'no id was handed out twice');
    for (const r of results) {
      const other = r.node === A ? B : A;
      const res = await api(other.base, 'GET', `/api/mgmt/oauthprofiles/${r.id}`, USER);
      assert.equal(res.status, 200);
      assert.equal(res.body.name, r.name);
    }
  });
});
