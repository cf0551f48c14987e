/**
 * The authorization matrix of the administrator API (api.md §3.3): every administrator route × a set of actors →
 * the expected status. The table below is the specification; each cell is one generated test.
 *
 * Actors (the fixture is built through the API in `before`):
 *  - admin        d2cadmin, System Administrator (holds Administrator, 12)
 *  - sysDelegate  a system-tenant user with every tenant-level permission (1–11, 13–21) plus 25 and 27, listed among
 *                 Acme's admins (administrative access on Acme, not on the system tenant), without 12
 *  - acmeAdmin    an Acme user with Acme's imported Tenant Administrator role plus explicit 25 and 27, listed among
 *                 Acme's admins
 *  - acmeNoAccess the same grants as acmeAdmin, but NOT listed among Acme's admins
 *  - betaAdmin    the same grants in tenant Beta, listed among Beta's admins only
 *  - plain        d2cuser (role User, 1–11)
 *  - lacking      per row: a user like sysDelegate (admin access on Acme) but without the row's own permission
 *  - anon         no credentials
 *
 * Targets live in Acme. After every non-2xx answer the stored data (tenants, tenant admins, roles, users with their
 * hashes and lock state, limits) must be exactly what it was before the request. Mutating rows get a fresh target
 * per cell (created by d2cadmin), or restore the shared object afterwards, so that cells are independent.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LightMyRequestResponse } from 'fastify';
import { DEFAULT_PASSWORD, harness, must, type Harness } from '../helpers.js';
import { CODES, assertError, snapshot } from '../admin-support.js';
import { permissionCatalogue } from '../../src/domain/permissions.js';

const ACTORS = ['admin', 'sysDelegate', 'acmeAdmin', 'acmeNoAccess', 'betaAdmin', 'plain', 'lacking', 'anon'] as const;
type Actor = (typeof ACTORS)[number];
type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
type Expect = [number, number, number, number, number, number, number, number];

/** Ids that exist nowhere. */
const MISSING = 999_999;
const MISSING_LIMIT = 99;
const TENANT_LEVEL = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21];
const DELEGATED = [...TENANT_LEVEL, 25, 27];
/** Every permission some row needs; one "lacking" user per entry. */
const ROUTE_PERMS = [11, 13, 14, 15, 16, 17, 18, 19, 20, 25, 27];
const NEW_PASSWORD = 'Another-Passw0rd#';

interface Fixture {
  acme: number;
  beta: number;
  acmeUserRole: number;
  acmeTenantAdminRole: number;
  /** a custom role in Acme that GET rows read */
  acmeRole: number;
  /** a user of Acme that GET rows read */
  acmeUser: number;
  d2cuser: number;
  acmeAdmins: number[];
  /** the system-tenant members of acmeAdmins: they also administer the scratch tenants */
  systemAdmins: number[];
  ids: Record<string, number>;
}

/** The object a mutating cell works on, created for that cell alone. */
interface Target {
  id: number;
  name: string;
}

interface Row {
  method: Method;
  /** the path as documentation shows it */
  route: string;
  /** the route's own permission: the one the `lacking` actor does not hold */
  perm: number;
  url: (f: Fixture, t: Target) => string;
  body?: (f: Fixture, t: Target, tag: string) => unknown;
  /** a new target per cell, created by d2cadmin through the API */
  fresh?: 'tenant' | 'role' | 'user';
  expect: Expect;
  /** HDP code of the row's 404 or 409 cells */
  code?: number;
  /** list rows: whether each allowed actor sees the Acme object in the answer */
  lists?: { key: string; id: (f: Fixture) => number; sees: Partial<Record<Actor, boolean>> };
  /**
   * after a 200 or 201: the answer is the object that was asked for (its id and name, or for a list what makes it
   * that list). Every such row has this or `lists`, so a cell cannot pass on the status alone.
   */
  returns?: (
    body: any,
    c: { h: Harness; f: Fixture; t: Target; res: LightMyRequestResponse; tag: string; actorId: number | undefined },
  ) => void | Promise<void>;
  /** after a 2xx: the change is really stored (read back from the store, or by logging in) */
  effect?: (h: Harness, f: Fixture, t: Target, res: LightMyRequestResponse, tag: string, actorId: number | undefined) => Promise<void>;
  /** undo an allowed change of a shared object */
  restore?: (h: Harness, f: Fixture) => Promise<void>;
}

const noTarget: Target = { id: 0, name: '' };

/** acme-user's grants and lock: no other user has them, so an answer about acme-user is recognisably about it. */
const ACME_USER_GRANTS = (f: Fixture) => ({ roles: [f.acmeUserRole, f.acmeRole].sort((x, y) => x - y), permissions: [10] });
const ACME_USER_LOCK = { lockedAt: Date.UTC(2026, 0, 1), lockedUntil: Date.UTC(2099, 0, 1) };

// The matrix. Columns:   admin sysDel acmeAdm noAcc  beta plain lacking anon
const ROWS: Row[] = [
  // ---- permissions (12 or 11) ---------------------------------------------------------------------------------
  {
    method: 'GET',
    route: '/api/admin/permissions',
    perm: 11,
    url: () => '/api/admin/permissions',
    expect: [200, 200, 200, 200, 200, 200, 403, 401],
    returns: (b) =>
      assert.deepEqual(
        b.permissions.map((p: any) => [p.id, p.name]),
        permissionCatalogue.map((p) => [p.id, p.name]),
        'the catalogue',
      ),
  },
  {
    method: 'GET',
    route: '/api/admin/permissions/{id}',
    perm: 11,
    url: () => '/api/admin/permissions/28',
    expect: [200, 200, 200, 200, 200, 200, 403, 401],
    returns: (b) => assert.deepEqual([b.id, b.name], [28, 'OAuth']),
  },
  {
    method: 'GET',
    route: '/api/admin/permissions/{unknown}',
    perm: 11,
    url: () => '/api/admin/permissions/23',
    expect: [404, 404, 404, 404, 404, 404, 403, 401],
    code: CODES.permissionNotFound,
  },
  {
    method: 'GET',
    route: '/api/mgmt/permissions',
    perm: 11,
    url: () => '/api/mgmt/permissions',
    expect: [200, 200, 200, 200, 200, 200, 403, 401],
    returns: async (b, { h, actorId }) =>
      assert.deepEqual(
        b.permissions.map((p: any) => p.id),
        [...(await h.store.users.effectivePermissions(actorId!))].sort((x, y) => x - y),
        "the caller's own permissions",
      ),
  },

  // ---- tenants (25; create: 25 in the system tenant) ------------------------------------------------------------
  {
    method: 'GET',
    route: '/api/admin/tenants',
    perm: 25,
    url: () => '/api/admin/tenants',
    expect: [200, 200, 200, 200, 200, 403, 403, 401],
    lists: { key: 'tenants', id: (f) => f.acme, sees: { admin: true, sysDelegate: true, acmeAdmin: true, acmeNoAccess: false, betaAdmin: false } },
  },
  {
    method: 'POST',
    route: '/api/admin/tenants',
    perm: 25,
    url: () => '/api/admin/tenants',
    body: (_f, _t, tag) => ({ name: `New ${tag}`, parentTenant: 1, description: 'made by the matrix' }),
    expect: [201, 201, 403, 403, 403, 403, 403, 401],
    returns: (b, { res, tag }) => {
      assert.equal(b.name, `New ${tag}`);
      assert.equal(res.headers.location, `/api/admin/tenants/${b.id}`);
    },
    effect: async (h, _f, _t, res, tag, actorId) => {
      const stored = await h.store.tenants.byName(`New ${tag}`);
      assert.ok(stored, 'tenant stored');
      assert.equal(res.headers.location, `/api/admin/tenants/${stored.id}`);
      assert.ok((await h.store.tenants.admins(stored.id)).includes(actorId!), 'the creator administers the new tenant');
    },
  },
  {
    method: 'GET',
    route: '/api/admin/tenants/{id}',
    perm: 25,
    url: (f) => `/api/admin/tenants/${f.acme}`,
    expect: [200, 200, 200, 403, 403, 403, 403, 401],
    returns: (b, { f }) => assert.deepEqual([b.id, b.name], [f.acme, 'Acme']),
  },
  {
    method: 'GET',
    route: '/api/admin/tenants/{unknown}',
    perm: 25,
    url: () => `/api/admin/tenants/${MISSING}`,
    expect: [404, 404, 404, 404, 404, 403, 403, 401],
    code: CODES.tenantNotFound,
  },
  {
    method: 'PUT',
    route: '/api/admin/tenants/{id}',
    perm: 25,
    url: (f) => `/api/admin/tenants/${f.acme}`,
    body: (_f, _t, tag) => ({ name: 'Acme', parentTenant: 1, description: `changed by ${tag}` }),
    expect: [200, 200, 200, 403, 403, 403, 403, 401],
    returns: (b, { f, tag }) => assert.deepEqual([b.id, b.name, b.description], [f.acme, 'Acme', `changed by ${tag}`]),
    effect: async (h, f, _t, _res, tag) => assert.equal((await h.store.tenants.get(f.acme))?.description, `changed by ${tag}`),
    restore: async (h, f) => void (await must(h.store.tenants.update(f.acme, { name: 'Acme', description: 'Acme Corporation', status: 1 }))),
  },
  {
    method: 'PUT',
    route: '/api/admin/tenants/{unknown}',
    perm: 25,
    url: () => `/api/admin/tenants/${MISSING}`,
    body: () => ({ name: 'Nowhere', parentTenant: 1 }),
    expect: [404, 404, 404, 404, 404, 403, 403, 401],
    code: CODES.tenantNotFound,
  },
  {
    method: 'DELETE',
    route: '/api/admin/tenants/{id} (empty)',
    perm: 25,
    fresh: 'tenant',
    url: (_f, t) => `/api/admin/tenants/${t.id}`,
    expect: [204, 204, 403, 403, 403, 403, 403, 401],
    effect: async (h, _f, t) => assert.equal(await h.store.tenants.get(t.id), undefined, 'tenant gone'),
  },
  {
    method: 'DELETE',
    route: '/api/admin/tenants/{id} (with users)',
    perm: 25,
    url: (f) => `/api/admin/tenants/${f.acme}`,
    expect: [409, 409, 409, 403, 403, 403, 403, 401],
    code: CODES.conflict,
  },
  {
    method: 'DELETE',
    route: '/api/admin/tenants/{unknown}',
    perm: 25,
    url: () => `/api/admin/tenants/${MISSING}`,
    expect: [404, 404, 404, 404, 404, 403, 403, 401],
    code: CODES.tenantNotFound,
  },
  {
    method: 'GET',
    route: '/api/admin/tenants/{id}/admins',
    perm: 25,
    url: (f) => `/api/admin/tenants/${f.acme}/admins`,
    expect: [200, 200, 200, 403, 403, 403, 403, 401],
    returns: (b, { f }) => assert.deepEqual(b.admins, f.acmeAdmins, "Acme's admins"),
  },
  {
    method: 'PUT',
    route: '/api/admin/tenants/{id}/admins',
    perm: 25,
    url: (f) => `/api/admin/tenants/${f.acme}/admins`,
    body: (f) => ({ admins: [...f.acmeAdmins, f.d2cuser] }),
    expect: [200, 200, 200, 403, 403, 403, 403, 401],
    returns: (b, { f }) =>
      assert.deepEqual(
        b.admins,
        [...f.acmeAdmins, f.d2cuser].sort((x, y) => x - y),
        'the admins just set',
      ),
    effect: async (h, f) => assert.ok((await h.store.tenants.admins(f.acme)).includes(f.d2cuser), 'd2cuser now administers Acme'),
    restore: async (h, f) => void (await must(h.store.tenants.setAdmins(f.acme, f.acmeAdmins))),
  },
  {
    method: 'GET',
    route: '/api/admin/tenants/{unknown}/admins',
    perm: 25,
    url: () => `/api/admin/tenants/${MISSING}/admins`,
    expect: [404, 404, 404, 404, 404, 403, 403, 401],
    code: CODES.tenantNotFound,
  },
  {
    method: 'PUT',
    route: '/api/admin/tenants/{unknown}/admins',
    perm: 25,
    url: () => `/api/admin/tenants/${MISSING}/admins`,
    body: (f) => ({ admins: [f.ids.d2cadmin] }),
    expect: [404, 404, 404, 404, 404, 403, 403, 401],
    code: CODES.tenantNotFound,
  },

  // ---- roles (17–20) --------------------------------------------------------------------------------------------
  {
    method: 'GET',
    route: '/api/admin/roles',
    perm: 18,
    url: () => '/api/admin/roles',
    expect: [200, 200, 200, 200, 200, 403, 403, 401],
    lists: { key: 'roles', id: (f) => f.acmeRole, sees: { admin: true, sysDelegate: true, acmeAdmin: true, acmeNoAccess: false, betaAdmin: false } },
  },
  {
    method: 'GET',
    route: '/api/admin/roles?tenantId={id}',
    perm: 18,
    url: (f) => `/api/admin/roles?tenantId=${f.acme}`,
    expect: [200, 200, 200, 403, 403, 403, 403, 401],
    returns: (b, { f }) => assert.deepEqual([...new Set(b.roles.map((r: any) => r.tenantId))], [f.acme], "Acme's roles only"),
    lists: { key: 'roles', id: (f) => f.acmeRole, sees: { admin: true, sysDelegate: true, acmeAdmin: true } },
  },
  {
    method: 'GET',
    route: '/api/admin/roles?tenantId={unknown}',
    perm: 18,
    url: () => `/api/admin/roles?tenantId=${MISSING}`,
    expect: [404, 404, 404, 404, 404, 403, 403, 401],
    code: CODES.tenantNotFound,
  },
  {
    method: 'POST',
    route: '/api/admin/roles',
    perm: 17,
    url: () => '/api/admin/roles',
    body: (f, _t, tag) => ({ name: `Role ${tag}`, tenantId: f.acme, permissions: [2, 8] }),
    expect: [201, 201, 201, 403, 403, 403, 403, 401],
    returns: (b, { f, res, tag }) => {
      assert.deepEqual([b.name, b.tenantId], [`Role ${tag}`, f.acme]);
      assert.equal(res.headers.location, `/api/admin/roles/${b.id}`);
    },
    effect: async (h, f, _t, res, tag) => {
      const role = (await h.store.roles.list(f.acme)).find((r) => r.name === `Role ${tag}`);
      assert.ok(role, 'role stored in Acme');
      assert.deepEqual(role.permissions, [2, 8]);
      assert.equal(res.headers.location, `/api/admin/roles/${role.id}`);
    },
  },
  {
    method: 'GET',
    route: '/api/admin/roles/{id}',
    perm: 18,
    url: (f) => `/api/admin/roles/${f.acmeRole}`,
    expect: [200, 200, 200, 403, 403, 403, 403, 401],
    returns: (b, { f }) => assert.deepEqual([b.id, b.name, b.tenantId], [f.acmeRole, 'Acme Analysts', f.acme]),
  },
  {
    method: 'GET',
    route: '/api/admin/roles/{unknown}',
    perm: 18,
    url: () => `/api/admin/roles/${MISSING}`,
    expect: [404, 404, 404, 404, 404, 403, 403, 401],
    code: CODES.roleNotFound,
  },
  {
    method: 'PUT',
    route: '/api/admin/roles/{id}',
    perm: 19,
    fresh: 'role',
    url: (_f, t) => `/api/admin/roles/${t.id}`,
    body: (f, t) => ({ name: `${t.name} renamed`, tenantId: f.acme, permissions: [2, 8, 9] }),
    expect: [200, 200, 200, 403, 403, 403, 403, 401],
    returns: (b, { t }) => assert.deepEqual([b.id, b.name], [t.id, `${t.name} renamed`]),
    effect: async (h, _f, t) => {
      const role = await h.store.roles.get(t.id);
      assert.equal(role?.name, `${t.name} renamed`);
      assert.deepEqual(role?.permissions, [2, 8, 9]);
    },
  },
  {
    method: 'PUT',
    route: '/api/admin/roles/{unknown}',
    perm: 19,
    url: () => `/api/admin/roles/${MISSING}`,
    body: (f) => ({ name: 'Nobody', tenantId: f.acme, permissions: [2] }),
    expect: [404, 404, 404, 404, 404, 403, 403, 401],
    code: CODES.roleNotFound,
  },
  {
    method: 'DELETE',
    route: '/api/admin/roles/{id}',
    perm: 20,
    fresh: 'role',
    url: (_f, t) => `/api/admin/roles/${t.id}`,
    expect: [204, 204, 204, 403, 403, 403, 403, 401],
    effect: async (h, _f, t) => assert.equal(await h.store.roles.get(t.id), undefined, 'role gone'),
  },
  {
    method: 'DELETE',
    route: '/api/admin/roles/{unknown}',
    perm: 20,
    url: () => `/api/admin/roles/${MISSING}`,
    expect: [404, 404, 404, 404, 404, 403, 403, 401],
    code: CODES.roleNotFound,
  },

  // ---- users (13–16) --------------------------------------------------------------------------------------------
  {
    method: 'GET',
    route: '/api/admin/users',
    perm: 14,
    url: () => '/api/admin/users',
    expect: [200, 200, 200, 200, 200, 403, 403, 401],
    lists: { key: 'users', id: (f) => f.acmeUser, sees: { admin: true, sysDelegate: true, acmeAdmin: true, acmeNoAccess: false, betaAdmin: false } },
  },
  {
    method: 'GET',
    route: '/api/admin/users?tenantId={id}',
    perm: 14,
    url: (f) => `/api/admin/users?tenantId=${f.acme}`,
    expect: [200, 200, 200, 403, 403, 403, 403, 401],
    returns: (b, { f }) => assert.deepEqual([...new Set(b.users.map((u: any) => u.tenantId))], [f.acme], "Acme's users only"),
    lists: { key: 'users', id: (f) => f.acmeUser, sees: { admin: true, sysDelegate: true, acmeAdmin: true } },
  },
  {
    method: 'POST',
    route: '/api/admin/users',
    perm: 13,
    url: () => '/api/admin/users',
    body: (f, _t, tag) => ({
      userName: `new-${tag}`,
      tenantId: f.acme,
      statusInfo: { status: 1 },
      passwordInfo: { password: DEFAULT_PASSWORD },
      permissions: { roles: [f.acmeUserRole] },
    }),
    expect: [201, 201, 201, 403, 403, 403, 403, 401],
    returns: (b, { f, res, tag }) => {
      assert.deepEqual([b.userName, b.tenantId], [`new-${tag}`, f.acme]);
      assert.equal(res.headers.location, `/api/admin/users/${b.id}`);
    },
    effect: async (h, f, _t, res, tag) => {
      const user = await h.store.users.byName(`new-${tag}`);
      assert.ok(user, 'user stored');
      assert.equal(user.tenantId, f.acme);
      assert.equal(res.headers.location, `/api/admin/users/${user.id}`);
    },
  },
  {
    method: 'GET',
    route: '/api/admin/users/{id}',
    perm: 14,
    url: (f) => `/api/admin/users/${f.acmeUser}`,
    expect: [200, 200, 200, 403, 403, 403, 403, 401],
    returns: (b, { f }) => assert.deepEqual([b.id, b.userName, b.tenantId], [f.acmeUser, 'acme-user', f.acme]),
  },
  {
    method: 'GET',
    route: '/api/admin/users/{unknown}',
    perm: 14,
    url: () => `/api/admin/users/${MISSING}`,
    expect: [404, 404, 404, 404, 404, 403, 403, 401],
    code: CODES.userNotFound,
  },
  {
    method: 'PUT',
    route: '/api/admin/users/{id}',
    perm: 15,
    fresh: 'user',
    url: (_f, t) => `/api/admin/users/${t.id}`,
    body: (f, t) => ({
      userName: `${t.name}-renamed`,
      tenantId: f.acme,
      statusInfo: { status: 1 },
      permissions: { roles: [f.acmeUserRole], permissions: [14] },
    }),
    expect: [200, 200, 200, 403, 403, 403, 403, 401],
    returns: (b, { t }) => assert.deepEqual([b.id, b.userName], [t.id, `${t.name}-renamed`]),
    effect: async (h, _f, t) => {
      const user = await h.store.users.get(t.id);
      assert.equal(user?.userName, `${t.name}-renamed`);
      assert.deepEqual(user?.permissions, [14]);
    },
  },
  {
    method: 'PUT',
    route: '/api/admin/users/{unknown}',
    perm: 15,
    url: () => `/api/admin/users/${MISSING}`,
    body: (f) => ({ userName: 'nobody-at-all', statusInfo: { status: 1 }, permissions: { roles: [f.acmeUserRole] } }),
    expect: [404, 404, 404, 404, 404, 403, 403, 401],
    code: CODES.userNotFound,
  },
  {
    method: 'DELETE',
    route: '/api/admin/users/{id}',
    perm: 16,
    fresh: 'user',
    url: (_f, t) => `/api/admin/users/${t.id}`,
    expect: [204, 204, 204, 403, 403, 403, 403, 401],
    effect: async (h, _f, t) => assert.equal(await h.store.users.get(t.id), undefined, 'user gone'),
  },
  {
    method: 'DELETE',
    route: '/api/admin/users/{unknown}',
    perm: 16,
    url: () => `/api/admin/users/${MISSING}`,
    expect: [404, 404, 404, 404, 404, 403, 403, 401],
    code: CODES.userNotFound,
  },
  {
    method: 'GET',
    route: '/api/admin/users/{id}/permissions',
    perm: 14,
    url: (f) => `/api/admin/users/${f.acmeUser}/permissions`,
    expect: [200, 200, 200, 403, 403, 403, 403, 401],
    returns: (b, { f }) => assert.deepEqual(b, ACME_USER_GRANTS(f), "acme-user's grants, which no other user has"),
  },
  {
    method: 'GET',
    route: '/api/admin/users/{unknown}/permissions',
    perm: 14,
    url: () => `/api/admin/users/${MISSING}/permissions`,
    expect: [404, 404, 404, 404, 404, 403, 403, 401],
    code: CODES.userNotFound,
  },
  {
    method: 'PUT',
    route: '/api/admin/users/{id}/permissions',
    perm: 15,
    fresh: 'user',
    url: (_f, t) => `/api/admin/users/${t.id}/permissions`,
    body: (f) => ({ roles: [f.acmeUserRole, f.acmeRole], permissions: [14] }),
    expect: [200, 200, 200, 403, 403, 403, 403, 401],
    returns: (b, { f }) => assert.deepEqual(b, { roles: [f.acmeUserRole, f.acmeRole].sort((x, y) => x - y), permissions: [14] }),
    effect: async (h, f, t) => {
      const user = await h.store.users.get(t.id);
      assert.deepEqual(
        user?.roles,
        [f.acmeUserRole, f.acmeRole].sort((a, b) => a - b),
      );
      assert.deepEqual(user?.permissions, [14]);
    },
  },
  {
    method: 'PUT',
    route: '/api/admin/users/{unknown}/permissions',
    perm: 15,
    url: () => `/api/admin/users/${MISSING}/permissions`,
    body: (f) => ({ roles: [f.acmeUserRole] }),
    expect: [404, 404, 404, 404, 404, 403, 403, 401],
    code: CODES.userNotFound,
  },
  {
    method: 'GET',
    route: '/api/admin/users/{id}/statusinfo',
    perm: 14,
    url: (f) => `/api/admin/users/${f.acmeUser}/statusinfo`,
    expect: [200, 200, 200, 403, 403, 403, 403, 401],
    returns: (b) =>
      assert.deepEqual(
        b,
        { status: 1, accountLocked: true, accountLockedAt: '2026-01-01 00:00:00', accountLockedUntil: '2099-01-01 00:00:00' },
        "acme-user's lock, which no other user has",
      ),
  },
  {
    method: 'GET',
    route: '/api/admin/users/{unknown}/statusinfo',
    perm: 14,
    url: () => `/api/admin/users/${MISSING}/statusinfo`,
    expect: [404, 404, 404, 404, 404, 403, 403, 401],
    code: CODES.userNotFound,
  },
  {
    method: 'PUT',
    route: '/api/admin/users/{id}/statusinfo',
    perm: 15,
    fresh: 'user',
    url: (_f, t) => `/api/admin/users/${t.id}/statusinfo`,
    body: () => ({ status: 0 }),
    expect: [200, 200, 200, 403, 403, 403, 403, 401],
    returns: (b) => assert.deepEqual([b.status, b.accountLocked], [0, false]),
    effect: async (h, _f, t) => assert.equal((await h.store.users.get(t.id))?.status, 0, 'user deactivated'),
  },
  {
    method: 'PUT',
    route: '/api/admin/users/{unknown}/statusinfo',
    perm: 15,
    url: () => `/api/admin/users/${MISSING}/statusinfo`,
    body: () => ({ status: 0 }),
    expect: [404, 404, 404, 404, 404, 403, 403, 401],
    code: CODES.userNotFound,
  },
  {
    method: 'PUT',
    route: '/api/admin/users/{id}/passwordinfo',
    perm: 15,
    fresh: 'user',
    url: (_f, t) => `/api/admin/users/${t.id}/passwordinfo`,
    body: () => ({ password: NEW_PASSWORD }),
    expect: [204, 204, 204, 403, 403, 403, 403, 401],
    effect: async (h, _f, t) => {
      const res = await h.call({ method: 'GET', url: '/api/mgmt/permissions', as: [t.name, NEW_PASSWORD] });
      assert.equal(res.statusCode, 200, 'the new password logs in');
    },
  },
  {
    method: 'PUT',
    route: '/api/admin/users/{unknown}/passwordinfo',
    perm: 15,
    url: () => `/api/admin/users/${MISSING}/passwordinfo`,
    body: () => ({ password: NEW_PASSWORD }),
    expect: [404, 404, 404, 404, 404, 403, 403, 401],
    code: CODES.userNotFound,
  },

  // ---- limits (12, or 27 held by a system-tenant user) ---------------------------------------------------------
  {
    method: 'GET',
    route: '/api/admin/limits/system',
    perm: 27,
    url: () => '/api/admin/limits/system',
    expect: [200, 200, 403, 403, 403, 403, 403, 401],
    returns: (b) =>
      assert.deepEqual(
        b.limits.map((l: any) => [l.id, l.name, l.value]),
        [
          [2, 'PasswordLockoutInterval', 900],
          [3, 'PasswordLockoutLimit', 3],
          [4, 'PasswordLockoutPeriod', 1800],
        ],
      ),
  },
  {
    method: 'GET',
    route: '/api/admin/limits/system/{id}',
    perm: 27,
    url: () => '/api/admin/limits/system/3',
    expect: [200, 200, 403, 403, 403, 403, 403, 401],
    returns: (b) => assert.deepEqual([b.id, b.name, b.value], [3, 'PasswordLockoutLimit', 3]),
  },
  {
    method: 'GET',
    route: '/api/admin/limits/system/{unknown}',
    perm: 27,
    url: () => `/api/admin/limits/system/${MISSING_LIMIT}`,
    expect: [404, 404, 403, 403, 403, 403, 403, 401],
    code: CODES.limitNotFound,
  },
  {
    method: 'POST',
    route: '/api/admin/limits/system/{id}',
    perm: 27,
    url: () => '/api/admin/limits/system/4',
    body: () => ({ value: 1801 }),
    expect: [200, 200, 403, 403, 403, 403, 403, 401],
    returns: (b) => assert.deepEqual([b.id, b.name, b.value], [4, 'PasswordLockoutPeriod', 1801]),
    effect: async (h) => assert.equal((await h.store.limits.all()).get(4), 1801),
    restore: async (h) => h.store.limits.set(4, 1800),
  },
  {
    method: 'PUT',
    route: '/api/admin/limits/system/{id}',
    perm: 27,
    url: () => '/api/admin/limits/system/4',
    body: () => ({ value: 1802 }),
    expect: [200, 200, 403, 403, 403, 403, 403, 401],
    returns: (b) => assert.deepEqual([b.id, b.name, b.value], [4, 'PasswordLockoutPeriod', 1802]),
    effect: async (h) => assert.equal((await h.store.limits.all()).get(4), 1802),
    restore: async (h) => h.store.limits.set(4, 1800),
  },
  {
    method: 'POST',
    route: '/api/admin/limits/system/{unknown}',
    perm: 27,
    url: () => `/api/admin/limits/system/${MISSING_LIMIT}`,
    body: () => ({ value: 5 }),
    expect: [404, 404, 403, 403, 403, 403, 403, 401],
    code: CODES.limitNotFound,
  },
  {
    method: 'PUT',
    route: '/api/admin/limits/system/{unknown}',
    perm: 27,
    url: () => `/api/admin/limits/system/${MISSING_LIMIT}`,
    body: () => ({ value: 5 }),
    expect: [404, 404, 403, 403, 403, 403, 403, 401],
    code: CODES.limitNotFound,
  },
];

// ------------------------------------------------------------------------------------------------------------------

let h: Harness;
let f: Fixture;

/** d2cadmin through the API; fails the fixture when the answer is not `status`. */
async function asAdmin(method: Method, url: string, payload: unknown, status: number): Promise<any> {
  const res = await h.call({ method, url, payload: payload as object, as: 'd2cadmin' });
  assert.equal(res.statusCode, status, `fixture ${method} ${url}: ${res.body}`);
  return res.body === '' ? undefined : res.json();
}

async function newUser(userName: string, tenantId: number, roles: number[], permissions: number[] = []): Promise<number> {
  const user = await asAdmin(
    'POST',
    '/api/admin/users',
    {
      userName,
      tenantId,
      statusInfo: { status: 1 },
      passwordInfo: { password: DEFAULT_PASSWORD },
      permissions: { roles, permissions },
    },
    201,
  );
  return user.id;
}

const lackingName = (perm: number) => `lacking-${perm}`;

function credentials(actor: Actor, perm: number): [string, string] | string | undefined {
  switch (actor) {
    case 'admin':
      return 'd2cadmin';
    case 'plain':
      return 'd2cuser';
    case 'anon':
      return undefined;
    case 'lacking':
      return [lackingName(perm), DEFAULT_PASSWORD];
    case 'sysDelegate':
      return ['sys-delegate', DEFAULT_PASSWORD];
    case 'acmeAdmin':
      return ['acme-admin', DEFAULT_PASSWORD];
    case 'acmeNoAccess':
      return ['acme-noaccess', DEFAULT_PASSWORD];
    case 'betaAdmin':
      return ['beta-admin', DEFAULT_PASSWORD];
  }
}

const actorId = (actor: Actor, perm: number): number | undefined => {
  const c = credentials(actor, perm);
  return c === undefined ? undefined : f.ids[typeof c === 'string' ? c : c[0]];
};

async function freshTarget(kind: 'tenant' | 'role' | 'user', tag: string): Promise<Target> {
  switch (kind) {
    case 'tenant': {
      const name = `Scratch ${tag}`;
      const t = await asAdmin('POST', '/api/admin/tenants', { name, parentTenant: 1, admins: f.systemAdmins }, 201);
      return { id: t.id, name };
    }
    case 'role': {
      const name = `Target ${tag}`;
      const r = await asAdmin('POST', '/api/admin/roles', { name, tenantId: f.acme, permissions: [2, 8] }, 201);
      return { id: r.id, name };
    }
    case 'user': {
      const name = `target-${tag}`;
      return { id: await newUser(name, f.acme, [f.acmeUserRole]), name };
    }
  }
}

before(async () => {
  h = await harness();
  const ids: Record<string, number> = {};
  for (const u of (await asAdmin('GET', '/api/admin/users', undefined, 200)).users) ids[u.userName] = u.id;

  const acme = await asAdmin('POST', '/api/admin/tenants', { name: 'Acme', description: 'Acme Corporation', parentTenant: 1, importedRoles: [2, 3] }, 201);
  const beta = await asAdmin('POST', '/api/admin/tenants', { name: 'Beta', parentTenant: 1, importedRoles: [2, 3] }, 201);
  const [acmeUserRole, acmeTenantAdminRole] = acme.roles as number[];
  const betaTenantAdminRole = (beta.roles as number[])[1];
  const acmeRole = (await asAdmin('POST', '/api/admin/roles', { name: 'Acme Analysts', tenantId: acme.id, permissions: [2, 8, 10] }, 201)).id;

  const delegated = (await asAdmin('POST', '/api/admin/roles', { name: 'Delegated Administrator', tenantId: 1, permissions: DELEGATED }, 201)).id;
  ids['sys-delegate'] = await newUser('sys-delegate', 1, [delegated]);
  for (const perm of ROUTE_PERMS) {
    const role = await asAdmin(
      'POST',
      '/api/admin/roles',
      {
        name: `Delegated without ${perm}`,
        tenantId: 1,
        permissions: DELEGATED.filter((p) => p !== perm),
      },
      201,
    );
    ids[lackingName(perm)] = await newUser(lackingName(perm), 1, [role.id]);
  }
  ids['acme-admin'] = await newUser('acme-admin', acme.id, [acmeTenantAdminRole], [25, 27]);
  ids['acme-noaccess'] = await newUser('acme-noaccess', acme.id, [acmeTenantAdminRole], [25, 27]);
  ids['beta-admin'] = await newUser('beta-admin', beta.id, [betaTenantAdminRole], [25, 27]);
  ids['acme-user'] = await newUser('acme-user', acme.id, [acmeUserRole, acmeRole], [10]);
  await must(h.store.users.setLock(ids['acme-user'], ACME_USER_LOCK));

  const systemAdmins = [ids['sys-delegate'], ...ROUTE_PERMS.map((p) => ids[lackingName(p)])];
  const acmeAdmins = [ids.d2cadmin, ids['acme-admin'], ...systemAdmins].sort((a, b) => a - b);
  await asAdmin('PUT', `/api/admin/tenants/${acme.id}/admins`, { admins: acmeAdmins }, 200);
  await asAdmin('PUT', `/api/admin/tenants/${beta.id}/admins`, { admins: [ids.d2cadmin, ids['beta-admin']] }, 200);

  f = {
    acme: acme.id,
    beta: beta.id,
    acmeUserRole,
    acmeTenantAdminRole,
    acmeRole,
    acmeUser: ids['acme-user'],
    d2cuser: ids.d2cuser,
    acmeAdmins,
    systemAdmins,
    ids,
  };

  // The fixture itself is what the actor descriptions say it is.
  assert.deepEqual(await h.store.tenants.admins(f.acme), acmeAdmins);
  assert.deepEqual(
    [...(await h.store.users.effectivePermissions(ids['acme-admin']))].sort((a, b) => a - b),
    DELEGATED,
  );
  assert.ok(!(await h.store.users.effectivePermissions(ids['sys-delegate'])).has(12));
  for (const perm of ROUTE_PERMS) assert.ok(!(await h.store.users.effectivePermissions(ids[lackingName(perm)])).has(perm));
});

after(async () => {
  await h?.close();
});

function errorCode(status: number, row: Row): number {
  if (status === 401) return CODES.unauthorized;
  if (status === 403) return CODES.forbidden;
  assert.ok(row.code, `row ${row.method} ${row.route} declares the code of its ${status}`);
  return row.code;
}

ROWS.forEach((row, rowIndex) => {
  describe(`${row.method} ${row.route}`, () => {
    ACTORS.forEach((actor, column) => {
      const expected = row.expect[column];
      test(`${actor} → ${expected}`, async () => {
        const tag = `r${rowIndex}-${actor}`;
        const target = row.fresh ? await freshTarget(row.fresh, tag) : noTarget;
        const beforeRequest = await snapshot(h.store);
        const payload = row.body?.(f, target, tag);
        const res = await h.call({
          method: row.method,
          url: row.url(f, target),
          ...(payload === undefined ? {} : { payload: payload as object }),
          as: credentials(actor, row.perm),
        });
        assert.equal(res.statusCode, expected, `status (body: ${res.body.slice(0, 300)})`);
        assert.equal(res.headers['cache-control'], 'no-store');

        if (expected >= 400) {
          assertError(res, expected, errorCode(expected, row), `${row.method} ${row.route} as ${actor}`);
          if (expected === 401) assert.match(String(res.headers['www-authenticate']), /^Basic realm="tokenkeep"/);
          assert.deepEqual(await snapshot(h.store), beforeRequest, 'a refused request changes nothing');
          return;
        }
        try {
          if (expected === 204) assert.equal(res.body, '', '204 has no body');
          else {
            assert.ok(row.returns ?? row.lists, 'the row says which object a success answers with');
            await row.returns?.(res.json(), { h, f, t: target, res, tag, actorId: actorId(actor, row.perm) });
          }
          if (row.lists) {
            const listed = (res.json()[row.lists.key] as { id: number }[]).map((o) => o.id);
            const sees = row.lists.sees[actor];
            assert.notEqual(sees, undefined, 'the row declares what this actor sees');
            assert.equal(listed.includes(row.lists.id(f)), sees, `${actor} ${sees ? 'sees' : 'does not see'} the Acme object`);
          }
          await row.effect?.(h, f, target, res, tag, actorId(actor, row.perm));
        } finally {
          await row.restore?.(h, f);
        }
      });
    });
  });
});

// A route permission the caller lacks is refused before the body is read: a malformed body still gets 401/403.
const ROUTE_LEVEL_DENIALS: Actor[] = ['plain', 'lacking', 'anon'];
describe('refusal comes before the body is parsed', () => {
  ROWS.filter((row) => row.body).forEach((row) => {
    for (const actor of ROUTE_LEVEL_DENIALS) {
      const expected = row.expect[ACTORS.indexOf(actor)];
      if (expected !== 401 && expected !== 403) continue;
      test(`${row.method} ${row.route} as ${actor} with a malformed body → ${expected}`, async () => {
        const beforeRequest = await snapshot(h.store);
        const res = await h.call({
          method: row.method,
          url: row.url(f, { id: MISSING, name: 'x' }),
          headers: { 'content-type': 'application/json' },
          payload: '{"not json',
          as: credentials(actor, row.perm),
        });
        assertError(res, expected, errorCode(expected, row), `${row.route} as ${actor}`);
        assert.deepEqual(await snapshot(h.store), beforeRequest);
      });
    }
  });
});
