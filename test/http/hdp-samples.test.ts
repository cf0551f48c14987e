/**
 * HDP's documented sample requests (research-notes.md §4, §5, §10), sent as printed — raw JSON text, only the ids
 * replaced by real ones (and the comma HDP's app sample lacks put back) — and the documented responses checked
 * field for field.
 */
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { harness, type Harness } from '../helpers.js';
import { assertEnvelope } from '../admin-support.js';
import { USER_PERMS, createRole, createTenant, createUser, expectStatus, json } from '../oauth-support.js';

let h: Harness;
let tenantId: number;
const USER = 'tenanta_user1';

/** A fresh database per test: each one starts from HDP's sample app, whose name is unique in its tenant. */
beforeEach(async () => {
  h = await harness();
  tenantId = await createTenant(h, 'TenantA');
  const role = await createRole(h, tenantId, 'TenantA users', USER_PERMS);
  await createUser(h, USER, tenantId, [role]);
});
afterEach(async () => h.close());

/** Sends a raw JSON text, as a client copying the documentation would. */
const send = (method: 'POST' | 'PUT', url: string, text: string, as: string = USER) =>
  h.call({ method, url, as, payload: text, headers: { 'content-type': 'application/json' } });

const appSample = () => `{
  "name": "TenantA OAuth app",
  "dataStore": 54,
  "tenantId": ${tenantId},
  "clientId": "asdfjasdljfasdkjf",
  "clientSecret": "1912308409123890",
  "authorizeURI": "https://accounts.google.com/o/oauth2/v2/auth",
  "tokenURI": "https://www.googleapis.com/oauth2/v3/token",
  "scope": "full_offline_access, test_repo"
}`;

const profileSample = (appId: number) => `{
  "name": "User_1",
  "oauthAppId": ${appId},
  "description": "OAuth profile 1",
  "accessToken": "111c334445e55",
  "refreshToken": "222d88899966fa"
}`;

const dataSourceSample = (profileId: number) => `{
  "name": "OAuth2Datasource_Test",
  "dataStore": 54,
  "description": "DS for testing oauth profiles",
  "options": { "OAuthProfileId": "${profileId}" }
}`;

const profileResponse = (id: number, appId: number) => ({
  id,
  name: 'User_1',
  oauthAppId: appId,
  description: 'OAuth profile 1',
  accessToken: '111c334445e55',
  refreshToken: '222d88899966fa',
});

async function createSampleApp(): Promise<number> {
  const res = await send('POST', '/api/mgmt/oauthapps', appSample(), 'd2cadmin');
  const body = expectStatus(res, 201, 'create app sample');
  assert.deepEqual(body, {
    id: body.id,
    name: 'TenantA OAuth app',
    dataStore: 54,
    tenantId,
    description: null,
    clientId: 'asdfjasdljfasdkjf',
    clientSecret: '1912308409123890',
    authorizeURI: 'https://accounts.google.com/o/oauth2/v2/auth',
    tokenURI: 'https://www.googleapis.com/oauth2/v3/token',
    scope: 'full_offline_access, test_repo',
  });
  assert.equal(res.headers.location, `/api/mgmt/oauthapps/${body.id}`);
  return body.id;
}

test('the whole documented life of a profile: app, profile, update, data source, stats, delete', async () => {
  const appId = await createSampleApp();

  // POST /api/mgmt/oauthprofiles [S3]: 201 with exactly the sample's fields and a Location
  const created = await send('POST', '/api/mgmt/oauthprofiles', profileSample(appId));
  const profile = expectStatus(created, 201, 'create profile sample');
  assert.ok(Number.isSafeInteger(profile.id) && profile.id > 0, 'id is a positive JSON number');
  assert.deepEqual(profile, profileResponse(profile.id, appId));
  assert.equal(created.headers.location, `/api/mgmt/oauthprofiles/${profile.id}`);
  const id: number = profile.id;

  // GET /api/mgmt/oauthprofiles/{id} [S4]
  assert.deepEqual(expectStatus(await h.call({ method: 'GET', url: `/api/mgmt/oauthprofiles/${id}`, as: USER }), 200), profileResponse(id, appId));

  // PUT /api/mgmt/oauthprofiles/{id} [S2]: the update page's sample is the create sample
  const updated = await send('PUT', `/api/mgmt/oauthprofiles/${id}`, profileSample(appId));
  assert.deepEqual(expectStatus(updated, 200, 'update profile sample'), profileResponse(id, appId));

  // GET /api/mgmt/oauthprofiles [S5]: {"profiles":[…]} with the app's URIs and scope joined in, no tokens
  const list = await h.call({ method: 'GET', url: '/api/mgmt/oauthprofiles', as: USER });
  assert.deepEqual(expectStatus(list, 200), {
    profiles: [
      {
        id,
        name: 'User_1',
        description: 'OAuth profile 1',
        oauthAppId: appId,
        authorizeURI: 'https://accounts.google.com/o/oauth2/v2/auth',
        tokenURI: 'https://www.googleapis.com/oauth2/v3/token',
        scope: 'full_offline_access, test_repo',
      },
    ],
  });
  assert.ok(!list.body.includes('111c334445e55') && !list.body.includes('222d88899966fa'), 'no token in the list');

  // POST /api/mgmt/datasources [§10]: the 4.6 Google Analytics sample
  const dsRes = await send('POST', '/api/mgmt/datasources', dataSourceSample(id));
  const ds = expectStatus(dsRes, 201, 'create data source sample');
  assert.deepEqual(ds, {
    id: ds.id,
    name: 'OAuth2Datasource_Test',
    dataStore: 54,
    connectionType: 'Cloud',
    description: 'DS for testing oauth profiles',
    options: { OAuthProfileId: String(id) },
  });
  assert.equal(dsRes.headers.location, `/api/mgmt/datasources/${ds.id}`);

  // GET /api/mgmt/oauthprofiles/{id}/stats [S7]
  const stats = await h.call({ method: 'GET', url: `/api/mgmt/oauthprofiles/${id}/stats`, as: USER });
  assert.deepEqual(expectStatus(stats, 200), {
    dataSourcesLinked: 1,
    dataStoreId: 54,
    dataSources: [{ id: ds.id, name: 'OAuth2Datasource_Test', description: 'DS for testing oauth profiles' }],
  });

  // DELETE /api/mgmt/oauthprofiles/{id} [S6]: 204 without a body
  const del = await h.call({ method: 'DELETE', url: `/api/mgmt/oauthprofiles/${id}`, as: USER });
  assert.equal(del.statusCode, 204);
  assert.equal(del.body, '', 'a 204 has no body');
  assert.equal(del.headers['content-length'] ?? '0', '0');

  // … then the documented failure body, code as a JSON number
  for (const url of [`/api/mgmt/oauthprofiles/${id}`, `/api/mgmt/oauthprofiles/${id}/stats`]) {
    const gone = await h.call({ method: 'GET', url, as: USER });
    assert.equal(gone.statusCode, 404, url);
    assert.deepEqual(json(gone), { error: { code: 222207710, message: { lang: 'en-US', value: `Invalid OAuthProfileId: ${id}` } } });
  }
  const again = await h.call({ method: 'DELETE', url: `/api/mgmt/oauthprofiles/${id}`, as: USER });
  assert.deepEqual([again.statusCode, json(again)], [404, { error: { code: 222207710, message: { lang: 'en-US', value: `Invalid OAuthProfileId: ${id}` } } }]);

  // … and the data source lost its OAuthProfileId but is otherwise intact
  const dsAfter = expectStatus(await h.call({ method: 'GET', url: `/api/mgmt/datasources/${ds.id}`, as: USER }), 200);
  assert.deepEqual(dsAfter, { ...ds, options: {} });
  assert.equal((await h.store.dataSources.get(ds.id))?.oauthProfileId, null);
});

test('list samples: {"applications":[…]} without client credentials, filtered by tenantId and tenantName', async () => {
  const appId = await createSampleApp();
  const expected = {
    id: appId,
    name: 'TenantA OAuth app',
    dataStore: 54,
    tenantId,
    description: null,
    authorizeURI: 'https://accounts.google.com/o/oauth2/v2/auth',
    tokenURI: 'https://www.googleapis.com/oauth2/v3/token',
    scope: 'full_offline_access, test_repo',
  };
  for (const [as, url] of [
    [USER, '/api/mgmt/oauthapps'],
    ['d2cadmin', '/api/mgmt/oauthapps'],
    ['d2cadmin', `/api/mgmt/oauthapps?tenantId=${tenantId}`],
    ['d2cadmin', '/api/mgmt/oauthapps?tenantName=TenantA'],
  ] as const) {
    const res = await h.call({ method: 'GET', url, as });
    const body = expectStatus(res, 200, `${as} ${url}`);
    assert.deepEqual(Object.keys(body), ['applications']);
    assert.deepEqual(
      body.applications.find((a: { id: number }) => a.id === appId),
      expected,
      `${as} ${url}`,
    );
    assert.ok(!res.body.includes('1912308409123890'), 'no clientSecret in a list');
    assert.ok(!res.body.includes('asdfjasdljfasdkjf'), 'no clientId in a list');
    assert.ok(!res.body.includes('clientSecret') && !res.body.includes('clientId'), 'no credential keys in a list');
  }
  const system = expectStatus(await h.call({ method: 'GET', url: '/api/mgmt/oauthapps?tenantId=1', as: 'd2cadmin' }), 200);
  assert.equal(
    system.applications.some((a: { id: number }) => a.id === appId),
    false,
    'the tenant filter filters',
  );

  // GET /api/mgmt/oauthapps/{id} [S11]: credentials only in the single read, the secret only for its managers
  const forAdmin = expectStatus(await h.call({ method: 'GET', url: `/api/mgmt/oauthapps/${appId}`, as: 'd2cadmin' }), 200);
  assert.deepEqual(forAdmin, { ...expected, clientId: 'asdfjasdljfasdkjf', clientSecret: '1912308409123890' });
  const forUser = expectStatus(await h.call({ method: 'GET', url: `/api/mgmt/oauthapps/${appId}`, as: USER }), 200);
  assert.deepEqual(forUser, { ...expected, clientId: 'asdfjasdljfasdkjf' });
});

test('DELETE /api/mgmt/oauthapps/{id} [S13]: 204, its profiles go with it, and the documented failure body', async () => {
  const appId = await createSampleApp();
  const p1 = expectStatus(await send('POST', '/api/mgmt/oauthprofiles', profileSample(appId)), 201).id;
  const p2 = expectStatus(await send('POST', '/api/mgmt/oauthprofiles', profileSample(appId).replace('User_1', 'User_2')), 201).id;
  const ds = expectStatus(await send('POST', '/api/mgmt/datasources', dataSourceSample(p1).replace('OAuth2Datasource_Test', 'GAtest')), 201);

  const del = await h.call({ method: 'DELETE', url: `/api/mgmt/oauthapps/${appId}`, as: 'd2cadmin' });
  assert.equal(del.statusCode, 204);
  assert.equal(del.body, '');
  for (const p of [p1, p2]) {
    assert.equal(await h.store.profiles.get(p), undefined, `profile ${p} deleted with its app`);
    const gone = await h.call({ method: 'GET', url: `/api/mgmt/oauthprofiles/${p}`, as: USER });
    assert.deepEqual([gone.statusCode, json(gone)], [404, { error: { code: 222207710, message: { lang: 'en-US', value: `Invalid OAuthProfileId: ${p}` } } }]);
  }
  assert.deepEqual(expectStatus(await h.call({ method: 'GET', url: '/api/mgmt/oauthprofiles', as: USER }), 200), { profiles: [] });
  const dsAfter = expectStatus(await h.call({ method: 'GET', url: `/api/mgmt/datasources/${ds.id}`, as: USER }), 200);
  assert.deepEqual(dsAfter.options, {}, 'the data source lost the reference to the deleted profile');

  const missing = await h.call({ method: 'DELETE', url: '/api/mgmt/oauthapps/223344', as: 'd2cadmin' });
  assert.equal(missing.statusCode, 404);
  assert.deepEqual(json(missing), { error: { code: 222207711, message: { lang: 'en-US', value: 'Invalid OAuthApplicationId: 223344' } } });
  assertEnvelope(missing, 'unknown app');
});

test("a path id that is not a number is the resource's own not-found, like an unknown id", async () => {
  for (const [url, code] of [
    ['/api/mgmt/oauthprofiles/abc', 222207710],
    ['/api/mgmt/oauthapps/abc', 222207711],
    ['/api/mgmt/datasources/abc', 222207004],
  ] as const) {
    const res = await h.call({ method: 'GET', url, as: USER });
    assert.equal(res.statusCode, 404, url);
    assert.equal(assertEnvelope(res, url).error.code, code, url);
  }
});
