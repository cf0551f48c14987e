/**
 * Shared by the OAuth tests: fixtures built through the administrator and management APIs (never by writing to the
 * store), a snapshot of every OAuth object read from the real store, and HDP's sample values.
 */
import assert from 'node:assert/strict';
import type { LightMyRequestResponse } from 'fastify';
import { DEFAULT_PASSWORD, listProfiles, type Harness } from './helpers.js';
import type { DataSource, OAuthApp, OAuthProfile, Store } from '../src/domain/ports/index.js';

export const ADMIN = 'd2cadmin';

/** Every permission of the default "User" role (1–11). */
export const USER_PERMS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
/** The default "Tenant Administrator" role (1–11, 13–21) plus OAuth (28). */
export const TENANT_ADMIN_PERMS = [...USER_PERMS, 13, 14, 15, 16, 17, 18, 19, 20, 21, 28];

export const json = (res: LightMyRequestResponse): any => JSON.parse(res.body);

/** Asserts a status and returns the parsed body; the message carries the body for diagnosis. */
export function expectStatus(res: LightMyRequestResponse, status: number, context = ''): any {
  assert.equal(res.statusCode, status, `${context}: expected ${status}, got ${res.statusCode} ${res.body.slice(0, 400)}`);
  return res.body === '' ? undefined : json(res);
}

export async function createTenant(h: Harness, name: string): Promise<number> {
  const res = await h.call({ method: 'POST', url: '/api/admin/tenants', as: ADMIN, payload: { name, parentTenant: 1 } });
  return expectStatus(res, 201, `create tenant ${name}`).id;
}

export async function createRole(h: Harness, tenantId: number, name: string, permissions: number[]): Promise<number> {
  const res = await h.call({ method: 'POST', url: '/api/admin/roles', as: ADMIN, payload: { name, tenantId, permissions } });
  return expectStatus(res, 201, `create role ${name}`).id;
}

export async function createUser(h: Harness, userName: string, tenantId: number, roles: number[], permissions: number[] = []): Promise<number> {
  const res = await h.call({
    method: 'POST',
    url: '/api/admin/users',
    as: ADMIN,
    payload: { userName, tenantId, statusInfo: { status: 1 }, passwordInfo: { password: DEFAULT_PASSWORD }, permissions: { roles, permissions } },
  });
  return expectStatus(res, 201, `create user ${userName}`).id;
}

export async function setAdmins(h: Harness, tenantId: number, admins: number[]): Promise<void> {
  const res = await h.call({ method: 'PUT', url: `/api/admin/tenants/${tenantId}/admins`, as: ADMIN, payload: { admins } });
  expectStatus(res, 200, `set admins of tenant ${tenantId}`);
}

export const appBody = (name: string, tenantId: number, overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  name,
  dataStore: 54,
  tenantId,
  description: `app ${name}`,
  clientId: `client-${name}`,
  clientSecret: `SECRET-${name}-0123456789`,
  authorizeURI: 'https://accounts.example.com/o/oauth2/v2/auth',
  tokenURI: 'https://oauth2.example.com/v3/token',
  scope: 'full_offline_access test_repo',
  ...overrides,
});

export const profileBody = (name: string, oauthAppId: number, overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  name,
  oauthAppId,
  description: `profile ${name}`,
  accessToken: `ACCESS-${name}-abcdef`,
  refreshToken: `REFRESH-${name}-123456`,
  ...overrides,
});

export const dataSourceBody = (name: string, profileId: number | null, overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  name,
  dataStore: 54,
  description: `data source ${name}`,
  options: profileId === null ? { ViewId: '42' } : { OAuthProfileId: String(profileId), ViewId: '42' },
  ...overrides,
});

const onBehalf = (user?: string): string => (user === undefined ? '' : `?user=${encodeURIComponent(user)}`);

type As = string | [string, string];

export async function createApp(h: Harness, as: As, body: Record<string, unknown>, user?: string): Promise<OAuthApp> {
  const res = await h.call({ method: 'POST', url: `/api/mgmt/oauthapps${onBehalf(user)}`, as, payload: body });
  return expectStatus(res, 201, `create app ${String(body.name)}`);
}

export async function createProfile(h: Harness, as: As, body: Record<string, unknown>, user?: string): Promise<{ id: number }> {
  const res = await h.call({ method: 'POST', url: `/api/mgmt/oauthprofiles${onBehalf(user)}`, as, payload: body });
  return expectStatus(res, 201, `create profile ${String(body.name)}`);
}

export async function createDataSource(h: Harness, as: As, body: Record<string, unknown>, user?: string): Promise<{ id: number }> {
  const res = await h.call({ method: 'POST', url: `/api/mgmt/datasources${onBehalf(user)}`, as, payload: body });
  return expectStatus(res, 201, `create data source ${String(body.name)}`);
}

export interface OAuthState {
  apps: OAuthApp[];
  profiles: OAuthProfile[];
  dataSources: DataSource[];
  users: number[];
}

/** Every OAuth application, profile (tokens included) and data source in the store, read from the store itself. */
export async function oauthState(store: Store): Promise<OAuthState> {
  const users = (await store.users.list()).map((u) => u.id).sort((a, b) => a - b);
  const profileIds = new Set<number>();
  const dataSources: DataSource[] = [];
  for (const id of users) {
    for (const p of await listProfiles(store, id)) profileIds.add(p.id);
    for (const d of await store.dataSources.list(id)) dataSources.push((await store.dataSources.get(d.id))!);
  }
  const profiles: OAuthProfile[] = [];
  for (const id of [...profileIds].sort((a, b) => a - b)) profiles.push((await store.profiles.get(id))!);
  dataSources.sort((a, b) => a.id - b.id);
  const apps: OAuthApp[] = [];
  for (const summary of await store.apps.list()) apps.push((await store.apps.get(summary.id))!);
  return { apps, profiles, dataSources, users };
}

/** Fails if any secret value appears anywhere in a raw response body. */
export function assertNoSecrets(body: string, secrets: Iterable<string>, context = ''): void {
  for (const s of secrets) {
    if (s.length >= 4) assert.ok(!body.includes(s), `${context}: body leaks ${JSON.stringify(s.slice(0, 12))}…: ${body.slice(0, 300)}`);
  }
}

/** Every token, client secret and client id held in the store. */
export async function storedSecrets(store: Store): Promise<string[]> {
  const state = await oauthState(store);
  return [...state.apps.flatMap((a) => [a.clientSecret]), ...state.profiles.flatMap((p) => [p.refreshToken, ...(p.accessToken ? [p.accessToken] : [])])];
}

/** The users of the standard fixture, by role in the tests. All use DEFAULT_PASSWORD except d2cadmin. */
export const NAMES = {
  U1: 'owner_u1', // tenant A, plain user (1–11): owns the target objects
  U2: 'peer_u2', // tenant A, plain user
  U3: 'stranger_u3', // tenant B, plain user
  TA1: 'creator_ta1', // tenant A admin with OnBehalfOf and OAuth: creates the targets for U1 via ?user=
  TA2: 'admin_ta2', // tenant A admin with OnBehalfOf and OAuth, not the creator
  TA3: 'admin_noobo_ta3', // tenant A admin without OnBehalfOf
  TA4: 'unlisted_ta4', // tenant-admin permissions, but administrative access on no tenant
  TB1: 'admin_tb1', // tenant B admin with OnBehalfOf and OAuth
  NM: 'nomgmt_nm', // tenant A, 1–10: no MgmtAPI
  lack1: 'lack1_admin', // tenant A admins holding everything of TA1 but one permission
  lack2: 'lack2_admin',
  lack3: 'lack3_admin',
  lack4: 'lack4_admin',
  lack28: 'lack28_admin',
  HI: 'stronger_hi', // tenant A, plain user plus IPWhiteList (29), which tenant admins lack
  SYS28: 'sys_oauth_manager', // system tenant: MgmtAPI, OAuth and 1–4, administrative access on tenant A only
  d2cadmin: ADMIN,
} as const;
export type UserKey = keyof typeof NAMES;

export interface World {
  tenantA: number;
  tenantB: number;
  ids: Record<UserKey, number>;
  /** apps created by d2cadmin: system tenant, tenant A, tenant B (all data store 54), tenant A for data store 62 */
  appSys: number;
  appA: number;
  appB: number;
  appA62: number;
  /** role ids: tenant A plain users (1–11), tenant A admins (TENANT_ADMIN_PERMS), tenant B plain users */
  roles: { aUser: number; aAdmin: number; bUser: number };
}

export async function buildWorld(h: Harness): Promise<World> {
  const tenantA = await createTenant(h, 'Tenant A');
  const tenantB = await createTenant(h, 'Tenant B');
  const without = (p: number) => TENANT_ADMIN_PERMS.filter((x) => x !== p);
  const rA = {
    user: await createRole(h, tenantA, 'A users', USER_PERMS),
    admin: await createRole(h, tenantA, 'A admins', TENANT_ADMIN_PERMS),
    noObo: await createRole(h, tenantA, 'A admins without OnBehalfOf', without(21)),
    noMgmt: await createRole(
      h,
      tenantA,
      'A without MgmtAPI',
      USER_PERMS.filter((p) => p !== 11),
    ),
    lack1: await createRole(h, tenantA, 'A lack 1', without(1)),
    lack2: await createRole(h, tenantA, 'A lack 2', without(2)),
    lack3: await createRole(h, tenantA, 'A lack 3', without(3)),
    lack4: await createRole(h, tenantA, 'A lack 4', without(4)),
    lack28: await createRole(h, tenantA, 'A lack 28', without(28)),
  };
  const sysOAuth = await createRole(h, 1, 'System OAuth managers', [1, 2, 3, 4, 11, 28]);
  const rB = {
    user: await createRole(h, tenantB, 'B users', USER_PERMS),
    admin: await createRole(h, tenantB, 'B admins', TENANT_ADMIN_PERMS),
  };
  const ids = {
    U1: await createUser(h, NAMES.U1, tenantA, [rA.user]),
    U2: await createUser(h, NAMES.U2, tenantA, [rA.user]),
    U3: await createUser(h, NAMES.U3, tenantB, [rB.user]),
    TA1: await createUser(h, NAMES.TA1, tenantA, [rA.admin]),
    TA2: await createUser(h, NAMES.TA2, tenantA, [rA.admin]),
    TA3: await createUser(h, NAMES.TA3, tenantA, [rA.noObo]),
    TA4: await createUser(h, NAMES.TA4, tenantA, [rA.admin]),
    TB1: await createUser(h, NAMES.TB1, tenantB, [rB.admin]),
    NM: await createUser(h, NAMES.NM, tenantA, [rA.noMgmt]),
    lack1: await createUser(h, NAMES.lack1, tenantA, [rA.lack1]),
    lack2: await createUser(h, NAMES.lack2, tenantA, [rA.lack2]),
    lack3: await createUser(h, NAMES.lack3, tenantA, [rA.lack3]),
    lack4: await createUser(h, NAMES.lack4, tenantA, [rA.lack4]),
    lack28: await createUser(h, NAMES.lack28, tenantA, [rA.lack28]),
    HI: await createUser(h, NAMES.HI, tenantA, [rA.user], [29]),
    SYS28: await createUser(h, NAMES.SYS28, 1, [sysOAuth]),
    d2cadmin: (await h.store.users.byName(ADMIN))!.id,
  };
  await setAdmins(h, tenantA, [ids.TA1, ids.TA2, ids.TA3, ids.lack1, ids.lack2, ids.lack3, ids.lack4, ids.lack28, ids.SYS28]);
  await setAdmins(h, tenantB, [ids.TB1]);
  const appSys = (await createApp(h, ADMIN, appBody('System GA app', 1))).id;
  const appA = (await createApp(h, ADMIN, appBody('Tenant A GA app', tenantA))).id;
  const appB = (await createApp(h, ADMIN, appBody('Tenant B GA app', tenantB))).id;
  const appA62 = (await createApp(h, ADMIN, appBody('Tenant A BigQuery app', tenantA, { dataStore: 62 }))).id;
  return { tenantA, tenantB, ids, appSys, appA, appB, appA62, roles: { aUser: rA.user, aAdmin: rA.admin, bUser: rB.user } };
}

/** An application as the API shows it to its managers (the stored record may carry more, e.g. a row version). */
export const appView = (a: OAuthApp): Record<string, unknown> => ({
  id: a.id,
  name: a.name,
  dataStore: a.dataStore,
  tenantId: a.tenantId,
  description: a.description,
  clientId: a.clientId,
  clientSecret: a.clientSecret,
  authorizeURI: a.authorizeURI,
  tokenURI: a.tokenURI,
  scope: a.scope,
});

/** A profile as the API shows it. */
export const profileView = (p: OAuthProfile): Record<string, unknown> => ({
  id: p.id,
  name: p.name,
  oauthAppId: p.oauthAppId,
  description: p.description,
  accessToken: p.accessToken,
  refreshToken: p.refreshToken,
});
