/**
 * Key rotation on SQLite, beyond what ../sealing/sealing.test.ts proves on both backends (status, re-encryption in
 * batches, retirement, damaged rows). In-process: a write racing another process's new key version, and a rotation
 * beside a serving store. With real processes: `tokenkeep keys rotate` killed with SIGKILL after its first batch leaves every
 * row readable under one of two versions, `keys reencrypt` finishes, `keys retire` removes the old version, and the
 * server reads everything under the one key left; and a rotation beside a running server that keeps writing loses
 * no acknowledged write and leaves no row under the old version.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MasterKey } from '../../src/crypto/master-key.js';
import { KeyRing } from '../../src/sealing/key-ring.js';
import { rotate } from '../../src/keys/rotation.js';
import { hashPassword } from '../../src/crypto/passwords.js';
import { SqliteStore } from '../../src/storage/sqlite/store.js';
import { settled, FAST_HASH, type Settled } from '../helpers.js';
import { integrityRules } from '../../src/domain/integrity.js';
import { seed } from '../../src/domain/seed.js';

/** A store on `file` whose refusals are thrown as the catalogue's errors. */
const sqliteStore = (file: string): Settled<SqliteStore> => settled(new SqliteStore(file, integrityRules));
import { appBody } from '../oauth-support.js';
import { api, basic, ensureBuilt, killAll, pool, runCli, runCliUntil, startServer, type Running } from '../process-support.js';

const SEALED_COLUMNS = { oauth_apps: ['client_secret'], oauth_profiles: ['access_token', 'refresh_token'], datasources: ['options'] } as const;

/** Every sealed value of the file, checked to be sealed under its row's key_version; returns rows per version. */
function sealedVersions(file: string): Map<number, number> {
  const db = new Database(file, { readonly: true });
  try {
    const usage = new Map<number, number>();
    for (const [table, columns] of Object.entries(SEALED_COLUMNS)) {
      for (const row of db.prepare(`SELECT * FROM ${table}`).all() as Record<string, unknown>[]) {
        for (const c of columns) {
          if (row[c] === null) continue;
          assert.equal(KeyRing.versionOf(row[c] as Buffer), row.key_version, `${table}.${c} of row ${row.id} is sealed under its key_version`);
        }
        usage.set(row.key_version as number, (usage.get(row.key_version as number) ?? 0) + 1);
      }
    }
    return usage;
  } finally {
    db.close();
  }
}

// ---- in-process --------------------------------------------------------------------------------------------------

describe('a write racing a key version added by another process', () => {
  let dir: string;
  const stores: Settled<SqliteStore>[] = [];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tokenkeep-race-'));
  });
  after(async () => {
    for (const s of stores) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('all columns of a row are sealed under the key_version it records, even when the ring refreshes mid-write', async () => {
    const file = join(dir, 'race.db');
    const key = MasterKey.generate();
    const server = sqliteStore(file);
    stores.push(server);
    await server.migrate();
    await server.keys.init(new MasterKey(key));
    await server.bootstrap(
      seed({ adminPasswordHash: await hashPassword('Admin-Passw0rd', FAST_HASH), userPasswordHash: await hashPassword('User-Passw0rd', FAST_HASH) }),
    );
    const owner = (await server.users.byName('d2cuser'))!.id;
    const app = await server.apps.create({
      name: 'race app',
      dataStore: 54,
      tenantId: 1,
      description: null,
      clientId: 'c',
      clientSecret: 'race-secret',
      authorizeURI: 'https://a.example.com/auth',
      tokenURI: 'https://a.example.com/token',
      scope: null,
    });
    const profile = await server.profiles.create({
      name: 'race',
      oauthAppId: app.id,
      description: null,
      accessToken: 'a0',
      refreshToken: 'r0',
      tokenOrigin: 'https://a.example.com',
      ownerId: owner,
      creatorId: owner,
    });
    await server.keys.status(); // the serving store's ring is fresh now, holding version 1

    // The operator's `keys rotate` in another process adds version 2.
    const operator = sqliteStore(file);
    stores.push(operator);
    await operator.keys.unseal(new MasterKey(key));
    assert.equal(await operator.keys.addVersion(), 2);

    // The serving store's refresh interval runs out in the middle of the write: its clock reads "now" once, and
    // "well past the refresh interval" from then on.
    const realNow = Date.now;
    const t0 = realNow();
    let calls = 0;
    Date.now = () => (calls++ === 0 ? t0 : t0 + 60_000);
    try {
      await server.profiles.update(profile, {
        name: 'race',
        oauthAppId: app.id,
        description: null,
        accessToken: 'a1',
        refreshToken: 'r1',
        tokenOrigin: 'https://a.example.com',
      });
    } finally {
      Date.now = realNow;
    }
    sealedVersions(file); // asserts every column is under its row's key_version

    // The consequence if not: the rotation finishes, version 1 is retired, and a value sealed under it is lost.
    while ((await operator.keys.reencryptBatch(10)) > 0);
    await operator.keys.retire(1);
    const fresh = sqliteStore(file);
    stores.push(fresh);
    await fresh.keys.unseal(new MasterKey(key));
    const read = await fresh.profiles.get(profile.id);
    assert.equal(read?.accessToken, 'a1');
    assert.equal(read?.refreshToken, 'r1');
  });
});

describe('a rotation beside a serving store in the same process', () => {
  let dir: string;
  const stores: Settled<SqliteStore>[] = [];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tokenkeep-rotate-'));
  });
  after(async () => {
    for (const s of stores) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('rows a not-yet-refreshed server writes under the old version during a fast rotation are re-encrypted too', async () => {
    const file = join(dir, 'live.db');
    const key = MasterKey.generate();
    const server = sqliteStore(file);
    stores.push(server);
    await server.migrate();
    await server.keys.init(new MasterKey(key));
    await server.bootstrap(
      seed({ adminPasswordHash: await hashPassword('Admin-Passw0rd', FAST_HASH), userPasswordHash: await hashPassword('User-Passw0rd', FAST_HASH) }),
    );
    const owner = (await server.users.byName('d2cuser'))!.id;
    const app = await server.apps.create({
      name: 'live app',
      dataStore: 54,
      tenantId: 1,
      description: null,
      clientId: 'c',
      clientSecret: 'live-secret',
      authorizeURI: 'https://a.example.com/auth',
      tokenURI: 'https://a.example.com/token',
      scope: null,
    });
    const ids: number[] = [];
    for (let i = 0; i < 20; i++) {
      ids.push(
        (
          await server.profiles.create({
            name: `live${i}`,
            oauthAppId: app.id,
            description: null,
            accessToken: `a${i}`,
            refreshToken: `r${i}`,
            tokenOrigin: 'https://a.example.com',
            ownerId: owner,
            creatorId: owner,
          })
        ).id,
      );
    }
    const last = new Map<number, string>();
    let stop = false;
    const writing = (async () => {
      for (let seq = 0; !stop; seq++) {
        // Updates open the row first (and so learn of a new version from a re-encrypted row); creates do not.
        if (seq % 2 === 0) {
          const id = ids[(seq / 2) % 20];
          const current = (await server.profiles.header(id))!;
          await server.profiles.update(current, {
            name: `live${ids.indexOf(id)}`,
            oauthAppId: app.id,
            description: null,
            accessToken: null,
            refreshToken: `w${seq}`,
            tokenOrigin: 'https://a.example.com',
          });
          last.set(id, `w${seq}`);
        } else {
          const created = await server.profiles.create({
            name: `new${seq}`,
            oauthAppId: app.id,
            description: null,
            accessToken: `na${seq}`,
            refreshToken: `n${seq}`,
            tokenOrigin: 'https://a.example.com',
            ownerId: owner,
            creatorId: owner,
          });
          ids.push(created.id);
          last.set(created.id, `n${seq}`);
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    const operator = sqliteStore(file);
    stores.push(operator);
    try {
      await operator.keys.unseal(new MasterKey(key));
      await new Promise((r) => setTimeout(r, 50));
      const { version } = await rotate(operator.keys, 500, () => {});
      assert.equal(version, 2);
    } finally {
      stop = true;
      await writing;
    }
    const usage = sealedVersions(file);
    assert.deepEqual([...usage], [[2, 1 + ids.length]], 'every row is under the new version once rotate returns');
    assert.ok(ids.length > 25, 'profiles were created during the rotation');
    for (const id of ids) assert.equal((await server.profiles.get(id))!.refreshToken, last.get(id) ?? `r${ids.indexOf(id)}`);
  });
});

// ---- real processes ------------------------------------------------------------------------------------------------

const ADMIN_PW = 'Rotation-Adm1n!';
const USER_PW = 'Rotation-Us3r!';
const ADMIN_AUTH = basic('d2cadmin', ADMIN_PW);
const USER_AUTH = basic('d2cuser', USER_PW);

interface Data {
  apps: Map<number, string>;
  profiles: Map<number, { access: string; refresh: string; name: string; app: number }>;
  dataSources: Map<number, Record<string, string>>;
}

async function populate(base: string, counts: { apps: number; profiles: number; dataSources: number }): Promise<Data> {
  // Warm the verified-credential cache before going parallel (scrypt runs one at a time).
  assert.equal((await api(base, 'GET', '/api/mgmt/permissions', ADMIN_AUTH)).status, 200);
  assert.equal((await api(base, 'GET', '/api/mgmt/permissions', USER_AUTH)).status, 200);
  const data: Data = { apps: new Map(), profiles: new Map(), dataSources: new Map() };
  await pool([...Array(counts.apps).keys()], 6, async (i) => {
    const secret = `app-secret-${i}-${Math.random().toString(36).slice(2)}`;
    const res = await api(base, 'POST', '/api/mgmt/oauthapps', ADMIN_AUTH, appBody(`rot app ${i}`, 1, { clientSecret: secret }));
    assert.equal(res.status, 201, res.text);
    data.apps.set(res.body.id, secret);
  });
  const appIds = [...data.apps.keys()];
  await pool([...Array(counts.profiles).keys()], 8, async (i) => {
    const p = {
      access: `at-${i}-${Math.random().toString(36).slice(2)}`,
      refresh: `rt-${i}-${Math.random().toString(36).slice(2)}`,
      name: `rp_${i}`,
      app: appIds[i % appIds.length],
    };
    const res = await api(base, 'POST', '/api/mgmt/oauthprofiles', USER_AUTH, {
      name: p.name,
      oauthAppId: p.app,
      accessToken: p.access,
      refreshToken: p.refresh,
    });
    assert.equal(res.status, 201, res.text);
    data.profiles.set(res.body.id, p);
  });
  const profileIds = [...data.profiles.keys()];
  await pool([...Array(counts.dataSources).keys()], 6, async (i) => {
    const options = { Password: `ds-pw-${i}-${Math.random().toString(36).slice(2)}`, ServerName: `srv-${i}` };
    const res = await api(base, 'POST', '/api/mgmt/datasources', USER_AUTH, {
      name: `rot ds ${i}`,
      dataStore: 54,
      options: { ...options, OAuthProfileId: String(profileIds[i]) },
    });
    assert.equal(res.status, 201, res.text);
    data.dataSources.set(res.body.id, options);
  });
  return data;
}

async function verifyAll(base: string, data: Data): Promise<void> {
  await pool([...data.profiles], 8, async ([id, p]) => {
    const res = await api(base, 'GET', `/api/mgmt/oauthprofiles/${id}`, USER_AUTH);
    assert.equal(res.status, 200, `profile ${id}: ${res.text}`);
    assert.equal(res.body.accessToken, p.access, `access token of profile ${id}`);
    assert.equal(res.body.refreshToken, p.refresh, `refresh token of profile ${id}`);
  });
  await pool([...data.apps], 6, async ([id, secret]) => {
    const res = await api(base, 'GET', `/api/mgmt/oauthapps/${id}`, ADMIN_AUTH);
    assert.equal(res.status, 200, `app ${id}: ${res.text}`);
    assert.equal(res.body.clientSecret, secret);
  });
  await pool([...data.dataSources], 6, async ([id, options]) => {
    const res = await api(base, 'GET', `/api/mgmt/datasources/${id}`, USER_AUTH);
    assert.equal(res.status, 200, `data source ${id}: ${res.text}`);
    assert.equal(res.body.options.Password, options.Password);
    assert.equal(res.body.options.ServerName, options.ServerName);
  });
  const list = await api(base, 'GET', '/api/mgmt/oauthprofiles', USER_AUTH);
  assert.equal(list.status, 200);
  assert.equal(list.body.profiles.length, data.profiles.size);
}

/** `keys status` parsed: version → { active, rows }. */
async function keyStatus(env: Record<string, string>): Promise<Map<number, { active: boolean; rows: number }>> {
  const res = await runCli(['keys', 'status'], env);
  assert.equal(res.code, 0, `keys status: ${res.stdout}${res.stderr}`);
  const versions = new Map<number, { active: boolean; rows: number }>();
  for (const m of res.stdout.matchAll(/^version (\d+)( \(active\))?: (\d+) rows/gm))
    versions.set(Number(m[1]), { active: m[2] !== undefined, rows: Number(m[3]) });
  assert.ok(versions.size > 0, `keys status prints versions: ${res.stdout}`);
  return versions;
}

describe('rotation with real processes', { timeout: 600_000 }, () => {
  let dir: string;
  const running: Running[] = [];
  before(() => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'tokenkeep-rotation-'));
  });
  after(() => {
    for (const r of running) r.kill();
    killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  /** tokenkeep creates a missing folder only inside its working directory: the test makes its own. */
  const folder = (path: string): string => {
    mkdirSync(path, { recursive: true, mode: 0o700 });
    return path;
  };
  const envFor = (sub: string) => ({
    TOKENKEEP_DB: join(folder(join(dir, sub)), 'tk.db'),
    TOKENKEEP_ADMIN_PASSWORD: ADMIN_PW,
    TOKENKEEP_USER_PASSWORD: USER_PW,
    TOKENKEEP_LOG_LEVEL: 'info', // the listening line is logged at info
  });

  async function serve(env: Record<string, string>): Promise<Running> {
    const server = await startServer(env);
    running.push(server);
    return server;
  }

  test('a rotation killed after its first batch, resumed, then the old version retired', async () => {
    const env = envFor('killed');
    let server = await serve(env);
    const data = await populate(server.base, { apps: 40, profiles: 300, dataSources: 60 });
    const total = data.apps.size + data.profiles.size + data.dataSources.size;
    assert.deepEqual((await server.stop()).code, 0);

    const killed = await runCliUntil(['keys', 'rotate', '--batch', '10'], env, /re-encrypted \d+ rows/);
    assert.ok(killed.matched, `rotate printed progress: ${killed.stdout}${killed.stderr}`);
    assert.equal(killed.signal, 'SIGKILL', `rotate was killed mid-way rather than finishing (${killed.code}): ${killed.stdout}`);
    assert.doesNotMatch(killed.stdout, /key version 2 is active; \d+ rows re-encrypted/);

    let status = await keyStatus(env);
    assert.deepEqual([...status.keys()].sort(), [1, 2]);
    assert.equal(status.get(2)!.active, true);
    assert.equal(status.get(1)!.active, false);
    assert.ok(status.get(1)!.rows > 0, `rows remain under version 1: ${JSON.stringify([...status])}`);
    assert.ok(status.get(2)!.rows >= 10, `the first batch was committed under version 2: ${JSON.stringify([...status])}`);
    assert.equal(status.get(1)!.rows + status.get(2)!.rows, total);
    assert.deepEqual(
      new Map([...sealedVersions(env.TOKENKEEP_DB)].sort()),
      new Map([
        [1, status.get(1)!.rows],
        [2, status.get(2)!.rows],
      ]),
    );

    const early = await runCli(['keys', 'retire', '1'], env);
    assert.notEqual(early.code, 0, 'a version still in use is not retired');
    assert.match(early.stderr, /reencrypt/);

    // Served from a half-rotated database: everything reads, and new writes go under version 2.
    server = await serve(env);
    await verifyAll(server.base, data);
    for (const id of [...data.profiles.keys()].slice(0, 20)) {
      const p = data.profiles.get(id)!;
      const next = { ...p, access: `${p.access}-v2`, refresh: `${p.refresh}-v2` };
      const res = await api(server.base, 'PUT', `/api/mgmt/oauthprofiles/${id}`, USER_AUTH, {
        name: p.name,
        oauthAppId: p.app,
        accessToken: next.access,
        refreshToken: next.refresh,
      });
      assert.equal(res.status, 200, res.text);
      data.profiles.set(id, next);
    }
    assert.equal((await server.stop()).code, 0);

    const resumed = await runCli(['keys', 'reencrypt', '--batch', '25'], env);
    assert.equal(resumed.code, 0, resumed.stderr);
    const done = /(\d+) rows re-encrypted/.exec(resumed.stdout);
    assert.ok(done && Number(done[1]) > 0 && Number(done[1]) <= status.get(1)!.rows, resumed.stdout);
    status = await keyStatus(env);
    assert.equal(status.get(1)!.rows, 0);
    assert.equal(status.get(2)!.rows, total);

    const again = await runCli(['keys', 'reencrypt'], env);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /^0 rows re-encrypted/m, 'nothing left to do');

    const active = await runCli(['keys', 'retire', '2'], env);
    assert.notEqual(active.code, 0, 'the active version is not retired');
    assert.match(active.stderr, /active/);
    for (const bad of [
      ['keys', 'retire', '7'],
      ['keys', 'retire', 'x'],
      ['keys', 'retire'],
    ]) {
      const res = await runCli(bad, env);
      assert.notEqual(res.code, 0, `${bad.join(' ')} is refused`);
    }
    const retired = await runCli(['keys', 'retire', '1'], env);
    assert.equal(retired.code, 0, retired.stderr);
    status = await keyStatus(env);
    assert.deepEqual([...status], [[2, { active: true, rows: total }]]);
    const ring = new Database(env.TOKENKEEP_DB, { readonly: true });
    try {
      assert.deepEqual(ring.prepare('SELECT version FROM keyring').pluck().all(), [2], 'only version 2 remains in the ring');
    } finally {
      ring.close();
    }

    server = await serve(env);
    await verifyAll(server.base, data);
    assert.equal((await server.stop()).code, 0);
  });

  test('damaged rows: rotate names each and exits 1, good rows move; once repaired or deleted, reencrypt exits 0', async () => {
    const env = envFor('damaged');
    let server = await serve(env);
    const data = await populate(server.base, { apps: 3, profiles: 24, dataSources: 6 });
    const total = data.apps.size + data.profiles.size + data.dataSources.size;
    assert.equal((await server.stop()).code, 0);

    const [p1, p2] = [...data.profiles.keys()].slice(3, 5);
    const a1 = [...data.apps.keys()][1];
    const d1 = [...data.dataSources.keys()][2];
    const targets = [
      ['oauth_profiles', 'refresh_token', p1],
      ['oauth_profiles', 'access_token', p2],
      ['oauth_apps', 'client_secret', a1],
      ['datasources', 'options', d1],
    ] as const;
    const db = new Database(env.TOKENKEEP_DB);
    const originals = targets.map(([table, column, id]) => db.prepare(`SELECT ${column} FROM ${table} WHERE id = ?`).pluck().get(id) as Buffer);
    const put = (i: number, value: Buffer) => db.prepare(`UPDATE ${targets[i][0]} SET ${targets[i][1]} = ? WHERE id = ?`).run(value, targets[i][2]);
    const flip = (value: Buffer) => Buffer.concat([value.subarray(0, value.length - 1), Buffer.of(value[value.length - 1] ^ 1)]);
    try {
      targets.forEach((_, i) => put(i, flip(originals[i])));
      const named = (text: string) => {
        for (const [table, column, id] of targets)
          assert.match(text, new RegExp(`\\b${table} id ${id} column ${column}\\b`), `${table} ${id} ${column} is named:\n${text}`);
      };

      const rotated = await runCli(['keys', 'rotate', '--batch', '5'], env);
      assert.equal(rotated.code, 1, `rotate exits 1: ${rotated.stdout}${rotated.stderr}`);
      assert.doesNotMatch(rotated.stderr, /TypeError|at .*\.js:\d+/, 'no crash, no stack trace');
      named(rotated.stderr);
      assert.match(rotated.stderr, /keys reencrypt/, 'says how to finish');
      assert.match(rotated.stdout, /key version 2 is active; \d+ rows re-encrypted/);
      for (const s of [...data.apps.values(), ...[...data.profiles.values()].flatMap((p) => [p.access, p.refresh])])
        assert.ok(!rotated.stderr.includes(s), 'no secret in the report');

      let status = await keyStatus(env);
      assert.deepEqual(
        [...status].sort(),
        [
          [1, { active: false, rows: 4 }],
          [2, { active: true, rows: total - 4 }],
        ],
        'damaged rows stay counted under version 1',
      );
      const early = await runCli(['keys', 'retire', '1'], env);
      assert.notEqual(early.code, 0, 'a version damaged rows still use is not retired');

      const stillDamaged = await runCli(['keys', 'reencrypt'], env);
      assert.equal(stillDamaged.code, 1, stillDamaged.stderr);
      named(stillDamaged.stderr);
      assert.match(stillDamaged.stdout, /^0 rows re-encrypted/m);

      // Every good row reads under the new version; the damaged profile answers its clean 500.
      server = await serve(env);
      const good: Data = {
        apps: new Map([...data.apps].filter(([id]) => id !== a1)),
        profiles: new Map([...data.profiles].filter(([id]) => id !== p1 && id !== p2)),
        dataSources: new Map([...data.dataSources].filter(([id]) => id !== d1)),
      };
      await pool([...good.profiles], 8, async ([id, p]) => {
        const res = await api(server.base, 'GET', `/api/mgmt/oauthprofiles/${id}`, USER_AUTH);
        assert.equal(res.status, 200, res.text);
        assert.equal(res.body.refreshToken, p.refresh);
      });
      for (const [id, secret] of good.apps) assert.equal((await api(server.base, 'GET', `/api/mgmt/oauthapps/${id}`, ADMIN_AUTH)).body.clientSecret, secret);
      for (const [id, options] of good.dataSources)
        assert.equal((await api(server.base, 'GET', `/api/mgmt/datasources/${id}`, USER_AUTH)).body.options.Password, options.Password);
      assert.equal((await api(server.base, 'GET', `/api/mgmt/oauthprofiles/${p1}`, USER_AUTH)).body.error.code, 223000520);

      // Repair through the API: new tokens for one profile, the other deleted. The app's and the data source's values
      // are restored from a copy (as from a backup).
      const p = data.profiles.get(p1)!;
      const repaired = await api(server.base, 'PUT', `/api/mgmt/oauthprofiles/${p1}`, USER_AUTH, {
        name: p.name,
        oauthAppId: p.app,
        accessToken: 'fixed-at',
        refreshToken: 'fixed-rt',
      });
      assert.equal(repaired.status, 200, repaired.text);
      assert.equal((await api(server.base, 'DELETE', `/api/mgmt/oauthprofiles/${p2}`, USER_AUTH)).status, 204);
      assert.equal((await server.stop()).code, 0);
      put(2, originals[2]);
      put(3, originals[3]);

      const finished = await runCli(['keys', 'reencrypt'], env);
      assert.equal(finished.code, 0, finished.stderr);
      assert.match(finished.stdout, /^2 rows re-encrypted/m, 'the app and the data source; the PUT sealed the profile under version 2');
      assert.equal(finished.stderr, '');
      status = await keyStatus(env);
      assert.deepEqual([...status].sort(), [
        [1, { active: false, rows: 0 }],
        [2, { active: true, rows: total - 1 }],
      ]);
      const retired = await runCli(['keys', 'retire', '1'], env);
      assert.equal(retired.code, 0, retired.stderr);

      server = await serve(env);
      data.profiles.set(p1, { ...p, access: 'fixed-at', refresh: 'fixed-rt' });
      data.profiles.delete(p2);
      await verifyAll(server.base, data);
      assert.equal((await server.stop()).code, 0);
    } finally {
      // Put back any value the test left damaged (a failing assertion midway).
      targets.forEach(([table, column, id], i) => {
        const now = db.prepare(`SELECT ${column} FROM ${table} WHERE id = ?`).pluck().get(id) as Buffer | undefined;
        if (now?.equals(flip(originals[i]))) put(i, originals[i]);
      });
      db.close();
    }
  });

  test('a rotation beside a running server that keeps writing', async () => {
    const env = envFor('live');
    const server = await serve(env);
    const data = await populate(server.base, { apps: 4, profiles: 200, dataSources: 20 });
    const ids = [...data.profiles.keys()];
    const writers = 4;
    let stop = false;
    let acked = 0;
    const failures: string[] = [];
    const write = async (w: number) => {
      const mine = ids.filter((_, i) => i % writers === w);
      for (let seq = 0; !stop; seq++) {
        if (seq % 3 === 2) {
          // A create opens no existing row, so it learns of a new key version only from the ring refresh.
          const p = { access: `new-at-${w}-${seq}`, refresh: `new-rt-${w}-${seq}`, name: `new_${w}_${seq}`, app: [...data.apps.keys()][0] };
          const res = await api(server.base, 'POST', '/api/mgmt/oauthprofiles', USER_AUTH, {
            name: p.name,
            oauthAppId: p.app,
            accessToken: p.access,
            refreshToken: p.refresh,
          });
          if (res.status === 201) data.profiles.set(res.body.id, p);
          else failures.push(`POST: ${res.status} ${res.text}`);
          continue;
        }
        const id = mine[seq % mine.length];
        const p = data.profiles.get(id)!;
        const next = { ...p, access: `live-at-${id}-${seq}`, refresh: `live-rt-${id}-${seq}` };
        const res = await api(server.base, 'PUT', `/api/mgmt/oauthprofiles/${id}`, USER_AUTH, {
          name: p.name,
          oauthAppId: p.app,
          accessToken: next.access,
          refreshToken: next.refresh,
        });
        if (res.status === 200) {
          data.profiles.set(id, next); // the last acknowledged value
          acked++;
        } else {
          failures.push(`PUT ${id}: ${res.status} ${res.text}`);
        }
      }
    };
    const writing = Promise.all([...Array(writers).keys()].map(write));
    const total = () => data.apps.size + data.profiles.size + data.dataSources.size;
    try {
      while (acked < 20 && failures.length === 0) await new Promise((r) => setTimeout(r, 10));
      // Small batches interleave with the server's writes; the default batch finishes well within the second a
      // server may take to notice a new version, the hardest case for a stale key ring.
      for (const [version, args] of [
        [2, ['--batch', '5']],
        [3, []],
      ] as const) {
        const before = acked;
        const rotated = await runCli(['keys', 'rotate', ...args], env);
        assert.equal(rotated.code, 0, `${rotated.stdout}${rotated.stderr}`);
        assert.match(rotated.stdout, new RegExp(`key version ${version} is active`));
        assert.ok(acked > before, 'the server kept acknowledging writes during the rotation');
        // Writers keep creating while `keys status` runs (a whole process): count what existed before asking.
        const floor = total() - writers;
        const status = await keyStatus(env);
        assert.equal(status.get(version)?.active, true);
        for (const [v, s] of status) if (v !== version) assert.equal(s.rows, 0, `no row is left under version ${v}: ${JSON.stringify([...status])}`);
        assert.ok(status.get(version)!.rows >= floor, `every row is under the new version: ${status.get(version)!.rows} < ${floor}`);
      }
    } finally {
      stop = true;
      await writing;
    }
    assert.deepEqual(failures, []);

    await verifyAll(server.base, data);
    const status = await keyStatus(env);
    assert.deepEqual([...status.keys()].sort(), [1, 2, 3]);
    for (const v of [1, 2]) assert.equal(status.get(v)?.rows, 0, `no row is left under version ${v}: ${JSON.stringify([...status])}`);
    assert.equal(status.get(3)?.rows, total());
    sealedVersions(env.TOKENKEEP_DB);

    // And the old version can go while the server runs; the server keeps reading and writing.
    for (const v of ['1', '2']) {
      const retired = await runCli(['keys', 'retire', v], env);
      assert.equal(retired.code, 0, retired.stderr);
    }
    await verifyAll(server.base, data);
    const put = await api(server.base, 'PUT', `/api/mgmt/oauthprofiles/${ids[0]}`, USER_AUTH, {
      name: data.profiles.get(ids[0])!.name,
      oauthAppId: data.profiles.get(ids[0])!.app,
      refreshToken: 'after-retire',
    });
    assert.equal(put.status, 200, put.text);
    assert.equal((await api(server.base, 'GET', `/api/mgmt/oauthprofiles/${ids[0]}`, USER_AUTH)).body.refreshToken, 'after-retire');
    assert.equal((await server.stop()).code, 0);
  });
});
