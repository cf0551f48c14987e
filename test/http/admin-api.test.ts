/**
 * Functional behaviour of the administrator API (api.md §3): first start, the HDP shapes of tenants, roles and users,
 * name uniqueness, the password policy, the integrity rules (last Administrator, default roles, tenants with users,
 * at least one role) and no escalation. Authorization per route and actor is in admin-matrix.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LightMyRequestResponse } from 'fastify';
import { ADMIN_PASSWORD, DEFAULT_PASSWORD, USER_PASSWORD, harness, type Harness } from '../helpers.js';
import { CODES, assertError, snapshot } from '../admin-support.js';

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const ALL_PERMISSIONS = [...range(1, 21), ...range(25, 29)];
const USER_PERMISSIONS = range(1, 11);
const TENANT_ADMIN_PERMISSIONS = [...range(1, 11), ...range(13, 21)];
const PERMISSION_NAMES: Record<number, string> = {
  1: 'CreateDataSource',
  2: 'ViewDataSource',
  3: 'ModifyDataSource',
  4: 'DeleteDataSource',
  5: 'UseDataSourceWithJDBC',
  6: 'UseDataSourceWithODBC',
  7: 'UseDataSourceWithOData',
  8: 'WebUI',
  9: 'ChangePassword',
  10: 'SQLEditorWebUI',
  11: 'MgmtAPI',
  12: 'Administrator',
  13: 'CreateUsers',
  14: 'ViewUsers',
  15: 'ModifyUsers',
  16: 'DeleteUsers',
  17: 'CreateRole',
  18: 'ViewRole',
  19: 'ModifyRole',
  20: 'DeleteRole',
  21: 'OnBehalfOf',
  25: 'TenantAPI',
  26: 'RegisterExternalAuthService',
  27: 'Limits',
  28: 'OAuth',
  29: 'IPWhiteList',
};

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
type As = string | [string, string] | undefined;

/** A test's own server: the calls below all go through h.call, which also checks every answer against its schema. */
function client(h: Harness) {
  const call = (method: Method, url: string, payload?: unknown, as: As = 'd2cadmin'): Promise<LightMyRequestResponse> =>
    h.call({ method, url, ...(payload === undefined ? {} : { payload: payload as object }), as });
  /** The call must answer `status`; returns the parsed body. */
  const ok = async (status: number, method: Method, url: string, payload?: unknown, as: As = 'd2cadmin'): Promise<any> => {
    const res = await call(method, url, payload, as);
    assert.equal(res.statusCode, status, `${method} ${url}: ${res.body}`);
    return res.body === '' ? undefined : res.json();
  };
  const userBody = (userName: string, tenantId: number | undefined, roles: number[], extra: Record<string, unknown> = {}) => ({
    userName,
    ...(tenantId === undefined ? {} : { tenantId }),
    statusInfo: { status: 1 },
    passwordInfo: { password: DEFAULT_PASSWORD },
    permissions: { roles },
    ...extra,
  });
  const createUser = async (userName: string, tenantId: number | undefined, roles: number[], permissions: number[] = [], as: As = 'd2cadmin') =>
    (await ok(201, 'POST', '/api/admin/users', userBody(userName, tenantId, roles, { permissions: { roles, permissions } }), as)).id as number;
  const createTenant = async (name: string, importedRoles: number[] = [2, 3]) =>
    ok(201, 'POST', '/api/admin/tenants', { name, parentTenant: 1, importedRoles }) as Promise<{ id: number; roles: number[] }>;
  /** Logs in as the user: 200 when the credentials work. */
  const login = async (userName: string, password: string) => (await call('GET', '/api/mgmt/permissions', undefined, [userName, password])).statusCode;
  return { call, ok, userBody, createUser, createTenant, login };
}

/** Runs `fn` and asserts the stored data is the same afterwards. */
async function unchanged(h: Harness, fn: () => Promise<void>): Promise<void> {
  const before = await snapshot(h.store);
  await fn();
  assert.deepEqual(await snapshot(h.store), before, 'nothing stored');
}

/** The body carries neither the password nor any password hash. */
function assertNoSecrets(res: LightMyRequestResponse, ...passwords: string[]): void {
  assert.ok(!res.body.includes('scrypt$'), `no hash in ${res.body.slice(0, 200)}`);
  assert.ok(!/"password(Hash|Info)?"\s*:/i.test(res.body), 'no password field');
  for (const p of passwords) assert.ok(!res.body.includes(p), 'the password is not echoed');
}

// ---------------------------------------------------------------------------------------------------------------

describe('first start', () => {
  let h: Harness;
  let c: ReturnType<typeof client>;
  before(async () => {
    h = await harness();
    c = client(h);
  });
  after(async () => h.close());

  test('tenant 1 is System, the only tenant, without parent', async () => {
    const body = await c.ok(200, 'GET', '/api/admin/tenants');
    assert.deepEqual(Object.keys(body), ['tenants']);
    assert.equal(body.tenants.length, 1);
    const [system] = body.tenants;
    assert.equal(system.id, 1);
    assert.equal(system.name, 'System');
    assert.equal(system.parentTenant, null);
    assert.equal(system.status, 1);
  });

  test("roles 1–3 of tenant 1 with HDP's permission sets and members", async () => {
    const users = (await c.ok(200, 'GET', '/api/admin/users')).users as { id: number; userName: string }[];
    const id = (name: string) => users.find((u) => u.userName === name)!.id;
    const body = await c.ok(200, 'GET', '/api/admin/roles');
    assert.deepEqual(Object.keys(body), ['roles']);
    const byId = new Map((body.roles as any[]).map((r) => [r.id, r]));
    assert.deepEqual([...byId.keys()].sort(), [1, 2, 3]);
    const expected: [number, string, number[], number[]][] = [
      [1, 'System Administrator', ALL_PERMISSIONS, [id('d2cadmin')]],
      [2, 'User', USER_PERMISSIONS, [id('d2cuser')]],
      [3, 'Tenant Administrator', TENANT_ADMIN_PERMISSIONS, []],
    ];
    for (const [roleId, name, permissions, members] of expected) {
      const role = byId.get(roleId);
      assert.equal(role.name, name);
      assert.equal(role.tenantId, 1);
      assert.deepEqual(
        [...role.permissions].sort((a: number, b: number) => a - b),
        permissions,
        `permissions of role ${roleId}`,
      );
      assert.deepEqual(role.users, members, `members of role ${roleId}`);
    }
  });

  test('d2cadmin (role 1) and d2cuser (role 2) exist in tenant 1 and can log in', async () => {
    const { users } = await c.ok(200, 'GET', '/api/admin/users');
    const pick = (name: string) => (users as any[]).find((u) => u.userName === name);
    assert.equal(users.length, 2);
    for (const [name, role] of [
      ['d2cadmin', 1],
      ['d2cuser', 2],
    ] as const) {
      const u = pick(name);
      assert.ok(u, name);
      assert.equal(u.tenantId, 1);
      assert.deepEqual(u.permissions, { roles: [role], permissions: [] });
      assert.deepEqual(u.statusInfo, { status: 1, accountLocked: false, accountLockedAt: null, accountLockedUntil: null });
    }
    assert.equal(await c.login('d2cadmin', ADMIN_PASSWORD), 200);
    assert.equal(await c.login('d2cuser', USER_PASSWORD), 200);
    assert.equal(await c.login('d2cuser', ADMIN_PASSWORD), 401);
  });

  test('the permission catalogue: 26 permissions, 22–24 not served', async () => {
    const { permissions } = await c.ok(200, 'GET', '/api/admin/permissions');
    assert.deepEqual(
      (permissions as any[]).map((p) => p.id),
      ALL_PERMISSIONS,
    );
    for (const p of permissions) {
      assert.equal(p.name, PERMISSION_NAMES[p.id]);
      assert.equal(typeof p.description, 'string');
    }
    const one = await c.ok(200, 'GET', '/api/admin/permissions/12');
    assert.equal(one.id, 12);
    assert.equal(one.name, 'Administrator');
    for (const missing of [22, 23, 24, 30, 0]) {
      assertError(await c.call('GET', `/api/admin/permissions/${missing}`), 404, CODES.permissionNotFound, `permission ${missing}`);
    }
    assertError(await c.call('GET', '/api/admin/permissions/abc'), 404, CODES.permissionNotFound, 'non-numeric id');
  });

  test('the default roles cannot be deleted', async () => {
    await unchanged(h, async () => {
      for (const id of [1, 2, 3]) assertError(await c.call('DELETE', `/api/admin/roles/${id}`), 409, CODES.conflict, `role ${id}`);
    });
  });

  test('a default role can change only its users', async () => {
    const role2 = await c.ok(200, 'GET', '/api/admin/roles/2');
    const member = await c.createUser('default-role-member', 1, [2]);
    const role3 = await c.ok(200, 'GET', '/api/admin/roles/3');
    const joined = await c.ok(200, 'PUT', '/api/admin/roles/3', { ...role3, users: [member] });
    assert.deepEqual(joined, { ...role3, users: [member] });
    assert.deepEqual((await h.store.users.get(member))?.roles, [2, 3]);
    await c.ok(200, 'PUT', '/api/admin/roles/3', role3);
    assert.deepEqual((await h.store.users.get(member))?.roles, [2]);
    await c.ok(204, 'DELETE', `/api/admin/users/${member}`);
    await unchanged(h, async () => {
      assertError(await c.call('PUT', '/api/admin/roles/2', { ...role2, name: 'Everybody' }), 409, CODES.conflict, 'rename');
      assertError(await c.call('PUT', '/api/admin/roles/2', { ...role2, permissions: [...role2.permissions, 13] }), 409, CODES.conflict, 'more permissions');
    });
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('tenants', () => {
  let h: Harness;
  let c: ReturnType<typeof client>;
  let d2cadmin: number;
  before(async () => {
    h = await harness();
    c = client(h);
    d2cadmin = (await h.store.users.byName('d2cadmin'))!.id;
  });
  after(async () => h.close());

  test('create: 201, Location, HDP shape, imported roles copied, creator is an admin', async () => {
    const res = await c.call('POST', '/api/admin/tenants', { name: 'Acme', description: 'Acme Corp', parentTenant: 1, importedRoles: [2, 3] });
    assert.equal(res.statusCode, 201, res.body);
    const tenant = res.json();
    assert.equal(res.headers.location, `/api/admin/tenants/${tenant.id}`);
    assert.deepEqual(Object.keys(tenant).sort(), ['description', 'id', 'name', 'parentTenant', 'roles', 'status']);
    assert.equal(typeof tenant.id, 'number');
    assert.notEqual(tenant.id, 1);
    assert.equal(tenant.name, 'Acme');
    assert.equal(tenant.description, 'Acme Corp');
    assert.equal(tenant.parentTenant, 1);
    assert.equal(tenant.status, 1);
    assert.equal(tenant.roles.length, 2);
    assert.ok(!tenant.roles.includes(2) && !tenant.roles.includes(3), 'copies get new ids');

    const { roles } = await c.ok(200, 'GET', `/api/admin/roles?tenantId=${tenant.id}`);
    assert.deepEqual((roles as any[]).map((r) => r.id).sort(), [...tenant.roles].sort());
    const copy = (name: string) => (roles as any[]).find((r) => r.name === name);
    assert.deepEqual(copy('User').permissions, USER_PERMISSIONS);
    assert.deepEqual(copy('Tenant Administrator').permissions, TENANT_ADMIN_PERMISSIONS);
    for (const r of roles) {
      assert.equal(r.tenantId, tenant.id);
      assert.deepEqual(r.users, []);
    }
    // the originals are untouched
    assert.equal((await h.store.roles.get(2))?.tenantId, 1);

    assert.deepEqual(await c.ok(200, 'GET', `/api/admin/tenants/${tenant.id}/admins`), { admins: [d2cadmin] });
    const fetched = await c.ok(200, 'GET', `/api/admin/tenants/${tenant.id}`);
    const { roles: _roles, ...withoutRoles } = tenant;
    assert.deepEqual(fetched, withoutRoles);
    const list = await c.ok(200, 'GET', '/api/admin/tenants');
    assert.deepEqual(
      list.tenants.map((t: any) => t.name),
      ['System', 'Acme'],
    );
  });

  test('tenant names are unique case-insensitively (409)', async () => {
    await c.createTenant('Unique Co', []);
    await unchanged(h, async () => {
      assertError(await c.call('POST', '/api/admin/tenants', { name: 'UNIQUE co', parentTenant: 1 }), 409, CODES.duplicateName, 'create');
      assertError(await c.call('POST', '/api/admin/tenants', { name: 'system' }), 409, CODES.duplicateName, 'system');
    });
    const other = await c.createTenant('Other Co', []);
    await unchanged(h, async () => {
      assertError(await c.call('PUT', `/api/admin/tenants/${other.id}`, { name: 'unique CO', parentTenant: 1 }), 409, CODES.duplicateName, 'rename');
    });
  });

  test('create refuses a parent other than 1 and roles that are not system-tenant roles (400)', async () => {
    const acme = await h.store.tenants.byName('Acme');
    await unchanged(h, async () => {
      assertError(await c.call('POST', '/api/admin/tenants', { name: 'Child', parentTenant: acme!.id }), 400, CODES.invalidJson, 'parent');
      assertError(
        await c.call('POST', '/api/admin/tenants', { name: 'Child', parentTenant: 1, importedRoles: [999] }),
        400,
        CODES.invalidReference,
        'unknown role',
      );
      const acmeRole = (await h.store.roles.list(acme!.id))[0].id;
      assertError(
        await c.call('POST', '/api/admin/tenants', { name: 'Child', parentTenant: 1, importedRoles: [acmeRole] }),
        400,
        CODES.invalidReference,
        'child role',
      );
      assertError(await c.call('POST', '/api/admin/tenants', { name: '', parentTenant: 1 }), 400, CODES.invalidJson, 'empty name');
      assertError(await c.call('POST', '/api/admin/tenants', { parentTenant: 1 }), 400, CODES.invalidJson, 'no name');
    });
  });

  test('PUT replaces: omitted description is cleared; id must match the path', async () => {
    const t = await c.ok(201, 'POST', '/api/admin/tenants', { name: 'Replace Me', description: 'something', parentTenant: 1 });
    const updated = await c.ok(200, 'PUT', `/api/admin/tenants/${t.id}`, { name: 'Replaced', parentTenant: 1 });
    assert.deepEqual(updated, { id: t.id, name: 'Replaced', description: null, parentTenant: 1, status: 1 });
    assert.deepEqual(await c.ok(200, 'GET', `/api/admin/tenants/${t.id}`), updated);
    // HDP's update body takes parentTenant null or 1 (research notes §9.1); null keeps the parent
    assert.equal((await c.ok(200, 'PUT', `/api/admin/tenants/${t.id}`, { name: 'Replaced', parentTenant: null })).parentTenant, 1);
    const inactive = await c.ok(200, 'PUT', `/api/admin/tenants/${t.id}`, { id: t.id, name: 'Replaced', status: 0 });
    assert.equal(inactive.status, 0);
    await unchanged(h, async () => {
      assertError(await c.call('PUT', `/api/admin/tenants/${t.id}`, { id: t.id + 1, name: 'Other' }), 400, CODES.invalidJson, 'id mismatch');
      assertError(await c.call('PUT', `/api/admin/tenants/${t.id}`, { name: 'Other', parentTenant: t.id }), 400, CODES.invalidJson, 'parent');
    });
  });

  test('tenant admins: GET/PUT {"admins":[…]}, only system-tenant users or users of that tenant', async () => {
    const acme = await c.createTenant('Admins Inc');
    const beta = await c.createTenant('Admins Beta');
    const acmeUser = await c.createUser('admins-inc-user', acme.id, [acme.roles[0]]);
    const betaUser = await c.createUser('admins-beta-user', beta.id, [beta.roles[0]]);
    const d2cuser = (await h.store.users.byName('d2cuser'))!.id;
    const set = await c.ok(200, 'PUT', `/api/admin/tenants/${acme.id}/admins`, { admins: [acmeUser, d2cuser] });
    assert.deepEqual(set, { admins: [d2cuser, acmeUser].sort((a, b) => a - b) });
    assert.deepEqual(await c.ok(200, 'GET', `/api/admin/tenants/${acme.id}/admins`), set);
    await unchanged(h, async () => {
      assertError(await c.call('PUT', `/api/admin/tenants/${acme.id}/admins`, { admins: [betaUser] }), 400, CODES.invalidReference, 'other tenant');
      assertError(await c.call('PUT', `/api/admin/tenants/${acme.id}/admins`, { admins: [d2cuser, 999_999] }), 400, CODES.invalidReference, 'unknown user');
      assertError(await c.call('PUT', `/api/admin/tenants/${acme.id}/admins`, { admins: ['1'] }), 400, CODES.invalidJson, 'string id');
    });
  });

  test('a tenant with users cannot be deleted (409); an empty one can (204, no body), its roles go with it', async () => {
    const t = await c.createTenant('Doomed');
    const user = await c.createUser('doomed-user', t.id, [t.roles[0]]);
    await unchanged(h, async () => {
      assertError(await c.call('DELETE', `/api/admin/tenants/${t.id}`), 409, CODES.conflict, 'with users');
    });
    await c.ok(204, 'DELETE', `/api/admin/users/${user}`);
    const res = await c.call('DELETE', `/api/admin/tenants/${t.id}`);
    assert.equal(res.statusCode, 204);
    assert.equal(res.body, '');
    assert.equal(res.headers['content-type'], undefined);
    assertError(await c.call('GET', `/api/admin/tenants/${t.id}`), 404, CODES.tenantNotFound, 'gone');
    assertError(await c.call('DELETE', `/api/admin/tenants/${t.id}`), 404, CODES.tenantNotFound, 'twice');
    for (const roleId of t.roles) assert.equal(await h.store.roles.get(roleId), undefined, `role ${roleId} deleted with its tenant`);
  });

  test('the users of an inactive tenant cannot log in', async () => {
    const t = await c.createTenant('Sleepy');
    await c.createUser('sleepy-user', t.id, [t.roles[0]]);
    assert.equal(await c.login('sleepy-user', DEFAULT_PASSWORD), 200);
    await c.ok(200, 'PUT', `/api/admin/tenants/${t.id}`, { name: 'Sleepy', parentTenant: 1, status: 0 });
    assert.equal(await c.login('sleepy-user', DEFAULT_PASSWORD), 401);
    await c.ok(200, 'PUT', `/api/admin/tenants/${t.id}`, { name: 'Sleepy', parentTenant: 1, status: 1 });
    assert.equal(await c.login('sleepy-user', DEFAULT_PASSWORD), 200);
  });

  test('the system tenant cannot be deleted or deactivated', async () => {
    await unchanged(h, async () => {
      assertError(await c.call('DELETE', '/api/admin/tenants/1'), 409, CODES.conflict, 'delete');
      assertError(await c.call('PUT', '/api/admin/tenants/1', { name: 'System', status: 0 }), 409, CODES.conflict, 'deactivate');
    });
  });

  test('an unknown tenant is 404 222208573 on every tenant route', async () => {
    for (const [method, url, body] of [
      ['GET', '/api/admin/tenants/424242'],
      ['PUT', '/api/admin/tenants/424242', { name: 'x' }],
      ['DELETE', '/api/admin/tenants/424242'],
      ['GET', '/api/admin/tenants/424242/admins'],
      ['PUT', '/api/admin/tenants/424242/admins', { admins: [] }],
      ['GET', '/api/admin/tenants/0'],
      ['GET', '/api/admin/tenants/x'],
      ['GET', '/api/admin/roles?tenantId=424242'],
      ['GET', '/api/admin/users?tenantName=Nowhere'],
    ] as [Method, string, unknown?][]) {
      assertError(await c.call(method, url, body), 404, CODES.tenantNotFound, `${method} ${url}`);
    }
  });

  test('a system-tenant user with TenantAPI creates tenants and administers them; a child-tenant user cannot', async () => {
    const delegateRole = await c.ok(201, 'POST', '/api/admin/roles', { name: 'Tenant Maker', tenantId: 1, permissions: [...TENANT_ADMIN_PERMISSIONS, 25] });
    const delegate = await c.createUser('tenant-maker', 1, [delegateRole.id]);
    const made = await c.ok(201, 'POST', '/api/admin/tenants', { name: 'Delegated Co', parentTenant: 1, importedRoles: [2, 3] }, [
      'tenant-maker',
      DEFAULT_PASSWORD,
    ]);
    assert.deepEqual(await h.store.tenants.admins(made.id), [delegate]);
    await c.ok(200, 'GET', `/api/admin/tenants/${made.id}`, undefined, ['tenant-maker', DEFAULT_PASSWORD]);
    // importing a role with permissions the creator lacks is escalation
    await unchanged(h, async () => {
      assertError(
        await c.call('POST', '/api/admin/tenants', { name: 'Escalated Co', parentTenant: 1, importedRoles: [1] }, ['tenant-maker', DEFAULT_PASSWORD]),
        403,
        CODES.forbidden,
        'import role 1',
      );
    });

    const childAdminRole = (await h.store.roles.list(made.id)).find((r) => r.name === 'Tenant Administrator')!.id;
    await c.createUser('child-maker', made.id, [childAdminRole], [25]);
    await c.ok(200, 'PUT', `/api/admin/tenants/${made.id}/admins`, { admins: [delegate, (await h.store.users.byName('child-maker'))!.id] });
    await unchanged(h, async () => {
      assertError(
        await c.call('POST', '/api/admin/tenants', { name: 'Sibling Co', parentTenant: 1 }, ['child-maker', DEFAULT_PASSWORD]),
        403,
        CODES.forbidden,
        'child tenant',
      );
    });
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('roles', () => {
  let h: Harness;
  let c: ReturnType<typeof client>;
  let acme: { id: number; roles: number[] };
  let beta: { id: number; roles: number[] };
  before(async () => {
    h = await harness();
    c = client(h);
    acme = await c.createTenant('Acme');
    beta = await c.createTenant('Beta');
  });
  after(async () => h.close());

  test('create: 201, Location, HDP shape, members joined', async () => {
    const member = await c.createUser('role-member', acme.id, [acme.roles[0]]);
    const res = await c.call('POST', '/api/admin/roles', {
      name: 'Analysts',
      tenantId: acme.id,
      description: 'read only',
      permissions: [2, 8],
      users: [member],
    });
    assert.equal(res.statusCode, 201, res.body);
    const role = res.json();
    assert.equal(res.headers.location, `/api/admin/roles/${role.id}`);
    assert.deepEqual(role, { id: role.id, name: 'Analysts', tenantId: acme.id, description: 'read only', permissions: [2, 8], users: [member] });
    assert.deepEqual(await c.ok(200, 'GET', `/api/admin/roles/${role.id}`), role);
    assert.deepEqual((await h.store.users.get(member))?.roles.sort(), [acme.roles[0], role.id].sort());
    const { roles } = await c.ok(200, 'GET', `/api/admin/roles?tenantName=acme`);
    assert.ok(
      (roles as any[]).some((r) => r.id === role.id),
      'filter by tenant name',
    );
    assert.ok((roles as any[]).every((r) => r.tenantId === acme.id));
  });

  test('role names are unique per tenant, case-insensitively', async () => {
    await c.ok(201, 'POST', '/api/admin/roles', { name: 'Auditors', tenantId: acme.id, permissions: [2] });
    await unchanged(h, async () => {
      assertError(await c.call('POST', '/api/admin/roles', { name: 'AUDITORS', tenantId: acme.id, permissions: [2] }), 409, CODES.duplicateName, 'same tenant');
    });
    await c.ok(201, 'POST', '/api/admin/roles', { name: 'Auditors', tenantId: beta.id, permissions: [2] });
  });

  test('create refuses unknown permissions, foreign members, unknown tenants and wrong types', async () => {
    const betaUser = await c.createUser('beta-member', beta.id, [beta.roles[0]]);
    await unchanged(h, async () => {
      for (const p of [22, 23, 24, 30, 1000]) {
        assertError(
          await c.call('POST', '/api/admin/roles', { name: 'Bad', tenantId: acme.id, permissions: [p] }),
          400,
          CODES.invalidReference,
          `permission ${p}`,
        );
      }
      assertError(
        await c.call('POST', '/api/admin/roles', { name: 'Bad', tenantId: acme.id, permissions: [2], users: [betaUser] }),
        400,
        CODES.invalidReference,
        'foreign member',
      );
      assertError(
        await c.call('POST', '/api/admin/roles', { name: 'Bad', tenantId: acme.id, permissions: [2], users: [999_999] }),
        400,
        CODES.invalidReference,
        'unknown member',
      );
      assertError(await c.call('POST', '/api/admin/roles', { name: 'Bad', tenantId: 999_999, permissions: [2] }), 404, CODES.tenantNotFound, 'unknown tenant');
      assertError(
        await c.call('POST', '/api/admin/roles', { name: 'Bad', tenantId: String(acme.id), permissions: [2] }),
        400,
        CODES.invalidJson,
        'tenantId as string',
      );
      assertError(await c.call('POST', '/api/admin/roles', { name: 'Bad', tenantId: acme.id, permissions: [2.5] }), 400, CODES.invalidJson, 'float permission');
      assertError(await c.call('POST', '/api/admin/roles', { name: 'Bad', tenantId: acme.id }), 400, CODES.invalidJson, 'no permissions');
    });
  });

  test('PUT replaces; the tenant of a role cannot change', async () => {
    const role = await c.ok(201, 'POST', '/api/admin/roles', { name: 'Editors', tenantId: acme.id, description: 'edit', permissions: [2, 3] });
    const updated = await c.ok(200, 'PUT', `/api/admin/roles/${role.id}`, { id: role.id, name: 'Writers', tenantId: acme.id, permissions: [3] });
    assert.deepEqual(updated, { id: role.id, name: 'Writers', tenantId: acme.id, description: null, permissions: [3], users: [] });
    await unchanged(h, async () => {
      assertError(await c.call('PUT', `/api/admin/roles/${role.id}`, { name: 'Writers', tenantId: beta.id, permissions: [3] }), 400, CODES.invalidJson, 'move');
      assertError(
        await c.call('PUT', `/api/admin/roles/${role.id}`, { id: 1, name: 'Writers', tenantId: acme.id, permissions: [3] }),
        400,
        CODES.invalidJson,
        'id mismatch',
      );
    });
  });

  test("DELETE: 204 without body, then 404 223002404; a user's only role cannot be deleted", async () => {
    const role = await c.ok(201, 'POST', '/api/admin/roles', { name: 'Temporary', tenantId: acme.id, permissions: [2] });
    const res = await c.call('DELETE', `/api/admin/roles/${role.id}`);
    assert.equal(res.statusCode, 204);
    assert.equal(res.body, '');
    assertError(await c.call('GET', `/api/admin/roles/${role.id}`), 404, CODES.roleNotFound, 'gone');

    const only = await c.ok(201, 'POST', '/api/admin/roles', { name: 'Only Role', tenantId: acme.id, permissions: [2] });
    const user = await c.createUser('only-role-user', acme.id, [only.id]);
    await unchanged(h, async () => {
      assertError(await c.call('DELETE', `/api/admin/roles/${only.id}`), 409, CODES.conflict, 'only role');
      assertError(
        await c.call('PUT', `/api/admin/roles/${only.id}`, { name: 'Only Role', tenantId: acme.id, permissions: [2], users: [] }),
        409,
        CODES.conflict,
        'remove the only member',
      );
    });
    assert.deepEqual((await h.store.users.get(user))?.roles, [only.id]);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('users', () => {
  let h: Harness;
  let c: ReturnType<typeof client>;
  let acme: { id: number; roles: number[] };
  let beta: { id: number; roles: number[] };
  before(async () => {
    h = await harness();
    c = client(h);
    acme = await c.createTenant('Acme');
    beta = await c.createTenant('Beta');
  });
  after(async () => h.close());

  test('create: 201, Location, HDP shape without password; the user can log in', async () => {
    const password = 'Fresh-Passw0rd!';
    const res = await c.call('POST', '/api/admin/users', {
      userName: 'Alice',
      tenantId: acme.id,
      statusInfo: { status: 1 },
      passwordInfo: { password },
      permissions: { roles: [acme.roles[0]], permissions: [28] },
    });
    assert.equal(res.statusCode, 201, res.body);
    assertNoSecrets(res, password);
    const user = res.json();
    assert.equal(res.headers.location, `/api/admin/users/${user.id}`);
    assert.deepEqual(user, {
      id: user.id,
      userName: 'Alice',
      tenantId: acme.id,
      statusInfo: { status: 1, accountLocked: false, accountLockedAt: null, accountLockedUntil: null },
      permissions: { roles: [acme.roles[0]], permissions: [28] },
    });
    const fetched = await c.call('GET', `/api/admin/users/${user.id}`);
    assertNoSecrets(fetched, password);
    assert.deepEqual(fetched.json(), user);
    assert.equal(await c.login('Alice', password), 200);
    assert.equal(await c.login('Alice', DEFAULT_PASSWORD), 401);
  });

  test('user names have 1–128 characters', async () => {
    const long = `u${'x'.repeat(127)}`;
    await c.ok(201, 'POST', '/api/admin/users', c.userBody(long, acme.id, [acme.roles[0]]));
    await unchanged(h, async () => {
      assertError(await c.call('POST', '/api/admin/users', c.userBody(`${long}y`, acme.id, [acme.roles[0]])), 400, CODES.invalidJson, '129');
      assertError(await c.call('POST', '/api/admin/users', c.userBody('', acme.id, [acme.roles[0]])), 400, CODES.invalidJson, 'empty');
    });
  });

  test("tenantId defaults to the caller's tenant", async () => {
    const id = await c.createUser('system-person', undefined, [2]);
    assert.equal((await h.store.users.get(id))?.tenantId, 1);
  });

  test('user names are unique case-insensitively across tenants (409 223006409)', async () => {
    await c.createUser('Bob', acme.id, [acme.roles[0]]);
    await unchanged(h, async () => {
      for (const [name, tenantId, role] of [
        ['bob', acme.id, acme.roles[0]],
        ['BOB', beta.id, beta.roles[0]],
        ['D2CADMIN', 1, 2],
      ] as const) {
        assertError(await c.call('POST', '/api/admin/users', c.userBody(name, tenantId, [role])), 409, CODES.duplicateName, name);
      }
    });
    const carol = await c.createUser('carol', acme.id, [acme.roles[0]]);
    await unchanged(h, async () => {
      assertError(
        await c.call('PUT', `/api/admin/users/${carol}`, { userName: 'BoB', statusInfo: { status: 1 }, permissions: { roles: [acme.roles[0]] } }),
        409,
        CODES.duplicateName,
        'rename',
      );
    });
  });

  test('password policy (400 223005400): length, user name, three classes', async () => {
    const cases: [string, string][] = [
      ['dave', 'Ab1!'], // too short
      ['dave', 'Ab1!efg'], // 7 characters
      ['dave', `Aa1!${'x'.repeat(125)}`], // 129 characters
      ['dave', 'My-dave-Pass1'], // contains the user name
      ['Dave', 'My-dave-Pass1'], // contains the user name, in another case
      ['dave', 'abcdefgh12'], // lower + digit only
      ['dave', 'abcdEFGHij'], // lower + upper only
      ['dave', 'ABCD-EFGH!'], // upper + special only
      ['dave', 'abcdefghij'], // one class
    ];
    await unchanged(h, async () => {
      for (const [userName, password] of cases) {
        const body = { ...c.userBody(userName, acme.id, [acme.roles[0]]), passwordInfo: { password } };
        const res = await c.call('POST', '/api/admin/users', body);
        assertError(res, 400, CODES.passwordPolicy, `"${password}"`);
        assert.ok(!res.body.includes(password), 'the refused password is not echoed');
      }
    });
    for (const [i, password] of ['abcdEFGH1', 'abcdefg1!', 'ABCDEFG1!', `Aa1!${'x'.repeat(124)}`].entries()) {
      await c.ok(201, 'POST', '/api/admin/users', { ...c.userBody(`policy-ok-${i}`, acme.id, [acme.roles[0]]), passwordInfo: { password } });
    }
  });

  test('a password is required on create', async () => {
    await unchanged(h, async () => {
      const { passwordInfo: _p, ...body } = c.userBody('no-password', acme.id, [acme.roles[0]]);
      assertError(await c.call('POST', '/api/admin/users', body), 400, CODES.invalidJson, 'no password');
    });
  });

  test("roles must exist, be of the user's tenant, and be at least one", async () => {
    await unchanged(h, async () => {
      assertError(await c.call('POST', '/api/admin/users', c.userBody('eve', acme.id, [2])), 400, CODES.invalidReference, 'system role in Acme');
      assertError(await c.call('POST', '/api/admin/users', c.userBody('eve', acme.id, [beta.roles[0]])), 400, CODES.invalidReference, 'Beta role in Acme');
      assertError(await c.call('POST', '/api/admin/users', c.userBody('eve', acme.id, [acme.roles[0], 999_999])), 400, CODES.invalidReference, 'unknown role');
      assertError(await c.call('POST', '/api/admin/users', c.userBody('eve', acme.id, [])), 400, CODES.invalidJson, 'no role');
      assertError(
        await c.call('POST', '/api/admin/users', { ...c.userBody('eve', acme.id, []), permissions: undefined }),
        400,
        CODES.invalidJson,
        'no permissions object',
      );
      assertError(
        await c.call('POST', '/api/admin/users', {
          ...c.userBody('eve', acme.id, [acme.roles[0]]),
          permissions: { roles: [acme.roles[0]], permissions: [23] },
        }),
        400,
        CODES.invalidReference,
        'unknown explicit permission',
      );
      assertError(await c.call('POST', '/api/admin/users', c.userBody('eve', 999_999, [acme.roles[0]])), 404, CODES.tenantNotFound, 'unknown tenant');
    });
    const eve = await c.createUser('eve', acme.id, [acme.roles[0]]);
    await unchanged(h, async () => {
      assertError(await c.call('PUT', `/api/admin/users/${eve}/permissions`, { roles: [] }), 400, CODES.invalidJson, 'remove every role');
      assertError(await c.call('PUT', `/api/admin/users/${eve}/permissions`, { roles: [2] }), 400, CODES.invalidReference, 'foreign role');
      assertError(
        await c.call('PUT', `/api/admin/users/${eve}`, { userName: 'eve', statusInfo: { status: 1 }, permissions: { roles: [] } }),
        400,
        CODES.invalidJson,
        'PUT without role',
      );
    });
  });

  test('permissions: GET and PUT {"roles","permissions"}, effective at once', async () => {
    const analysts = await c.ok(201, 'POST', '/api/admin/roles', { name: 'Analysts', tenantId: acme.id, permissions: [2, 11] });
    const frank = await c.createUser('frank', acme.id, [analysts.id]);
    assert.deepEqual(await c.ok(200, 'GET', `/api/admin/users/${frank}/permissions`), { roles: [analysts.id], permissions: [] });
    const mine = async () => (await c.ok(200, 'GET', '/api/mgmt/permissions', undefined, ['frank', DEFAULT_PASSWORD])).permissions.map((p: any) => p.id);
    assert.deepEqual(await mine(), [2, 11]);
    assert.deepEqual(await c.ok(200, 'PUT', `/api/admin/users/${frank}/permissions`, { roles: [analysts.id], permissions: [28, 14] }), {
      roles: [analysts.id],
      permissions: [14, 28],
    });
    assert.deepEqual(await mine(), [2, 11, 14, 28]);
    assert.deepEqual(await c.ok(200, 'PUT', `/api/admin/users/${frank}/permissions`, { roles: [analysts.id] }), { roles: [analysts.id], permissions: [] });
    assert.deepEqual(await mine(), [2, 11]);
  });

  test('PUT replaces the user; the tenant cannot change; a new password must meet the policy', async () => {
    const id = await c.createUser('grace', acme.id, [acme.roles[0]], [28]);
    const updated = await c.ok(200, 'PUT', `/api/admin/users/${id}`, {
      id,
      userName: 'grace-hopper',
      tenantId: acme.id,
      statusInfo: { status: 1 },
      permissions: { roles: [acme.roles[0]] },
    });
    assert.deepEqual(updated.permissions, { roles: [acme.roles[0]], permissions: [] }, 'omitted explicit permissions are cleared');
    assert.equal(updated.userName, 'grace-hopper');
    assert.equal(await c.login('grace-hopper', DEFAULT_PASSWORD), 200, 'password kept when passwordInfo is left out');
    await unchanged(h, async () => {
      assertError(
        await c.call('PUT', `/api/admin/users/${id}`, {
          userName: 'grace-hopper',
          tenantId: beta.id,
          statusInfo: { status: 1 },
          permissions: { roles: [beta.roles[0]] },
        }),
        400,
        CODES.invalidJson,
        'move',
      );
      assertError(
        await c.call('PUT', `/api/admin/users/${id}`, {
          userName: 'grace-hopper',
          statusInfo: { status: 1 },
          passwordInfo: { password: 'Grace-Hopper-1' },
          permissions: { roles: [acme.roles[0]] },
        }),
        400,
        CODES.passwordPolicy,
        'name in password',
      );
      assertError(
        await c.call('PUT', `/api/admin/users/${id}`, {
          id: id + 1,
          userName: 'grace-hopper',
          statusInfo: { status: 1 },
          permissions: { roles: [acme.roles[0]] },
        }),
        400,
        CODES.invalidJson,
        'id mismatch',
      );
    });
    const res = await c.call('PUT', `/api/admin/users/${id}`, {
      userName: 'grace-hopper',
      statusInfo: { status: 1 },
      passwordInfo: { password: 'Cobol-1959!' },
      permissions: { roles: [acme.roles[0]] },
    });
    assert.equal(res.statusCode, 200);
    assertNoSecrets(res, 'Cobol-1959!');
    assert.equal(await c.login('grace-hopper', 'Cobol-1959!'), 200);
  });

  test('passwordinfo: 204 without body; the old password stops working; the policy applies', async () => {
    const id = await c.createUser('heidi', acme.id, [acme.roles[0]]);
    const res = await c.call('PUT', `/api/admin/users/${id}/passwordinfo`, { password: 'Brand-New-1' });
    assert.equal(res.statusCode, 204);
    assert.equal(res.body, '');
    assert.equal(await c.login('heidi', DEFAULT_PASSWORD), 401);
    assert.equal(await c.login('heidi', 'Brand-New-1'), 200);
    await unchanged(h, async () => {
      assertError(await c.call('PUT', `/api/admin/users/${id}/passwordinfo`, { password: 'short1A' }), 400, CODES.passwordPolicy, 'short');
      assertError(await c.call('PUT', `/api/admin/users/${id}/passwordinfo`, { password: 'xHEIDIx-12' }), 400, CODES.passwordPolicy, 'user name');
      assertError(await c.call('PUT', `/api/admin/users/${id}/passwordinfo`, {}), 400, CODES.invalidJson, 'missing');
    });
    assert.equal(await c.login('heidi', 'Brand-New-1'), 200);
  });

  test('statusinfo: deactivate and reactivate; lock and unlock', async () => {
    const id = await c.createUser('ivan', acme.id, [acme.roles[0]]);
    assert.deepEqual(await c.ok(200, 'GET', `/api/admin/users/${id}/statusinfo`), {
      status: 1,
      accountLocked: false,
      accountLockedAt: null,
      accountLockedUntil: null,
    });
    assert.equal((await c.ok(200, 'PUT', `/api/admin/users/${id}/statusinfo`, { status: 0 })).status, 0);
    assert.equal(await c.login('ivan', DEFAULT_PASSWORD), 401, 'inactive users cannot log in');
    assert.equal((await c.ok(200, 'PUT', `/api/admin/users/${id}/statusinfo`, { status: 1 })).status, 1);
    assert.equal(await c.login('ivan', DEFAULT_PASSWORD), 200);

    const locked = await c.ok(200, 'PUT', `/api/admin/users/${id}/statusinfo`, { status: 1, accountLocked: true });
    assert.equal(locked.accountLocked, true);
    assert.match(locked.accountLockedAt, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    assert.match(locked.accountLockedUntil, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    assert.equal(await c.login('ivan', DEFAULT_PASSWORD), 401, 'locked users cannot log in');
    const unlocked = await c.ok(200, 'PUT', `/api/admin/users/${id}/statusinfo`, { status: 1, accountLocked: false });
    assert.deepEqual(unlocked, { status: 1, accountLocked: false, accountLockedAt: null, accountLockedUntil: null });
    assert.equal(await c.login('ivan', DEFAULT_PASSWORD), 200);
    await unchanged(h, async () => {
      for (const body of [{ status: 2 }, { status: '1' }, { accountLocked: false }, { status: 1, accountLocked: 'no' }]) {
        assertError(await c.call('PUT', `/api/admin/users/${id}/statusinfo`, body), 400, CODES.invalidJson, JSON.stringify(body));
      }
    });
  });

  test('DELETE: 204 without body; the user is gone and cannot log in', async () => {
    const id = await c.createUser('judy', acme.id, [acme.roles[0]]);
    assert.equal(await c.login('judy', DEFAULT_PASSWORD), 200);
    const res = await c.call('DELETE', `/api/admin/users/${id}`);
    assert.equal(res.statusCode, 204);
    assert.equal(res.body, '');
    assertError(await c.call('GET', `/api/admin/users/${id}`), 404, CODES.userNotFound, 'gone');
    assertError(await c.call('DELETE', `/api/admin/users/${id}`), 404, CODES.userNotFound, 'twice');
    assert.equal(await c.login('judy', DEFAULT_PASSWORD), 401);
  });

  test('deleting a user deletes the profiles and data sources it owns', async () => {
    const owner = await c.createUser('profile-owner', 1, [2]);
    const app = await c.ok(201, 'POST', '/api/mgmt/oauthapps', {
      name: 'Salesforce app',
      dataStore: 1,
      clientId: 'client',
      clientSecret: 'client-secret',
      authorizeURI: 'https://login.example.com/authorize',
      tokenURI: 'https://login.example.com/token',
    });
    const profile = await c.ok(201, 'POST', '/api/mgmt/oauthprofiles?user=profile-owner', {
      name: 'sf_profile',
      oauthAppId: app.id,
      refreshToken: 'refresh-token',
    });
    const source = await c.ok(201, 'POST', '/api/mgmt/datasources?user=profile-owner', {
      name: 'sf',
      dataStore: 1,
      connectionType: 'Cloud',
      options: { OAuthProfileId: String(profile.id) },
    });
    assert.ok(await h.store.profiles.get(profile.id));
    assert.ok(await h.store.dataSources.get(source.id));
    await c.ok(204, 'DELETE', `/api/admin/users/${owner}`);
    assert.equal(await h.store.profiles.get(profile.id), undefined, 'profile deleted');
    assert.equal(await h.store.dataSources.get(source.id), undefined, 'data source deleted');
    assert.ok(await h.store.apps.get(app.id), "the tenant's app stays");
  });

  test('lists are wrapped and filtered by ?tenantId= / ?tenantName=', async () => {
    const all = await c.ok(200, 'GET', '/api/admin/users');
    assert.deepEqual(Object.keys(all), ['users']);
    const inAcme = await c.ok(200, 'GET', `/api/admin/users?tenantId=${acme.id}`);
    assert.ok(inAcme.users.length > 0);
    assert.ok(inAcme.users.every((u: any) => u.tenantId === acme.id));
    assert.deepEqual(await c.ok(200, 'GET', '/api/admin/users?tenantName=ACME'), inAcme);
    assertError(await c.call('GET', '/api/admin/users?tenantId=abc'), 400, CODES.invalidJson, 'non-numeric tenantId');
  });

  test('no response of the user routes carries a password or a hash', async () => {
    const password = 'Secret-Sauce-42';
    const bodies: LightMyRequestResponse[] = [];
    const create = await c.call('POST', '/api/admin/users', { ...c.userBody('kim', acme.id, [acme.roles[0]]), passwordInfo: { password } });
    const id = create.json().id;
    bodies.push(create);
    bodies.push(await c.call('GET', '/api/admin/users'));
    bodies.push(await c.call('GET', `/api/admin/users?tenantId=${acme.id}`));
    bodies.push(await c.call('GET', `/api/admin/users/${id}`));
    bodies.push(await c.call('GET', `/api/admin/users/${id}/permissions`));
    bodies.push(await c.call('GET', `/api/admin/users/${id}/statusinfo`));
    bodies.push(
      await c.call('PUT', `/api/admin/users/${id}`, {
        userName: 'kim',
        statusInfo: { status: 1 },
        passwordInfo: { password },
        permissions: { roles: [acme.roles[0]] },
      }),
    );
    bodies.push(await c.call('PUT', `/api/admin/users/${id}/permissions`, { roles: [acme.roles[0]] }));
    bodies.push(await c.call('PUT', `/api/admin/users/${id}/statusinfo`, { status: 1 }));
    bodies.push(await c.call('PUT', `/api/admin/users/${id}/passwordinfo`, { password }));
    bodies.push(await c.call('PUT', `/api/admin/users/${id}/passwordinfo`, { password: 'kim-Kim-kim-1' })); // refused: contains the name
    bodies.push(await c.call('GET', '/api/admin/roles'));
    bodies.push(await c.call('GET', '/api/mgmt/permissions', undefined, ['kim', password]));
    for (const res of bodies) {
      assert.ok(res.statusCode < 500);
      assertNoSecrets(res, password, 'kim-Kim-kim-1', ADMIN_PASSWORD);
    }
    assert.ok((await h.store.users.get(id))!.passwordHash.startsWith('scrypt$'), 'the hash exists, in the store only');
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('the last active Administrator', () => {
  let h: Harness;
  let c: ReturnType<typeof client>;
  let d2cadmin: number;
  before(async () => {
    h = await harness();
    c = client(h);
    d2cadmin = (await h.store.users.byName('d2cadmin'))!.id;
  });
  after(async () => h.close());

  test('cannot be deleted, deactivated or stripped of Administrator (409 223007409)', async () => {
    await unchanged(h, async () => {
      assertError(await c.call('DELETE', `/api/admin/users/${d2cadmin}`), 409, CODES.conflict, 'delete');
      assertError(await c.call('PUT', `/api/admin/users/${d2cadmin}/statusinfo`, { status: 0 }), 409, CODES.conflict, 'deactivate');
      assertError(await c.call('PUT', `/api/admin/users/${d2cadmin}/permissions`, { roles: [2] }), 409, CODES.conflict, 'strip via permissions');
      assertError(
        await c.call('PUT', `/api/admin/users/${d2cadmin}`, { userName: 'd2cadmin', statusInfo: { status: 1 }, permissions: { roles: [3] } }),
        409,
        CODES.conflict,
        'strip via PUT user',
      );
      assertError(
        await c.call('PUT', `/api/admin/users/${d2cadmin}`, { userName: 'd2cadmin', statusInfo: { status: 0 }, permissions: { roles: [1] } }),
        409,
        CODES.conflict,
        'deactivate via PUT user',
      );
      assertError(
        await c.call('PUT', '/api/admin/roles/1', { name: 'System Administrator', tenantId: 1, permissions: ALL_PERMISSIONS, users: [] }),
        409,
        CODES.conflict,
        'empty role 1',
      );
      assertError(await c.call('PUT', '/api/admin/tenants/1', { name: 'System', status: 0 }), 409, CODES.conflict, 'deactivate the system tenant');
    });
    assert.equal(await c.login('d2cadmin', ADMIN_PASSWORD), 200);
  });

  test('with a second Administrator, d2cadmin can be deactivated; the second then is the last one', async () => {
    const second = await c.createUser('second-admin', 1, [2], [12]);
    await c.ok(200, 'PUT', `/api/admin/users/${d2cadmin}/statusinfo`, { status: 0 });
    assert.equal(await c.login('d2cadmin', ADMIN_PASSWORD), 401);
    const as: As = ['second-admin', DEFAULT_PASSWORD];
    await unchanged(h, async () => {
      assertError(await c.call('PUT', `/api/admin/users/${second}/permissions`, { roles: [2] }, as), 409, CODES.conflict, 'strip explicit 12');
      assertError(await c.call('DELETE', `/api/admin/users/${second}`, undefined, as), 409, CODES.conflict, 'delete itself');
      assertError(await c.call('PUT', `/api/admin/users/${second}/statusinfo`, { status: 0 }, as), 409, CODES.conflict, 'deactivate itself');
    });
    await c.ok(200, 'PUT', `/api/admin/users/${d2cadmin}/statusinfo`, { status: 1 }, as);
    await c.ok(204, 'DELETE', `/api/admin/users/${second}`);
    assert.equal(await c.login('second-admin', DEFAULT_PASSWORD), 401);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('no escalation', () => {
  let h: Harness;
  let c: ReturnType<typeof client>;
  let acme: { id: number; roles: number[] };
  let d2cadmin: number;
  let delegate: number;
  const acmeAdmin: As = ['acme-admin', DEFAULT_PASSWORD];
  const sysAdmin: As = ['sys-tenant-admin', DEFAULT_PASSWORD];
  before(async () => {
    h = await harness();
    c = client(h);
    d2cadmin = (await h.store.users.byName('d2cadmin'))!.id;
    acme = await c.createTenant('Acme');
    const acmeAdminId = await c.createUser('acme-admin', acme.id, [acme.roles[1]]);
    await c.ok(200, 'PUT', `/api/admin/tenants/${acme.id}/admins`, { admins: [d2cadmin, acmeAdminId] });
    // a system-tenant Tenant Administrator (role 3) with administrative access on the system tenant itself
    delegate = await c.createUser('sys-tenant-admin', 1, [3]);
    await c.ok(200, 'PUT', '/api/admin/tenants/1/admins', { admins: [delegate] });
  });
  after(async () => h.close());

  test('the tenant administrators can do their job', async () => {
    await c.ok(201, 'POST', '/api/admin/users', c.userBody('acme-worker', acme.id, [acme.roles[0]]), acmeAdmin);
    const implicit = await c.ok(201, 'POST', '/api/admin/users', c.userBody('acme-worker-2', undefined, [acme.roles[0]]), acmeAdmin);
    assert.equal(implicit.tenantId, acme.id, "tenantId defaults to the caller's tenant");
    await c.ok(201, 'POST', '/api/admin/users', c.userBody('sys-worker', 1, [3]), sysAdmin);
    await c.ok(200, 'GET', `/api/admin/users/${d2cadmin}`, undefined, sysAdmin);
  });

  test('a user cannot be created with role 1 or with an explicit permission the creator lacks (403)', async () => {
    await unchanged(h, async () => {
      const attempts: [As, unknown][] = [
        [sysAdmin, c.userBody('evil-1', 1, [1])],
        [sysAdmin, c.userBody('evil-2', 1, [2], { permissions: { roles: [2], permissions: [12] } })],
        [sysAdmin, c.userBody('evil-3', 1, [3], { permissions: { roles: [3], permissions: [25] } })],
        [acmeAdmin, c.userBody('evil-4', acme.id, [1])],
        [acmeAdmin, c.userBody('evil-5', acme.id, [acme.roles[0]], { permissions: { roles: [acme.roles[0]], permissions: [12] } })],
        [acmeAdmin, c.userBody('evil-6', acme.id, [acme.roles[0]], { permissions: { roles: [acme.roles[0]], permissions: [27] } })],
      ];
      for (const [as, body] of attempts) assertError(await c.call('POST', '/api/admin/users', body, as), 403, CODES.forbidden, JSON.stringify(body));
    });
  });

  test('an Administrator cannot be managed by a non-Administrator (403), only viewed', async () => {
    await unchanged(h, async () => {
      assertError(
        await c.call('PUT', `/api/admin/users/${d2cadmin}/passwordinfo`, { password: 'Hijacked-Passw0rd' }, sysAdmin),
        403,
        CODES.forbidden,
        'password',
      );
      assertError(await c.call('PUT', `/api/admin/users/${d2cadmin}/statusinfo`, { status: 1, accountLocked: true }, sysAdmin), 403, CODES.forbidden, 'lock');
      assertError(await c.call('PUT', `/api/admin/users/${d2cadmin}/permissions`, { roles: [1, 2] }, sysAdmin), 403, CODES.forbidden, 'permissions');
      assertError(
        await c.call(
          'PUT',
          `/api/admin/users/${d2cadmin}`,
          { userName: 'd2cadmin', statusInfo: { status: 1 }, passwordInfo: { password: 'Hijacked-Passw0rd' }, permissions: { roles: [1] } },
          sysAdmin,
        ),
        403,
        CODES.forbidden,
        'replace',
      );
      assertError(await c.call('DELETE', `/api/admin/users/${d2cadmin}`, undefined, sysAdmin), 403, CODES.forbidden, 'delete');
    });
    assert.equal(await c.login('d2cadmin', ADMIN_PASSWORD), 200);
    assert.equal(await c.login('d2cadmin', 'Hijacked-Passw0rd'), 401);
  });

  test('a tenant administrator cannot grant itself more (403)', async () => {
    const self = (await h.store.users.byName('acme-admin'))!.id;
    await unchanged(h, async () => {
      assertError(
        await c.call('PUT', `/api/admin/users/${self}/permissions`, { roles: [acme.roles[1]], permissions: [12] }, acmeAdmin),
        403,
        CODES.forbidden,
        'explicit 12',
      );
      assertError(
        await c.call('PUT', `/api/admin/users/${delegate}/permissions`, { roles: [3], permissions: [25] }, sysAdmin),
        403,
        CODES.forbidden,
        'explicit 25',
      );
    });
  });

  test('roles: no role with a permission the caller lacks, no change to a role above the caller (403)', async () => {
    await unchanged(h, async () => {
      assertError(
        await c.call('POST', '/api/admin/roles', { name: 'Power', tenantId: acme.id, permissions: [2, 12] }, acmeAdmin),
        403,
        CODES.forbidden,
        'create with 12',
      );
      assertError(
        await c.call('POST', '/api/admin/roles', { name: 'Power', tenantId: 1, permissions: [25] }, sysAdmin),
        403,
        CODES.forbidden,
        'create with 25',
      );
      assertError(
        await c.call(
          'PUT',
          '/api/admin/roles/1',
          { name: 'System Administrator', tenantId: 1, permissions: ALL_PERMISSIONS, users: [(await h.store.users.byName('d2cadmin'))!.id, delegate] },
          sysAdmin,
        ),
        403,
        CODES.forbidden,
        'join role 1',
      );
      assertError(await c.call('DELETE', '/api/admin/roles/1', undefined, sysAdmin), 403, CODES.forbidden, 'delete role 1');
    });
    const mine = await c.ok(201, 'POST', '/api/admin/roles', { name: 'Helpers', tenantId: acme.id, permissions: [2, 14] }, acmeAdmin);
    assert.deepEqual(mine.permissions, [2, 14]);
    await unchanged(h, async () => {
      assertError(
        await c.call('PUT', `/api/admin/roles/${mine.id}`, { name: 'Helpers', tenantId: acme.id, permissions: [2, 14, 28] }, acmeAdmin),
        403,
        CODES.forbidden,
        'raise to 28',
      );
    });
  });
});

describe('no escalation through role membership', () => {
  // Adding a user to a role, or taking a user out of one, changes that user's grants: it is managing the user, so it
  // follows the same rule as PUT /users/{id}/permissions — only users holding nothing beyond the caller.
  let h: Harness;
  let c: ReturnType<typeof client>;
  let boss: number;
  let delegate: number;
  let helpers: { id: number };
  const sysAdmin: As = ['sys-tenant-admin', DEFAULT_PASSWORD];
  before(async () => {
    h = await harness();
    c = client(h);
    helpers = await c.ok(201, 'POST', '/api/admin/roles', { name: 'Helpers', tenantId: 1, permissions: [2] });
    boss = await c.createUser('boss', 1, [1, helpers.id]);
    delegate = await c.createUser('sys-tenant-admin', 1, [3]);
    await c.ok(200, 'PUT', '/api/admin/tenants/1/admins', { admins: [delegate] });
  });
  after(async () => h.close());

  test('a user above the caller cannot be taken out of a role, put into one, or lose one by deletion (403)', async () => {
    // the same change through the user is refused
    await unchanged(h, async () => {
      assertError(await c.call('PUT', `/api/admin/users/${boss}/permissions`, { roles: [1] }, sysAdmin), 403, CODES.forbidden, 'via the user');
      assertError(
        await c.call('PUT', `/api/admin/roles/${helpers.id}`, { name: 'Helpers', tenantId: 1, permissions: [2], users: [] }, sysAdmin),
        403,
        CODES.forbidden,
        'remove from role',
      );
      assertError(await c.call('DELETE', `/api/admin/roles/${helpers.id}`, undefined, sysAdmin), 403, CODES.forbidden, 'delete the role');
      const d2cadmin = (await h.store.users.byName('d2cadmin'))!.id;
      assertError(
        await c.call('POST', '/api/admin/roles', { name: 'Trap', tenantId: 1, permissions: [2], users: [d2cadmin] }, sysAdmin),
        403,
        CODES.forbidden,
        'new role with d2cadmin',
      );
      assertError(
        await c.call(
          'PUT',
          '/api/admin/roles/3',
          { name: 'Tenant Administrator', tenantId: 1, permissions: TENANT_ADMIN_PERMISSIONS, users: [delegate, d2cadmin] },
          sysAdmin,
        ),
        403,
        CODES.forbidden,
        'add d2cadmin to role 3',
      );
    });
    assert.deepEqual((await h.store.users.get(boss))?.roles, [1, helpers.id]);
  });

  test('members the caller may manage can change, with a user above it left in place', async () => {
    const worker = await c.createUser('worker', 1, [2]);
    const res = await c.ok(200, 'PUT', `/api/admin/roles/${helpers.id}`, { name: 'Helpers', tenantId: 1, permissions: [2], users: [boss, worker] }, sysAdmin);
    assert.deepEqual(
      res.users,
      [boss, worker].sort((a, b) => a - b),
    );
    const other = await c.ok(201, 'POST', '/api/admin/roles', { name: 'Workers', tenantId: 1, permissions: [2, 8], users: [worker] }, sysAdmin);
    assert.deepEqual(other.users, [worker]);
    await c.ok(204, 'DELETE', `/api/admin/roles/${other.id}`, undefined, sysAdmin);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('system limits', () => {
  let h: Harness;
  let c: ReturnType<typeof client>;
  before(async () => {
    h = await harness();
    c = client(h);
  });
  after(async () => h.close());

  test("list and read: HDP's lockout limits with their defaults", async () => {
    const { limits } = await c.ok(200, 'GET', '/api/admin/limits/system');
    const byId = Object.fromEntries((limits as any[]).map((l) => [l.id, l]));
    assert.deepEqual(Object.keys(byId).map(Number).sort(), [2, 3, 4]);
    assert.equal(byId[2].name, 'PasswordLockoutInterval');
    assert.equal(byId[2].value, 900);
    assert.equal(byId[3].name, 'PasswordLockoutLimit');
    assert.equal(byId[3].value, 3);
    assert.equal(byId[4].name, 'PasswordLockoutPeriod');
    assert.equal(byId[4].value, 1800);
    assert.deepEqual(await c.ok(200, 'GET', '/api/admin/limits/system/3'), byId[3]);
    for (const id of [1, 5, 0]) assertError(await c.call('GET', `/api/admin/limits/system/${id}`), 404, CODES.limitNotFound, `limit ${id}`);
  });

  test('POST and PUT set a value; lockout can be turned off with 0, the durations cannot', async () => {
    assert.equal((await c.ok(200, 'PUT', '/api/admin/limits/system/3', { value: 5 })).value, 5);
    assert.equal((await c.ok(200, 'POST', '/api/admin/limits/system/4', { value: 60 })).value, 60);
    assert.equal((await c.ok(200, 'PUT', '/api/admin/limits/system/3', { value: 0 })).value, 0);
    assert.equal((await h.store.limits.all()).get(3), 0);
    await unchanged(h, async () => {
      assertError(await c.call('PUT', '/api/admin/limits/system/4', { value: 0 }), 400, CODES.invalidJson, 'period 0');
      assertError(await c.call('PUT', '/api/admin/limits/system/2', { value: 0 }), 400, CODES.invalidJson, 'interval 0');
      assertError(await c.call('PUT', '/api/admin/limits/system/2', { value: -1 }), 400, CODES.invalidJson, 'negative');
      assertError(await c.call('PUT', '/api/admin/limits/system/2', { value: '60' }), 400, CODES.invalidJson, 'string');
      assertError(await c.call('PUT', '/api/admin/limits/system/2', { value: 1.5 }), 400, CODES.invalidJson, 'float');
      assertError(await c.call('PUT', '/api/admin/limits/system/9', { value: 5 }), 404, CODES.limitNotFound, 'unknown');
    });
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe("GET /api/mgmt/permissions: the caller's effective permissions", () => {
  let h: Harness;
  let c: ReturnType<typeof client>;
  before(async () => {
    h = await harness();
    c = client(h);
  });
  after(async () => h.close());

  const ids = (body: any) => body.permissions.map((p: any) => p.id);

  test('d2cuser: the User role; d2cadmin: everything; entries are {id, name}', async () => {
    const user = await c.ok(200, 'GET', '/api/mgmt/permissions', undefined, 'd2cuser');
    assert.deepEqual(Object.keys(user), ['permissions']);
    assert.deepEqual(
      user.permissions,
      USER_PERMISSIONS.map((id) => ({ id, name: PERMISSION_NAMES[id] })),
    );
    assert.deepEqual(ids(await c.ok(200, 'GET', '/api/mgmt/permissions')), ALL_PERMISSIONS);
  });

  test('roles ∪ explicit permissions, across several roles', async () => {
    const r1 = await c.ok(201, 'POST', '/api/admin/roles', { name: 'Only MgmtAPI', tenantId: 1, permissions: [11] });
    const r2 = await c.ok(201, 'POST', '/api/admin/roles', { name: 'Viewers', tenantId: 1, permissions: [2, 14] });
    await c.createUser('mixed', 1, [r1.id, r2.id], [28, 2]);
    assert.deepEqual(ids(await c.ok(200, 'GET', '/api/mgmt/permissions', undefined, ['mixed', DEFAULT_PASSWORD])), [2, 11, 14, 28]);
  });

  test('without MgmtAPI (11) the route is refused', async () => {
    const r = await c.ok(201, 'POST', '/api/admin/roles', { name: 'Web only', tenantId: 1, permissions: [8] });
    await c.createUser('web-only', 1, [r.id], [2]);
    assertError(await c.call('GET', '/api/mgmt/permissions', undefined, ['web-only', DEFAULT_PASSWORD]), 403, CODES.forbidden, 'no 11');
  });

  test('a role change applies to the next request', async () => {
    const r = await c.ok(201, 'POST', '/api/admin/roles', { name: 'Changing', tenantId: 1, permissions: [11] });
    const user = await c.createUser('changing', 1, [r.id]);
    const as: As = ['changing', DEFAULT_PASSWORD];
    assert.deepEqual(ids(await c.ok(200, 'GET', '/api/mgmt/permissions', undefined, as)), [11]);
    await c.ok(200, 'PUT', `/api/admin/roles/${r.id}`, { name: 'Changing', tenantId: 1, permissions: [11, 29], users: [user] });
    assert.deepEqual(ids(await c.ok(200, 'GET', '/api/mgmt/permissions', undefined, as)), [11, 29]);
  });
});
