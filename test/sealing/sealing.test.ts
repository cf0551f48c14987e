/**
 * The sealing layer (src/sealing/), proved once and run against SQLite and PostgreSQL alike (PostgreSQL
 * when TOKENKEEP_TEST_PG_URL is set, each suite on a fresh database as the harness makes it; this file is left out of
 * the PostgreSQL pass and runs both itself):
 * - confidentiality: after a real workload through the API no token, client secret, option value or password is in
 *   any row of any table (nor, on SQLite, in the raw bytes of the file and its WAL); every sealed column holds a
 *   sealed value under its row's key_version; the ring holds wrapped keys only;
 * - integrity and move-integrity: a flipped byte, a truncated or plain value, a ciphertext copied to another row,
 *   column or table, or relabelled to another key version, makes exactly that object fail cleanly (500, code
 *   223000520, the object named, no secret in the body) while everything else keeps working;
 * - rotation: key status, a new version, re-encryption in batches, retirement rules, and re-encryption passing
 *   damaged rows with its cursor.
 * Rows are read and damaged through a second connection to the database (../tamper-support.ts), as someone with
 * access to the database could.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { KeyRing } from '../../src/sealing/key-ring.js';
import { damagedReport, reencryptAll } from '../../src/keys/rotation.js';
import { harness, basic, ADMIN_PASSWORD, DEFAULT_PASSWORD, USER_PASSWORD, type Harness } from '../helpers.js';
import { ADMIN, appBody, createApp, createDataSource, createProfile, expectStatus, json, profileBody } from '../oauth-support.js';
import { flip, onDatabase, readColumn, withColumns } from '../tamper-support.js';

const rnd = (tag: string): string => `${tag}${randomBytes(12).toString('hex')}`;
const USER = 'd2cuser';
const SECRET_ERROR = 223000520;

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
    profiles.push({
      id: (await createProfile(h, USER, profileBody(rnd(`p${i}_`), apps[0].id, { accessToken: access, refreshToken: refresh }))).id,
      access,
      refresh,
    });
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

/** Every row of every table of the database, as the database gives it back (text, numbers, BLOB/BYTEA bytes). */
function everyRow(h: Harness): Promise<Record<string, unknown>[]> {
  return onDatabase(h, async (q) => {
    const tables =
      h.backend === 'sqlite'
        ? await q("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'", [])
        : await q("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'", []);
    assert.ok(tables.length >= 8, 'the search sees every table');
    const rows: Record<string, unknown>[] = [];
    for (const { name } of tables) rows.push(...(await q(`SELECT * FROM ${name as string}`, [])));
    return rows;
  });
}

const SEALED_COLUMNS = {
  oauth_apps: ['client_secret'],
  oauth_profiles: ['access_token', 'refresh_token'],
  datasources: ['options'],
  consent_states: ['verifier'],
} as const;

/** A consent in progress (api.md §9) as the consent flow stores it: its PKCE verifier is sealed. */
async function addConsentState(h: Harness, appId: number, verifier: string): Promise<string> {
  const user = await h.store.users.byName(USER);
  assert.ok(user, 'the seed user exists');
  const digest = randomBytes(32).toString('hex');
  const state = { digest, userId: user.id, actorId: user.id, appId, returnTo: null, verifier, expiresAt: Date.now() + 600_000 };
  assert.equal(await h.store.consentStates.add({ ...state, target: { kind: 'create', name: rnd('c_'), description: null } }, Date.now()), undefined);
  return digest;
}

/** Every sealed value, checked to be sealed under its row's key_version; returns rows per version. */
function sealedVersions(h: Harness): Promise<Map<number, number>> {
  return onDatabase(h, async (q) => {
    const usage = new Map<number, number>();
    for (const [table, columns] of Object.entries(SEALED_COLUMNS)) {
      for (const row of await q(`SELECT * FROM ${table}`, [])) {
        for (const c of columns) {
          if (row[c] === null) continue;
          assert.equal(KeyRing.versionOf(row[c] as Buffer), row.key_version, `${table}.${c} of row ${row.id} is sealed under its key_version`);
        }
        usage.set(Number(row.key_version), (usage.get(Number(row.key_version)) ?? 0) + 1);
      }
    }
    return usage;
  });
}

/** Reads, or writes then reads, one sealed value beside the store; undefined when the row is gone. */
const sealedValue = (h: Harness, table: string, column: string, id: number, value?: Buffer): Promise<Buffer | undefined> =>
  onDatabase(h, async (q) => {
    if (value) assert.equal(Number((await q(`UPDATE ${table} SET ${column} = $1 WHERE id = $2`, [value, id]))[0].changes), 1);
    return (await q(`SELECT ${column} AS v FROM ${table} WHERE id = $1`, [id]))[0]?.v as Buffer | undefined;
  });

/** A copy with one byte of the ciphertext flipped: it fails its GCM integrity check. */
const flipped = (value: Buffer): Buffer => {
  const copy = Buffer.from(value);
  copy[copy.length - 3] ^= 0x5a;
  return copy;
};

for (const backend of ['sqlite', 'postgres'] as const)
  describe(
    `sealing on ${backend}`,
    {
      skip: backend === 'postgres' && !process.env.TOKENKEEP_TEST_PG_URL ? 'TOKENKEEP_TEST_PG_URL is not set: no PostgreSQL server to test against' : false,
    },
    () => {
      describe('confidentiality: no secret in any row, nor in the SQLite file and its WAL', () => {
        let h: Harness;
        before(async () => {
          h = await harness({}, { backend });
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
              method: 'POST',
              url: '/api/admin/users',
              as: ADMIN,
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
          expectStatus(
            await h.call({ method: 'PUT', url: `/api/mgmt/oauthapps/${apps[0]}`, as: ADMIN, payload: { ...appPut, clientSecret: newSecret } }),
            200,
            'put app',
          );

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
          const dataSourceNames: string[] = [];
          for (let i = 0; i < 2; i++) {
            const name = rnd(`ds${i}_`);
            visible.push(name);
            dataSourceNames.push(name);
            dataSources.push(
              (
                await createDataSource(h, USER, {
                  name,
                  dataStore: 54,
                  description: null,
                  options: { OAuthProfileId: String(profiles[i]), Password: keep(rnd('OPTPASSWORD')), ServerName: keep(rnd('optserver')) },
                })
              ).id,
            );
          }
          // Renamed: its first name is gone from the rows (the raw file may still hold it), its new one is there.
          const renamed = rnd('renamed_');
          const currentNames = [...visible.filter((name) => name !== dataSourceNames[0]), renamed];
          expectStatus(
            await h.call({
              method: 'PUT',
              url: `/api/mgmt/datasources/${dataSources[0]}`,
              as: USER,
              payload: { name: renamed, options: { Password: keep(rnd('OPTPASSWORD')), User: keep(rnd('optuser')) } },
            }),
            200,
            'put data source',
          );

          // A consent in progress: its PKCE verifier is a secret too.
          const consentVerifier = keep(rnd('VERIFIER'));
          const consentDigest = await addConsentState(h, apps[1], consentVerifier);

          // Everything reads back through the API (the store opens what it sealed).
          for (const id of profiles) expectStatus(await h.call({ method: 'GET', url: `/api/mgmt/oauthprofiles/${id}`, as: USER }), 200);
          for (const id of dataSources) expectStatus(await h.call({ method: 'GET', url: `/api/mgmt/datasources/${id}`, as: USER }), 200);

          assert.ok(secrets.length >= 20);
          const plain = [...secrets, USER_PASSWORD, ADMIN_PASSWORD, DEFAULT_PASSWORD];
          // Every column of every row of every table, as the database gives it: text, or the bytes of a BLOB/BYTEA.
          const rows = await everyRow(h);
          const cells = rows.flatMap((row) => Object.values(row)).filter((v): v is string | Buffer => typeof v === 'string' || Buffer.isBuffer(v));
          // The search can fail: names written by the same workload are found in the same rows.
          for (const name of currentNames)
            assert.ok(
              cells.some((v) => v.includes(name)),
              `non-secret ${name} is in a row (the search sees the data)`,
            );
          for (const s of plain) {
            const found = rows.find((row) => Object.values(row).some((v) => (typeof v === 'string' || Buffer.isBuffer(v)) && v.includes(s)));
            assert.equal(found, undefined, `${s.slice(0, 14)}… appears in plain text in a row`);
          }
          if (backend === 'sqlite') {
            const file = join(h.dir, 'tokenkeep.db');
            const files = [file, `${file}-wal`].filter((f) => existsSync(f));
            const bytes = files.map((f) => readFileSync(f).toString('utf8')).join('\n');
            for (const name of visible) assert.ok(bytes.includes(name), `non-secret ${name} is in the raw bytes (the search sees the data)`);
            for (const s of plain) assert.ok(!bytes.includes(s), `${s.slice(0, 14)}… appears in plain text in ${files.join(' or ')}`);
          }

          // The same refresh token in two profiles: two different ciphertexts, each opening to the same value.
          const [a, b] = [
            await readColumn(h, 'oauth_profiles', 'refresh_token', profiles[2]),
            await readColumn(h, 'oauth_profiles', 'refresh_token', profiles[3]),
          ];
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
          expectStatus(
            await h.call({
              method: 'PUT',
              url: `/api/mgmt/oauthprofiles/${profiles[2]}`,
              as: USER,
              payload: { name: p2.name, oauthAppId: p2.oauthAppId, accessToken: p2.accessToken, refreshToken: p2.refreshToken },
            }),
            200,
          );
          assert.notDeepEqual(await readColumn(h, 'oauth_profiles', 'refresh_token', profiles[2]), a);

          // Every sealed column holds a sealed value whose version is the row's key_version.
          await onDatabase(h, async (q) => {
            for (const [table, columns] of [
              ['oauth_apps', ['client_secret']],
              ['oauth_profiles', ['access_token', 'refresh_token']],
              ['datasources', ['options']],
              ['consent_states', ['verifier']],
            ] as const) {
              for (const row of await q(`SELECT * FROM ${table}`, [])) {
                for (const c of columns) {
                  const v = row[c];
                  assert.ok(Buffer.isBuffer(v), `${table}.${c} of row ${row.id} is a BLOB`);
                  assert.equal(KeyRing.versionOf(v), row.key_version, `${table}.${c} of row ${row.id} is sealed under its key_version`);
                }
              }
            }
            // The key ring holds wrapped keys only.
            const ring = (await q('SELECT version, wrapped FROM keyring', [])) as { version: number; wrapped: Buffer }[];
            assert.deepEqual(
              ring.map((r) => r.version),
              [1],
            );
            assert.equal(ring[0].wrapped.length, 12 + 32 + 16);
          });
          assert.equal((await h.store.consentStates.take(consentDigest))?.verifier, consentVerifier, 'the verifier opens');
        });
      });

      describe('integrity and move-integrity: a flipped byte, or a value moved to another row or column, is unreadable', () => {
        let h: Harness;
        let w: World;
        before(async () => {
          h = await harness({}, { backend });
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
              assert.ok(
                json(list).profiles.some((p: { id: number }) => p.id === target.id),
                'the damaged profile is still listed',
              );
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
          for (const bad of [
            original.subarray(0, original.length - 1),
            original.subarray(0, 10),
            Buffer.alloc(0),
            target.refresh,
            Buffer.from(target.refresh),
          ]) {
            await withColumns(h, 'oauth_profiles', target.id, { refresh_token: bad }, async () => {
              assertUnreadable(
                await get(h, `/api/mgmt/oauthprofiles/${target.id}`, USER),
                `OAuth profile ${target.id}`,
                w.secrets.filter((s) => s !== target.refresh),
              );
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
          const both = {
            access_token: await readColumn(h, 'oauth_profiles', 'access_token', a.id),
            refresh_token: await readColumn(h, 'oauth_profiles', 'refresh_token', a.id),
          };
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

        test('a client secret copied into another application fails there; the application list still works', async () => {
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
          h = await harness({}, { backend });
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
            assert.deepEqual(
              json(list)
                .datasources.map((x: { id: number }) => x.id)
                .sort(),
              w.dataSources.map((x) => x.id).sort(),
            );
          });
        });
      });

      describe('rotation: status, a new version, re-encryption in batches, retirement', () => {
        let h: Harness;
        before(async () => {
          h = await harness({}, { backend });
        });
        after(async () => {
          await h.close();
        });

        test('batches move rows to the new version without changing a value; retire refuses the active and used versions', async () => {
          const app = await createApp(h, ADMIN, appBody('rot app', 1, { clientSecret: 'rot-client-secret' }));
          const profiles: { id: number; access: string; refresh: string }[] = [];
          for (let i = 0; i < 7; i++) {
            const access = `acc-${i}`;
            const refresh = `ref-${i}`;
            profiles.push({
              id: (await createProfile(h, 'd2cuser', profileBody(`rp${i}`, app.id, { accessToken: i === 3 ? null : access, refreshToken: refresh }))).id,
              access,
              refresh,
            });
          }
          await createDataSource(h, 'd2cuser', { name: 'rot ds', dataStore: 54, options: { Password: 'ds-secret-value' } });
          const consents = [];
          for (let i = 0; i < 2; i++) consents.push({ verifier: `rot-verifier-${i}`, digest: await addConsentState(h, app.id, `rot-verifier-${i}`) });
          const total = 1 + 7 + 1 + 2;

          let status = await h.store.keys.status();
          assert.deepEqual(
            status.map((v) => [v.version, v.active, v.rows]),
            [[1, true, total]],
          );
          await assert.rejects(h.store.keys.retire(1), /active/);

          assert.equal(await h.store.keys.addVersion(), 2);
          status = await h.store.keys.status();
          assert.deepEqual(
            status.map((v) => [v.version, v.active, v.rows]),
            [
              [1, false, total],
              [2, true, 0],
            ],
          );
          await assert.rejects(h.store.keys.retire(1), /still used/, 'a version rows still use cannot be retired');

          const batches: number[] = [];
          for (;;) {
            const n = await h.store.keys.reencryptBatch(4);
            if (n === 0) break;
            assert.ok(n <= 4, `a batch re-encrypts at most its size (${n})`);
            batches.push(n);
            // Between batches everything reads, whichever version it is under.
            for (const p of profiles) {
              const res = await h.call({ method: 'GET', url: `/api/mgmt/oauthprofiles/${p.id}`, as: 'd2cuser' });
              assert.equal(json(res).refreshToken, p.refresh);
            }
            assert.ok(batches.length < 10, 'batches terminate');
          }
          assert.equal(
            batches.reduce((a, b) => a + b, 0),
            total,
          );
          assert.deepEqual([...(await sealedVersions(h))], [[2, total]]);

          await assert.rejects(h.store.keys.retire(2), /active/);
          await h.store.keys.retire(1);
          await assert.rejects(h.store.keys.retire(1), /no key version 1/);
          status = await h.store.keys.status();
          assert.deepEqual(
            status.map((v) => [v.version, v.active, v.rows]),
            [[2, true, total]],
          );
          for (const p of profiles) {
            const body = json(await h.call({ method: 'GET', url: `/api/mgmt/oauthprofiles/${p.id}`, as: 'd2cuser' }));
            assert.equal(body.accessToken, p.id === profiles[3].id ? null : p.access);
            assert.equal(body.refreshToken, p.refresh);
          }
          assert.equal(json(await h.call({ method: 'GET', url: `/api/mgmt/oauthapps/${app.id}`, as: ADMIN })).clientSecret, 'rot-client-secret');
          for (const c of consents) assert.equal((await h.store.consentStates.take(c.digest))?.verifier, c.verifier, 'a consent in progress survives rotation');
        });
      });

      describe('re-encryption meets damaged rows: the cursor passes them, names them, and finishes once they are repaired', () => {
        let h: Harness;
        before(async () => {
          h = await harness({}, { backend });
        });
        after(async () => {
          await h.close();
        });

        test(
          'every good row moves, each damaged value is named, the pass ends; once repaired or deleted, reencrypt finishes',
          { timeout: 60_000 },
          async () => {
            const good = await createApp(h, ADMIN, appBody('dmg good app', 1, { clientSecret: 'good-client-secret' }));
            const badApp = await createApp(h, ADMIN, appBody('dmg bad app', 1, { clientSecret: 'bad-client-secret' }));
            const profiles: { id: number; refresh: string }[] = [];
            for (let i = 0; i < 6; i++) {
              const refresh = `dmg-ref-${i}`;
              profiles.push({
                id: (await createProfile(h, 'd2cuser', profileBody(`dmg${i}`, good.id, { accessToken: `dmg-acc-${i}`, refreshToken: refresh }))).id,
                refresh,
              });
            }
            const badProfile = profiles[2];
            const goodDs = await createDataSource(h, 'd2cuser', { name: 'dmg ds good', dataStore: 54, options: { Password: 'ds-good' } });
            const badDs = await createDataSource(h, 'd2cuser', { name: 'dmg ds bad', dataStore: 54, options: { Password: 'ds-bad' } });
            const total = 2 + 6 + 2;

            const originals = {
              app: (await sealedValue(h, 'oauth_apps', 'client_secret', badApp.id))!,
              profile: (await sealedValue(h, 'oauth_profiles', 'refresh_token', badProfile.id))!,
              ds: (await sealedValue(h, 'datasources', 'options', badDs.id))!,
            };
            try {
              await sealedValue(h, 'oauth_apps', 'client_secret', badApp.id, flipped(originals.app));
              await sealedValue(h, 'oauth_profiles', 'refresh_token', badProfile.id, flipped(originals.profile));
              await sealedValue(h, 'datasources', 'options', badDs.id, flipped(originals.ds));

              assert.equal(await h.store.keys.addVersion(), 2);
              // Batches of 2: damaged rows sit inside batches and at their ends; the pass must still end.
              const first = await reencryptAll(h.store.keys, 2, () => {});
              assert.equal(first.rows, total - 3, 'every good row is re-encrypted');
              const damaged = [
                { table: 'oauth_apps', id: badApp.id, column: 'client_secret' },
                { table: 'oauth_profiles', id: badProfile.id, column: 'refresh_token' },
                { table: 'datasources', id: badDs.id, column: 'options' },
              ];
              const byTable = (list: { table: string; id: number; column: string }[]) =>
                [...list].sort((x, y) => `${x.table}${x.id}`.localeCompare(`${y.table}${y.id}`));
              assert.deepEqual(byTable(first.damaged), byTable(damaged), 'each damaged value is named by table, id and column');
              assert.ok(!damagedReport(first.damaged).includes('bad-client-secret'));
              assert.match(damagedReport(first.damaged), new RegExp(`oauth_profiles id ${badProfile.id} column refresh_token`));

              let status = await h.store.keys.status();
              assert.deepEqual(
                status.map((v) => [v.version, v.active, v.rows]),
                [
                  [1, false, 3],
                  [2, true, total - 3],
                ],
                'damaged rows are counted under their old version',
              );
              await assert.rejects(h.store.keys.retire(1), /still used/);
              for (const p of profiles.filter((p) => p !== badProfile)) {
                assert.equal(json(await h.call({ method: 'GET', url: `/api/mgmt/oauthprofiles/${p.id}`, as: 'd2cuser' })).refreshToken, p.refresh);
              }
              assert.equal(json(await h.call({ method: 'GET', url: `/api/mgmt/oauthapps/${good.id}`, as: ADMIN })).clientSecret, 'good-client-secret');
              assert.equal(json(await h.call({ method: 'GET', url: `/api/mgmt/datasources/${goodDs.id}`, as: 'd2cuser' })).options.Password, 'ds-good');

              // Another pass finds the same three again, and nothing else.
              const again = await reencryptAll(h.store.keys, 500, () => {});
              assert.equal(again.rows, 0);
              assert.deepEqual(byTable(again.damaged), byTable(damaged));

              // Repair: the profile gets new tokens through the API; the app's value is restored (as from a backup); the
              // data source is deleted.
              expectStatus(
                await h.call({
                  method: 'PUT',
                  url: `/api/mgmt/oauthprofiles/${badProfile.id}`,
                  as: 'd2cuser',
                  payload: profileBody('dmg2', good.id, { refreshToken: 'repaired' }),
                }),
                200,
              );
              await sealedValue(h, 'oauth_apps', 'client_secret', badApp.id, originals.app);
              await h.store.dataSources.delete(badDs.id);
              const last = await reencryptAll(h.store.keys, 500, () => {});
              assert.deepEqual(last, { rows: 1, damaged: [] }, 'the restored app is re-encrypted (the PUT sealed the profile under version 2)');
              status = await h.store.keys.status();
              assert.deepEqual(
                status.map((v) => [v.version, v.active, v.rows]),
                [
                  [1, false, 0],
                  [2, true, total - 1],
                ],
              );
              await h.store.keys.retire(1);
              assert.equal(json(await h.call({ method: 'GET', url: `/api/mgmt/oauthprofiles/${badProfile.id}`, as: 'd2cuser' })).refreshToken, 'repaired');
              assert.equal(json(await h.call({ method: 'GET', url: `/api/mgmt/oauthapps/${badApp.id}`, as: ADMIN })).clientSecret, 'bad-client-secret');
            } finally {
              // Put the original bytes back wherever the test stopped (rows already repaired or deleted are left alone).
              for (const [table, column, id, original] of [
                ['oauth_apps', 'client_secret', badApp.id, originals.app],
                ['oauth_profiles', 'refresh_token', badProfile.id, originals.profile],
                ['datasources', 'options', badDs.id, originals.ds],
              ] as const) {
                if ((await sealedValue(h, table, column, id))?.equals(flipped(original))) await sealedValue(h, table, column, id, original);
              }
            }
          },
        );
      });
    },
  );
