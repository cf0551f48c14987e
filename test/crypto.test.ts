/**
 * Encryption at rest, in-process: the sealing primitives (MasterKey, KeyRing), confidentiality of the database
 * file and its WAL after a real workload (SQLite), and integrity and binding of every sealed column on both backends —
 * tampering through a second connection to the database (./tamper-support.ts) must make exactly the tampered object
 * fail, cleanly (500, code 223000520, the object named, no secret in the body), while everything else keeps working.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { LightMyRequestResponse } from 'fastify';
import { KEY_BYTES, MasterKey } from '../src/crypto/master-key.js';
import { KeyRing, SealedValueUnreadable } from '../src/storage/sealing.js';
import { harness, basic, sqliteOnly, ADMIN_PASSWORD, DEFAULT_PASSWORD, USER_PASSWORD, type Harness } from './helpers.js';
import { ADMIN, appBody, createApp, createDataSource, createProfile, expectStatus, json, profileBody } from './oauth-support.js';
import { flip, readColumn, withColumns } from './tamper-support.js';

const rnd = (tag: string): string => `${tag}${randomBytes(12).toString('hex')}`;
const USER = 'd2cuser';
const SECRET_ERROR = 223000520;

const dbFile = (h: Harness): string => join(h.dir, 'tokenkeep.db');

/** A second, independent connection on the store's file: what an attacker with file access could do. */
function raw<T>(h: Harness, fn: (db: Database.Database) => T): T {
  const db = new Database(dbFile(h));
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

const blob = (h: Harness, table: string, column: string, id: number): Buffer =>
  raw(h, (db) => (db.prepare(`SELECT ${column} AS v FROM ${table} WHERE id = ?`).get(id) as { v: Buffer }).v);

/** GET without the harness's schema check (a 500 has no declared schema). */
const get = (h: Harness, url: string, as: string): Promise<LightMyRequestResponse> =>
  h.app.inject({ method: 'GET', url, headers: { authorization: as === ADMIN ? basic(ADMIN, ADMIN_PASSWORD) : basic(as, USER_PASSWORD) } });

/** The clean failure of a tampered object: 500, code 223000520, the object named, no secret anywhere in the body. */
function assertUnreadable(res: LightMyRequestResponse, object: string, secrets: string[]): void {
  assert.equal(res.statusCode, 500, `expected 500 for ${object}, got ${res.statusCode} ${res.body}`);
  const body = json(res);
  assert.equal(body.error.code, SECRET_ERROR);
  assert.equal(body.error.message.lang, 'en-US');
  assert.ok(body.error.message.value.includes(object), `message names ${object}: ${body.error.message.value}`);
  assert.equal(res.headers['cache-control'], 'no-store');
  for (const s of secrets) assert.ok(!res.body.includes(s), `the error body leaks a secret: ${res.body}`);
}

// ---- primitives ------------------------------------------------------------------------------------------------

describe('MasterKey', () => {
  test('only a 32-byte key is accepted', () => {
    assert.equal(KEY_BYTES, 32);
    assert.throws(() => new MasterKey(randomBytes(16)));
    assert.throws(() => new MasterKey(randomBytes(33)));
    assert.throws(() => new MasterKey(Buffer.alloc(0)));
    assert.equal(MasterKey.generate().length, 32);
    assert.notDeepEqual(MasterKey.generate(), MasterKey.generate());
  });

  test('the key-check value verifies with its own key only, and not once tampered', () => {
    const key = MasterKey.generate();
    const master = new MasterKey(key);
    const check = master.checkValue();
    assert.ok(master.verify(check));
    assert.ok(new MasterKey(Buffer.from(key)).verify(check), 'the same key bytes verify');
    assert.ok(!new MasterKey(MasterKey.generate()).verify(check), 'a wrong key fails verify');
    const other = Buffer.from(key);
    other[31] ^= 0x80;
    assert.ok(!new MasterKey(other).verify(check), 'a key one bit off fails verify');
    for (const at of [0, 11, 12, check.length - 1]) assert.ok(!master.verify(flip(check, at)), `flipped byte ${at} fails verify`);
    assert.ok(!master.verify(check.subarray(0, 20)), 'a truncated check value fails');
    assert.ok(!master.verify(Buffer.alloc(0)), 'an empty check value fails');
    assert.notDeepEqual(master.checkValue(), check, 'each check value has a fresh nonce');
  });

  test('a wrapped data key unwraps with its master and version only', () => {
    const master = new MasterKey(MasterKey.generate());
    const dataKey = MasterKey.generate();
    const wrapped = master.wrap(3, dataKey);
    assert.ok(!wrapped.includes(dataKey), 'the wrapped form does not contain the key');
    assert.deepEqual(master.unwrap(3, wrapped), dataKey);
    assert.throws(() => new MasterKey(MasterKey.generate()).unwrap(3, wrapped), /does not open/, 'unwrap with a wrong master fails');
    assert.throws(() => master.unwrap(4, wrapped), /does not open/, 'a wrapped key is bound to its version');
    assert.throws(() => master.unwrap(3, flip(wrapped, wrapped.length - 1)), /does not open/);
    assert.throws(() => master.unwrap(3, flip(wrapped, 15)), /does not open/);
    assert.notDeepEqual(master.wrap(3, dataKey), wrapped, 'each wrap has a fresh nonce');
  });
});

describe('KeyRing', () => {
  const ctx = { table: 'oauth_profiles', rowId: 7, column: 'refresh_token' };

  test('seal and open round-trip, with the documented layout', () => {
    const ring = new KeyRing();
    ring.set(1, MasterKey.generate());
    const plaintext = 'refresh-ü-🔑-token';
    const sealed = ring.seal(plaintext, ctx);
    assert.equal(sealed[0], 0x01, 'format byte');
    assert.equal(sealed.readUInt32BE(1), 1, 'key version');
    assert.equal(sealed.length, 1 + 4 + 12 + Buffer.byteLength(plaintext) + 16);
    assert.ok(!sealed.includes(Buffer.from(plaintext)));
    assert.equal(ring.open(sealed, ctx), plaintext);
    assert.equal(ring.open(ring.seal('', ctx), ctx), '', 'the empty string seals too');
  });

  test('the same plaintext sealed twice gives different ciphertexts', () => {
    const ring = new KeyRing();
    ring.set(1, MasterKey.generate());
    const a = ring.seal('same', ctx);
    const b = ring.seal('same', ctx);
    assert.notDeepEqual(a, b);
    assert.notDeepEqual(a.subarray(5, 17), b.subarray(5, 17), 'fresh nonces');
  });

  test('nonces never repeat, across the blocks they are drawn from the CSPRNG in', () => {
    const ring = new KeyRing();
    ring.set(1, MasterKey.generate());
    const sealed = Array.from({ length: 3000 }, (_, i) => ring.seal(`t${i}`, ctx));
    const nonces = new Set(sealed.map((s) => s.subarray(5, 17).toString('hex')));
    assert.equal(nonces.size, sealed.length);
    // Each one is its own copy: later draws do not change the nonce stored in an earlier value.
    sealed.forEach((s, i) => assert.equal(ring.open(s, ctx), `t${i}`));
  });

  test('a sealed value is bound to its table, row, column and version', () => {
    const ring = new KeyRing();
    ring.set(1, MasterKey.generate());
    const sealed = ring.seal('bound', ctx);
    for (const other of [
      { ...ctx, table: 'oauth_apps' },
      { ...ctx, rowId: 8 },
      { ...ctx, column: 'access_token' },
    ]) {
      assert.throws(() => ring.open(sealed, other), (err: unknown) => err instanceof SealedValueUnreadable && /integrity check failed/.test(err.message));
    }
    // The version in the header is authenticated: relabelling a value as another version fails even with that key.
    const ring2 = new KeyRing();
    const key = MasterKey.generate();
    ring2.set(1, key);
    ring2.set(2, key);
    const v2 = ring2.seal('bound', ctx);
    const relabelled = Buffer.from(v2);
    relabelled.writeUInt32BE(1, 1);
    assert.throws(() => ring2.open(relabelled, ctx), SealedValueUnreadable);
  });

  test('every flipped byte, truncation or foreign value fails with a SealedValueUnreadable naming the place, not the value', () => {
    const ring = new KeyRing();
    ring.set(1, MasterKey.generate());
    const sealed = ring.seal('do-not-show-me', ctx);
    for (let at = 0; at < sealed.length; at++) {
      assert.throws(() => ring.open(flip(sealed, at), ctx), (err: unknown) => {
        assert.ok(err instanceof SealedValueUnreadable, `byte ${at}: ${String(err)}`);
        assert.match(err.message, /oauth_profiles\.refresh_token of row 7/);
        assert.ok(!err.message.includes('do-not-show-me'));
        return true;
      });
    }
    assert.throws(() => ring.open(sealed.subarray(0, sealed.length - 1), ctx), SealedValueUnreadable);
    assert.throws(() => ring.open(sealed.subarray(0, 20), ctx), SealedValueUnreadable);
    assert.throws(() => ring.open(Buffer.from('plain text, not sealed'), ctx), SealedValueUnreadable);
    assert.throws(() => ring.open(Buffer.alloc(0), ctx), SealedValueUnreadable);
  });

  test('versionOf reads the header; anything not sealed has no version', () => {
    const ring = new KeyRing();
    ring.set(1, MasterKey.generate());
    ring.set(258, MasterKey.generate());
    assert.equal(ring.activeVersion, 258, 'the highest version is active');
    const sealed = ring.seal('x', ctx);
    assert.equal(KeyRing.versionOf(sealed), 258);
    assert.equal(KeyRing.versionOf(Buffer.alloc(0)), undefined);
    assert.equal(KeyRing.versionOf(sealed.subarray(0, 32)), undefined, 'shorter than header + tag');
    assert.equal(KeyRing.versionOf(Buffer.concat([Buffer.of(0x02), sealed.subarray(1)])), undefined, 'unknown format');
    assert.equal(KeyRing.versionOf(Buffer.from('a plain text value that is long enough')), undefined);
  });

  test('values of a version not in the ring fail; retain forgets retired versions and lowers the active one', () => {
    const ring = new KeyRing();
    ring.set(1, MasterKey.generate());
    const v1 = ring.seal('one', ctx);
    ring.set(2, MasterKey.generate());
    const v2 = ring.seal('two', ctx);
    assert.equal(KeyRing.versionOf(v1), 1);
    assert.equal(KeyRing.versionOf(v2), 2);
    assert.equal(ring.open(v1, ctx), 'one', 'older versions still open');
    ring.retain([2]);
    assert.ok(!ring.has(1));
    assert.throws(() => ring.open(v1, ctx), /key version 1 is not in the key ring/);
    assert.equal(ring.open(v2, ctx), 'two');
    ring.retain([]);
    assert.equal(ring.activeVersion, 0);
    assert.throws(() => ring.seal('x', ctx), /empty/);
    // A ring with another key of the same version number cannot open it either.
    const stranger = new KeyRing();
    stranger.set(2, MasterKey.generate());
    assert.throws(() => stranger.open(v2, ctx), SealedValueUnreadable);
  });
});

// ---- confidentiality -------------------------------------------------------------------------------------------

describe('confidentiality of the database file and its WAL', { skip: sqliteOnly('reads the raw SQLite file and its WAL') }, () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(async () => {
    await h.close();
  });

  test('no token, client secret, option value or password appears in the raw bytes; equal secrets seal differently', async () => {
    const secrets: string[] = [];
    const keep = <T extends string>(s: T): T => {
      secrets.push(s);
      return s;
    };
    const visible: string[] = [];

    // Users with passwords, one of them changed afterwards; each logs in.
    const users: { name: string; password: string }[] = [];
    for (let i = 0; i < 2; i++) {
      const name = rnd(`user${i}_`);
      const password = keep(`Pw-${rnd('')}-Aa1`);
      const res = await h.call({
        method: 'POST', url: '/api/admin/users', as: ADMIN,
        payload: { userName: name, statusInfo: { status: 1 }, passwordInfo: { password }, permissions: { roles: [2] } },
      });
      const id = expectStatus(res, 201, 'create user').id as number;
      users.push({ name, password });
      visible.push(name);
      if (i === 1) {
        const changed = keep(`Pw-${rnd('')}-Bb2`);
        expectStatus(await h.call({ method: 'PUT', url: `/api/admin/users/${id}/passwordinfo`, as: ADMIN, payload: { password: changed } }), 204);
        users[1].password = changed;
      }
    }
    for (const u of users) expectStatus(await h.call({ method: 'GET', url: '/api/mgmt/permissions', as: [u.name, u.password] }), 200, 'login');

    // Applications with client secrets; one secret replaced by PUT.
    const apps: number[] = [];
    for (let i = 0; i < 3; i++) {
      const name = rnd(`App ${i} `);
      visible.push(name);
      apps.push((await createApp(h, ADMIN, appBody(name, 1, { clientSecret: keep(rnd('CLIENTSECRET')), clientId: rnd('clientid') }))).id);
    }
    const newSecret = keep(rnd('CLIENTSECRET'));
    const current = json(await h.call({ method: 'GET', url: `/api/mgmt/oauthapps/${apps[0]}`, as: ADMIN }));
    const { id: _id, ...appPut } = current;
    expectStatus(await h.call({ method: 'PUT', url: `/api/mgmt/oauthapps/${apps[0]}`, as: ADMIN, payload: { ...appPut, clientSecret: newSecret } }), 200, 'put app');

    // Profiles with tokens; two share a refresh token; two get new tokens by PUT.
    const shared = keep(rnd('SHAREDREFRESH'));
    const profiles: number[] = [];
    for (let i = 0; i < 4; i++) {
      const name = rnd(`p${i}_`);
      visible.push(name);
      const refreshToken = i >= 2 ? shared : keep(rnd('REFRESH'));
      profiles.push((await createProfile(h, USER, profileBody(name, apps[i % 3], { accessToken: keep(rnd('ACCESS')), refreshToken }))).id);
    }
    for (const id of profiles.slice(0, 2)) {
      const body = json(await h.call({ method: 'GET', url: `/api/mgmt/oauthprofiles/${id}`, as: USER }));
      const put = { name: body.name, oauthAppId: body.oauthAppId, accessToken: keep(rnd('NEWACCESS')), refreshToken: keep(rnd('NEWREFRESH')) };
      expectStatus(await h.call({ method: 'PUT', url: `/api/mgmt/oauthprofiles/${id}`, as: USER, payload: put }), 200, 'put profile');
    }

    // Data sources with secret option values; one replaced by PUT.
    const dataSources: number[] = [];
    for (let i = 0; i < 2; i++) {
      const name = rnd(`ds${i}_`);
      visible.push(name);
      dataSources.push((await createDataSource(h, USER, {
        name, dataStore: 54, description: null,
        options: { OAuthProfileId: String(profiles[i]), Password: keep(rnd('OPTPASSWORD')), ServerName: keep(rnd('optserver')) },
      })).id);
    }
    expectStatus(await h.call({
      method: 'PUT', url: `/api/mgmt/datasources/${dataSources[0]}`, as: USER,
      payload: { name: rnd('renamed_'), options: { Password: keep(rnd('OPTPASSWORD')), User: keep(rnd('optuser')) } },
    }), 200, 'put data source');

    // Everything reads back through the API (the store opens what it sealed).
    for (const id of profiles) expectStatus(await h.call({ method: 'GET', url: `/api/mgmt/oauthprofiles/${id}`, as: USER }), 200);
    for (const id of dataSources) expectStatus(await h.call({ method: 'GET', url: `/api/mgmt/datasources/${id}`, as: USER }), 200);

    const files = [dbFile(h), `${dbFile(h)}-wal`].filter((f) => existsSync(f));
    const bytes = files.map((f) => readFileSync(f).toString('utf8')).join('\n');
    // The search can fail: names written by the same workload are found in the same bytes.
    for (const name of visible) assert.ok(bytes.includes(name), `non-secret ${name} is in the raw bytes (the search sees the data)`);
    assert.ok(secrets.length >= 20);
    for (const s of [...secrets, USER_PASSWORD, ADMIN_PASSWORD, DEFAULT_PASSWORD]) {
      assert.ok(!bytes.includes(s), `${s.slice(0, 14)}… appears in plain text in ${files.join(' or ')}`);
    }

    // The same refresh token in two profiles: two different ciphertexts, each opening to the same value.
    const [a, b] = [blob(h, 'oauth_profiles', 'refresh_token', profiles[2]), blob(h, 'oauth_profiles', 'refresh_token', profiles[3])];
    assert.ok(Buffer.isBuffer(a) && Buffer.isBuffer(b));
    assert.notDeepEqual(a, b);
    assert.equal(a.length, b.length);
    assert.equal(a.length, 1 + 4 + 12 + Buffer.byteLength(shared) + 16);
    assert.ok(!a.includes(Buffer.from(shared)) && !b.includes(Buffer.from(shared)));
    for (const id of profiles.slice(2)) {
      assert.equal(json(await h.call({ method: 'GET', url: `/api/mgmt/oauthprofiles/${id}`, as: USER })).refreshToken, shared);
    }

    // The same value written again to the same row: a new ciphertext.
    const p2 = json(await h.call({ method: 'GET', url: `/api/mgmt/oauthprofiles/${profiles[2]}`, as: USER }));
    expectStatus(await h.call({
      method: 'PUT', url: `/api/mgmt/oauthprofiles/${profiles[2]}`, as: USER,
      payload: { name: p2.name, oauthAppId: p2.oauthAppId, accessToken: p2.accessToken, refreshToken: p2.refreshToken },
    }), 200);
    assert.notDeepEqual(blob(h, 'oauth_profiles', 'refresh_token', profiles[2]), a);

    // Every sealed column holds a sealed value whose version is the row's key_version.
    raw(h, (db) => {
      for (const [table, columns] of [['oauth_apps', ['client_secret']], ['oauth_profiles', ['access_token', 'refresh_token']], ['datasources', ['options']]] as const) {
        for (const row of db.prepare(`SELECT * FROM ${table}`).all() as Record<string, unknown>[]) {
          for (const c of columns) {
            const v = row[c];
            assert.ok(Buffer.isBuffer(v), `${table}.${c} of row ${row.id} is a BLOB`);
            assert.equal(KeyRing.versionOf(v), row.key_version, `${table}.${c} of row ${row.id} is sealed under its key_version`);
          }
        }
      }
      // The key ring holds wrapped keys only.
      const ring = db.prepare('SELECT version, wrapped FROM keyring').all() as { version: number; wrapped: Buffer }[];
      assert.deepEqual(ring.map((r) => r.version), [1]);
      assert.equal(ring[0].wrapped.length, 12 + 32 + 16);
    });
  });
});

// ---- integrity and binding -------------------------------------------------------------------------------------

interface World {
  apps: { id: number; secret: string }[];
  profiles: { id: number; access: string; refresh: string }[];
  dataSources: { id: number; options: Record<string, string> }[];
  secrets: string[];
}

async function world(h: Harness): Promise<World> {
  const apps: World['apps'] = [];
  for (let i = 0; i < 2; i++) {
    const secret = rnd('CS');
    apps.push({ id: (await createApp(h, ADMIN, appBody(rnd(`app${i}`), 1, { clientSecret: secret }))).id, secret });
  }
  const profiles: World['profiles'] = [];
  for (let i = 0; i < 3; i++) {
    const access = rnd('AT');
    const refresh = rnd('RT');
    profiles.push({ id: (await createProfile(h, USER, profileBody(rnd(`p${i}_`), apps[0].id, { accessToken: access, refreshToken: refresh }))).id, access, refresh });
  }
  const dataSources: World['dataSources'] = [];
  for (let i = 0; i < 2; i++) {
    const options = { Password: rnd('OPW'), ServerName: rnd('srv') };
    const id = (await createDataSource(h, USER, { name: rnd(`ds${i}`), dataStore: 54, options: { ...options, OAuthProfileId: String(profiles[i].id) } })).id;
    dataSources.push({ id, options });
  }
  const secrets = [...apps.map((a) => a.secret), ...profiles.flatMap((p) => [p.access, p.refresh]), ...dataSources.flatMap((d) => Object.values(d.options))];
  return { apps, profiles, dataSources, secrets };
}

async function assertProfileReads(h: Harness, p: World['profiles'][number]): Promise<void> {
  const res = await get(h, `/api/mgmt/oauthprofiles/${p.id}`, USER);
  assert.equal(res.statusCode, 200, res.body);
  assert.equal(json(res).accessToken, p.access);
  assert.equal(json(res).refreshToken, p.refresh);
}

describe('integrity and binding of sealed values', () => {
  let h: Harness;
  let w: World;
  before(async () => {
    h = await harness();
    w = await world(h);
  });
  after(async () => {
    await h.close();
  });

  // Every tampering below goes through withColumns: the row is put back even when an assertion fails, so a failing
  // test cannot leave a damaged row for the tests after it.

  test('a flipped byte anywhere in a refresh token fails that profile only; restoring it heals it', async () => {
    const [target, ...others] = w.profiles;
    const original = await readColumn(h, 'oauth_profiles', 'refresh_token', target.id);
    const positions = [0, 1, 4, 5, 16, 17, 17 + Math.floor((original.length - 33) / 2), original.length - 17, original.length - 1];
    for (const at of positions) {
      await withColumns(h, 'oauth_profiles', target.id, { refresh_token: flip(original, at) }, async () => {
        assertUnreadable(await get(h, `/api/mgmt/oauthprofiles/${target.id}`, USER), `OAuth profile ${target.id}`, w.secrets);
        for (const p of others) await assertProfileReads(h, p);
        const list = await get(h, '/api/mgmt/oauthprofiles', USER);
        assert.equal(list.statusCode, 200, `the list still works (byte ${at})`);
        assert.ok(json(list).profiles.some((p: { id: number }) => p.id === target.id), 'the damaged profile is still listed');
      });
      await assertProfileReads(h, target);
    }
    // A data source referencing the damaged profile does not open the profile's secrets: it still reads.
    await withColumns(h, 'oauth_profiles', target.id, { refresh_token: flip(original, original.length - 1) }, async () => {
      const ds = await get(h, `/api/mgmt/datasources/${w.dataSources[0].id}`, USER);
      assert.equal(ds.statusCode, 200, 'a data source referencing the damaged profile still reads');
      assert.equal(json(ds).options.OAuthProfileId, String(target.id));
    });
    await assertProfileReads(h, target);
  });

  test('a truncated, empty or plain-text value fails cleanly', async () => {
    const target = w.profiles[1];
    const original = await readColumn(h, 'oauth_profiles', 'refresh_token', target.id);
    for (const bad of [original.subarray(0, original.length - 1), original.subarray(0, 10), Buffer.alloc(0), target.refresh, Buffer.from(target.refresh)]) {
      await withColumns(h, 'oauth_profiles', target.id, { refresh_token: bad }, async () => {
        assertUnreadable(await get(h, `/api/mgmt/oauthprofiles/${target.id}`, USER), `OAuth profile ${target.id}`, w.secrets.filter((s) => s !== target.refresh));
      });
    }
    await assertProfileReads(h, target);
  });

  test("one profile's refresh token copied into another row fails there", async () => {
    const [a, b] = w.profiles;
    await withColumns(h, 'oauth_profiles', b.id, { refresh_token: await readColumn(h, 'oauth_profiles', 'refresh_token', a.id) }, async () => {
      assertUnreadable(await get(h, `/api/mgmt/oauthprofiles/${b.id}`, USER), `OAuth profile ${b.id}`, w.secrets);
      await assertProfileReads(h, a);
    });
    await assertProfileReads(h, b);
  });

  test('both sealed tokens of one profile copied into another row fail there', async () => {
    const a = w.profiles[2];
    const b = w.profiles[0];
    const both = { access_token: await readColumn(h, 'oauth_profiles', 'access_token', a.id), refresh_token: await readColumn(h, 'oauth_profiles', 'refresh_token', a.id) };
    await withColumns(h, 'oauth_profiles', b.id, both, async () => {
      assertUnreadable(await get(h, `/api/mgmt/oauthprofiles/${b.id}`, USER), `OAuth profile ${b.id}`, w.secrets);
    });
    await assertProfileReads(h, b);
    await assertProfileReads(h, a);
  });

  test('access and refresh token swapped within one row fails', async () => {
    const p = w.profiles[1];
    const at = await readColumn(h, 'oauth_profiles', 'access_token', p.id);
    const rt = await readColumn(h, 'oauth_profiles', 'refresh_token', p.id);
    await withColumns(h, 'oauth_profiles', p.id, { access_token: rt, refresh_token: at }, async () => {
      assertUnreadable(await get(h, `/api/mgmt/oauthprofiles/${p.id}`, USER), `OAuth profile ${p.id}`, w.secrets);
    });
    // Only one of them moved: still fails.
    await withColumns(h, 'oauth_profiles', p.id, { access_token: rt }, async () => {
      assertUnreadable(await get(h, `/api/mgmt/oauthprofiles/${p.id}`, USER), `OAuth profile ${p.id}`, w.secrets);
    });
    await assertProfileReads(h, p);
  });

  test("a client secret copied into another application fails there; the application list still works", async () => {
    const [x, y] = w.apps;
    await withColumns(h, 'oauth_apps', y.id, { client_secret: await readColumn(h, 'oauth_apps', 'client_secret', x.id) }, async () => {
      assertUnreadable(await get(h, `/api/mgmt/oauthapps/${y.id}`, ADMIN), `OAuth application ${y.id}`, w.secrets);
      const okX = await get(h, `/api/mgmt/oauthapps/${x.id}`, ADMIN);
      assert.equal(okX.statusCode, 200);
      assert.equal(json(okX).clientSecret, x.secret);
      const list = await get(h, '/api/mgmt/oauthapps', ADMIN);
      assert.equal(list.statusCode, 200, list.body);
      assert.equal(json(list).applications.length, 2);
      // Profiles of the damaged application keep their own secrets.
      for (const p of w.profiles) await assertProfileReads(h, p);
    });
    const healed = await get(h, `/api/mgmt/oauthapps/${y.id}`, ADMIN);
    assert.equal(healed.statusCode, 200);
    assert.equal(json(healed).clientSecret, y.secret);
  });

  test('a sealed value moved across tables fails (a refresh token as a client secret)', async () => {
    const y = w.apps[1];
    // Same numeric id, other table and column.
    const p = w.profiles.find((q) => q.id === y.id) ?? w.profiles[0];
    await withColumns(h, 'oauth_apps', y.id, { client_secret: await readColumn(h, 'oauth_profiles', 'refresh_token', p.id) }, async () => {
      assertUnreadable(await get(h, `/api/mgmt/oauthapps/${y.id}`, ADMIN), `OAuth application ${y.id}`, w.secrets);
    });
    assert.equal((await get(h, `/api/mgmt/oauthapps/${y.id}`, ADMIN)).statusCode, 200);
  });

  test('tampered data-source options fail that data source only', async () => {
    const [d, e] = w.dataSources;
    const original = await readColumn(h, 'datasources', 'options', d.id);
    for (const bad of [flip(original, original.length - 5), flip(original, 20), await readColumn(h, 'datasources', 'options', e.id)]) {
      await withColumns(h, 'datasources', d.id, { options: bad }, async () => {
        assertUnreadable(await get(h, `/api/mgmt/datasources/${d.id}`, USER), `data source ${d.id}`, w.secrets);
        const other = await get(h, `/api/mgmt/datasources/${e.id}`, USER);
        assert.equal(other.statusCode, 200);
        assert.equal(json(other).options.Password, e.options.Password);
      });
    }
    const healed = await get(h, `/api/mgmt/datasources/${d.id}`, USER);
    assert.equal(healed.statusCode, 200);
    assert.equal(json(healed).options.Password, d.options.Password);
    for (const p of w.profiles) await assertProfileReads(h, p);
  });

  test('a row relabelled to a key version the ring does not have fails cleanly', async () => {
    const p = w.profiles[0];
    const relabelled = Buffer.from(await readColumn(h, 'oauth_profiles', 'refresh_token', p.id));
    relabelled.writeUInt32BE(99, 1);
    await withColumns(h, 'oauth_profiles', p.id, { refresh_token: relabelled }, async () => {
      assertUnreadable(await get(h, `/api/mgmt/oauthprofiles/${p.id}`, USER), `OAuth profile ${p.id}`, w.secrets);
    });
    await assertProfileReads(h, p);
  });
});

describe('a damaged data source and the data-source list', () => {
  let h: Harness;
  let w: World;
  before(async () => {
    h = await harness();
    w = await world(h);
  });
  after(async () => {
    await h.close();
  });

  test('the list of data sources (summaries, no options) still works when one data source is damaged', async () => {
    const d = w.dataSources[0];
    await withColumns(h, 'datasources', d.id, { options: flip(await readColumn(h, 'datasources', 'options', d.id), 30) }, async () => {
      const list = await get(h, '/api/mgmt/datasources', USER);
      assert.equal(list.statusCode, 200, `GET /api/mgmt/datasources: ${list.body}`);
      assert.deepEqual(json(list).datasources.map((x: { id: number }) => x.id).sort(), w.dataSources.map((x) => x.id).sort());
    });
  });
});
