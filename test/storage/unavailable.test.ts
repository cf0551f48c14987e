/**
 * A database that cannot answer is "unavailable", never an internal error: the health check and every request that
 * needs the database get 503 with HDP's envelope (code 223000503) and a Retry-After header, and no response carries
 * a stack or a driver message. The in-process harness (real app, real SQLite file) is used; the database is made
 * unavailable three ways: the connection closed, the write lock held by another connection until busy_timeout
 * expires (SQLITE_BUSY), and the file "full" (SQLITE_FULL through max_page_count; the health check then says it cannot
 * write). Afterwards writes work again. ./write-health.test.ts covers a read-only database on both backends.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { SqliteStore } from '../../src/storage/sqlite/store.js';
import type { LightMyRequestResponse } from 'fastify';
import { ADMIN_PASSWORD, basic, harness, listProfiles, must, type Harness } from '../helpers.js';
import { failureCount } from '../../src/domain/lockout.js';
import { StoreUnavailable } from '../../src/storage/errors.js';

const ADMIN = basic('d2cadmin', ADMIN_PASSWORD);

const appBody = (name: string) => ({
  name,
  dataStore: 54,
  tenantId: 1,
  description: `app ${name}`,
  clientId: `client-${name}`,
  clientSecret: `SECRET-${name}-0123456789`,
  authorizeURI: 'https://accounts.example.com/o/oauth2/v2/auth',
  tokenURI: 'https://oauth2.example.com/v3/token',
  scope: 'offline',
});
const profileBody = (name: string, oauthAppId: number, tokenBytes = 64) => ({
  name,
  oauthAppId,
  description: `profile ${name}`,
  accessToken: `ACCESS-${name}-${'a'.repeat(tokenBytes)}`,
  refreshToken: `REFRESH-${name}-${'r'.repeat(tokenBytes)}`,
});

const request = (h: Harness, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: object): Promise<LightMyRequestResponse> =>
  h.app.inject({ method, url, headers: { authorization: ADMIN }, ...(payload ? { payload } : {}) });

/** 503, the envelope with code 223000503 and nothing else, a Retry-After of whole seconds, no stack or driver text. */
function assertUnavailable(res: LightMyRequestResponse, what: string): void {
  assert.equal(res.statusCode, 503, `${what}: expected 503, got ${res.statusCode} ${res.body.slice(0, 300)}`);
  const retryAfter = res.headers['retry-after'];
  assert.match(String(retryAfter), /^[1-9][0-9]*$/, `${what}: Retry-After is a positive number of seconds (got ${retryAfter})`);
  assert.match(String(res.headers['content-type']), /^application\/json/, what);
  const body = JSON.parse(res.body) as { error: { code: number; message: { lang: string; value: string } } };
  assert.deepEqual(Object.keys(body), ['error'], `${what}: only the envelope`);
  assert.equal(body.error.code, 223000503, what);
  assert.equal(body.error.message.lang, 'en-US', what);
  assert.equal(body.error.message.value, 'The database is unavailable; retry later.', what);
  for (const leak of [/\bat [\w.<>]+ \(/, /node_modules/, /\.ts:\d+/, /SQLITE_/i, /TypeError/, /better-sqlite3/, /connection is not open/]) {
    assert.doesNotMatch(res.body, leak, `${what}: nothing of the driver or a stack reaches the client`);
  }
}

async function createApp(h: Harness, name: string): Promise<number> {
  const res = await request(h, 'POST', '/api/mgmt/oauthapps', appBody(name));
  assert.equal(res.statusCode, 201, res.body);
  return (JSON.parse(res.body) as { id: number }).id;
}

async function createProfile(h: Harness, name: string, appId: number): Promise<number> {
  const res = await request(h, 'POST', '/api/mgmt/oauthprofiles', profileBody(name, appId));
  assert.equal(res.statusCode, 201, res.body);
  return (JSON.parse(res.body) as { id: number }).id;
}

describe('an unavailable database', { timeout: 110_000 }, () => {
  const open: Harness[] = [];
  after(async () => {
    for (const h of open) await h.close().catch(() => undefined);
  });
  const start = async () => {
    const h = await harness();
    open.push(h);
    return h;
  };

  test('a closed connection: health check, reads and writes all answer 503 with Retry-After, never 500', async () => {
    const h = await start();
    const appId = await createApp(h, 'before_close');
    const profileId = await createProfile(h, 'before_close', appId);
    assert.equal((await h.app.inject({ method: 'GET', url: '/api/healthcheck' })).statusCode, 200);

    await h.store.close();

    const health = await h.app.inject({ method: 'GET', url: '/api/healthcheck' });
    assertUnavailable(health, 'GET /api/healthcheck');
    assert.equal(health.headers['cache-control'], 'no-store', 'a failed health check is not cached either');

    const calls: [string, 'GET' | 'POST' | 'PUT' | 'DELETE', string, object?][] = [
      ['list apps', 'GET', '/api/mgmt/oauthapps'],
      ['get app', 'GET', `/api/mgmt/oauthapps/${appId}`],
      ['get profile', 'GET', `/api/mgmt/oauthprofiles/${profileId}`],
      ['list profiles', 'GET', '/api/mgmt/oauthprofiles'],
      ['create app', 'POST', '/api/mgmt/oauthapps', appBody('after_close')],
      ['update app', 'PUT', `/api/mgmt/oauthapps/${appId}`, appBody('after_close_put')],
      ['create profile', 'POST', '/api/mgmt/oauthprofiles', profileBody('after_close', appId)],
      ['update profile', 'PUT', `/api/mgmt/oauthprofiles/${profileId}`, profileBody('after_close_put', appId)],
      ['delete profile', 'DELETE', `/api/mgmt/oauthprofiles/${profileId}`],
      ['create data source', 'POST', '/api/mgmt/datasources', { name: 'ds', dataStore: 54, options: { ViewId: '1' } }],
      [
        'create user',
        'POST',
        '/api/admin/users',
        { userName: 'late', statusInfo: { status: 1 }, passwordInfo: { password: 'Late-Passw0rd!' }, permissions: { roles: [2] } },
      ],
    ];
    for (const [what, method, url, payload] of calls) assertUnavailable(await request(h, method, url, payload), `${what} (${method} ${url})`);
    // Wrong credentials cannot be judged without the database either: 503, not 401 and not 500.
    assertUnavailable(
      await h.app.inject({ method: 'GET', url: '/api/mgmt/oauthapps', headers: { authorization: basic('d2cadmin', 'Wrong-Passw0rd') } }),
      'wrong password',
    );
  });

  test("every Store method rejects with StoreUnavailable on a closed connection (not the driver's TypeError)", async () => {
    const h = await start();
    const appId = await createApp(h, 'store_level');
    const profileId = await createProfile(h, 'store_level', appId);
    const header = (await h.store.profiles.header(profileId))!;
    await h.store.close();
    const s = h.store;
    const input = { name: 'x', oauthAppId: appId, description: null, accessToken: null, refreshToken: 'r', tokenOrigin: 'https://as.example' };
    const app = {
      name: 'y',
      dataStore: 54,
      tenantId: 1,
      description: null,
      clientId: 'c',
      clientSecret: 's',
      authorizeURI: 'https://a.example.com/a',
      tokenURI: 'https://a.example.com/t',
      scope: null,
    };
    const calls: [string, () => Promise<unknown>][] = [
      ['ping', () => s.ping()],
      ['logins.principal', () => s.logins.principal('d2cadmin')],
      ['limits.all', () => s.limits.all()],
      ['apps.get', () => s.apps.get(appId)],
      ['apps.list', () => s.apps.list()],
      ['profiles.get', () => s.profiles.get(profileId)],
      ['profiles.listJson', () => s.profiles.listJson(1)],
      ['profiles.stats', () => s.profiles.stats(profileId)],
      ['apps.create', () => s.apps.create(app)],
      ['apps.update', () => s.apps.update(appId, app)],
      ['profiles.create', () => s.profiles.create({ ...input, ownerId: 1, creatorId: 1 })],
      ['profiles.update', () => s.profiles.update(header, input)],
      ['profiles.delete', () => s.profiles.delete(profileId)],
      [
        'dataSources.create',
        () => s.dataSources.create({ ownerId: 1, name: 'd', dataStore: 54, connectionType: 'Cloud', description: null, options: {}, oauthProfileId: null }),
      ],
      ['logins.recordFailure', () => s.logins.recordFailure(1, Date.now(), failureCount({ limit: 5, intervalMs: 1000, periodMs: 1000 }, Date.now())!)],
    ];
    for (const [name, call] of calls) {
      await assert.rejects(call(), (err: unknown) => {
        assert.ok(err instanceof StoreUnavailable, `${name}: ${(err as Error)?.name}: ${(err as Error)?.message}`);
        return true;
      });
    }
  });

  test('the write lock held elsewhere past busy_timeout (SQLITE_BUSY): writes 503 with Retry-After, reads go on, then writes recover', async () => {
    const h = await start();
    const appId = await createApp(h, 'busy');
    const profileId = await createProfile(h, 'busy', appId);
    const other = new Database(join(h.dir, 'tokenkeep.db'));
    try {
      other.exec('BEGIN IMMEDIATE'); // holds the write lock; the server's busy_timeout (5 s) expires
      // The writes are sent together: one group commit waits out the timeout once and fails them all.
      const [create, update, del] = await Promise.all([
        request(h, 'POST', '/api/mgmt/oauthprofiles', profileBody('busy_new', appId)),
        request(h, 'PUT', `/api/mgmt/oauthprofiles/${profileId}`, profileBody('busy_put', appId)),
        request(h, 'DELETE', `/api/mgmt/oauthprofiles/${profileId}`),
      ]);
      assertUnavailable(create, 'create profile while locked');
      assertUnavailable(update, 'update profile while locked');
      assertUnavailable(del, 'delete profile while locked');
      // WAL readers are not blocked by a writer.
      const read = await request(h, 'GET', `/api/mgmt/oauthprofiles/${profileId}`);
      assert.equal(read.statusCode, 200, read.body);
      assert.equal(JSON.parse(read.body).name, 'busy', 'the refused update did not apply');
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    const retried = await request(h, 'PUT', `/api/mgmt/oauthprofiles/${profileId}`, profileBody('busy_put', appId));
    assert.equal(retried.statusCode, 200, `the retry after the lock is gone succeeds: ${retried.body}`);
    const listed = JSON.parse((await request(h, 'GET', '/api/mgmt/oauthprofiles')).body) as { profiles: { name: string }[] };
    assert.deepEqual(
      listed.profiles.map((p) => p.name),
      ['busy_put'],
      'the refused create left nothing behind',
    );
  });

  test('a full database (SQLITE_FULL): the write answers 503 with Retry-After and leaves nothing half-written', async () => {
    const h = await start();
    const appId = await createApp(h, 'full');
    const profileId = await createProfile(h, 'full', appId);
    // The test reaches into the store's own connection: a cap on the file's pages is what a full disk looks like
    // to SQLite, without filling the machine's disk.
    const db = (h.store as SqliteStore).db.connection;
    const pages = db.pragma('page_count', { simple: true }) as number;
    db.pragma(`max_page_count = ${pages}`);
    try {
      const big = (name: string) => profileBody(name, appId, 12 * 1024);
      const results = await Promise.all([
        request(h, 'POST', '/api/mgmt/oauthprofiles', big('full_a')),
        request(h, 'POST', '/api/mgmt/oauthprofiles', big('full_b')),
        request(h, 'PUT', `/api/mgmt/oauthprofiles/${profileId}`, big('full_put')),
      ]);
      // At least one of them cannot fit; none of them may be a 500.
      for (const res of results) {
        if (res.statusCode !== 503) assert.ok([200, 201].includes(res.statusCode), `${res.statusCode} ${res.body.slice(0, 300)}`);
      }
      const refused = results.filter((r) => r.statusCode === 503);
      assert.ok(refused.length > 0, 'the cap was reached');
      for (const res of refused) assertUnavailable(res, 'write into a full database');
    } finally {
      db.pragma('max_page_count = 1073741823');
    }
    const after = await request(h, 'PUT', `/api/mgmt/oauthprofiles/${profileId}`, profileBody('full_after', appId));
    assert.equal(after.statusCode, 200, `writes recover once there is room: ${after.body}`);
    const got = JSON.parse((await request(h, 'GET', `/api/mgmt/oauthprofiles/${profileId}`)).body);
    assert.deepEqual(got, { id: profileId, ...profileBody('full_after', appId) });
  });

  test('a full database: the health check says 503 "disk full" after the refused write, and 200 once writes fit again', async () => {
    const h = await start();
    const appId = await createApp(h, 'health_full');
    const profileId = await createProfile(h, 'health_full', appId);
    assert.equal((await h.app.inject({ method: 'GET', url: '/api/healthcheck' })).statusCode, 200);
    const db = (h.store as SqliteStore).db.connection;
    db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
    try {
      const refused = await request(h, 'PUT', `/api/mgmt/oauthprofiles/${profileId}`, profileBody('health_full', appId, 15 * 1024));
      assertUnavailable(refused, 'a write that does not fit');
      // The harness's clock has not moved: no probe ran, the answer comes from the refused write.
      for (const method of ['GET', 'HEAD'] as const) {
        const health = await h.app.inject({ method, url: '/api/healthcheck' });
        assert.equal(health.statusCode, 503, `${method}: ${health.body}`);
        assert.ok(health.headers['retry-after']);
        if (method === 'GET') {
          assert.deepEqual(JSON.parse(health.body), {
            error: { code: 223001503, message: { lang: 'en-US', value: 'The database cannot write (disk full); retry later.' } },
          });
        }
      }
    } finally {
      db.pragma('max_page_count = 1073741823');
    }
    h.clock.advance(1);
    assert.equal((await h.app.inject({ method: 'GET', url: '/api/healthcheck' })).statusCode, 200, 'the probe a second later writes again');
    const after = await request(h, 'PUT', `/api/mgmt/oauthprofiles/${profileId}`, profileBody('health_full', appId, 15 * 1024));
    assert.equal(after.statusCode, 200, after.body);
  });

  test('SQLITE_FULL rolls back the whole group commit: every write of the batch is refused and none of them applied', async () => {
    const h = await start();
    const app = await must(h.store.apps.create({ ...appBody('batch'), description: null }));
    const small = { name: 'small', oauthAppId: app.id, description: null, accessToken: null, refreshToken: 'r', tokenOrigin: 'https://as.example' };
    const existing = await must(h.store.profiles.create({ ...small, ownerId: 1, creatorId: 1 }));
    const db = (h.store as SqliteStore).db.connection;
    db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
    try {
      // Queued in one turn of the event loop: one transaction. The first cannot fit, the second alone would.
      const outcomes = await Promise.allSettled([
        h.store.profiles.create({ ...small, name: 'big', refreshToken: 'x'.repeat(16 * 1024), ownerId: 1, creatorId: 1 }),
        h.store.profiles.update(existing, { ...small, description: 'changed in the failed batch' }),
        h.store.dataSources.create({
          ownerId: 1,
          name: 'after_the_failure',
          dataStore: 54,
          connectionType: 'Cloud',
          description: null,
          options: {},
          oauthProfileId: null,
        }),
      ]);
      outcomes.forEach((o, i) => {
        assert.equal(o.status, 'rejected', `write ${i} of the failed batch must not be acknowledged`);
        const reason = (o as PromiseRejectedResult).reason as Error;
        assert.ok(reason instanceof StoreUnavailable, `write ${i}: ${reason?.name}: ${reason?.message}`);
      });
    } finally {
      db.pragma('max_page_count = 1073741823');
    }
    // Nothing of the refused batch reached the database (no write ran in autocommit after SQLite's rollback).
    assert.equal((await h.store.profiles.get(existing.id))?.description, null, 'the update of the refused batch is not applied');
    assert.deepEqual(
      (await listProfiles(h.store, 1)).map((p) => p.name),
      ['small'],
    );
    assert.deepEqual(await h.store.dataSources.list(1), []);
  });

  // SQLite in WAL mode would go on committing into the unlinked file the process holds open.
  test('a deleted data folder: writes must not be acknowledged into a file that is gone', async () => {
    const h = await start();
    const appId = await createApp(h, 'gone');
    rmSync(h.dir, { recursive: true, force: true });
    assert.equal(existsSync(join(h.dir, 'tokenkeep.db')), false);
    const res = await request(h, 'POST', '/api/mgmt/oauthprofiles', profileBody('gone', appId));
    assertUnavailable(res, 'write after the database file was deleted');
    assertUnavailable(await h.app.inject({ method: 'GET', url: '/api/healthcheck' }), 'health check after the database file was deleted');
  });

  test('a database file replaced under the server (a restored copy, a new inode): 503, not writes into the old one', async () => {
    const h = await start();
    const appId = await createApp(h, 'replaced');
    const file = join(h.dir, 'tokenkeep.db');
    copyFileSync(file, `${file}.copy`);
    renameSync(`${file}.copy`, file);
    assertUnavailable(await request(h, 'POST', '/api/mgmt/oauthprofiles', profileBody('replaced', appId)), 'write after the file was replaced');
    assertUnavailable(await h.app.inject({ method: 'GET', url: '/api/healthcheck' }), 'health check after the file was replaced');
  });

  // The health check does not stat() the file itself: its own write probe (at most once a second) goes through the
  // group commit, which checks the file, and the health checks report that check's outcome.
  test('a database file replaced under the server, no write meanwhile: the health check says 503 by its next probe', async () => {
    const h = await start();
    const health = () => h.app.inject({ method: 'GET', url: '/api/healthcheck' });
    assert.equal((await health()).statusCode, 200);
    const file = join(h.dir, 'tokenkeep.db');
    copyFileSync(file, `${file}.copy`);
    renameSync(`${file}.copy`, file);
    h.clock.advance(1);
    assertUnavailable(await health(), 'health check a second after the file was replaced');
    assertUnavailable(await health(), 'and the one after it, before the next probe');
  });
});
