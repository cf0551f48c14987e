/**
 * The health check tells a load balancer whether the node can WRITE, not only whether its database answers: while the
 * database refuses writes it says 503 with `cannotWrite` (223001503) and the reason, then 200 once writes work again.
 * The store remembers its last write's outcome (a request's), and the health check probes with a tiny write of its own
 * at most once a second (the harness's clock decides when a second has passed), shared by concurrent checks.
 *
 * The database is made really read-only under the running app: on SQLite the server's own connection refuses writes
 * (`PRAGMA query_only`: SQLite's SQLITE_READONLY); on PostgreSQL the test database is set
 * `default_transaction_read_only` and the server's connections are ended, so that its pool reconnects into it (as
 * after a fail-over onto a standby). Then the same steps undo it.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { LightMyRequestResponse } from 'fastify';
import { harness, testPgUrl, type Harness } from '../helpers.js';
import type { PostgresStore } from '../../src/storage/postgres/store.js';
import type { SqliteStore } from '../../src/storage/sqlite/store.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function setReadOnly(h: Harness, readOnly: boolean): Promise<void> {
  if (h.backend === 'sqlite') {
    (h.store as SqliteStore).db.connection.pragma(`query_only = ${readOnly ? 'ON' : 'OFF'}`);
    return;
  }
  const store = h.store as PostgresStore;
  const database = new URL(store.db.url).pathname.slice(1);
  const admin = new pg.Client({ connectionString: testPgUrl() });
  await admin.connect();
  try {
    await admin.query(`ALTER DATABASE ${database} ${readOnly ? 'SET default_transaction_read_only = on' : 'RESET default_transaction_read_only'}`);
    // A database setting applies to new sessions: end the server's, and wait until its pool has let them all go.
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
  } finally {
    await admin.end();
  }
  const pool = store.db.pool;
  for (const deadline = Date.now() + 10_000; pool.totalCount > 0; await sleep(10)) {
    assert.ok(Date.now() < deadline, 'the pool let its ended connections go');
  }
}

const health = (h: Harness, method: 'GET' | 'HEAD' = 'GET') => h.app.inject({ method, url: '/api/healthcheck' });

function assertHealthy(res: LightMyRequestResponse, what: string): void {
  assert.equal(res.statusCode, 200, `${what}: ${res.body}`);
  assert.deepEqual(res.json(), { status: 'active' }, what);
}

/** 503, the envelope with code 223001503 naming the reason, Retry-After, and nothing of the driver or the file. */
function assertCannotWrite(h: Harness, res: LightMyRequestResponse, reason: string, what: string): void {
  assert.equal(res.statusCode, 503, `${what}: ${res.body}`);
  assert.match(String(res.headers['retry-after']), /^[1-9][0-9]*$/, what);
  assert.equal(res.headers['cache-control'], 'no-store', what);
  assert.deepEqual(res.json(), { error: { code: 223001503, message: { lang: 'en-US', value: `The database cannot write (${reason}); retry later.` } } }, what);
  for (const leak of [h.dir, 'tokenkeep.db', /SQLITE_|25006|transaction|tk_[0-9a-f]+|postgres:/i]) {
    if (typeof leak === 'string') assert.ok(!res.body.includes(leak), `${what}: no path or name in ${res.body}`);
    else assert.doesNotMatch(res.body, leak, `${what}: no driver text`);
  }
}

describe('health check: 503 while the database cannot write, 200 once it can', { timeout: 60_000 }, () => {
  const open: Harness[] = [];
  after(async () => {
    for (const h of open) await h.close().catch(() => undefined);
  });
  const start = async () => {
    const h = await harness();
    open.push(h);
    const app = await h.call({
      method: 'POST',
      url: '/api/mgmt/oauthapps',
      as: 'd2cadmin',
      payload: {
        name: 'health app',
        dataStore: 54,
        clientId: 'c',
        clientSecret: 'health-secret',
        authorizeURI: 'https://auth.example/a',
        tokenURI: 'https://auth.example/t',
      },
    });
    assert.equal(app.statusCode, 201, app.body);
    const profile = await h.call({
      method: 'POST',
      url: '/api/mgmt/oauthprofiles',
      as: 'd2cuser',
      payload: { name: 'health', oauthAppId: app.json().id, refreshToken: 'r0' },
    });
    assert.equal(profile.statusCode, 201, profile.body);
    const put = (token: string) =>
      h.call({
        method: 'PUT',
        url: `/api/mgmt/oauthprofiles/${profile.json().id}`,
        as: 'd2cuser',
        payload: { name: 'health', oauthAppId: app.json().id, refreshToken: token },
      });
    return { h, put };
  };

  test('without traffic: the probe sees the failure and the recovery, at most once a second, one probe for concurrent checks', async () => {
    const { h } = await start();
    let probes = 0;
    const probeWrite = h.store.probeWrite.bind(h.store);
    h.store.probeWrite = () => {
      probes++;
      return probeWrite();
    };
    assertHealthy(await health(h), 'before');
    assert.equal(probes, 1, 'the first health check probes');
    assertHealthy(await health(h), 'again within the second');
    assert.equal(probes, 1, 'no second probe within a second');

    await setReadOnly(h, true);
    h.clock.advance(1);
    const many = await Promise.all(Array.from({ length: 12 }, () => health(h)));
    for (const res of many) assertCannotWrite(h, res, 'read-only', 'concurrent checks while read-only');
    assert.equal(probes, 2, 'concurrent health checks share one probe');
    const head = await health(h, 'HEAD');
    assert.equal(head.statusCode, 503);
    assert.equal(head.body, '');
    assert.equal(probes, 2);

    await setReadOnly(h, false);
    assertCannotWrite(h, await health(h), 'read-only', 'remembered until the next probe');
    h.clock.advance(1);
    assertHealthy(await health(h), 'the probe a second later sees the recovery');
    assert.equal((await health(h, 'HEAD')).statusCode, 200);
    assert.equal(probes, 3);
  });

  test("a request's failed write turns the health check 503 at once (no probe needed); its next committed write, 200", async () => {
    const { h, put } = await start();
    assertHealthy(await health(h), 'before');
    await setReadOnly(h, true);
    // Within the second no probe runs: what the health check knows comes from the writes.
    assertHealthy(await health(h), 'read-only, but no write has failed yet');
    const refused = await put('refused');
    assert.equal(refused.statusCode, 503, `a write into a read-only database is unavailable, never a 500: ${refused.body}`);
    assert.equal(refused.json().error.code, 223000503);
    assertCannotWrite(h, await health(h), 'read-only', 'after the failed write');
    assert.equal((await health(h, 'HEAD')).statusCode, 503);

    await setReadOnly(h, false);
    assertCannotWrite(h, await health(h), 'read-only', 'nothing has written since');
    const ok = await put('accepted');
    assert.equal(ok.statusCode, 200, ok.body);
    assertHealthy(await health(h), 'after a committed write');
  });
});
