/**
 * Damaged secrets on OAuth applications and data sources (issue 11, defect 3), on both backends. A sealed value that
 * fails its integrity check — a flipped byte, or a value copied from another row or column — must not lock the
 * object away from the API: whoever may manage it can replace it (PUT) or delete it (DELETE), with If-Match still
 * checked; a read that shows no secret (a non-manager's GET of an application, lists, the app cascade, profile
 * stats) does not open one; only a read that shows the secret answers 500 `secretUnreadable` naming the object. The
 * rows are damaged through a second connection to the harness's database (../tamper-support.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { harness, basic, ADMIN_PASSWORD, USER_PASSWORD, DEFAULT_PASSWORD, type Harness } from '../helpers.js';
import { ADMIN, appBody, createApp, createDataSource, createProfile, createUser, expectStatus, json, profileBody } from '../oauth-support.js';
import { flip, readColumn, writeColumn } from '../tamper-support.js';

const USER = 'd2cuser';
const STRANGER = 'damage_stranger';
const SECRET_ERROR = 223000520;
const rnd = (tag: string): string => `${tag}${randomBytes(10).toString('hex')}`;

type SealedColumn =
  { table: 'oauth_apps'; column: 'client_secret' } | { table: 'datasources'; column: 'options' } | { table: 'oauth_profiles'; column: 'refresh_token' };

const readSealed = (h: Harness, { table, column }: SealedColumn, id: number): Promise<Buffer> => readColumn(h, table, column, id);
const writeSealed = (h: Harness, { table, column }: SealedColumn, id: number, value: Buffer): Promise<void> => writeColumn(h, table, column, id, value);

/** The two kinds of damage: a flipped ciphertext byte, and a valid value sealed for another row (or column). */
interface Damage {
  name: string;
  apply(h: Harness, target: SealedColumn, id: number, donor: { target: SealedColumn; id: number }): Promise<void>;
}
const DAMAGES: Damage[] = [
  { name: 'a flipped ciphertext byte', apply: async (h, target, id) => writeSealed(h, target, id, flip(await readSealed(h, target, id), 30)) },
  {
    name: 'a ciphertext copied from another row',
    apply: async (h, target, id, donor) => writeSealed(h, target, id, await readSealed(h, donor.target, donor.id)),
  },
];

const APP: SealedColumn = { table: 'oauth_apps', column: 'client_secret' };
const DS: SealedColumn = { table: 'datasources', column: 'options' };
const REFRESH: SealedColumn = { table: 'oauth_profiles', column: 'refresh_token' };

const passwords: Record<string, string> = { [ADMIN]: ADMIN_PASSWORD, [USER]: USER_PASSWORD, [STRANGER]: DEFAULT_PASSWORD };

/** A request without the harness's schema check (a 500 has no declared schema); headers such as If-Match pass through. */
const send = (
  h: Harness,
  method: 'GET' | 'PUT' | 'DELETE',
  url: string,
  as: string,
  opts: { payload?: object; ifMatch?: string } = {},
): Promise<LightMyRequestResponse> =>
  h.app.inject({
    method,
    url,
    payload: opts.payload,
    headers: { authorization: basic(as, passwords[as]), ...(opts.ifMatch === undefined ? {} : { 'if-match': opts.ifMatch }) },
  });

function assertUnreadable(res: LightMyRequestResponse, object: string, secrets: string[]): void {
  assert.equal(res.statusCode, 500, `expected 500 secretUnreadable for ${object}, got ${res.statusCode} ${res.body}`);
  assert.equal(json(res).error.code, SECRET_ERROR);
  assert.ok(json(res).error.message.value.includes(object), `the error names ${object}: ${res.body}`);
  for (const s of secrets) assert.ok(!res.body.includes(s), `the error body leaks a secret: ${res.body}`);
}

describe('damaged secrets on OAuth applications and data sources', () => {
  let h: Harness;
  /** an undamaged app, profile and data source: the donors of ciphertexts copied from other rows */
  let donorApp: number;
  let donorProfile: number;
  let donorDataSource: number;

  before(async () => {
    h = await harness();
    await createUser(h, STRANGER, 1, [2]);
    donorApp = (await createApp(h, ADMIN, appBody(rnd('donor'), 1))).id;
    donorProfile = (await createProfile(h, USER, profileBody(rnd('donor'), donorApp))).id;
    donorDataSource = (await createDataSource(h, USER, { name: rnd('donor'), dataStore: 54, options: { Password: rnd('DONORPW') } })).id;
  });
  after(async () => {
    await h.close();
  });

  /** A system-tenant app (usable by d2cuser, managed by d2cadmin only) with one profile and a data source on it. */
  async function damagedApp(damage: Damage): Promise<{ id: number; name: string; secret: string; profile: number; dataSource: number }> {
    const name = rnd('damaged');
    const secret = rnd('CLIENTSECRET');
    const id = (await createApp(h, ADMIN, appBody(name, 1, { clientSecret: secret }))).id;
    const profile = (await createProfile(h, USER, profileBody(rnd('p'), id))).id;
    const dataSource = (await createDataSource(h, USER, { name: rnd('ds'), dataStore: 54, options: { OAuthProfileId: String(profile), Password: rnd('PW') } }))
      .id;
    // The copied value: a profile's refresh token (another table, column and row); a data source gets another data source's options.
    await damage.apply(h, APP, id, { target: REFRESH, id: donorProfile });
    assertUnreadable(await send(h, 'GET', `/api/mgmt/oauthapps/${id}`, ADMIN), `OAuth application ${id}`, [secret]);
    return { id, name, secret, profile, dataSource };
  }

  async function damagedDataSource(damage: Damage): Promise<{ id: number; name: string; options: Record<string, string>; profile: number }> {
    const name = rnd('damaged');
    const options = { Password: rnd('OPTPW'), ServerName: rnd('srv') };
    const profile = (await createProfile(h, USER, profileBody(rnd('p'), donorApp))).id;
    const id = (await createDataSource(h, USER, { name, dataStore: 54, options: { ...options, OAuthProfileId: String(profile) } })).id;
    await damage.apply(h, DS, id, { target: DS, id: donorDataSource });
    assertUnreadable(await send(h, 'GET', `/api/mgmt/datasources/${id}`, USER), `data source ${id}`, Object.values(options));
    return { id, name, options, profile };
  }

  for (const damage of DAMAGES) {
    describe(`an application with ${damage.name}`, () => {
      test('a non-manager reads it (no secret shown, none opened); lists, ETag and profile stats keep working', async () => {
        const app = await damagedApp(damage);
        const res = await send(h, 'GET', `/api/mgmt/oauthapps/${app.id}`, USER);
        assert.equal(res.statusCode, 200, `non-manager GET of a damaged app: ${res.body}`);
        const body = json(res);
        assert.equal(body.id, app.id);
        assert.equal(body.name, app.name);
        assert.equal(body.clientId, `client-${app.name}`);
        assert.ok(!('clientSecret' in body), 'no client secret for a non-manager');
        assert.equal(res.headers.etag, '"1"');
        // Still unreadable for the manager, who would see the secret.
        assertUnreadable(await send(h, 'GET', `/api/mgmt/oauthapps/${app.id}`, ADMIN), `OAuth application ${app.id}`, [app.secret]);
        for (const as of [ADMIN, USER]) {
          const list = await send(h, 'GET', '/api/mgmt/oauthapps', as);
          assert.equal(list.statusCode, 200, list.body);
          assert.ok(
            json(list).applications.some((a: { id: number }) => a.id === app.id),
            'the damaged app is listed',
          );
        }
        // Its profile and data source do not need its secret.
        const stats = await send(h, 'GET', `/api/mgmt/oauthprofiles/${app.profile}/stats`, USER);
        assert.equal(stats.statusCode, 200, stats.body);
        assert.deepEqual(
          json(stats).dataSources.map((d: { id: number }) => d.id),
          [app.dataSource],
        );
        assert.equal((await send(h, 'GET', `/api/mgmt/oauthprofiles/${app.profile}`, USER)).statusCode, 200);
        assert.equal((await send(h, 'GET', `/api/mgmt/datasources/${app.dataSource}`, USER)).statusCode, 200);
        // A non-manager may still not change or delete it: 403, not 500.
        expectStatus(await send(h, 'PUT', `/api/mgmt/oauthapps/${app.id}`, USER, { payload: appBody(app.name, 1) }), 403, 'non-manager PUT');
        expectStatus(await send(h, 'DELETE', `/api/mgmt/oauthapps/${app.id}`, USER), 403, 'non-manager DELETE');
      });

      test('its manager replaces it by PUT (If-Match checked against the damaged row); GET works again', async () => {
        const app = await damagedApp(damage);
        const secret = rnd('NEWSECRET');
        const payload = appBody(app.name, 1, { clientSecret: secret, description: 'repaired' });
        expectStatus(await send(h, 'PUT', `/api/mgmt/oauthapps/${app.id}`, ADMIN, { payload, ifMatch: '"7"' }), 412, 'stale If-Match');
        const res = await send(h, 'PUT', `/api/mgmt/oauthapps/${app.id}`, ADMIN, { payload, ifMatch: '"1"' });
        const put = expectStatus(res, 200, 'manager PUT of a damaged app');
        assert.equal(put.clientSecret, secret);
        assert.equal(res.headers.etag, '"2"');
        const healed = await send(h, 'GET', `/api/mgmt/oauthapps/${app.id}`, ADMIN);
        const body = expectStatus(healed, 200, 'manager GET after the PUT');
        assert.equal(body.clientSecret, secret);
        assert.equal(body.description, 'repaired');
        assert.equal(healed.headers.etag, '"2"');
        // The profile survived the repair.
        assert.equal((await send(h, 'GET', `/api/mgmt/oauthprofiles/${app.profile}`, USER)).statusCode, 200);
      });

      test('its manager deletes it (If-Match checked); its profiles go with it and data sources lose the reference', async () => {
        const app = await damagedApp(damage);
        expectStatus(await send(h, 'DELETE', `/api/mgmt/oauthapps/${app.id}`, ADMIN, { ifMatch: '"2"' }), 412, 'stale If-Match');
        expectStatus(await send(h, 'DELETE', `/api/mgmt/oauthapps/${app.id}`, ADMIN, { ifMatch: '"1"' }), 204, 'manager DELETE of a damaged app');
        expectStatus(await send(h, 'GET', `/api/mgmt/oauthapps/${app.id}`, ADMIN), 404, 'the app is gone');
        expectStatus(await send(h, 'GET', `/api/mgmt/oauthprofiles/${app.profile}`, USER), 404, 'its profile is gone');
        const ds = expectStatus(await send(h, 'GET', `/api/mgmt/datasources/${app.dataSource}`, USER), 200, 'the data source stays');
        assert.ok(!('OAuthProfileId' in ds.options), 'the data source lost its reference');
      });
    });

    describe(`a data source with ${damage.name}`, () => {
      test('its owner replaces it by PUT, options wholly (If-Match checked); GET answers 500 until then', async () => {
        const ds = await damagedDataSource(damage);
        // Lists and the stats of its profile need no options.
        const list = await send(h, 'GET', '/api/mgmt/datasources', USER);
        assert.equal(list.statusCode, 200, list.body);
        assert.ok(json(list).datasources.some((d: { id: number }) => d.id === ds.id));
        const stats = await send(h, 'GET', `/api/mgmt/oauthprofiles/${ds.profile}/stats`, USER);
        assert.deepEqual(
          json(stats).dataSources.map((d: { id: number }) => d.id),
          [ds.id],
        );

        const payload = { name: ds.name, description: 'repaired', options: { User: 'someone', OAuthProfileId: String(ds.profile) } };
        expectStatus(await send(h, 'PUT', `/api/mgmt/datasources/${ds.id}`, USER, { payload, ifMatch: '"5"' }), 412, 'stale If-Match');
        const res = await send(h, 'PUT', `/api/mgmt/datasources/${ds.id}`, USER, { payload, ifMatch: '"1"' });
        const put = expectStatus(res, 200, 'owner PUT of a damaged data source');
        assert.deepEqual(put.options, payload.options, 'the options are replaced wholly');
        assert.equal(res.headers.etag, '"2"');
        const healed = await send(h, 'GET', `/api/mgmt/datasources/${ds.id}`, USER);
        assert.deepEqual(expectStatus(healed, 200, 'GET after the PUT').options, payload.options);
        assert.equal(healed.headers.etag, '"2"');
      });

      test('its owner deletes it (If-Match checked)', async () => {
        const ds = await damagedDataSource(damage);
        expectStatus(await send(h, 'DELETE', `/api/mgmt/datasources/${ds.id}`, USER, { ifMatch: '"3"' }), 412, 'stale If-Match');
        expectStatus(await send(h, 'DELETE', `/api/mgmt/datasources/${ds.id}`, USER, { ifMatch: '"1"' }), 204, 'owner DELETE of a damaged data source');
        expectStatus(await send(h, 'GET', `/api/mgmt/datasources/${ds.id}`, USER), 404, 'the data source is gone');
        const stats = await send(h, 'GET', `/api/mgmt/oauthprofiles/${ds.profile}/stats`, USER);
        assert.deepEqual(json(stats).dataSources, []);
      });

      test('anyone else gets the 404 of an id that does not exist, not the damage', async () => {
        const ds = await damagedDataSource(damage);
        for (const method of ['GET', 'PUT', 'DELETE'] as const) {
          const payload = method === 'PUT' ? { name: ds.name, options: {} } : undefined;
          const res = await send(h, method, `/api/mgmt/datasources/${ds.id}`, STRANGER, { payload });
          assert.equal(res.statusCode, 404, `${method} by another user: ${res.body}`);
        }
      });
    });
  }
});
