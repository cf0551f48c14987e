/**
 * The authorization matrix of api.md §4–§7, declared as data: for every route of /api/mgmt/oauthprofiles,
 * /api/mgmt/oauthapps and /api/mgmt/datasources, one expected outcome per actor. Each cell becomes one test.
 *
 * Every row gets fresh targets, created through the API just before the request: an application X of tenant A
 * (data store 54), a profile P of X owned by the row's owner (U1, created by TA1 through ?user=U1) and a data source D
 * of that owner referencing P. A denied request (and any read) must leave every stored OAuth object unchanged;
 * a granted write must have exactly its documented effect.
 *
 * Actors (see NAMES in oauth-support.ts): "owner" is U1, the owner of P and D; for the application routes it is
 * simply a plain user of tenant A.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { harness, type Harness } from '../helpers.js';
import { assertError } from '../admin-support.js';
import {
  NAMES,
  appBody,
  appView,
  buildWorld,
  createApp,
  createDataSource,
  createProfile,
  dataSourceBody,
  json,
  oauthState,
  profileBody,
  profileView,
  type OAuthState,
  type UserKey,
  type World,
} from '../oauth-support.js';

const CODE = {
  forbidden: 222208103,
  userNotFound: 223001404,
  profileNotFound: 222207710,
  appNotFound: 222207711,
  dataSourceNotFound: 222207004,
  invalidOption: 222207002,
} as const;

// ---- actors -----------------------------------------------------------------------------------------------------

/** `lacker`: the user lacking the permission of the route's operation (declared per route). */
interface Actor {
  who: UserKey | 'lacker';
  user?: 'U1' | 'HI' | 'nobody';
}

const actors = {
  owner: { who: 'U1' },
  creatorOnBehalf: { who: 'TA1', user: 'U1' },
  creatorSelf: { who: 'TA1' },
  sameTenantUser: { who: 'U2' },
  sameTenantUserOnBehalf: { who: 'U2', user: 'U1' },
  otherTenantUser: { who: 'U3' },
  sysadmin: { who: 'd2cadmin' },
  sysadminOnBehalf: { who: 'd2cadmin', user: 'U1' },
  sysadminUnknownUser: { who: 'd2cadmin', user: 'nobody' },
  tenantAdminOnBehalf: { who: 'TA2', user: 'U1' },
  tenantAdminSelf: { who: 'TA2' },
  tenantAdminUnknownUser: { who: 'TA2', user: 'nobody' },
  tenantAdminOnBehalfOfStrongerUser: { who: 'TA2', user: 'HI' },
  tenantAdminNoOnBehalfOfOnBehalf: { who: 'TA3', user: 'U1' },
  tenantAdminNoOnBehalfOfSelf: { who: 'TA3' },
  otherTenantAdminOnBehalf: { who: 'TB1', user: 'U1' },
  otherTenantAdminSelf: { who: 'TB1' },
  unlistedAdminOnBehalf: { who: 'TA4', user: 'U1' },
  unlistedAdminSelf: { who: 'TA4' },
  lacksPermission: { who: 'lacker' },
  lacksPermissionOnBehalf: { who: 'lacker', user: 'U1' },
  lacksMgmtApi: { who: 'NM' },
} as const satisfies Record<string, Actor>;
type ActorKey = keyof typeof actors;

/**
 * ok: the route's success status (lists: the target is listed; app GET: with clientSecret) · hidden: 200 list
 * without the target · nosecret: 200 app without clientSecret · 403: 222208103 · 404: the route's not-found code ·
 * 404user: unknown or unreachable ?user= · 400ref: the body's reference is refused.
 */
type Expect = 'ok' | 'hidden' | 'nosecret' | '403' | '404' | '404user' | '400ref';
type Table = Record<ActorKey, Expect>;

// ---- fixtures ---------------------------------------------------------------------------------------------------

let h: Harness;
let w: World;
let row = 0;

/** One fresh database and fixture per route, so that the state each row snapshots stays small. */
function freshWorld(): void {
  before(async () => {
    h = await harness();
    w = await buildWorld(h);
  });
  after(async () => h.close());
}

interface Target {
  rowName: string;
  ownerKey: UserKey;
  appId: number;
  profileId: number;
  dataSourceId: number;
}

async function makeTarget(ownerKey: UserKey): Promise<Target> {
  const rowName = `r${++row}`;
  const appId = (await createApp(h, 'd2cadmin', appBody(`X ${rowName}`, w.tenantA))).id;
  // U1's profile is created by its tenant administrator on its behalf, so that TA1 is the creator;
  // a lacking user's profile is created for it by d2cadmin.
  const creator = ownerKey === 'U1' ? NAMES.TA1 : NAMES.d2cadmin;
  const profileId = (await createProfile(h, creator, profileBody(`P_${rowName}`, appId), NAMES[ownerKey])).id;
  const dataSourceId = (await createDataSource(h, creator, dataSourceBody(`D ${rowName}`, profileId), NAMES[ownerKey])).id;
  return { rowName, ownerKey, appId, profileId, dataSourceId };
}

// ---- routes -----------------------------------------------------------------------------------------------------

interface Ctx {
  t: Target;
  body: any;
  request?: Record<string, unknown>;
  before: OAuthState;
  after: OAuthState;
  effectiveId: number;
  callerId: number;
  expect: Expect;
}

interface Route {
  name: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: (t: Target) => string;
  body?: (t: Target) => Record<string, unknown>;
  success: 200 | 201 | 204;
  notFound: number;
  ref?: number;
  /** the user lacking this operation's permission */
  lacker: UserKey;
  /** whether the lacking user is given targets of its own (so that only the permission can deny it) */
  lackerOwns: boolean;
  verify: (c: Ctx) => void;
  table: Table;
}

const unchanged = (c: Ctx) => assert.deepEqual(c.after, c.before, 'a read changes nothing');
const others = <T extends { id: number }>(list: T[], id: number) => list.filter((x) => x.id !== id);

// Shared tables: who reaches a profile (owner or creator, as effective user) and a data source (owner only).
const profileObject: Table = {
  owner: 'ok',
  creatorOnBehalf: 'ok',
  creatorSelf: 'ok',
  sameTenantUser: '404',
  sameTenantUserOnBehalf: '403',
  otherTenantUser: '404',
  sysadmin: '404',
  sysadminOnBehalf: 'ok',
  sysadminUnknownUser: '404user',
  tenantAdminOnBehalf: 'ok',
  tenantAdminSelf: '404',
  tenantAdminUnknownUser: '404user',
  tenantAdminOnBehalfOfStrongerUser: '403',
  tenantAdminNoOnBehalfOfOnBehalf: '403',
  tenantAdminNoOnBehalfOfSelf: '404',
  otherTenantAdminOnBehalf: '404user',
  otherTenantAdminSelf: '404',
  unlistedAdminOnBehalf: '403',
  unlistedAdminSelf: '404',
  lacksPermission: '403',
  lacksPermissionOnBehalf: '403',
  lacksMgmtApi: '403',
};
const dataSourceObject: Table = { ...profileObject, creatorSelf: '404' };
const profileListing: Table = {
  ...profileObject,
  sameTenantUser: 'hidden',
  otherTenantUser: 'hidden',
  sysadmin: 'hidden',
  tenantAdminSelf: 'hidden',
  tenantAdminNoOnBehalfOfSelf: 'hidden',
  otherTenantAdminSelf: 'hidden',
  unlistedAdminSelf: 'hidden',
};
const dataSourceListing: Table = { ...profileListing, creatorSelf: 'hidden' };
const appManagement: Table = {
  owner: '403',
  creatorOnBehalf: '403',
  creatorSelf: 'ok',
  sameTenantUser: '403',
  sameTenantUserOnBehalf: '403',
  otherTenantUser: '403',
  sysadmin: 'ok',
  sysadminOnBehalf: '403',
  sysadminUnknownUser: '404user',
  tenantAdminOnBehalf: '403',
  tenantAdminSelf: 'ok',
  tenantAdminUnknownUser: '404user',
  tenantAdminOnBehalfOfStrongerUser: '403',
  tenantAdminNoOnBehalfOfOnBehalf: '403',
  tenantAdminNoOnBehalfOfSelf: 'ok',
  otherTenantAdminOnBehalf: '404user',
  otherTenantAdminSelf: '404',
  unlistedAdminOnBehalf: '403',
  unlistedAdminSelf: '403',
  lacksPermission: '403',
  lacksPermissionOnBehalf: '403',
  lacksMgmtApi: '403',
};

const routes: Route[] = [
  // ---- OAuth profiles ----
  {
    name: 'GET /api/mgmt/oauthprofiles',
    method: 'GET',
    url: () => '/api/mgmt/oauthprofiles',
    success: 200,
    notFound: CODE.profileNotFound,
    lacker: 'lack2',
    lackerOwns: true,
    table: profileListing,
    verify: (c) => {
      unchanged(c);
      const ids = c.body.profiles.map((p: { id: number }) => p.id);
      assert.equal(ids.includes(c.t.profileId), c.expect === 'ok', `profile listed: ${JSON.stringify(ids)}`);
    },
  },
  {
    name: 'POST /api/mgmt/oauthprofiles',
    method: 'POST',
    url: () => '/api/mgmt/oauthprofiles',
    success: 201,
    notFound: CODE.profileNotFound,
    ref: CODE.appNotFound,
    lacker: 'lack1',
    lackerOwns: true,
    body: (t) => profileBody(`New_${t.rowName}`, t.appId),
    table: {
      ...profileObject,
      creatorSelf: 'ok',
      sameTenantUser: 'ok',
      otherTenantUser: '400ref',
      sysadmin: '400ref',
      tenantAdminSelf: 'ok',
      tenantAdminNoOnBehalfOfSelf: 'ok',
      otherTenantAdminSelf: '400ref',
      unlistedAdminSelf: 'ok',
    },
    verify: (c) => {
      const stored = c.after.profiles.find((p) => p.id === c.body.id);
      assert.ok(stored, 'created profile is stored');
      assert.deepEqual(c.body, { id: c.body.id, ...c.request }, 'response is the request plus id');
      assert.equal(stored.ownerId, c.effectiveId, 'the effective user owns it');
      assert.equal(stored.creatorId, c.callerId, 'the caller is recorded as creator');
      assert.deepEqual(profileView(stored), c.body);
      assert.deepEqual(others(c.after.profiles, c.body.id), c.before.profiles, 'nothing else changed');
      assert.deepEqual(c.after.dataSources, c.before.dataSources);
      assert.deepEqual(c.after.apps, c.before.apps);
    },
  },
  {
    name: 'GET /api/mgmt/oauthprofiles/{id}',
    method: 'GET',
    url: (t) => `/api/mgmt/oauthprofiles/${t.profileId}`,
    success: 200,
    notFound: CODE.profileNotFound,
    lacker: 'lack2',
    lackerOwns: true,
    table: profileObject,
    verify: (c) => {
      unchanged(c);
      assert.deepEqual(c.body, profileView(c.before.profiles.find((p) => p.id === c.t.profileId)!));
    },
  },
  {
    name: 'PUT /api/mgmt/oauthprofiles/{id}',
    method: 'PUT',
    url: (t) => `/api/mgmt/oauthprofiles/${t.profileId}`,
    success: 200,
    notFound: CODE.profileNotFound,
    lacker: 'lack3',
    lackerOwns: true,
    table: profileObject,
    body: (t) => profileBody(`P_${t.rowName}_v2`, t.appId, { accessToken: `NEWACCESS-${t.rowName}`, refreshToken: `NEWREFRESH-${t.rowName}` }),
    verify: (c) => {
      assert.deepEqual(c.body, { id: c.t.profileId, ...c.request });
      const stored = c.after.profiles.find((p) => p.id === c.t.profileId)!;
      const old = c.before.profiles.find((p) => p.id === c.t.profileId)!;
      assert.deepEqual(profileView(stored), c.body, 'stored as sent');
      assert.equal(stored.ownerId, old.ownerId, 'owner unchanged');
      assert.equal(stored.creatorId, old.creatorId, 'creator unchanged');
      assert.deepEqual(others(c.after.profiles, c.t.profileId), others(c.before.profiles, c.t.profileId));
      assert.deepEqual(c.after.dataSources, c.before.dataSources);
    },
  },
  {
    name: 'DELETE /api/mgmt/oauthprofiles/{id}',
    method: 'DELETE',
    url: (t) => `/api/mgmt/oauthprofiles/${t.profileId}`,
    success: 204,
    notFound: CODE.profileNotFound,
    lacker: 'lack4',
    lackerOwns: true,
    table: profileObject,
    verify: (c) => {
      assert.equal(
        c.after.profiles.find((p) => p.id === c.t.profileId),
        undefined,
        'profile deleted',
      );
      assert.deepEqual(c.after.profiles, others(c.before.profiles, c.t.profileId));
      const ds = c.after.dataSources.find((d) => d.id === c.t.dataSourceId)!;
      assert.ok(ds, 'the data source itself stays');
      assert.equal(ds.oauthProfileId, null, 'the data source lost its reference');
      assert.deepEqual(others(c.after.dataSources, c.t.dataSourceId), others(c.before.dataSources, c.t.dataSourceId));
      assert.deepEqual(c.after.apps, c.before.apps);
    },
  },
  {
    name: 'GET /api/mgmt/oauthprofiles/{id}/stats',
    method: 'GET',
    url: (t) => `/api/mgmt/oauthprofiles/${t.profileId}/stats`,
    success: 200,
    notFound: CODE.profileNotFound,
    lacker: 'lack2',
    lackerOwns: true,
    table: profileObject,
    verify: (c) => {
      unchanged(c);
      const ds = c.before.dataSources.find((d) => d.id === c.t.dataSourceId)!;
      assert.deepEqual(c.body, { dataSourcesLinked: 1, dataStoreId: 54, dataSources: [{ id: ds.id, name: ds.name, description: ds.description }] });
    },
  },
  // ---- OAuth applications ----
  {
    name: 'GET /api/mgmt/oauthapps',
    method: 'GET',
    url: () => '/api/mgmt/oauthapps',
    success: 200,
    notFound: CODE.appNotFound,
    lacker: 'NM',
    lackerOwns: false,
    table: {
      ...appManagement,
      owner: 'ok',
      creatorOnBehalf: 'ok',
      sameTenantUser: 'ok',
      otherTenantUser: 'hidden',
      sysadminOnBehalf: 'ok',
      tenantAdminOnBehalf: 'ok',
      otherTenantAdminSelf: 'hidden',
      unlistedAdminSelf: 'ok',
    },
    verify: (c) => {
      unchanged(c);
      const ids = c.body.applications.map((a: { id: number }) => a.id);
      assert.equal(ids.includes(c.t.appId), c.expect === 'ok', `app listed: ${JSON.stringify(ids)}`);
    },
  },
  {
    name: 'POST /api/mgmt/oauthapps',
    method: 'POST',
    url: () => '/api/mgmt/oauthapps',
    success: 201,
    notFound: CODE.appNotFound,
    lacker: 'lack28',
    lackerOwns: false,
    table: { ...appManagement, otherTenantAdminSelf: '403' },
    body: (t) => appBody(`New ${t.rowName}`, w.tenantA),
    verify: (c) => {
      assert.deepEqual(c.body, { id: c.body.id, ...c.request }, 'response is the request plus id (clientSecret included)');
      assert.deepEqual(appView(c.after.apps.find((a) => a.id === c.body.id)!), c.body, 'stored as sent');
      assert.deepEqual(others(c.after.apps, c.body.id), c.before.apps);
      assert.deepEqual(c.after.profiles, c.before.profiles);
    },
  },
  {
    name: 'GET /api/mgmt/oauthapps/{id}',
    method: 'GET',
    url: (t) => `/api/mgmt/oauthapps/${t.appId}`,
    success: 200,
    notFound: CODE.appNotFound,
    lacker: 'NM',
    lackerOwns: false,
    table: {
      ...appManagement,
      owner: 'nosecret',
      creatorOnBehalf: 'nosecret',
      sameTenantUser: 'nosecret',
      otherTenantUser: '404',
      sysadminOnBehalf: 'nosecret',
      tenantAdminOnBehalf: 'nosecret',
      unlistedAdminSelf: 'nosecret',
    },
    verify: (c) => {
      unchanged(c);
      const { clientSecret, ...rest } = appView(c.before.apps.find((a) => a.id === c.t.appId)!);
      assert.deepEqual(c.body, c.expect === 'ok' ? { ...rest, clientSecret } : rest);
    },
  },
  {
    name: 'PUT /api/mgmt/oauthapps/{id}',
    method: 'PUT',
    url: (t) => `/api/mgmt/oauthapps/${t.appId}`,
    success: 200,
    notFound: CODE.appNotFound,
    lacker: 'lack28',
    lackerOwns: false,
    table: appManagement,
    body: (t) => appBody(`X ${t.rowName} v2`, w.tenantA, { clientSecret: `NEWSECRET-${t.rowName}`, scope: 'changed' }),
    verify: (c) => {
      assert.deepEqual(c.body, { id: c.t.appId, ...c.request });
      assert.deepEqual(appView(c.after.apps.find((a) => a.id === c.t.appId)!), c.body);
      assert.deepEqual(others(c.after.apps, c.t.appId), others(c.before.apps, c.t.appId));
      assert.deepEqual(c.after.profiles, c.before.profiles);
    },
  },
  {
    name: 'DELETE /api/mgmt/oauthapps/{id}',
    method: 'DELETE',
    url: (t) => `/api/mgmt/oauthapps/${t.appId}`,
    success: 204,
    notFound: CODE.appNotFound,
    lacker: 'lack28',
    lackerOwns: false,
    table: appManagement,
    verify: (c) => {
      assert.deepEqual(c.after.apps, others(c.before.apps, c.t.appId), 'only the app is gone');
      assert.deepEqual(c.after.profiles, others(c.before.profiles, c.t.profileId), 'its profile is gone, no other');
      assert.equal(c.after.dataSources.find((d) => d.id === c.t.dataSourceId)?.oauthProfileId, null, 'data source stripped');
    },
  },
  // ---- data sources ----
  {
    name: 'GET /api/mgmt/datasources',
    method: 'GET',
    url: () => '/api/mgmt/datasources',
    success: 200,
    notFound: CODE.dataSourceNotFound,
    lacker: 'lack2',
    lackerOwns: true,
    table: dataSourceListing,
    verify: (c) => {
      unchanged(c);
      const ids = c.body.datasources.map((d: { id: number }) => d.id);
      assert.equal(ids.includes(c.t.dataSourceId), c.expect === 'ok', `data source listed: ${JSON.stringify(ids)}`);
    },
  },
  {
    name: 'POST /api/mgmt/datasources',
    method: 'POST',
    url: () => '/api/mgmt/datasources',
    success: 201,
    notFound: CODE.dataSourceNotFound,
    ref: CODE.invalidOption,
    lacker: 'lack1',
    lackerOwns: true,
    body: (t) => dataSourceBody(`New ${t.rowName}`, t.profileId),
    table: {
      ...profileObject,
      sameTenantUser: '400ref',
      otherTenantUser: '400ref',
      sysadmin: '400ref',
      tenantAdminSelf: '400ref',
      tenantAdminNoOnBehalfOfSelf: '400ref',
      otherTenantAdminSelf: '400ref',
      unlistedAdminSelf: '400ref',
    },
    verify: (c) => {
      const stored = c.after.dataSources.find((d) => d.id === c.body.id)!;
      assert.ok(stored, 'stored');
      assert.equal(stored.ownerId, c.effectiveId, 'the effective user owns it');
      assert.equal(stored.oauthProfileId, c.t.profileId);
      assert.deepEqual(c.body, { id: c.body.id, connectionType: 'Cloud', ...c.request });
      assert.deepEqual(others(c.after.dataSources, c.body.id), c.before.dataSources);
      assert.deepEqual(c.after.profiles, c.before.profiles);
    },
  },
  {
    name: 'GET /api/mgmt/datasources/{id}',
    method: 'GET',
    url: (t) => `/api/mgmt/datasources/${t.dataSourceId}`,
    success: 200,
    notFound: CODE.dataSourceNotFound,
    lacker: 'lack2',
    lackerOwns: true,
    table: dataSourceObject,
    verify: (c) => {
      unchanged(c);
      const ds = c.before.dataSources.find((d) => d.id === c.t.dataSourceId)!;
      assert.deepEqual(c.body, {
        id: ds.id,
        name: ds.name,
        dataStore: ds.dataStore,
        connectionType: ds.connectionType,
        description: ds.description,
        options: { ...ds.options, OAuthProfileId: String(c.t.profileId) },
      });
    },
  },
  {
    name: 'PUT /api/mgmt/datasources/{id}',
    method: 'PUT',
    url: (t) => `/api/mgmt/datasources/${t.dataSourceId}`,
    success: 200,
    notFound: CODE.dataSourceNotFound,
    lacker: 'lack3',
    lackerOwns: true,
    table: dataSourceObject,
    body: (t) => dataSourceBody(`D ${t.rowName} v2`, t.profileId, { description: 'changed', options: { OAuthProfileId: String(t.profileId), ViewId: '43' } }),
    verify: (c) => {
      assert.deepEqual(c.body, { id: c.t.dataSourceId, connectionType: 'Cloud', ...c.request });
      const stored = c.after.dataSources.find((d) => d.id === c.t.dataSourceId)!;
      assert.deepEqual([stored.name, stored.description, stored.options, stored.oauthProfileId], [c.request!.name, 'changed', { ViewId: '43' }, c.t.profileId]);
      assert.deepEqual(others(c.after.dataSources, c.t.dataSourceId), others(c.before.dataSources, c.t.dataSourceId));
    },
  },
  {
    name: 'DELETE /api/mgmt/datasources/{id}',
    method: 'DELETE',
    url: (t) => `/api/mgmt/datasources/${t.dataSourceId}`,
    success: 204,
    notFound: CODE.dataSourceNotFound,
    lacker: 'lack4',
    lackerOwns: true,
    table: dataSourceObject,
    verify: (c) => {
      assert.deepEqual(c.after.dataSources, others(c.before.dataSources, c.t.dataSourceId));
      assert.deepEqual(c.after.profiles, c.before.profiles, 'the profile stays');
    },
  },
];

// ---- generated tests ----------------------------------------------------------------------------------------------

for (const route of routes) {
  describe(route.name, () => {
    freshWorld();
    for (const [actorKey, expect] of Object.entries(route.table) as [ActorKey, Expect][]) {
      const actor: Actor = actors[actorKey];
      test(`${actorKey}${actor.user ? ` (?user=${actor.user})` : ''} → ${expect}`, async () => {
        const who: UserKey = actor.who === 'lacker' ? route.lacker : actor.who;
        const ownsOwn = actor.who === 'lacker' && actor.user === undefined && route.lackerOwns;
        const t = await makeTarget(ownsOwn ? who : 'U1');
        const request = route.body?.(t);
        const query = actor.user === undefined ? '' : `?user=${actor.user === 'nobody' ? 'nobody_at_all' : NAMES[actor.user]}`;
        const before = await oauthState(h.store);
        const res = await h.call({ method: route.method, url: route.url(t) + query, as: NAMES[who], ...(request ? { payload: request } : {}) });
        const afterState = await oauthState(h.store);
        const denied = (status: number, code: number) => {
          assertError(res, status, code, `${route.name} as ${actorKey}`);
          assert.deepEqual(afterState, before, 'a denied request changes nothing');
        };
        switch (expect) {
          case '403':
            return denied(403, CODE.forbidden);
          case '404':
            return denied(404, route.notFound);
          case '404user':
            return denied(404, CODE.userNotFound);
          case '400ref':
            return denied(400, route.ref!);
          default: {
            assert.equal(res.statusCode, route.success, `status (body ${res.body.slice(0, 300)})`);
            if (route.success === 204) assert.equal(res.body, '', '204 has no body');
            if (route.success === 201) assert.equal(res.headers.location, `${route.url(t)}/${json(res).id}`, 'Location');
            const effectiveKey: UserKey = actor.user === undefined || actor.user === 'nobody' ? who : actor.user;
            route.verify({
              t,
              body: res.body === '' ? undefined : json(res),
              request,
              before,
              after: afterState,
              expect,
              effectiveId: w.ids[effectiveKey],
              callerId: w.ids[who],
            });
          }
        }
      });
    }
  });
}

test('every route declares an outcome for every actor', () => {
  for (const route of routes) assert.deepEqual(Object.keys(route.table).sort(), Object.keys(actors).sort(), route.name);
});

// ---- tenant scope of applications (api.md §5): who may manage and who may use the apps of which tenant ----------

interface ScopeRow {
  label: string;
  as: UserKey;
  user?: UserKey;
  method: 'POST' | 'PUT';
  url: (s: ScopeCtx) => string;
  body: (s: ScopeCtx) => Record<string, unknown>;
  status: number;
  code?: number;
}
interface ScopeCtx {
  w: World;
  profileForU1: number;
  label: string;
}

const appIn = (tenant: (w: World) => number) => (s: ScopeCtx) => appBody(`Scope ${s.label}`, tenant(s.w));
const profileWith = (app: (w: World) => number) => (s: ScopeCtx) => profileBody(`Scope_${s.label.replace(/\W+/g, '_')}`, app(s.w));
const APPS = '/api/mgmt/oauthapps';
const PROFILES = '/api/mgmt/oauthprofiles';
const sys = () => 1;
const tA = (x: World) => x.tenantA;
const tB = (x: World) => x.tenantB;

const scopeRows: ScopeRow[] = [
  // managing: Administrator anywhere; OAuth (28) only with administrative access on the app's tenant
  { label: 'admin creates in tenant B', as: 'd2cadmin', method: 'POST', url: () => APPS, body: appIn(tB), status: 201 },
  { label: 'admin creates in the system tenant', as: 'd2cadmin', method: 'POST', url: () => APPS, body: appIn(sys), status: 201 },
  { label: 'tenant A admin creates in tenant A', as: 'TA1', method: 'POST', url: () => APPS, body: appIn(tA), status: 201 },
  { label: 'tenant A admin creates in tenant B', as: 'TA1', method: 'POST', url: () => APPS, body: appIn(tB), status: 403, code: CODE.forbidden },
  { label: 'tenant A admin creates in the system tenant', as: 'TA1', method: 'POST', url: () => APPS, body: appIn(sys), status: 403, code: CODE.forbidden },
  { label: 'system OAuth manager creates in tenant A (administered)', as: 'SYS28', method: 'POST', url: () => APPS, body: appIn(tA), status: 201 },
  {
    label: 'system OAuth manager creates in tenant B (not administered)',
    as: 'SYS28',
    method: 'POST',
    url: () => APPS,
    body: appIn(tB),
    status: 403,
    code: CODE.forbidden,
  },
  {
    label: 'system OAuth manager creates in the system tenant (not administered)',
    as: 'SYS28',
    method: 'POST',
    url: () => APPS,
    body: appIn(sys),
    status: 403,
    code: CODE.forbidden,
  },
  {
    label: 'system OAuth manager updates a tenant A app',
    as: 'SYS28',
    method: 'PUT',
    url: (s) => `${APPS}/${s.w.appA}`,
    body: (s) => appBody('Tenant A GA app', s.w.tenantA),
    status: 200,
  },
  {
    label: 'system OAuth manager updates the system app',
    as: 'SYS28',
    method: 'PUT',
    url: (s) => `${APPS}/${s.w.appSys}`,
    body: () => appBody('System GA app', 1),
    status: 403,
    code: CODE.forbidden,
  },
  {
    label: 'system OAuth manager updates a tenant B app (invisible)',
    as: 'SYS28',
    method: 'PUT',
    url: (s) => `${APPS}/${s.w.appB}`,
    body: (s) => appBody('Tenant B GA app', s.w.tenantB),
    status: 404,
    code: CODE.appNotFound,
  },
  {
    label: 'tenant A admin updates the system app',
    as: 'TA1',
    method: 'PUT',
    url: (s) => `${APPS}/${s.w.appSys}`,
    body: () => appBody('System GA app', 1),
    status: 403,
    code: CODE.forbidden,
  },
  // using: system-tenant apps everywhere, child-tenant apps only in that tenant — for the owner, whoever calls
  { label: 'tenant A user uses the system app', as: 'U1', method: 'POST', url: () => PROFILES, body: profileWith((x) => x.appSys), status: 201 },
  { label: 'tenant A user uses a tenant A app', as: 'U1', method: 'POST', url: () => PROFILES, body: profileWith((x) => x.appA), status: 201 },
  {
    label: 'tenant A user uses a tenant B app',
    as: 'U1',
    method: 'POST',
    url: () => PROFILES,
    body: profileWith((x) => x.appB),
    status: 400,
    code: CODE.appNotFound,
  },
  { label: 'system user uses the system app', as: 'SYS28', method: 'POST', url: () => PROFILES, body: profileWith((x) => x.appSys), status: 201 },
  {
    label: 'system user uses a tenant A app it manages',
    as: 'SYS28',
    method: 'POST',
    url: () => PROFILES,
    body: profileWith((x) => x.appA),
    status: 400,
    code: CODE.appNotFound,
  },
  {
    label: 'admin creates for U1 with a tenant A app',
    as: 'd2cadmin',
    user: 'U1',
    method: 'POST',
    url: () => PROFILES,
    body: profileWith((x) => x.appA),
    status: 201,
  },
  {
    label: 'admin creates for U1 with a tenant B app',
    as: 'd2cadmin',
    user: 'U1',
    method: 'POST',
    url: () => PROFILES,
    body: profileWith((x) => x.appB),
    status: 400,
    code: CODE.appNotFound,
  },
  {
    label: "creator (system admin) updates U1's profile to a tenant A app: checked for the owner's tenant",
    as: 'd2cadmin',
    method: 'PUT',
    url: (s) => `${PROFILES}/${s.profileForU1}`,
    body: profileWith((x) => x.appA),
    status: 200,
  },
  {
    label: "creator (system admin) updates U1's profile to a tenant B app",
    as: 'd2cadmin',
    method: 'PUT',
    url: (s) => `${PROFILES}/${s.profileForU1}`,
    body: profileWith((x) => x.appB),
    status: 400,
    code: CODE.appNotFound,
  },
];

describe('tenant scope of applications', () => {
  freshWorld();
  let profileForU1 = 0;
  before(async () => {
    profileForU1 = (await createProfile(h, NAMES.d2cadmin, profileBody('Created_By_Admin', w.appSys), NAMES.U1)).id;
  });
  for (const r of scopeRows) {
    test(`${r.label} → ${r.status}`, async () => {
      const s: ScopeCtx = { w, profileForU1, label: `${++row} ${r.label}`.slice(0, 100) };
      const before = await oauthState(h.store);
      const url = r.url(s) + (r.user ? `?user=${NAMES[r.user]}` : '');
      const res = await h.call({ method: r.method, url, as: NAMES[r.as], payload: r.body(s) });
      if (r.code !== undefined) {
        assertError(res, r.status, r.code, r.label);
        assert.deepEqual(await oauthState(h.store), before, 'a refused request changes nothing');
      } else {
        assert.equal(res.statusCode, r.status, res.body.slice(0, 300));
      }
    });
  }
});

describe('profile list contents', () => {
  freshWorld();
  test('what the effective user owns or created, each once, in id order, with its application', async () => {
    const own1 = (await createProfile(h, NAMES.U2, profileBody('Own_1', w.appA))).id;
    const forOther = (await createProfile(h, NAMES.TA2, profileBody('For_U2', w.appSys), NAMES.U2)).id; // owner U2, creator TA2
    const byOther = (await createProfile(h, NAMES.TA1, profileBody('By_TA1', w.appA), NAMES.U2)).id; // owner U2, creator TA1
    const ownTa2 = (await createProfile(h, NAMES.TA2, profileBody('Own_TA2', w.appA))).id; // owner and creator TA2
    await createProfile(h, NAMES.U3, profileBody('Elsewhere', w.appB));
    const own2 = (await createProfile(h, NAMES.U2, profileBody('Own_2', w.appA62))).id;
    const list = async (as: string, user?: string) => {
      const res = await h.call({ method: 'GET', url: `/api/mgmt/oauthprofiles${user ? `?user=${user}` : ''}`, as });
      assert.equal(res.statusCode, 200, res.body);
      return json(res).profiles as { id: number; oauthAppId: number; tokenURI: string }[];
    };
    assert.deepEqual(
      (await list(NAMES.U2)).map((p) => p.id),
      [own1, forOther, byOther, own2],
    );
    assert.deepEqual(
      (await list(NAMES.TA2)).map((p) => p.id),
      [forOther, ownTa2],
      'created for U2 and owned',
    );
    assert.deepEqual(
      (await list('d2cadmin', NAMES.TA1)).map((p) => p.id),
      [byOther],
    );
    // Each summary carries its own application's URIs and scope.
    const distinct = (
      await createApp(
        h,
        'd2cadmin',
        appBody('Distinct app', w.tenantA, {
          tokenURI: 'https://distinct.example/token',
          authorizeURI: 'https://distinct.example/auth',
          scope: 'distinct-scope',
        }),
      )
    ).id;
    const own3 = (await createProfile(h, NAMES.U2, profileBody('Own_3', distinct))).id;
    const shown = await list(NAMES.U2);
    assert.deepEqual(
      shown.map((p) => p.id),
      [own1, forOther, byOther, own2, own3],
    );
    for (const p of shown) {
      const app = (await h.store.apps.summary(p.oauthAppId))!;
      assert.deepEqual(p, { ...p, authorizeURI: app.authorizeURI, tokenURI: app.tokenURI, scope: app.scope }, `profile ${p.id}`);
    }
    assert.equal(shown.at(-1)!.tokenURI, 'https://distinct.example/token');
  });
});
