/**
 * The storage contract (src/domain/ports/*.ts) proved once and run against SQLite and PostgreSQL alike: scripts/test.mjs
 * runs this file on SQLite, then again with TOKENKEEP_TEST_BACKEND=postgres on a fresh PostgreSQL database. It drives
 * the repositories of a real store directly (no HTTP) and asserts facts and typed refusals, and that a refused write
 * changed nothing (every refusal is followed by a read-back). One harness serves the whole file, so every name carries
 * a random suffix and no test depends on another's rows.
 */
import { DEFAULT_SETTINGS } from '../../src/engine/settings.js';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { harness, sqliteStoreOf, BACKEND, type Harness } from '../helpers.js';
import type { PostgresStore } from '../../src/storage/postgres/store.js';
import type {
  AsError,
  EngineSettings,
  Refreshed,
  TokenStatus,
  DataSource,
  FailureCount,
  NewConsentState,
  NewConsoleSession,
  SignedInStanding,
  NewDataSource,
  NewOAuthApp,
  OAuthApp,
  OAuthProfile,
  ProfileHeader,
  ProfileInput,
  ProfileSummary,
  Refusal,
  Tenant,
  User,
} from '../../src/domain/ports/index.js';
import { isRefusal } from '../../src/domain/refusals.js';
import { failureCount, type LockoutPolicy } from '../../src/domain/lockout.js';
import { Perm, SYSTEM_TENANT_ID } from '../../src/domain/permissions.js';
import { Limit } from '../../src/domain/limits.js';
import { KeyRing } from '../../src/sealing/key-ring.js';

const rnd = (tag: string): string => `${tag}${randomBytes(6).toString('hex')}`;

/** The origin of the token URI the tests' tokens are pinned to. */
const ORIGIN = 'https://as.example';

/** An id no row has (fits PostgreSQL's integer). */
const MISSING = 1_999_999_999;

/** The seed's default roles (src/domain/permissions.ts): 1 System Administrator, 2 User, 3 Tenant Administrator. */
const USER_ROLE = 2;
const TENANT_ADMIN_ROLE = 3;

/** A repository's answer that must be the value, not a refusal (the refusal is named when it is one). */
async function ok<T>(answer: Promise<T | Refusal>): Promise<T> {
  const value = await answer;
  if (isRefusal(value)) assert.fail(`expected a value, got the refusal ${JSON.stringify(value)}`);
  return value;
}

const sorted = (xs: Iterable<number>): number[] => [...xs].sort((a, b) => a - b);

describe(`storage contract on ${BACKEND}`, () => {
  let h: Harness;
  let admin: User;

  before(async () => {
    h = await harness();
    const found = await h.store.users.byName('d2cadmin');
    assert.ok(found, 'the seed admin exists');
    admin = found;
  });
  after(async () => {
    await h.close();
  });

  // ---- fixtures: each makes fresh rows under random names ----

  const makeTenant = async (): Promise<{ tenant: Tenant; role: number }> => {
    const made = await ok(
      h.store.tenants.create({
        name: rnd('Tenant '),
        parentTenant: SYSTEM_TENANT_ID,
        description: 'a tenant',
        status: 1,
        importedRoles: [USER_ROLE],
        admins: [admin.id],
      }),
    );
    assert.equal(made.roles.length, 1);
    return { tenant: made.tenant, role: made.roles[0] };
  };

  const makeUser = (tenantId = SYSTEM_TENANT_ID, roles: number[] = [USER_ROLE], permissions: number[] = []): Promise<User> =>
    ok(h.store.users.create({ userName: rnd('user'), tenantId, status: 1, passwordHash: rnd('hash-'), roles, permissions }));

  const appInput = (dataStore = 54, tenantId = SYSTEM_TENANT_ID, name = rnd('App ')): NewOAuthApp => ({
    name,
    dataStore,
    tenantId,
    description: 'an application',
    clientId: rnd('client-'),
    clientSecret: rnd('secret-'),
    authorizeURI: `https://auth.example.com/${rnd('a')}`,
    tokenURI: `https://auth.example.com/${rnd('t')}`,
    scope: rnd('scope-'),
  });
  /** An app's engine settings: the defaults of api.md §8.6 with `change`. */
  const engineSettings = (change: Partial<EngineSettings>): EngineSettings => ({ ...DEFAULT_SETTINGS, ...change });
  const makeApp = (dataStore = 54, tenantId = SYSTEM_TENANT_ID): Promise<OAuthApp> => ok(h.store.apps.create(appInput(dataStore, tenantId)));

  /** A profile's writes carry the origin of its app's token URI, which the tokens are pinned to (api.md §8.5). */
  type PinnedInput = ProfileInput & { tokenOrigin: string };
  const profileInput = (oauthAppId: number, name = rnd('profile ')): PinnedInput => ({
    name,
    oauthAppId,
    description: rnd('description '),
    accessToken: rnd('AT-'),
    refreshToken: rnd('RT-'),
    tokenOrigin: ORIGIN,
  });
  /** The profile a write of `input` stores: the input without the origin, which is the engine's (tokens.status). */
  const stored = ({ tokenOrigin: _origin, ...input }: PinnedInput): ProfileInput => input;
  const makeProfile = (oauthAppId: number, ownerId: number, creatorId = ownerId, name?: string): Promise<OAuthProfile> =>
    ok(h.store.profiles.create({ ...profileInput(oauthAppId, name), ownerId, creatorId }));

  const dataSourceInput = (ownerId: number, dataStore: number, oauthProfileId: number | null): NewDataSource => ({
    ownerId,
    name: rnd('ds '),
    dataStore,
    connectionType: 'Cloud',
    description: rnd('about '),
    options: { ServerName: rnd('srv'), Password: rnd('pw') },
    oauthProfileId,
  });
  const makeDataSource = (ownerId: number, dataStore: number, oauthProfileId: number | null): Promise<DataSource> =>
    ok(h.store.dataSources.create(dataSourceInput(ownerId, dataStore, oauthProfileId)));

  const headerOf = async (id: number): Promise<ProfileHeader> => {
    const header = await h.store.profiles.header(id);
    assert.ok(header, `profile ${id} has a header`);
    return header;
  };

  /** What a profile's PUT carries, from a profile as read (its tokens kept unless given). */
  const asInput = (p: OAuthProfile, change: Partial<PinnedInput> = {}): PinnedInput => ({
    name: p.name,
    oauthAppId: p.oauthAppId,
    description: p.description,
    accessToken: p.accessToken,
    refreshToken: p.refreshToken,
    tokenOrigin: ORIGIN,
    ...change,
  });

  describe('tenants', () => {
    test('create copies the imported roles and sets the admins; get, byName in any case and list find it', async () => {
      const name = rnd('Acme ');
      const made = await ok(
        h.store.tenants.create({ name, parentTenant: SYSTEM_TENANT_ID, description: 'desc', status: 1, importedRoles: [USER_ROLE], admins: [admin.id] }),
      );
      assert.deepEqual(made.tenant, { id: made.tenant.id, name, description: 'desc', parentTenant: SYSTEM_TENANT_ID, status: 1 });
      assert.equal(made.roles.length, 1);
      const source = await h.store.roles.get(USER_ROLE);
      const copy = await h.store.roles.get(made.roles[0]);
      assert.ok(source && copy);
      assert.notEqual(copy.id, USER_ROLE);
      assert.equal(copy.tenantId, made.tenant.id);
      assert.equal(copy.name, source.name);
      assert.deepEqual(sorted(copy.permissions), sorted(source.permissions));
      assert.deepEqual(copy.users, []);

      assert.deepEqual(await h.store.tenants.get(made.tenant.id), made.tenant);
      assert.deepEqual(await h.store.tenants.byName(name.toUpperCase()), made.tenant);
      assert.deepEqual(await h.store.tenants.byName(name.toLowerCase()), made.tenant);
      assert.equal(await h.store.tenants.byName(rnd('nobody ')), undefined);
      assert.equal(await h.store.tenants.get(MISSING), undefined);
      const list = await h.store.tenants.list();
      assert.deepEqual(
        list.find((t) => t.id === made.tenant.id),
        made.tenant,
      );
      assert.equal(list.find((t) => t.id === SYSTEM_TENANT_ID)?.name, 'System');
      assert.deepEqual(await h.store.tenants.admins(made.tenant.id), [admin.id]);
    });

    test('a taken name, in any case, is refused (name) on create and update, and nothing changes', async () => {
      const { tenant } = await makeTenant();
      const other = await makeTenant();
      const before = await h.store.tenants.list();
      assert.deepEqual(
        await h.store.tenants.create({
          name: tenant.name.toUpperCase(),
          parentTenant: SYSTEM_TENANT_ID,
          description: null,
          status: 1,
          importedRoles: [],
          admins: [],
        }),
        { refused: 'name' },
      );
      assert.deepEqual(await h.store.tenants.update(other.tenant.id, { name: tenant.name.toLowerCase(), description: 'x', status: 0 }), { refused: 'name' });
      assert.deepEqual(await h.store.tenants.list(), before);
    });

    test('update applies; update and delete of a missing id are refused (missing)', async () => {
      const { tenant } = await makeTenant();
      const name = rnd('Renamed ');
      const updated = await ok(h.store.tenants.update(tenant.id, { name, description: null, status: 0 }));
      assert.deepEqual(updated, { ...tenant, name, description: null, status: 0 });
      assert.deepEqual(await h.store.tenants.get(tenant.id), updated);
      assert.deepEqual(await h.store.tenants.update(MISSING, { name: rnd('x'), description: null, status: 1 }), {
        refused: 'missing',
        what: 'tenant',
        id: MISSING,
      });
      assert.deepEqual(await h.store.tenants.delete(MISSING), { refused: 'missing', what: 'tenant', id: MISSING });
      assert.equal(await h.store.tenants.get(MISSING), undefined);
    });

    test('delete: a tenant with users is refused (tenantHasUsers), the system tenant too (systemTenant); an empty one goes', async () => {
      const { tenant, role } = await makeTenant();
      const user = await makeUser(tenant.id, [role]);
      assert.deepEqual(await h.store.tenants.delete(tenant.id), { refused: 'tenantHasUsers', tenantId: tenant.id });
      assert.deepEqual(await h.store.tenants.get(tenant.id), tenant);
      assert.deepEqual(await h.store.users.get(user.id), user);
      assert.deepEqual(await h.store.tenants.delete(SYSTEM_TENANT_ID), { refused: 'systemTenant' });
      assert.ok(await h.store.tenants.get(SYSTEM_TENANT_ID));

      assert.equal(await h.store.users.delete(user.id), undefined);
      assert.equal(await h.store.tenants.delete(tenant.id), undefined);
      assert.equal(await h.store.tenants.get(tenant.id), undefined);
      assert.equal(await h.store.tenants.byName(tenant.name), undefined);
    });

    test('admins and setAdmins: a user of another tenant (reference, otherTenant) or none (reference) is refused, and nothing changes', async () => {
      const a = await makeTenant();
      const b = await makeTenant();
      const userA = await makeUser(a.tenant.id, [a.role]);
      const userB = await makeUser(b.tenant.id, [b.role]);
      const systemUser = await makeUser();
      assert.deepEqual(await h.store.tenants.admins(a.tenant.id), [admin.id]);

      assert.deepEqual(await h.store.tenants.setAdmins(a.tenant.id, [admin.id, userB.id]), {
        refused: 'reference',
        field: 'admins',
        id: userB.id,
        otherTenant: true,
      });
      assert.deepEqual(await h.store.tenants.admins(a.tenant.id), [admin.id]);
      assert.deepEqual(await h.store.tenants.setAdmins(a.tenant.id, [MISSING]), { refused: 'reference', field: 'admins', id: MISSING, otherTenant: false });
      assert.deepEqual(await h.store.tenants.admins(a.tenant.id), [admin.id]);
      assert.deepEqual(await h.store.tenants.setAdmins(MISSING, [admin.id]), { refused: 'missing', what: 'tenant', id: MISSING });

      // A user of the tenant itself and one of the system tenant may administer it; the answer is in id order.
      assert.equal(await h.store.tenants.setAdmins(a.tenant.id, [systemUser.id, userA.id]), undefined);
      assert.deepEqual(await h.store.tenants.admins(a.tenant.id), sorted([systemUser.id, userA.id]));
      assert.equal(await h.store.tenants.setAdmins(a.tenant.id, []), undefined);
      assert.deepEqual(await h.store.tenants.admins(a.tenant.id), []);
    });
  });

  describe('roles', () => {
    test('create, get, list, update and delete; a taken name in the tenant is refused (name)', async () => {
      const { tenant, role: imported } = await makeTenant();
      const member = await makeUser(tenant.id, [imported]);
      const name = rnd('Role ');
      const created = await ok(h.store.roles.create({ name, tenantId: tenant.id, description: 'r', permissions: [9, 1, 2], users: [member.id] }));
      assert.deepEqual(
        { ...created, permissions: sorted(created.permissions) },
        { id: created.id, name, tenantId: tenant.id, description: 'r', permissions: [1, 2, 9], users: [member.id] },
      );
      assert.deepEqual(await h.store.roles.get(created.id), created);
      assert.deepEqual(
        (await h.store.roles.list(tenant.id)).map((r) => r.id),
        sorted([imported, created.id]),
      );
      assert.ok((await h.store.roles.list()).some((r) => r.id === created.id));
      assert.deepEqual(sorted((await h.store.users.get(member.id))!.roles), sorted([imported, created.id]));

      assert.deepEqual(await h.store.roles.create({ name: name.toUpperCase(), tenantId: tenant.id, description: null, permissions: [], users: [] }), {
        refused: 'name',
      });
      // Another tenant may use the name.
      const other = await makeTenant();
      await ok(h.store.roles.create({ name, tenantId: other.tenant.id, description: null, permissions: [], users: [] }));

      const renamed = rnd('Role ');
      const updated = await ok(h.store.roles.update(created.id, { name: renamed, tenantId: tenant.id, description: null, permissions: [3], users: [] }));
      assert.deepEqual(updated, { id: created.id, name: renamed, tenantId: tenant.id, description: null, permissions: [3], users: [] });
      assert.deepEqual(await h.store.roles.get(created.id), updated);
      assert.deepEqual((await h.store.users.get(member.id))!.roles, [imported]);
      assert.deepEqual(await h.store.roles.update(created.id, { ...updated, tenantId: other.tenant.id }), { refused: 'roleMoved' });
      assert.deepEqual(await h.store.roles.update(MISSING, { name: rnd('x'), tenantId: tenant.id, description: null, permissions: [], users: [] }), {
        refused: 'missing',
        what: 'role',
        id: MISSING,
      });

      assert.equal(await h.store.roles.delete(created.id), undefined);
      assert.equal(await h.store.roles.get(created.id), undefined);
      assert.deepEqual(await h.store.roles.delete(created.id), { refused: 'missing', what: 'role', id: created.id });
    });

    test('a default role changes only its users: a new name or permission set is refused (defaultRoleChanged), and nothing changes', async () => {
      const role = (await h.store.roles.get(USER_ROLE))!;
      const { id: _id, ...same } = role;
      assert.deepEqual(await h.store.roles.update(USER_ROLE, { ...same, name: rnd('Renamed ') }), { refused: 'defaultRoleChanged' });
      assert.deepEqual(await h.store.roles.update(USER_ROLE, { ...same, permissions: role.permissions.slice(1) }), { refused: 'defaultRoleChanged' });
      assert.deepEqual(await h.store.roles.update(USER_ROLE, { ...same, permissions: [...role.permissions, Perm.Administrator] }), {
        refused: 'defaultRoleChanged',
      });
      assert.deepEqual(await h.store.roles.get(USER_ROLE), role);

      // Its users (and description) may change.
      const joining = await makeUser(SYSTEM_TENANT_ID, [TENANT_ADMIN_ROLE]);
      const updated = await ok(h.store.roles.update(USER_ROLE, { ...same, description: 'still the User role', users: [...role.users, joining.id] }));
      assert.deepEqual(updated.users, sorted([...role.users, joining.id]));
      assert.equal(updated.description, 'still the User role');
      assert.deepEqual(sorted((await h.store.users.get(joining.id))!.roles), [USER_ROLE, TENANT_ADMIN_ROLE]);
    });

    test('deleting a default role is refused (defaultRoleDeleted), and it stays', async () => {
      const role = await h.store.roles.get(TENANT_ADMIN_ROLE);
      assert.ok(role);
      assert.deepEqual(await h.store.roles.delete(TENANT_ADMIN_ROLE), { refused: 'defaultRoleDeleted' });
      assert.deepEqual(await h.store.roles.get(TENANT_ADMIN_ROLE), role);
    });

    test('a member from another tenant is refused (reference), and nothing changes', async () => {
      const a = await makeTenant();
      const b = await makeTenant();
      const userA = await makeUser(a.tenant.id, [a.role]);
      const userB = await makeUser(b.tenant.id, [b.role]);
      const role = await ok(h.store.roles.create({ name: rnd('Role '), tenantId: a.tenant.id, description: null, permissions: [1], users: [userA.id] }));

      assert.deepEqual(await h.store.roles.update(role.id, { ...role, users: [userA.id, userB.id] }), {
        refused: 'reference',
        field: 'users',
        id: userB.id,
        otherTenant: true,
      });
      assert.deepEqual(await h.store.roles.update(role.id, { ...role, users: [userA.id, MISSING] }), {
        refused: 'reference',
        field: 'users',
        id: MISSING,
        otherTenant: false,
      });
      assert.deepEqual(await h.store.roles.get(role.id), role);
      assert.deepEqual(sorted((await h.store.users.get(userA.id))!.roles), sorted([a.role, role.id]));
      assert.deepEqual((await h.store.users.get(userB.id))!.roles, [b.role]);

      const name = rnd('Role ');
      assert.deepEqual(await h.store.roles.create({ name, tenantId: a.tenant.id, description: null, permissions: [], users: [userB.id] }), {
        refused: 'reference',
        field: 'users',
        id: userB.id,
        otherTenant: true,
      });
      assert.ok(!(await h.store.roles.list(a.tenant.id)).some((r) => r.name === name));
    });

    test('a change that leaves a user without a role is refused (userWithoutRole), and nothing changes', async () => {
      const { tenant } = await makeTenant();
      const role = await ok(h.store.roles.create({ name: rnd('Only '), tenantId: tenant.id, description: null, permissions: [1], users: [] }));
      const user = await makeUser(tenant.id, [role.id]);
      const withUser = (await h.store.roles.get(role.id))!;
      assert.deepEqual(withUser.users, [user.id]);
      assert.deepEqual(await h.store.roles.update(role.id, { ...withUser, users: [] }), { refused: 'userWithoutRole', userId: user.id });
      assert.deepEqual(await h.store.roles.delete(role.id), { refused: 'userWithoutRole', userId: user.id });
      assert.deepEqual(await h.store.roles.get(role.id), withUser);
      assert.deepEqual((await h.store.users.get(user.id))!.roles, [role.id]);
    });
  });

  describe('users', () => {
    test('create, get, byName in any case, list; a taken name in any case is refused (name)', async () => {
      const userName = rnd('Alice');
      const created = await ok(
        h.store.users.create({ userName, tenantId: SYSTEM_TENANT_ID, status: 1, passwordHash: 'hash-1', roles: [USER_ROLE], permissions: [Perm.Limits] }),
      );
      assert.deepEqual(created, {
        id: created.id,
        userName,
        tenantId: SYSTEM_TENANT_ID,
        status: 1,
        passwordHash: 'hash-1',
        failedCount: 0,
        failedSince: null,
        lockedAt: null,
        lockedUntil: null,
        roles: [USER_ROLE],
        permissions: [Perm.Limits],
      });
      assert.deepEqual(await h.store.users.get(created.id), created);
      assert.deepEqual(await h.store.users.byName(userName.toUpperCase()), created);
      assert.deepEqual(await h.store.users.byName(userName.toLowerCase()), created);
      assert.equal(await h.store.users.byName(rnd('nobody')), undefined);
      assert.equal(await h.store.users.get(MISSING), undefined);
      assert.deepEqual(
        (await h.store.users.list(SYSTEM_TENANT_ID)).find((u) => u.id === created.id),
        created,
      );
      const { tenant } = await makeTenant();
      assert.ok(!(await h.store.users.list(tenant.id)).some((u) => u.id === created.id));

      assert.deepEqual(
        await h.store.users.create({
          userName: userName.toUpperCase(),
          tenantId: SYSTEM_TENANT_ID,
          status: 1,
          passwordHash: 'h',
          roles: [USER_ROLE],
          permissions: [],
        }),
        { refused: 'name' },
      );
      assert.equal((await h.store.users.list()).filter((u) => u.userName.toLowerCase() === userName.toLowerCase()).length, 1);
    });

    test("a user's roles: none (noRole), another tenant's (reference, otherTenant) or a missing one (reference) is refused", async () => {
      const { tenant, role } = await makeTenant();
      const input = { userName: rnd('bob'), tenantId: SYSTEM_TENANT_ID, status: 1 as const, passwordHash: 'h', permissions: [] };
      assert.deepEqual(await h.store.users.create({ ...input, roles: [] }), { refused: 'noRole' });
      assert.deepEqual(await h.store.users.create({ ...input, roles: [role] }), { refused: 'reference', field: 'roles', id: role, otherTenant: true });
      assert.deepEqual(await h.store.users.create({ ...input, roles: [MISSING] }), { refused: 'reference', field: 'roles', id: MISSING, otherTenant: false });
      assert.deepEqual(await h.store.users.create({ ...input, tenantId: MISSING, roles: [USER_ROLE] }), { refused: 'missing', what: 'tenant', id: MISSING });
      assert.equal(await h.store.users.byName(input.userName), undefined);
      const user = await makeUser(tenant.id, [role]);
      assert.deepEqual(await h.store.users.update(user.id, { userName: user.userName, status: 1, roles: [USER_ROLE], permissions: [] }), {
        refused: 'reference',
        field: 'roles',
        id: USER_ROLE,
        otherTenant: true,
      });
      assert.deepEqual(await h.store.users.get(user.id), user);
    });

    test('update without passwordHash keeps the hash, with one replaces it; update of a missing id is refused (missing)', async () => {
      const user = await makeUser();
      const userName = rnd('Renamed');
      const updated = await ok(h.store.users.update(user.id, { userName, status: 0, roles: [USER_ROLE, TENANT_ADMIN_ROLE], permissions: [Perm.OAuth] }));
      assert.deepEqual(updated, { ...user, userName, status: 0, roles: [USER_ROLE, TENANT_ADMIN_ROLE], permissions: [Perm.OAuth] });
      assert.equal((await h.store.users.get(user.id))!.passwordHash, user.passwordHash);
      const rehashed = await ok(h.store.users.update(user.id, { userName, status: 1, passwordHash: 'hash-2', roles: [USER_ROLE], permissions: [] }));
      assert.equal(rehashed.passwordHash, 'hash-2');
      assert.deepEqual(await h.store.users.get(user.id), rehashed);
      assert.deepEqual(await h.store.users.update(MISSING, { userName: rnd('x'), status: 1, roles: [USER_ROLE], permissions: [] }), {
        refused: 'missing',
        what: 'user',
        id: MISSING,
      });
    });

    test('setLock sets and clears the lock (clearing resets the failures); a missing id is refused (missing)', async () => {
      const user = await makeUser();
      const now = Date.UTC(2026, 1, 1);
      assert.equal(await h.store.users.setLock(user.id, { lockedAt: now, lockedUntil: now + 60_000 }), undefined);
      assert.deepEqual(await h.store.users.get(user.id), { ...user, lockedAt: now, lockedUntil: now + 60_000 });
      const count: FailureCount = { next: (times) => ({ times: [...times, now], lockedUntil: null }), expiredBefore: 0 };
      await h.store.logins.recordFailure(user.id, now, count);
      assert.equal((await h.store.users.get(user.id))!.failedCount, 1);
      assert.equal(await h.store.users.setLock(user.id, null), undefined);
      assert.deepEqual(await h.store.users.get(user.id), user);
      assert.deepEqual(await h.store.users.setLock(MISSING, null), { refused: 'missing', what: 'user', id: MISSING });
      assert.deepEqual(await h.store.users.setLock(MISSING, { lockedAt: now, lockedUntil: now + 1 }), { refused: 'missing', what: 'user', id: MISSING });
    });

    test('effectivePermissions is the union of the roles’ permissions and the explicit ones', async () => {
      const role = await ok(h.store.roles.create({ name: rnd('Perms '), tenantId: SYSTEM_TENANT_ID, description: null, permissions: [1, 2, 8], users: [] }));
      const user = await makeUser(SYSTEM_TENANT_ID, [role.id, TENANT_ADMIN_ROLE], [2, Perm.Limits, Perm.OAuth]);
      const tenantAdmin = (await h.store.roles.get(TENANT_ADMIN_ROLE))!;
      const expected = new Set([...role.permissions, ...tenantAdmin.permissions, 2, Perm.Limits, Perm.OAuth]);
      assert.deepEqual(await h.store.users.effectivePermissions(user.id), expected);
      assert.ok(!(await h.store.users.effectivePermissions(user.id)).has(Perm.Administrator));
      const plain = await makeUser(SYSTEM_TENANT_ID, [role.id]);
      assert.deepEqual(await h.store.users.effectivePermissions(plain.id), new Set([1, 2, 8]));
      assert.deepEqual(await h.store.users.effectivePermissions(MISSING), new Set());
    });

    test('delete removes the user; a missing id is refused (missing)', async () => {
      const user = await makeUser();
      assert.equal(await h.store.users.delete(user.id), undefined);
      assert.equal(await h.store.users.get(user.id), undefined);
      assert.equal(await h.store.users.byName(user.userName), undefined);
      assert.deepEqual(await h.store.users.delete(user.id), { refused: 'missing', what: 'user', id: user.id });
    });

    test('removing the last Administrator is refused (lastAdministrator): deactivating, demoting or deleting the seed admin; nothing changes', async () => {
      // The precondition, checked: the seed admin is the only active user holding Administrator (no test here makes another).
      const holders: number[] = [];
      for (const u of await h.store.users.list())
        if (u.status === 1 && (await h.store.users.effectivePermissions(u.id)).has(Perm.Administrator)) holders.push(u.id);
      assert.deepEqual(holders, [admin.id]);

      const current = (await h.store.users.get(admin.id))!;
      const same = { userName: current.userName, status: current.status, roles: current.roles, permissions: current.permissions };
      assert.deepEqual(await h.store.users.update(admin.id, { ...same, status: 0 }), { refused: 'lastAdministrator' });
      assert.deepEqual(await h.store.users.update(admin.id, { ...same, roles: [USER_ROLE] }), { refused: 'lastAdministrator' });
      assert.deepEqual(await h.store.users.delete(admin.id), { refused: 'lastAdministrator' });
      assert.deepEqual(await h.store.users.get(admin.id), current);
      assert.ok((await h.store.users.effectivePermissions(admin.id)).has(Perm.Administrator));
    });
  });

  describe('logins', () => {
    const policy: LockoutPolicy = { limit: 3, intervalMs: 60_000, periodMs: 600_000 };

    test('principal carries the user, its tenant status, effective permissions and adminTenants; any case of the name finds it', async () => {
      const { tenant } = await makeTenant();
      const user = await makeUser(SYSTEM_TENANT_ID, [USER_ROLE], [Perm.Limits]);
      assert.equal(await h.store.tenants.setAdmins(tenant.id, [admin.id, user.id]), undefined);
      const p = await h.store.logins.principal(user.userName.toUpperCase());
      assert.ok(p);
      const { effective, adminTenants, tenantStatus, ...row } = p;
      assert.deepEqual(row, user);
      assert.equal(tenantStatus, 1);
      assert.deepEqual(new Set(effective), await h.store.users.effectivePermissions(user.id));
      assert.ok(effective.has(Perm.Limits) && effective.has(Perm.CreateDataSource));
      assert.deepEqual(sorted(adminTenants), [tenant.id]);
      assert.equal(await h.store.logins.principal(rnd('nobody')), undefined);

      const seedAdmin = await h.store.logins.principal('D2CADMIN');
      assert.ok(seedAdmin);
      assert.equal(seedAdmin.id, admin.id);
      assert.ok(seedAdmin.effective.has(Perm.Administrator));
      assert.ok(seedAdmin.adminTenants.has(tenant.id));
    });

    test('the next principal shows every change of grants and of the row (nothing stale from a cache)', async () => {
      const role = await ok(h.store.roles.create({ name: rnd('Grants '), tenantId: SYSTEM_TENANT_ID, description: null, permissions: [1], users: [] }));
      const { tenant, role: foreignRole } = await makeTenant();
      const user = await makeUser(SYSTEM_TENANT_ID, [role.id]);
      const principal = async () => {
        const p = await h.store.logins.principal(user.userName);
        assert.ok(p);
        return p;
      };
      assert.deepEqual(sorted((await principal()).effective), [1]);
      assert.deepEqual(sorted((await principal()).effective), [1], 'read twice: the second may come from the cache');

      await ok(h.store.roles.update(role.id, { ...role, permissions: [1, Perm.WebUI], users: [user.id] }));
      assert.deepEqual(sorted((await principal()).effective), [1, Perm.WebUI]);

      await ok(h.store.users.update(user.id, { userName: user.userName, status: 1, roles: [role.id], permissions: [Perm.OAuth] }));
      const p = await principal();
      assert.deepEqual(sorted(p.effective), [1, Perm.WebUI, Perm.OAuth]);
      assert.deepEqual(p.permissions, [Perm.OAuth]);

      assert.deepEqual(sorted((await principal()).adminTenants), []);
      assert.equal(await h.store.tenants.setAdmins(tenant.id, [user.id]), undefined);
      assert.deepEqual(sorted((await principal()).adminTenants), [tenant.id]);

      // A member added by a role's update, and a role's deletion.
      const extra = await ok(
        h.store.roles.create({ name: rnd('Extra '), tenantId: SYSTEM_TENANT_ID, description: null, permissions: [Perm.ChangePassword], users: [] }),
      );
      assert.ok(!(await principal()).effective.has(Perm.ChangePassword));
      await ok(h.store.roles.update(extra.id, { ...extra, users: [user.id] }));
      assert.ok((await principal()).effective.has(Perm.ChangePassword));
      assert.deepEqual(sorted((await principal()).roles), sorted([role.id, extra.id]));
      assert.equal(await h.store.roles.delete(extra.id), undefined);
      assert.ok(!(await principal()).effective.has(Perm.ChangePassword));
      assert.deepEqual((await principal()).roles, [role.id]);

      // The row itself: a lock and a new hash apply at once.
      assert.equal(await h.store.users.setLock(user.id, { lockedAt: 5, lockedUntil: 10 }), undefined);
      assert.equal((await principal()).lockedUntil, 10);
      await h.store.logins.upgradePasswordHash(user.id, user.passwordHash, 'upgraded');
      assert.equal((await principal()).passwordHash, 'upgraded');
      // The tenant's status (a user's principal in a deactivated tenant).
      const inTenant = await makeUser(tenant.id, [foreignRole]);
      assert.equal((await h.store.logins.principal(inTenant.userName))?.tenantStatus, 1);
      await ok(h.store.tenants.update(tenant.id, { name: tenant.name, description: tenant.description, status: 0 }));
      assert.equal((await h.store.logins.principal(inTenant.userName))?.tenantStatus, 0);
    });

    test('recordFailure counts with the domain’s rule and locks; clearFailures resets; a missing user changes nothing', async () => {
      const user = await makeUser();
      const t0 = Date.UTC(2026, 2, 1);
      assert.deepEqual(await h.store.logins.recordFailure(user.id, t0, failureCount(policy, t0)!), { locked: false });
      let row = (await h.store.users.get(user.id))!;
      assert.deepEqual([row.failedCount, row.failedSince, row.lockedAt, row.lockedUntil], [1, t0, null, null]);
      assert.deepEqual(await h.store.logins.recordFailure(user.id, t0 + 1000, failureCount(policy, t0 + 1000)!), { locked: false });
      row = (await h.store.users.get(user.id))!;
      assert.deepEqual([row.failedCount, row.failedSince, row.lockedAt, row.lockedUntil], [2, t0, null, null]);
      assert.deepEqual(await h.store.logins.recordFailure(user.id, t0 + 2000, failureCount(policy, t0 + 2000)!), { locked: true });
      row = (await h.store.users.get(user.id))!;
      assert.equal(row.lockedAt, t0 + 2000);
      assert.equal(row.lockedUntil, t0 + 2000 + policy.periodMs);
      assert.equal(row.failedCount, 0);
      assert.equal((await h.store.logins.principal(user.userName))?.lockedUntil, t0 + 2000 + policy.periodMs);

      assert.equal(await h.store.logins.clearFailures(user.id), undefined);
      row = (await h.store.users.get(user.id))!;
      assert.deepEqual([row.failedCount, row.failedSince, row.lockedAt, row.lockedUntil], [0, null, null, null]);

      // The sliding window: a failure older than the interval no longer counts.
      const t1 = t0 + 10 * policy.intervalMs;
      await h.store.logins.recordFailure(user.id, t1, failureCount(policy, t1)!);
      const t2 = t1 + policy.intervalMs + 1;
      assert.deepEqual(await h.store.logins.recordFailure(user.id, t2, failureCount(policy, t2)!), { locked: false });
      row = (await h.store.users.get(user.id))!;
      assert.deepEqual([row.failedCount, row.failedSince, row.lockedUntil], [1, t2, null]);

      assert.deepEqual(await h.store.logins.recordFailure(MISSING, t2, failureCount(policy, t2)!), { locked: false });
      assert.equal(await h.store.users.get(MISSING), undefined);
    });

    test('recordFailure hands the rule the failure times it kept, oldest first', async () => {
      const user = await makeUser();
      const seen: number[][] = [];
      const count = (now: number): FailureCount => ({
        next: (times) => {
          seen.push([...times]);
          return { times: [...times, now], lockedUntil: null };
        },
        expiredBefore: 0,
      });
      await h.store.logins.recordFailure(user.id, 100, count(100));
      await h.store.logins.recordFailure(user.id, 200, count(200));
      await h.store.logins.recordFailure(user.id, 300, count(300));
      assert.deepEqual(seen, [[], [100], [100, 200]]);
      const row = (await h.store.users.get(user.id))!;
      assert.deepEqual([row.failedCount, row.failedSince, row.lockedUntil], [3, 100, null]);
    });

    test('unknown names: no lock, then a lock after enough failures, counted for the name in any case', async () => {
      const name = rnd('Ghost');
      const other = rnd('Ghost');
      const t0 = Date.UTC(2026, 3, 1);
      assert.equal(await h.store.logins.unknownNameLockedUntil(name), null);
      assert.deepEqual(await h.store.logins.recordUnknownNameFailure(name, t0, failureCount(policy, t0)!), { locked: false });
      assert.equal(await h.store.logins.unknownNameLockedUntil(name), null);
      assert.deepEqual(await h.store.logins.recordUnknownNameFailure(name.toUpperCase(), t0 + 1, failureCount(policy, t0 + 1)!), { locked: false });
      assert.equal(await h.store.logins.unknownNameLockedUntil(name.toLowerCase()), null);
      assert.deepEqual(await h.store.logins.recordUnknownNameFailure(name.toLowerCase(), t0 + 2, failureCount(policy, t0 + 2)!), { locked: true });
      assert.equal(await h.store.logins.unknownNameLockedUntil(name), t0 + 2 + policy.periodMs);
      assert.equal(await h.store.logins.unknownNameLockedUntil(name.toUpperCase()), t0 + 2 + policy.periodMs);
      assert.equal(await h.store.logins.unknownNameLockedUntil(other), null);

      // The rule sees the same name's times whatever its case.
      const seen: number[][] = [];
      const spy = (now: number): FailureCount => ({
        next: (times) => {
          seen.push([...times]);
          return { times: [...times, now], lockedUntil: null };
        },
        expiredBefore: now - policy.intervalMs,
      });
      await h.store.logins.recordUnknownNameFailure(other, t0 + 10, spy(t0 + 10));
      await h.store.logins.recordUnknownNameFailure(other.toUpperCase(), t0 + 20, spy(t0 + 20));
      assert.deepEqual(seen, [[], [t0 + 10]]);
      assert.equal(await h.store.logins.unknownNameLockedUntil(other), null);
    });

    test('upgradePasswordHash replaces the hash only when it is still the expected one', async () => {
      const user = await makeUser();
      await h.store.logins.upgradePasswordHash(user.id, 'not-the-hash', 'next-1');
      assert.equal((await h.store.users.get(user.id))!.passwordHash, user.passwordHash);
      await h.store.logins.upgradePasswordHash(user.id, user.passwordHash, 'next-2');
      assert.equal((await h.store.users.get(user.id))!.passwordHash, 'next-2');
      await h.store.logins.upgradePasswordHash(user.id, user.passwordHash, 'next-3');
      assert.equal((await h.store.users.get(user.id))!.passwordHash, 'next-2');
    });
  });

  describe('limits', () => {
    test('set, then all shows the value; set again replaces it', async () => {
      const before = await h.store.limits.all();
      for (const id of Object.values(Limit)) assert.ok(before.has(id), `the seed's limit ${id} is stored`);
      const value = 1000 + (randomBytes(2).readUInt16BE() % 1000);
      await h.store.limits.set(Limit.PasswordLockoutInterval, value);
      assert.equal((await h.store.limits.all()).get(Limit.PasswordLockoutInterval), value);
      await h.store.limits.set(Limit.PasswordLockoutInterval, value + 1);
      const after = await h.store.limits.all();
      assert.equal(after.get(Limit.PasswordLockoutInterval), value + 1);
      assert.equal(after.get(Limit.PasswordLockoutPeriod), before.get(Limit.PasswordLockoutPeriod));
      await h.store.limits.set(Limit.PasswordLockoutInterval, before.get(Limit.PasswordLockoutInterval)!);
      assert.deepEqual(await h.store.limits.all(), before);
    });
  });

  describe('apps', () => {
    test('create, get, summary and header (header and summary have no client secret), list', async () => {
      const input = appInput(62);
      const app = await ok(h.store.apps.create(input));
      assert.deepEqual(app, { id: app.id, version: app.version, ...input });
      assert.ok(Number.isInteger(app.version));
      assert.deepEqual(await h.store.apps.get(app.id), app);
      const header = await h.store.apps.header(app.id);
      const { clientSecret: _secret, ...expectedHeader } = app;
      assert.deepEqual(header, expectedHeader);
      assert.ok(header && !('clientSecret' in header));
      const summary = await h.store.apps.summary(app.id);
      const { clientId: _clientId, version: _version, ...expectedSummary } = expectedHeader;
      assert.deepEqual(summary, expectedSummary);
      assert.ok(summary && !('clientSecret' in summary) && !('clientId' in summary));
      assert.deepEqual(
        (await h.store.apps.list()).find((a) => a.id === app.id),
        expectedSummary,
      );
      assert.equal(await h.store.apps.get(MISSING), undefined);
      assert.equal(await h.store.apps.header(MISSING), undefined);
      assert.equal(await h.store.apps.summary(MISSING), undefined);
      assert.deepEqual(await h.store.apps.create(appInput(54, MISSING)), { refused: 'missing', what: 'tenant', id: MISSING });
    });

    test('update: applied with a matching ifVersion; a stale one is refused (stale) and nothing changes; a missing id (missing)', async () => {
      const app = await makeApp();
      const { id: _id, version: _v, ...input } = app;
      const updated = await ok(h.store.apps.update(app.id, { ...input, description: 'changed', clientSecret: 'new secret' }, [app.version]));
      assert.deepEqual(updated, { ...app, version: app.version + 1, description: 'changed', clientSecret: 'new secret' });
      assert.deepEqual(await h.store.apps.get(app.id), updated);

      assert.deepEqual(await h.store.apps.update(app.id, { ...input, name: rnd('Stale '), clientSecret: 'stale secret' }, [app.version]), { refused: 'stale' });
      assert.deepEqual(await h.store.apps.update(app.id, { ...input, clientSecret: 'stale secret' }, []), { refused: 'stale' });
      assert.deepEqual(await h.store.apps.get(app.id), updated);
      // Several accepted versions: one of them is the row's.
      const again = await ok(h.store.apps.update(app.id, { ...input, description: 'again' }, [app.version, updated.version]));
      assert.equal(again.version, updated.version + 1);
      assert.deepEqual(await h.store.apps.update(MISSING, input), { refused: 'missing', what: 'app', id: MISSING });
    });

    test('a name taken in the same tenant, in any case, is refused (name) and nothing changes; another tenant may use it', async () => {
      const app = await makeApp();
      const taken = await makeApp();
      const { id: _id, version: _v, ...input } = app;
      assert.deepEqual(await h.store.apps.update(app.id, { ...input, name: taken.name.toUpperCase() }), { refused: 'name' });
      assert.deepEqual(await h.store.apps.get(app.id), app);
      assert.deepEqual(await h.store.apps.create({ ...appInput(), name: taken.name.toLowerCase() }), { refused: 'name' });
      assert.equal((await h.store.apps.list()).filter((a) => a.name.toLowerCase() === taken.name.toLowerCase()).length, 1);
      const { tenant } = await makeTenant();
      const elsewhere = await ok(h.store.apps.create({ ...appInput(54, tenant.id), name: taken.name }));
      assert.equal(elsewhere.tenantId, tenant.id);
    });

    test('a new data store while data sources use its profiles is refused (appDataStoreInUse); without them it is applied', async () => {
      const user = await makeUser();
      const app = await makeApp(54);
      const profile = await makeProfile(app.id, user.id);
      const ds = await makeDataSource(user.id, 54, profile.id);
      const { id: _id, version: _v, ...input } = app;
      assert.deepEqual(await h.store.apps.update(app.id, { ...input, dataStore: 62 }), { refused: 'appDataStoreInUse' });
      assert.deepEqual(await h.store.apps.get(app.id), app);
      assert.equal(await h.store.dataSources.delete(ds.id), undefined);
      assert.equal((await ok(h.store.apps.update(app.id, { ...input, dataStore: 62 }))).dataStore, 62);
    });

    test('delete: a stale ifVersion is refused (stale); delete cascades to its profiles and clears the data sources’ references', async () => {
      const user = await makeUser();
      const app = await makeApp();
      const keep = await makeApp();
      const p1 = await makeProfile(app.id, user.id);
      const p2 = await makeProfile(app.id, user.id);
      const other = await makeProfile(keep.id, user.id);
      const ds = await makeDataSource(user.id, 54, p1.id);

      assert.deepEqual(await h.store.apps.delete(app.id, [app.version + 1]), { refused: 'stale' });
      assert.deepEqual(await h.store.apps.get(app.id), app);
      assert.deepEqual(await h.store.profiles.get(p1.id), p1);

      assert.equal(await h.store.apps.delete(app.id, [app.version]), undefined);
      assert.equal(await h.store.apps.get(app.id), undefined);
      assert.equal(await h.store.profiles.get(p1.id), undefined);
      assert.equal(await h.store.profiles.header(p2.id), undefined);
      assert.deepEqual(await h.store.profiles.get(other.id), other);
      const after = await h.store.dataSources.get(ds.id);
      assert.ok(after);
      assert.equal(after.oauthProfileId, null);
      assert.deepEqual(await h.store.apps.delete(app.id), { refused: 'missing', what: 'app', id: app.id });
    });
  });

  describe('profiles', () => {
    test('create, get and header; a missing app is refused (appReference)', async () => {
      const owner = await makeUser();
      const creator = await makeUser();
      const app = await makeApp();
      const input = profileInput(app.id);
      const profile = await ok(h.store.profiles.create({ ...input, ownerId: owner.id, creatorId: creator.id }));
      assert.deepEqual(profile, {
        id: profile.id,
        version: profile.version,
        ...stored(input),
        ownerId: owner.id,
        creatorId: creator.id,
        ownerTenantId: SYSTEM_TENANT_ID,
      });
      assert.deepEqual(await h.store.profiles.get(profile.id), profile);
      const { accessToken: _a, refreshToken: _r, ...header } = profile;
      assert.deepEqual(await h.store.profiles.header(profile.id), header);
      const noAccess = await ok(h.store.profiles.create({ ...profileInput(app.id), accessToken: null, ownerId: owner.id, creatorId: owner.id }));
      assert.equal((await h.store.profiles.get(noAccess.id))!.accessToken, null);
      assert.equal(await h.store.profiles.get(MISSING), undefined);
      assert.equal(await h.store.profiles.header(MISSING), undefined);

      const name = rnd('orphan ');
      assert.deepEqual(await h.store.profiles.create({ ...profileInput(MISSING, name), ownerId: owner.id, creatorId: owner.id }), {
        refused: 'appReference',
        appId: MISSING,
      });
      assert.ok(!JSON.parse(await h.store.profiles.listJson(owner.id)).some((p: ProfileSummary) => p.name === name));
    });

    test('a name the owner already uses, in any case, is refused (name); another owner may use it', async () => {
      const owner = await makeUser();
      const other = await makeUser();
      const app = await makeApp();
      const first = await makeProfile(app.id, owner.id);
      assert.deepEqual(await h.store.profiles.create({ ...profileInput(app.id, first.name.toUpperCase()), ownerId: owner.id, creatorId: owner.id }), {
        refused: 'name',
      });
      assert.deepEqual(await h.store.profiles.create({ ...profileInput(app.id, first.name), ownerId: owner.id, creatorId: other.id }), { refused: 'name' });
      assert.equal(JSON.parse(await h.store.profiles.listJson(owner.id)).length, 1);
      const second = await makeProfile(app.id, other.id, other.id, first.name);
      assert.equal(second.name, first.name);
      assert.equal(second.ownerId, other.id);
    });

    test('update (a): from the header just read, applied; version + 1; get() reads the new tokens', async () => {
      const owner = await makeUser();
      const app = await makeApp();
      const profile = await makeProfile(app.id, owner.id);
      const current = await headerOf(profile.id);
      const input = asInput(profile, { name: rnd('renamed '), description: null, accessToken: rnd('AT2-'), refreshToken: rnd('RT2-') });
      const updated = await ok(h.store.profiles.update(current, input));
      const expected = { ...profile, ...stored(input), version: profile.version + 1 };
      assert.deepEqual(updated, expected);
      assert.deepEqual(await h.store.profiles.get(profile.id), expected);
      // With a matching ifVersion too.
      const again = await ok(h.store.profiles.update(await headerOf(profile.id), asInput(expected, { accessToken: null }), [expected.version]));
      assert.equal(again.version, expected.version + 1);
      assert.deepEqual(await h.store.profiles.get(profile.id), { ...expected, accessToken: null, version: expected.version + 1 });
    });

    test('update (b): from an outdated header without ifVersion, still applied on top of the latest; version is the latest + 1', async () => {
      const owner = await makeUser();
      const app = await makeApp();
      const profile = await makeProfile(app.id, owner.id);
      const outdated = await headerOf(profile.id);
      const between = await ok(h.store.profiles.update(outdated, asInput(profile, { description: 'between', accessToken: rnd('AT-b-') })));
      assert.equal(between.version, outdated.version + 1);
      const input = asInput(profile, { name: rnd('late '), description: 'late', accessToken: rnd('AT-l-'), refreshToken: rnd('RT-l-') });
      const late = await ok(h.store.profiles.update(outdated, input));
      assert.equal(late.version, between.version + 1);
      assert.deepEqual(await h.store.profiles.get(profile.id), { ...profile, ...stored(input), version: between.version + 1 });
    });

    test('update (c): from an outdated header with ifVersion naming only the old version, refused (stale); the row is unchanged', async () => {
      const owner = await makeUser();
      const app = await makeApp();
      const profile = await makeProfile(app.id, owner.id);
      const outdated = await headerOf(profile.id);
      await ok(h.store.profiles.update(outdated, asInput(profile, { accessToken: rnd('AT-c-') })));
      const before = await h.store.profiles.get(profile.id);
      assert.deepEqual(
        await h.store.profiles.update(outdated, asInput(profile, { name: rnd('stale '), accessToken: 'stale', refreshToken: 'stale' }), [outdated.version]),
        { refused: 'stale' },
      );
      assert.deepEqual(await h.store.profiles.get(profile.id), before);
      // An If-Match that names none of the versions writes nothing, even from the current header.
      assert.deepEqual(await h.store.profiles.update(await headerOf(profile.id), asInput(profile, { refreshToken: 'stale' }), []), { refused: 'stale' });
      assert.deepEqual(await h.store.profiles.get(profile.id), before);
    });

    test('update (d): from the header of a deleted profile, refused (missing)', async () => {
      const owner = await makeUser();
      const app = await makeApp();
      const profile = await makeProfile(app.id, owner.id);
      const current = await headerOf(profile.id);
      assert.equal(await h.store.profiles.delete(profile.id), undefined);
      assert.deepEqual(await h.store.profiles.update(current, asInput(profile, { accessToken: 'late' })), {
        refused: 'missing',
        what: 'profile',
        id: profile.id,
      });
      assert.equal(await h.store.profiles.get(profile.id), undefined);
    });

    test('update (e): a rename to a name the owner already uses, in any case, is refused (name); the row is unchanged', async () => {
      const owner = await makeUser();
      const app = await makeApp();
      const first = await makeProfile(app.id, owner.id);
      const second = await makeProfile(app.id, owner.id);
      assert.deepEqual(await h.store.profiles.update(await headerOf(second.id), asInput(second, { name: first.name.toUpperCase(), accessToken: 'x' })), {
        refused: 'name',
      });
      assert.deepEqual(await h.store.profiles.get(second.id), second);
      assert.deepEqual(await h.store.profiles.get(first.id), first);
      // A new case of its own name is no conflict.
      const recased = await ok(h.store.profiles.update(await headerOf(second.id), asInput(second, { name: second.name.toUpperCase() })));
      assert.equal(recased.name, second.name.toUpperCase());
    });

    test('update (f): a move to an app of another data store while a data source references the profile is refused (appReference); one of the same data store is applied', async () => {
      const owner = await makeUser();
      const from = await makeApp(54);
      const otherStore = await makeApp(62);
      const sameStore = await makeApp(54);
      const profile = await makeProfile(from.id, owner.id);
      const ds = await makeDataSource(owner.id, 54, profile.id);

      assert.deepEqual(await h.store.profiles.update(await headerOf(profile.id), asInput(profile, { oauthAppId: otherStore.id, accessToken: 'moved' })), {
        refused: 'appReference',
        appId: otherStore.id,
        dataSourceId: ds.id,
      });
      assert.deepEqual(await h.store.profiles.get(profile.id), profile);
      assert.deepEqual(await h.store.profiles.update(await headerOf(profile.id), asInput(profile, { oauthAppId: MISSING })), {
        refused: 'appReference',
        appId: MISSING,
      });
      assert.deepEqual(await h.store.profiles.get(profile.id), profile);

      const moved = await ok(h.store.profiles.update(await headerOf(profile.id), asInput(profile, { oauthAppId: sameStore.id, name: rnd('moved ') })));
      assert.equal(moved.oauthAppId, sameStore.id);
      assert.equal(moved.version, profile.version + 1);
      assert.deepEqual(await h.store.profiles.get(profile.id), moved);
      assert.equal((await h.store.dataSources.get(ds.id))!.oauthProfileId, profile.id);

      // Without a data source, another data store is fine.
      const free = await makeProfile(from.id, owner.id);
      assert.equal((await ok(h.store.profiles.update(await headerOf(free.id), asInput(free, { oauthAppId: otherStore.id })))).oauthAppId, otherStore.id);
    });

    test("listJson: the owner's and the creator's profiles, in id order, with exactly the ProfileSummary keys", async () => {
      const a = await makeUser();
      const b = await makeUser();
      const app = await makeApp(54);
      const other = await ok(h.store.apps.create({ ...appInput(63), scope: null, description: null }));
      const own = await makeProfile(app.id, a.id);
      const createdForB = await makeProfile(other.id, b.id, a.id);
      const createdByB = await makeProfile(app.id, a.id, b.id);
      const onlyB = await makeProfile(app.id, b.id);

      const summary = (p: OAuthProfile, of: OAuthApp): ProfileSummary => ({
        id: p.id,
        name: p.name,
        description: p.description,
        oauthAppId: of.id,
        authorizeURI: of.authorizeURI,
        tokenURI: of.tokenURI,
        scope: of.scope,
      });
      const text = await h.store.profiles.listJson(a.id);
      assert.equal(typeof text, 'string');
      const list = JSON.parse(text) as ProfileSummary[];
      assert.ok(Array.isArray(list));
      const keys = ['authorizeURI', 'description', 'id', 'name', 'oauthAppId', 'scope', 'tokenURI'];
      for (const entry of list) assert.deepEqual(Object.keys(entry).sort(), keys);
      assert.deepEqual(list, [summary(own, app), summary(createdForB, other), summary(createdByB, app)]);
      assert.deepEqual(
        list.map((p) => p.id),
        sorted(list.map((p) => p.id)),
      );
      assert.deepEqual(JSON.parse(await h.store.profiles.listJson(b.id)), [summary(createdForB, other), summary(createdByB, app), summary(onlyB, app)]);
      assert.deepEqual(JSON.parse(await h.store.profiles.listJson((await makeUser()).id)), []);
    });

    test('stats: the data store and the referencing data sources in id order; undefined for a missing profile', async () => {
      const owner = await makeUser();
      const app = await makeApp(62);
      const profile = await makeProfile(app.id, owner.id);
      assert.deepEqual(await h.store.profiles.stats(profile.id), { dataStoreId: 62, dataSources: [] });
      const ds1 = await makeDataSource(owner.id, 62, profile.id);
      const ds2 = await ok(h.store.dataSources.create({ ...dataSourceInput(owner.id, 62, profile.id), description: null }));
      await makeDataSource(owner.id, 62, null);
      assert.deepEqual(await h.store.profiles.stats(profile.id), {
        dataStoreId: 62,
        dataSources: [
          { id: ds1.id, name: ds1.name, description: ds1.description },
          { id: ds2.id, name: ds2.name, description: null },
        ],
      });
      assert.equal(await h.store.dataSources.delete(ds1.id), undefined);
      assert.deepEqual(await h.store.profiles.stats(profile.id), { dataStoreId: 62, dataSources: [{ id: ds2.id, name: ds2.name, description: null }] });
      assert.equal(await h.store.profiles.stats(MISSING), undefined);
    });

    test('delete: a stale ifVersion is refused (stale) and nothing changes; delete clears the data sources’ references; a missing id (missing)', async () => {
      const owner = await makeUser();
      const app = await makeApp();
      const profile = await makeProfile(app.id, owner.id);
      const ds = await makeDataSource(owner.id, 54, profile.id);
      assert.deepEqual(await h.store.profiles.delete(profile.id, [profile.version + 1]), { refused: 'stale' });
      assert.deepEqual(await h.store.profiles.delete(profile.id, []), { refused: 'stale' });
      assert.deepEqual(await h.store.profiles.get(profile.id), profile);
      assert.equal((await h.store.dataSources.get(ds.id))!.oauthProfileId, profile.id);

      assert.equal(await h.store.profiles.delete(profile.id, [profile.version]), undefined);
      assert.equal(await h.store.profiles.get(profile.id), undefined);
      const after = await h.store.dataSources.get(ds.id);
      assert.deepEqual(after, { ...ds, oauthProfileId: null, version: after?.version });
      assert.equal((await h.store.dataSources.summary(ds.id))!.oauthProfileId, null);
      assert.deepEqual(await h.store.profiles.delete(profile.id), { refused: 'missing', what: 'profile', id: profile.id });
    });
  });

  describe('tokens and appEngines', () => {
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const asError = (error: string): AsError => ({ error, description: `about ${error}`, httpStatus: 400, at: '2026-01-01T00:00:00.000Z' });
    const refreshed = (retired?: string, nextRefreshAt: number | null = null): Refreshed => ({
      accessToken: rnd('AT-r-'),
      refreshToken: rnd('RT-r-'),
      expiresAt: Date.now() + 3_600_000,
      nextRefreshAt,
      retired,
    });
    const LEASE = 60_000;

    const statusOf = async (id: number): Promise<TokenStatus> => {
      const status = await h.store.tokens.status(id);
      assert.ok(status, `profile ${id} has a token status`);
      return status;
    };
    /** A profile of a fresh owner and app, and its status right after create. */
    const fresh = async (): Promise<{ profile: OAuthProfile; status: TokenStatus }> => {
      const profile = await makeProfile((await makeApp()).id, (await makeUser()).id);
      return { profile, status: await statusOf(profile.id) };
    };
    /** One value of one row, read past the ports (to see what they leave out, or to make a row as migration 4 left it). */
    const raw = async (sql: string, id: number): Promise<unknown> => {
      if (h.backend === 'sqlite') {
        const statement = sqliteStoreOf(h).db.connection.prepare(sql);
        return statement.reader ? statement.pluck().get(id) : statement.run(id).changes;
      }
      const { rows } = await (h.store as PostgresStore).db.pool.query({ text: sql.replace('?', '$1'), values: [id], rowMode: 'array' });
      return (rows[0] as unknown[] | undefined)?.[0];
    };

    test('create: generation 1, active, nothing known yet, pinned to the origin given; a missing profile has no status', async () => {
      const owner = await makeUser();
      const creator = await makeUser();
      const app = await makeApp();
      const profile = await ok(
        h.store.profiles.create({ ...profileInput(app.id), tokenOrigin: 'https://other.example:8443', ownerId: owner.id, creatorId: creator.id }),
      );
      assert.deepEqual(await h.store.tokens.status(profile.id), {
        profileId: profile.id,
        name: profile.name,
        oauthAppId: app.id,
        ownerId: owner.id,
        creatorId: creator.id,
        generation: 1,
        state: 'active',
        expiresAt: null,
        refreshedAt: null,
        nextRefreshAt: null,
        failures: 0,
        lastError: null,
        tokenOrigin: 'https://other.example:8443',
        lease: null,
        inFlight: null,
      });
      assert.equal(await h.store.tokens.status(MISSING), undefined);
    });

    test("current: the status, the app's token URI and scope and standing, and the access token opened on demand, in one read", async () => {
      const app = await makeApp();
      const profile = await makeProfile(app.id, (await makeUser()).id);
      const current = await h.store.tokens.current(profile.id);
      assert.ok(current);
      assert.deepEqual(current.status, await statusOf(profile.id));
      assert.equal(current.tokenURI, app.tokenURI);
      assert.equal(current.scope, app.scope);
      assert.equal(current.appRefused, false);
      assert.equal(await current.accessToken(), profile.accessToken);
      await h.store.appEngines.setStatus(app.id, { state: 'client_error', lastError: asError('invalid_client') });
      assert.equal((await h.store.tokens.current(profile.id))?.appRefused, true);
      const none = await ok(h.store.profiles.create({ ...profileInput(app.id), accessToken: null, ownerId: profile.ownerId, creatorId: profile.ownerId }));
      assert.equal(await (await h.store.tokens.current(none.id))!.accessToken(), null);
      assert.equal(await h.store.tokens.current(MISSING), undefined);
    });

    test("grant: the refresh token with the app's token URI, client and settings, secrets opened; none for a missing profile", async () => {
      const app = await makeApp();
      const profile = await makeProfile(app.id, (await makeUser()).id);
      const expected = { refreshToken: profile.refreshToken, tokenURI: app.tokenURI, clientId: app.clientId, clientSecret: app.clientSecret };
      assert.deepEqual(await h.store.tokens.grant(profile.id), { ...expected, settings: null });
      const settings = engineSettings({ clientAuth: 'client_secret_post', defaultExpiresIn: 60 });
      assert.equal(await h.store.appEngines.set(app.id, settings), undefined);
      assert.deepEqual(await h.store.tokens.grant(profile.id), { ...expected, settings });
      assert.equal(await h.store.tokens.grant(MISSING), undefined);
    });

    test('claim: a free lease is taken and the call marked in flight; another owner, another generation or no profile is not claimed', async () => {
      const { profile, status } = await fresh();
      const before = Date.now();
      assert.deepEqual(await h.store.tokens.claim(profile.id, status.generation, 'node-a', LEASE), { claimed: true, recovered: false });
      const held = await statusOf(profile.id);
      assert.equal(held.lease?.owner, 'node-a');
      // The database's clock on PostgreSQL: on this one machine it agrees with the process's within a second.
      assert.ok(held.lease.until >= before + LEASE - 1000 && held.lease.until <= Date.now() + LEASE + 1000, `lease until ${held.lease.until}`);
      assert.equal(held.inFlight, status.generation);
      assert.equal(held.generation, status.generation);

      assert.deepEqual(await h.store.tokens.claim(profile.id, status.generation, 'node-b', LEASE), { claimed: false, status: held });
      // The holder itself does not take its live lease again (that would read as a takeover of its own call).
      assert.deepEqual(await h.store.tokens.claim(profile.id, status.generation, 'node-a', LEASE), { claimed: false, status: held });
      assert.deepEqual(await h.store.tokens.claim(profile.id, status.generation + 1, 'node-b', LEASE), { claimed: false, status: held });
      assert.deepEqual(await h.store.tokens.claim(MISSING, 1, 'node-b', LEASE), { claimed: false, status: undefined });
      assert.deepEqual(await statusOf(profile.id), held);
    });

    test('claim: of many owners at once, exactly one takes the lease', async () => {
      const { profile, status } = await fresh();
      const claims = await Promise.all(Array.from({ length: 12 }, (_, i) => h.store.tokens.claim(profile.id, status.generation, `node-${i}`, LEASE)));
      const winners = claims.flatMap((c, i) => (c.claimed ? [`node-${i}`] : []));
      assert.equal(winners.length, 1, JSON.stringify(claims));
      assert.equal((await statusOf(profile.id)).lease?.owner, winners[0]);
      for (const c of claims) if (!c.claimed) assert.equal(c.status?.lease?.owner, winners[0]);
    });

    test('claims and commits of many profiles at once (one batch on PostgreSQL) each get their own answer', async () => {
      const [free, held, stale, taken] = await Promise.all([fresh(), fresh(), fresh(), fresh()]);
      assert.ok((await h.store.tokens.claim(held.profile.id, held.status.generation, 'node-x', LEASE)).claimed);
      assert.ok((await h.store.tokens.claim(taken.profile.id, taken.status.generation, 'node-x', 40)).claimed);
      await sleep(120); // taken's lease ran out with its call in flight
      const claims = await Promise.all([
        h.store.tokens.claim(free.profile.id, free.status.generation, 'node-a', LEASE),
        h.store.tokens.claim(held.profile.id, held.status.generation, 'node-a', LEASE),
        h.store.tokens.claim(stale.profile.id, stale.status.generation + 1, 'node-a', LEASE),
        h.store.tokens.claim(taken.profile.id, taken.status.generation, 'node-a', LEASE),
      ]);
      assert.deepEqual(claims[0], { claimed: true, recovered: false });
      assert.equal(claims[1].claimed, false);
      assert.equal(claims[2].claimed, false);
      assert.deepEqual(claims[3], { claimed: true, recovered: true });
      const commits = await Promise.all([
        h.store.tokens.complete(free.profile.id, free.status.generation, 'node-a', refreshed()),
        h.store.tokens.complete(held.profile.id, held.status.generation, 'node-a', refreshed()),
        h.store.tokens.complete(taken.profile.id, taken.status.generation, 'node-a', refreshed()),
      ]);
      assert.deepEqual(commits, [true, false, true]);
      assert.equal((await statusOf(free.profile.id)).generation, free.status.generation + 1);
      assert.equal((await statusOf(held.profile.id)).generation, held.status.generation);
      assert.equal((await statusOf(held.profile.id)).lease?.owner, 'node-x');
      assert.equal((await statusOf(taken.profile.id)).generation, taken.status.generation + 1);
    });

    test('claim: a lease whose time ran out is nobody’s, and taking it over with its call in flight is `recovered`', async () => {
      const { profile, status } = await fresh();
      assert.deepEqual(await h.store.tokens.claim(profile.id, status.generation, 'node-a', 40), { claimed: true, recovered: false });
      await sleep(120);
      const expired = await statusOf(profile.id);
      assert.equal(expired.lease, null, 'an expired lease reads as nobody’s');
      assert.equal(expired.inFlight, status.generation);
      assert.deepEqual(await h.store.tokens.claim(profile.id, status.generation, 'node-b', LEASE), { claimed: true, recovered: true });
      assert.equal((await statusOf(profile.id)).lease?.owner, 'node-b');
      // The first holder lost the lease: neither its result nor its failure counts.
      assert.equal(await h.store.tokens.complete(profile.id, status.generation, 'node-a', refreshed()), false);
      assert.equal(
        await h.store.tokens.recordFailure(profile.id, status.generation, 'node-a', {
          state: 'retrying',
          failures: 1,
          lastError: asError('late'),
          nextRefreshAt: null,
          finished: true,
        }),
        false,
      );
      assert.equal((await statusOf(profile.id)).lease?.owner, 'node-b');
    });

    test('fail: records the state, count, error and next attempt, releases the lease; the in-flight marker goes only when the call finished', async () => {
      const { profile, status } = await fresh();
      const gen = status.generation;
      assert.ok((await h.store.tokens.claim(profile.id, gen, 'node-a', LEASE)).claimed);
      const next = Date.now() + 30_000;
      assert.equal(
        await h.store.tokens.recordFailure(profile.id, gen, 'node-b', {
          state: 'retrying',
          failures: 1,
          lastError: asError('other'),
          nextRefreshAt: next,
          finished: true,
        }),
        false,
      );
      assert.equal(
        await h.store.tokens.recordFailure(profile.id, gen + 1, 'node-a', {
          state: 'retrying',
          failures: 1,
          lastError: asError('other'),
          nextRefreshAt: next,
          finished: true,
        }),
        false,
      );
      assert.deepEqual(await statusOf(profile.id), { ...status, lease: (await statusOf(profile.id)).lease, inFlight: gen });

      // Not finished (the call may have reached the AS): the marker stays, so the next holder recovers.
      assert.equal(
        await h.store.tokens.recordFailure(profile.id, gen, 'node-a', {
          state: 'retrying',
          failures: 1,
          lastError: asError('timeout'),
          nextRefreshAt: next,
          finished: false,
        }),
        true,
      );
      assert.deepEqual(await statusOf(profile.id), {
        ...status,
        state: 'retrying',
        failures: 1,
        lastError: asError('timeout'),
        nextRefreshAt: next,
        lease: null,
        inFlight: gen,
      });
      assert.deepEqual(await h.store.tokens.claim(profile.id, gen, 'node-b', LEASE), { claimed: true, recovered: true });

      // Finished (answered): the marker goes with the lease, so the next claim is a plain one.
      assert.equal(
        await h.store.tokens.recordFailure(profile.id, gen, 'node-b', {
          state: 'needs_reconsent',
          failures: 2,
          lastError: asError('invalid_grant'),
          nextRefreshAt: null,
          finished: true,
        }),
        true,
      );
      assert.deepEqual(await statusOf(profile.id), {
        ...status,
        state: 'needs_reconsent',
        failures: 2,
        lastError: asError('invalid_grant'),
        lease: null,
        inFlight: null,
      });
      assert.deepEqual(await h.store.tokens.claim(profile.id, gen, 'node-c', LEASE), { claimed: true, recovered: false });
      // The profile's HDP object did not change: no token, no ETag.
      assert.deepEqual(await h.store.profiles.get(profile.id), profile);
    });

    test('complete: once, by the holder, at its generation: new tokens, version + 1, generation + 1, active, no failure, no lease', async () => {
      const { profile, status } = await fresh();
      const gen = status.generation;
      assert.ok((await h.store.tokens.claim(profile.id, gen, 'node-a', LEASE)).claimed);
      await h.store.tokens.recordFailure(profile.id, gen, 'node-a', {
        state: 'retrying',
        failures: 3,
        lastError: asError('slow'),
        nextRefreshAt: Date.now(),
        finished: false,
      });
      assert.ok((await h.store.tokens.claim(profile.id, gen, 'node-a', LEASE)).claimed);
      const next = refreshed();
      assert.equal(await h.store.tokens.complete(profile.id, gen, 'node-b', next), false, 'not the holder');
      assert.equal(await h.store.tokens.complete(profile.id, gen + 1, 'node-a', next), false, 'not its generation');
      assert.deepEqual(await h.store.profiles.get(profile.id), profile);

      const before = Date.now();
      assert.equal(await h.store.tokens.complete(profile.id, gen, 'node-a', next), true);
      assert.deepEqual(await h.store.profiles.get(profile.id), {
        ...profile,
        accessToken: next.accessToken,
        refreshToken: next.refreshToken,
        version: profile.version + 1,
      });
      assert.equal((await headerOf(profile.id)).version, profile.version + 1);
      const done = await statusOf(profile.id);
      assert.ok(done.refreshedAt !== null && done.refreshedAt >= before && done.refreshedAt <= Date.now(), `refreshedAt ${done.refreshedAt}`);
      assert.deepEqual(done, { ...status, generation: gen + 1, expiresAt: next.expiresAt, refreshedAt: done.refreshedAt });
      // Its CAS wins once: the generation moved.
      assert.equal(await h.store.tokens.complete(profile.id, gen, 'node-a', refreshed()), false);
      assert.deepEqual((await h.store.profiles.get(profile.id))!.refreshToken, next.refreshToken);
    });

    test('complete: sealed like a PUT, so a key rotation in between changes nothing of what is read', async () => {
      const { profile, status } = await fresh();
      assert.ok((await h.store.tokens.claim(profile.id, status.generation, 'node-a', LEASE)).claimed);
      await h.store.keys.addVersion();
      const next = refreshed();
      assert.equal(await h.store.tokens.complete(profile.id, status.generation, 'node-a', next), true);
      assert.deepEqual(await h.store.profiles.get(profile.id), {
        ...profile,
        accessToken: next.accessToken,
        refreshToken: next.refreshToken,
        version: profile.version + 1,
      });
      const versions = await h.store.keys.status();
      assert.equal(Number(await raw('SELECT key_version FROM oauth_profiles WHERE id = ?', profile.id)), versions.find((v) => v.active)!.version);
    });

    test('a PUT that comes first wins: complete() then loses and the PUT’s tokens stand', async () => {
      const { profile, status } = await fresh();
      assert.ok((await h.store.tokens.claim(profile.id, status.generation, 'node-a', LEASE)).claimed);
      const put = await ok(h.store.profiles.update(await headerOf(profile.id), asInput(profile, { refreshToken: rnd('RT-put-') })));
      assert.equal(await h.store.tokens.complete(profile.id, status.generation, 'node-a', refreshed()), false);
      assert.deepEqual(await h.store.profiles.get(profile.id), put);
      assert.equal((await statusOf(profile.id)).generation, status.generation + 1);
    });

    test('a PUT with the same tokens keeps the engine’s record; with other tokens it starts a generation: active, nothing known, no lease', async () => {
      const { profile, status } = await fresh();
      const gen = status.generation;
      assert.ok((await h.store.tokens.claim(profile.id, gen, 'node-a', LEASE)).claimed);
      const next = refreshed();
      assert.ok(await h.store.tokens.complete(profile.id, gen, 'node-a', next));
      assert.ok((await h.store.tokens.claim(profile.id, gen + 1, 'node-a', LEASE)).claimed);
      await h.store.tokens.recordFailure(profile.id, gen + 1, 'node-a', {
        state: 'retrying',
        failures: 2,
        lastError: asError('slow'),
        nextRefreshAt: Date.now() + 5000,
        finished: false,
      });
      assert.ok((await h.store.tokens.claim(profile.id, gen + 1, 'node-b', LEASE)).claimed);
      const busy = await statusOf(profile.id);
      const current = (await h.store.profiles.get(profile.id))!;

      // Same tokens, another name and description: the record stays, the lease too; the origin given is not taken.
      const renamed = await ok(
        h.store.profiles.update(
          await headerOf(profile.id),
          asInput(current, { name: rnd('renamed '), description: 'new', tokenOrigin: 'https://moved.example' }),
        ),
      );
      assert.equal(renamed.version, current.version + 1);
      assert.deepEqual(await statusOf(profile.id), { ...busy, name: renamed.name });

      // Another access token alone is other tokens.
      const put = await ok(
        h.store.profiles.update(await headerOf(profile.id), asInput(renamed, { accessToken: rnd('AT-put-'), tokenOrigin: 'https://moved.example' })),
      );
      assert.deepEqual(await statusOf(profile.id), {
        ...busy,
        name: renamed.name,
        generation: busy.generation + 1,
        state: 'active',
        expiresAt: null,
        nextRefreshAt: null,
        failures: 0,
        lastError: null,
        tokenOrigin: 'https://moved.example',
        lease: null,
        inFlight: null,
      });
      // The lease holder of the old generation lost.
      assert.equal(await h.store.tokens.complete(profile.id, gen + 1, 'node-b', refreshed()), false);
      assert.deepEqual(await h.store.profiles.get(profile.id), put);

      // No access token and an empty one are other tokens, too.
      const none = await ok(h.store.profiles.update(await headerOf(profile.id), asInput(put, { accessToken: null })));
      assert.equal((await statusOf(profile.id)).generation, busy.generation + 2);
      await ok(h.store.profiles.update(await headerOf(profile.id), asInput(none, { accessToken: '' })));
      assert.equal((await statusOf(profile.id)).generation, busy.generation + 3);
    });

    test('a row from before migration 4 (no digest): its first PUT counts as a change, even with the same tokens', async () => {
      const { profile, status } = await fresh();
      await raw('UPDATE oauth_profiles SET tokens_digest = NULL WHERE id = ?', profile.id);
      await ok(h.store.profiles.update(await headerOf(profile.id), asInput(profile)));
      assert.equal((await statusOf(profile.id)).generation, status.generation + 1);
      await ok(h.store.profiles.update(await headerOf(profile.id), asInput(profile)));
      assert.equal((await statusOf(profile.id)).generation, status.generation + 1);
    });

    test('a refresh token the engine rotated away is refused in a PUT (retiredRefreshToken), also from an outdated header; the 16 newest are remembered', async () => {
      const { profile, status } = await fresh();
      let gen = status.generation;
      let tokens = { accessToken: profile.accessToken, refreshToken: profile.refreshToken };
      const retired: string[] = [];
      for (let i = 0; i < 17; i++) {
        assert.ok((await h.store.tokens.claim(profile.id, gen, 'node-a', LEASE)).claimed);
        const next = refreshed(tokens.refreshToken);
        assert.ok(await h.store.tokens.complete(profile.id, gen, 'node-a', next));
        retired.push(tokens.refreshToken);
        tokens = { accessToken: next.accessToken, refreshToken: next.refreshToken };
        gen++;
      }
      const before = await h.store.profiles.get(profile.id);
      assert.deepEqual(before, { ...profile, ...tokens, version: profile.version + 17 });
      const outdated = await headerOf(profile.id);
      for (const old of [retired[16], retired[1]]) {
        assert.deepEqual(await h.store.profiles.update(await headerOf(profile.id), asInput(before!, { refreshToken: old })), {
          refused: 'retiredRefreshToken',
        });
      }
      // A PUT in between moves the row: the outdated header's write misses, and the why-read names the refusal.
      const between = await ok(h.store.profiles.update(outdated, asInput(before!, { description: 'between' })));
      assert.deepEqual(await h.store.profiles.update(outdated, asInput(before!, { refreshToken: retired[5], description: 'late' })), {
        refused: 'retiredRefreshToken',
      });
      // A move to another app checks it too, from the current header and from an outdated one.
      const other = await makeApp();
      for (const from of [await headerOf(profile.id), outdated]) {
        assert.deepEqual(await h.store.profiles.update(from, asInput(before!, { refreshToken: retired[9], oauthAppId: other.id })), {
          refused: 'retiredRefreshToken',
        });
      }
      assert.deepEqual(await h.store.profiles.get(profile.id), between);
      assert.equal((await statusOf(profile.id)).generation, gen);
      // With an If-Match that no longer holds, stale comes first.
      assert.deepEqual(await h.store.profiles.update(outdated, asInput(before!, { refreshToken: retired[5] }), [outdated.version]), { refused: 'stale' });
      // The oldest fell out of the 16; the current one is no retired one.
      const back = await ok(h.store.profiles.update(await headerOf(profile.id), asInput(between, { refreshToken: retired[0] })));
      assert.equal(back.refreshToken, retired[0]);
      assert.equal((await statusOf(profile.id)).generation, gen + 1);
      await ok(h.store.profiles.update(await headerOf(profile.id), asInput(back, { refreshToken: tokens.refreshToken })));
    });

    test('complete: a token handed back unchanged is not remembered as rotated away', async () => {
      const { profile, status } = await fresh();
      assert.ok((await h.store.tokens.claim(profile.id, status.generation, 'node-a', LEASE)).claimed);
      const next = { ...refreshed(), refreshToken: profile.refreshToken, retired: profile.refreshToken };
      assert.ok(await h.store.tokens.complete(profile.id, status.generation, 'node-a', next));
      const stored = (await h.store.profiles.get(profile.id))!;
      await ok(h.store.profiles.update(await headerOf(profile.id), asInput(stored, { description: 'same refresh token' })));
    });

    test('mark: sets the state and error at the generation given, without a lease; at another generation nothing changes', async () => {
      const { profile, status } = await fresh();
      await h.store.tokens.mark(profile.id, status.generation + 1, 'origin_changed', null);
      assert.deepEqual(await statusOf(profile.id), status);
      await h.store.tokens.mark(profile.id, status.generation, 'origin_changed', asError('origin'));
      assert.deepEqual(await statusOf(profile.id), { ...status, state: 'origin_changed', lastError: asError('origin') });
      await h.store.tokens.mark(profile.id, status.generation, 'active', null);
      assert.deepEqual(await statusOf(profile.id), status);
      await h.store.tokens.mark(MISSING, 1, 'active', null);
      assert.deepEqual(await h.store.profiles.get(profile.id), profile);
    });

    test("list: the owner's and the creator's, in id order, optionally in one state", async () => {
      const a = await makeUser();
      const b = await makeUser();
      const app = await makeApp();
      const own = await makeProfile(app.id, a.id);
      const createdForB = await makeProfile(app.id, b.id, a.id);
      const createdByB = await makeProfile(app.id, a.id, b.id);
      await makeProfile(app.id, b.id);
      await h.store.tokens.mark(createdForB.id, 1, 'needs_reconsent', asError('invalid_grant'));
      const statuses = await Promise.all([own, createdForB, createdByB].map((p) => statusOf(p.id)));
      assert.deepEqual(await h.store.tokens.list(a.id), statuses);
      assert.deepEqual(await h.store.tokens.list(a.id, 'needs_reconsent'), [statuses[1]]);
      assert.deepEqual(await h.store.tokens.list(a.id, 'active'), [statuses[0], statuses[2]]);
      assert.deepEqual(await h.store.tokens.list(a.id, 'retrying'), []);
      assert.deepEqual(await h.store.tokens.list((await makeUser()).id), []);
    });

    describe('the background refresh: due and plan', () => {
      const proactive = (on: boolean): EngineSettings => engineSettings({ proactive: on });
      /** The due profiles of these apps (other tests' profiles share the database). */
      const dueOf = async (apps: number[], skip: number[] = []): Promise<number[]> =>
        (await h.store.tokens.due(10_000, skip)).filter((d) => apps.includes(d.oauthAppId)).map((d) => d.profileId);
      const refreshWith = async (id: number, nextRefreshAt: number | null): Promise<void> => {
        const status = await statusOf(id);
        assert.deepEqual(await h.store.tokens.claim(id, status.generation, 'node-a', LEASE), { claimed: true, recovered: false });
        assert.equal(await h.store.tokens.complete(id, status.generation, 'node-a', refreshed(undefined, nextRefreshAt)), true);
      };

      test("new tokens of a proactive app's profile are due at once; a non-proactive app's never", async () => {
        const [on, off] = [await makeApp(), await makeApp()];
        assert.equal(await h.store.appEngines.set(on.id, proactive(true)), undefined);
        assert.equal(await h.store.appEngines.set(off.id, proactive(false)), undefined);
        const owner = await makeUser();
        const before = Date.now();
        const a = await makeProfile(on.id, owner.id);
        const b = await makeProfile(off.id, owner.id);
        const planned = (await statusOf(a.id)).nextRefreshAt;
        assert.ok(planned !== null && planned >= before - 1000 && planned <= Date.now() + 1000, `planned at ${planned}`);
        assert.equal((await statusOf(b.id)).nextRefreshAt, null);
        assert.deepEqual(await dueOf([on.id, off.id]), [a.id]);

        // A PUT with other tokens plans it again; moved to the non-proactive app it is not due.
        await refreshWith(a.id, Date.now() + 3_600_000);
        assert.deepEqual(await dueOf([on.id]), []);
        await ok(h.store.profiles.update(await headerOf(a.id), asInput((await h.store.profiles.get(a.id)) as OAuthProfile, { refreshToken: rnd('RT-p-') })));
        assert.deepEqual(await dueOf([on.id]), [a.id]);
        const current = (await h.store.profiles.get(a.id)) as OAuthProfile;
        await ok(h.store.profiles.update(await headerOf(a.id), asInput(current, { oauthAppId: off.id, refreshToken: rnd('RT-m-') })));
        assert.equal((await statusOf(a.id)).nextRefreshAt, null);
        assert.deepEqual(await dueOf([on.id, off.id]), []);
      });

      test('due: earliest first; not leased, not dead, not of a refused client, not skipped, not yet due', async () => {
        const app = await makeApp();
        assert.equal(await h.store.appEngines.set(app.id, proactive(true)), undefined);
        const owner = await makeUser();
        const [early, late, leased, dead, later] = [
          await makeProfile(app.id, owner.id),
          await makeProfile(app.id, owner.id),
          await makeProfile(app.id, owner.id),
          await makeProfile(app.id, owner.id),
          await makeProfile(app.id, owner.id),
        ];
        await refreshWith(late.id, Date.now() - 1_000);
        await refreshWith(early.id, Date.now() - 5_000);
        await refreshWith(later.id, Date.now() + 60_000);
        const held = await statusOf(leased.id);
        assert.deepEqual(await h.store.tokens.claim(leased.id, held.generation, 'node-b', LEASE), { claimed: true, recovered: false });
        const gone = await statusOf(dead.id);
        assert.deepEqual(await h.store.tokens.claim(dead.id, gone.generation, 'node-a', LEASE), { claimed: true, recovered: false });
        const failure = { state: 'needs_reconsent', failures: 1, lastError: asError('invalid_grant'), nextRefreshAt: null, finished: true } as const;
        assert.equal(await h.store.tokens.recordFailure(dead.id, gone.generation, 'node-a', failure), true);

        assert.deepEqual(await dueOf([app.id]), [early.id, late.id]);
        const [first] = (await h.store.tokens.due(10_000, [])).filter((d) => d.oauthAppId === app.id);
        assert.deepEqual(first, { profileId: early.id, generation: (await statusOf(early.id)).generation, oauthAppId: app.id });
        assert.deepEqual(await dueOf([app.id], [app.id]), []);
        assert.deepEqual(await dueOf([app.id], [MISSING, app.id + 1_000_000]), [early.id, late.id]);
        await h.store.appEngines.setStatus(app.id, { state: 'client_error', lastError: asError('invalid_client') });
        assert.deepEqual(await dueOf([app.id]), []);
        await h.store.appEngines.setStatus(app.id, { state: 'ok', lastError: null });
        assert.equal(await h.store.appEngines.set(app.id, proactive(false)), undefined);
        assert.deepEqual(await dueOf([app.id]), []);
      });

      test("plan: an app's active profiles due refreshMargin before expiry (now when unknown), or none; retrying keeps its attempt", async () => {
        const app = await makeApp();
        const owner = await makeUser();
        const [known, unknown, retrying] = [await makeProfile(app.id, owner.id), await makeProfile(app.id, owner.id), await makeProfile(app.id, owner.id)];
        await refreshWith(known.id, null);
        const expiresAt = (await statusOf(known.id)).expiresAt!;
        const r = await statusOf(retrying.id);
        assert.deepEqual(await h.store.tokens.claim(retrying.id, r.generation, 'node-a', LEASE), { claimed: true, recovered: false });
        const attempt = Date.now() + 42_000;
        const failure = { state: 'retrying', failures: 1, lastError: asError('server_error'), nextRefreshAt: attempt, finished: true } as const;
        assert.equal(await h.store.tokens.recordFailure(retrying.id, r.generation, 'node-a', failure), true);
        const other = await makeProfile((await makeApp()).id, owner.id);

        const before = Date.now();
        await h.store.tokens.plan(app.id, 300_000);
        assert.equal((await statusOf(known.id)).nextRefreshAt, expiresAt - 300_000);
        const now = (await statusOf(unknown.id)).nextRefreshAt;
        assert.ok(now !== null && now >= before - 1000 && now <= Date.now() + 1000, `unknown expiry planned at ${now}`);
        assert.equal((await statusOf(retrying.id)).nextRefreshAt, attempt);
        assert.equal((await statusOf(other.id)).nextRefreshAt, null);

        await h.store.tokens.plan(app.id, null);
        assert.equal((await statusOf(known.id)).nextRefreshAt, null);
        assert.equal((await statusOf(unknown.id)).nextRefreshAt, null);
        assert.equal((await statusOf(retrying.id)).nextRefreshAt, attempt);
      });

      test('mark: a marked state has no refresh planned', async () => {
        const app = await makeApp();
        assert.equal(await h.store.appEngines.set(app.id, proactive(true)), undefined);
        const profile = await makeProfile(app.id, (await makeUser()).id);
        assert.notEqual((await statusOf(profile.id)).nextRefreshAt, null);
        await h.store.tokens.mark(profile.id, (await statusOf(profile.id)).generation, 'origin_changed', null);
        assert.equal((await statusOf(profile.id)).nextRefreshAt, null);
      });
    });

    test('appEngines: none set reads null settings and ok; set replaces, setStatus records; a missing app is refused (missing)', async () => {
      const app = await makeApp();
      const settings: EngineSettings = {
        clientAuth: 'client_secret_post',
        defaultExpiresIn: 1800,
        refreshMargin: 120,
        proactive: true,
        maxConcurrentRefreshes: 2,
        revocationURI: 'https://as.example/revoke',
        issuer: 'https://as.example',
        authorizeParams: { access_type: 'offline', prompt: 'consent' },
      };
      const ok_ = { state: 'ok', lastError: null } as const;
      assert.deepEqual(await h.store.appEngines.get(app.id), { settings: null, status: ok_ });
      assert.equal(await h.store.appEngines.get(MISSING), undefined);

      assert.equal(await h.store.appEngines.set(app.id, settings), undefined);
      assert.deepEqual(await h.store.appEngines.get(app.id), { settings, status: ok_ });
      const replaced = { ...settings, clientAuth: 'client_secret_basic', proactive: false, revocationURI: null, issuer: null, authorizeParams: {} } as const;
      assert.equal(await h.store.appEngines.set(app.id, replaced), undefined);
      assert.deepEqual(await h.store.appEngines.get(app.id), { settings: replaced, status: ok_ });
      assert.deepEqual(await h.store.appEngines.set(MISSING, settings), { refused: 'missing', what: 'app', id: MISSING });
      assert.equal(await h.store.appEngines.get(MISSING), undefined);

      const refused = { state: 'client_error', lastError: asError('invalid_client') } as const;
      await h.store.appEngines.setStatus(app.id, refused);
      assert.deepEqual(await h.store.appEngines.get(app.id), { settings: replaced, status: refused });
      await h.store.appEngines.setStatus(MISSING, refused);
      assert.equal(await h.store.appEngines.get(MISSING), undefined);

      // A status before any settings: the settings stay unset.
      const other = await makeApp();
      await h.store.appEngines.setStatus(other.id, refused);
      assert.deepEqual(await h.store.appEngines.get(other.id), { settings: null, status: refused });
    });

    test('appEngines: an app update sets the status back to ok (its credentials may have changed) and keeps the settings; an app delete takes its row', async () => {
      const app = await makeApp();
      const settings: EngineSettings = {
        clientAuth: 'client_secret_basic',
        defaultExpiresIn: 3600,
        refreshMargin: 300,
        proactive: false,
        maxConcurrentRefreshes: 4,
        revocationURI: null,
        issuer: null,
        authorizeParams: {},
      };
      await ok(h.store.appEngines.set(app.id, settings));
      await h.store.appEngines.setStatus(app.id, { state: 'client_error', lastError: asError('invalid_client') });
      const { id: _id, version: _v, ...input } = app;
      await ok(h.store.apps.update(app.id, { ...input, clientSecret: rnd('new-secret-') }));
      assert.deepEqual(await h.store.appEngines.get(app.id), { settings, status: { state: 'ok', lastError: null } });
      // A refused update changes nothing.
      await h.store.appEngines.setStatus(app.id, { state: 'client_error', lastError: asError('invalid_client') });
      assert.deepEqual(await h.store.apps.update(app.id, input, [app.version]), { refused: 'stale' });
      assert.equal((await h.store.appEngines.get(app.id))!.status.state, 'client_error');

      assert.equal(Number(await raw('SELECT count(*) FROM app_engines WHERE app_id = ?', app.id)), 1);
      assert.equal(await h.store.apps.delete(app.id), undefined);
      assert.equal(Number(await raw('SELECT count(*) FROM app_engines WHERE app_id = ?', app.id)), 0);
      assert.equal(await h.store.appEngines.get(app.id), undefined);
    });

    test('a deleted profile has no status, and its lease holder’s result is dropped', async () => {
      const { profile, status } = await fresh();
      assert.ok((await h.store.tokens.claim(profile.id, status.generation, 'node-a', LEASE)).claimed);
      assert.equal(await h.store.profiles.delete(profile.id), undefined);
      assert.equal(await h.store.tokens.complete(profile.id, status.generation, 'node-a', refreshed()), false);
      assert.equal(
        await h.store.tokens.recordFailure(profile.id, status.generation, 'node-a', {
          state: 'retrying',
          failures: 1,
          lastError: asError('x'),
          nextRefreshAt: null,
          finished: true,
        }),
        false,
      );
      assert.equal(await h.store.tokens.status(profile.id), undefined);
    });

    test('setExpiry: only at the generation given and for the tokens stored; a refresh or a PUT in between wins', async () => {
      const { profile, status } = await fresh();
      const tokens = { accessToken: profile.accessToken, refreshToken: profile.refreshToken };
      const at = Date.now() + 3_600_000;
      assert.equal(await h.store.tokens.setExpiry(profile.id, status.generation + 1, tokens, at, null), false, 'another generation');
      assert.equal(
        await h.store.tokens.setExpiry(profile.id, status.generation, { ...tokens, refreshToken: rnd('RT-other-') }, at, null),
        false,
        'other tokens',
      );
      assert.equal(await h.store.tokens.setExpiry(MISSING, 1, tokens, at, null), false, 'no profile');
      assert.equal((await statusOf(profile.id)).expiresAt, null, 'nothing written by the misses');
      assert.equal(await h.store.tokens.setExpiry(profile.id, status.generation, tokens, at, at - 300_000), true);
      assert.deepEqual(await statusOf(profile.id), { ...status, expiresAt: at, nextRefreshAt: at - 300_000 });
      // A PUT of other tokens starts a generation: the old expiry is forgotten and a late setExpiry changes nothing.
      const put = await ok(h.store.profiles.update(await headerOf(profile.id), asInput(profile, { refreshToken: rnd('RT-put-') })));
      assert.equal(await h.store.tokens.setExpiry(profile.id, status.generation, tokens, at, null), false);
      assert.equal((await statusOf(put.id)).expiresAt, null);
    });
  });

  describe('consentStates', () => {
    const digestOf = (): string => randomBytes(32).toString('hex');
    const stateFor = (userId: number, actorId: number, appId: number, change: Partial<NewConsentState> = {}): NewConsentState => ({
      digest: digestOf(),
      userId,
      actorId,
      appId,
      target: { kind: 'create', name: rnd('p_'), description: rnd('about ') },
      returnTo: `/console/${rnd('r')}?tab=1`,
      verifier: randomBytes(32).toString('base64url'),
      expiresAt: Date.now() + 600_000,
      ...change,
    });
    /** Every row of consent_states, read past the ports (to see what they store). */
    const rows = async (): Promise<Record<string, unknown>[]> => {
      if (h.backend === 'sqlite') return sqliteStoreOf(h).db.connection.prepare('SELECT * FROM consent_states').all() as Record<string, unknown>[];
      return (await (h.store as PostgresStore).db.pool.query('SELECT * FROM consent_states')).rows as Record<string, unknown>[];
    };

    test('add then take: every binding back, the verifier opened; taken once only; an unknown digest is nothing', async () => {
      const user = await makeUser();
      const actor = await makeUser();
      const app = await makeApp();
      const state = stateFor(user.id, actor.id, app.id);
      assert.equal(await h.store.consentStates.add(state, Date.now()), undefined);
      const { digest: _digest, ...bound } = state;
      const taken = await h.store.consentStates.take(state.digest);
      assert.ok(taken, 'the state is found by its digest');
      assert.deepEqual({ ...taken, id: 0 }, { ...bound, id: 0 });
      assert.equal(await h.store.consentStates.take(state.digest), undefined, 'a second take finds nothing');
      assert.equal(await h.store.consentStates.take(digestOf()), undefined);
    });

    test('a re-consent target and no returnTo round-trip; a description may be null', async () => {
      const user = await makeUser();
      const app = await makeApp();
      const profile = await makeProfile(app.id, user.id);
      const reconsent = stateFor(user.id, user.id, app.id, { target: { kind: 'reconsent', profileId: profile.id }, returnTo: null });
      const bare = stateFor(user.id, user.id, app.id, { target: { kind: 'create', name: rnd('p_'), description: null } });
      for (const state of [reconsent, bare]) {
        assert.equal(await h.store.consentStates.add(state, Date.now()), undefined);
        const taken = await h.store.consentStates.take(state.digest);
        assert.deepEqual(taken && { target: taken.target, returnTo: taken.returnTo }, { target: state.target, returnTo: state.returnTo });
      }
    });

    test('the verifier is sealed under the row’s key version and the state itself is stored nowhere', async () => {
      const user = await makeUser();
      const app = await makeApp();
      const state = stateFor(user.id, user.id, app.id);
      assert.equal(await h.store.consentStates.add(state, Date.now()), undefined);
      const row = (await rows()).find((r) => r.state_digest === state.digest);
      assert.ok(row, 'the row is stored under the digest');
      const verifier = Buffer.from(row.verifier as Uint8Array);
      assert.equal(KeyRing.versionOf(verifier), Number(row.key_version), 'sealed under the key version of its row');
      assert.ok(!verifier.includes(Buffer.from(state.verifier)), 'no plaintext verifier');
      assert.ok(!JSON.stringify(await rows()).includes(state.verifier), 'the verifier appears in no column');
      // A key version added since: the state still opens.
      await h.store.keys.addVersion();
      assert.equal((await h.store.consentStates.take(state.digest))?.verifier, state.verifier);
    });

    test('add prunes the states that expired before now, and only those', async () => {
      const user = await makeUser();
      const app = await makeApp();
      const t0 = Date.now();
      const old = stateFor(user.id, user.id, app.id, { expiresAt: t0 + 1_000 });
      const edge = stateFor(user.id, user.id, app.id, { expiresAt: t0 + 2_000 });
      assert.equal(await h.store.consentStates.add(old, t0), undefined);
      assert.equal(await h.store.consentStates.add(edge, t0), undefined);
      const later = stateFor(user.id, user.id, app.id, { expiresAt: t0 + 602_000 });
      assert.equal(await h.store.consentStates.add(later, t0 + 2_000), undefined);
      const digests = new Set((await rows()).map((r) => r.state_digest));
      assert.ok(!digests.has(old.digest), 'the expired state is gone');
      assert.ok(digests.has(edge.digest) && digests.has(later.digest), 'a state expiring at now and a fresh one stay');
      assert.equal(await h.store.consentStates.take(old.digest), undefined);
    });

    test('of 20 concurrent takes of one state exactly one gets it', async () => {
      const user = await makeUser();
      const app = await makeApp();
      const state = stateFor(user.id, user.id, app.id);
      assert.equal(await h.store.consentStates.add(state, Date.now()), undefined);
      const taken = await Promise.all(Array.from({ length: 20 }, () => h.store.consentStates.take(state.digest)));
      assert.equal(taken.filter((t) => t !== undefined).length, 1);
    });

    test('a missing user or app is refused (concurrentDelete); deleting the app or the user takes its states along', async () => {
      const user = await makeUser();
      const app = await makeApp();
      assert.deepEqual(await h.store.consentStates.add(stateFor(MISSING, user.id, app.id), Date.now()), { refused: 'concurrentDelete' });
      assert.deepEqual(await h.store.consentStates.add(stateFor(user.id, user.id, MISSING), Date.now()), { refused: 'concurrentDelete' });
      const ofApp = stateFor(user.id, user.id, app.id);
      const other = await makeUser();
      const ofUser = stateFor(other.id, other.id, (await makeApp()).id);
      assert.equal(await h.store.consentStates.add(ofApp, Date.now()), undefined);
      assert.equal(await h.store.consentStates.add(ofUser, Date.now()), undefined);
      assert.equal(await h.store.apps.delete(app.id), undefined);
      assert.equal(await h.store.users.delete(other.id), undefined);
      assert.equal(await h.store.consentStates.take(ofApp.digest), undefined);
      assert.equal(await h.store.consentStates.take(ofUser.digest), undefined);
    });

    test('a state of a profile that is deleted meanwhile stays, to be told at its callback', async () => {
      const user = await makeUser();
      const app = await makeApp();
      const profile = await makeProfile(app.id, user.id);
      const state = stateFor(user.id, user.id, app.id, { target: { kind: 'reconsent', profileId: profile.id } });
      assert.equal(await h.store.consentStates.add(state, Date.now()), undefined);
      assert.equal(await h.store.profiles.delete(profile.id), undefined);
      assert.deepEqual((await h.store.consentStates.take(state.digest))?.target, { kind: 'reconsent', profileId: profile.id });
    });
  });

  describe('consoleSessions', () => {
    const digestOf = (): string => randomBytes(32).toString('hex');
    /** A new session of `user` at `at`, and the standing its sign-in verified (the row as it is). */
    const sessionOf = (user: User, at = Date.now()): NewConsoleSession => ({ digest: digestOf(), userId: user.id, passwordDigest: rnd('pd-'), createdAt: at });
    const standingOf = (user: User): SignedInStanding => ({ passwordHash: user.passwordHash, status: 1, tenantStatus: 1, lockedUntil: null });
    const digests = async (): Promise<Set<string>> => {
      const sql = 'SELECT digest FROM console_sessions';
      const all =
        h.backend === 'sqlite'
          ? (sqliteStoreOf(h).db.connection.prepare(sql).all() as { digest: string }[])
          : ((await (h.store as PostgresStore).db.pool.query(sql)).rows as { digest: string }[]);
      return new Set(all.map((r) => r.digest));
    };

    test('create then find: the session with its user’s current name, last seen at its creation; an unknown digest is nothing', async () => {
      const user = await makeUser();
      const session = sessionOf(user, 1_700_000_000_123);
      assert.equal(await h.store.consoleSessions.create(session, standingOf(user)), true);
      assert.deepEqual(await h.store.consoleSessions.find(session.digest), { ...session, userName: user.userName, lastSeenAt: session.createdAt });
      assert.equal(await h.store.consoleSessions.find(digestOf()), undefined);
      const renamed = rnd('renamed');
      await ok(h.store.users.update(user.id, { userName: renamed, status: 1, roles: [USER_ROLE], permissions: [] }));
      assert.equal((await h.store.consoleSessions.find(session.digest))?.userName, renamed, 'the name is read with the row, not kept');
    });

    test('create stores nothing unless the user’s row still holds the standing sign-in verified', async () => {
      const now = Date.now();
      const changed: [string, (u: User) => Promise<unknown>][] = [
        [
          'a new password hash',
          (u) => ok(h.store.users.update(u.id, { userName: u.userName, status: 1, passwordHash: rnd('hash-'), roles: [USER_ROLE], permissions: [] })),
        ],
        ['deactivated', (u) => ok(h.store.users.update(u.id, { userName: u.userName, status: 0, roles: [USER_ROLE], permissions: [] }))],
        ['locked', (u) => h.store.users.setLock(u.id, { lockedAt: now, lockedUntil: now + 60_000 })],
      ];
      for (const [what, change] of changed) {
        const user = await makeUser();
        await change(user);
        const session = sessionOf(user);
        assert.equal(await h.store.consoleSessions.create(session, standingOf(user)), false, what);
        assert.ok(!(await digests()).has(session.digest), `${what}: nothing stored`);
      }
      const { tenant, role } = await makeTenant();
      const member = await makeUser(tenant.id, [role]);
      await ok(h.store.tenants.update(tenant.id, { name: tenant.name, description: null, status: 0 }));
      assert.equal(await h.store.consoleSessions.create(sessionOf(member), standingOf(member)), false, 'an inactive tenant');
      const gone = await makeUser();
      assert.equal(await h.store.users.delete(gone.id), undefined);
      assert.equal(await h.store.consoleSessions.create(sessionOf(gone), standingOf(gone)), false, 'a deleted user');
    });

    test('touch moves last seen forward only; touching a gone session does nothing', async () => {
      const user = await makeUser();
      const session = sessionOf(user, 1_000_000);
      assert.equal(await h.store.consoleSessions.create(session, standingOf(user)), true);
      await h.store.consoleSessions.touch(session.digest, 1_060_000);
      assert.equal((await h.store.consoleSessions.find(session.digest))?.lastSeenAt, 1_060_000);
      await h.store.consoleSessions.touch(session.digest, 1_030_000);
      assert.equal((await h.store.consoleSessions.find(session.digest))?.lastSeenAt, 1_060_000, 'never back');
      assert.equal((await h.store.consoleSessions.find(session.digest))?.createdAt, 1_000_000);
      const unknown = digestOf();
      await h.store.consoleSessions.touch(unknown, 2_000_000);
      assert.equal(await h.store.consoleSessions.find(unknown), undefined, 'no row made');
    });

    test('delete ends one session; deleteOfUser every session of one user; deleteOfTenant those of its users; a deleted user takes its own', async () => {
      const [a, b] = [await makeUser(), await makeUser()];
      const { tenant, role } = await makeTenant();
      const member = await makeUser(tenant.id, [role]);
      const [a1, a2, b1, m1] = [sessionOf(a), sessionOf(a), sessionOf(b), sessionOf(member)];
      for (const [s, u] of [
        [a1, a],
        [a2, a],
        [b1, b],
        [m1, member],
      ] as const) {
        assert.equal(await h.store.consoleSessions.create(s, standingOf(u)), true);
      }
      await h.store.consoleSessions.delete(a1.digest);
      assert.equal(await h.store.consoleSessions.find(a1.digest), undefined);
      assert.ok(await h.store.consoleSessions.find(a2.digest), 'the other session of the user stays');
      const a3 = sessionOf(a);
      assert.equal(await h.store.consoleSessions.create(a3, standingOf(a)), true);
      await h.store.consoleSessions.deleteOfUser(a.id);
      assert.equal(await h.store.consoleSessions.find(a2.digest), undefined);
      assert.equal(await h.store.consoleSessions.find(a3.digest), undefined);
      assert.ok(await h.store.consoleSessions.find(b1.digest), 'another user’s session stays');
      await h.store.consoleSessions.deleteOfTenant(tenant.id);
      assert.equal(await h.store.consoleSessions.find(m1.digest), undefined);
      assert.ok(await h.store.consoleSessions.find(b1.digest), 'a session of another tenant’s user stays');
      assert.equal(await h.store.users.delete(b.id), undefined);
      assert.ok(!(await digests()).has(b1.digest), 'the cascade removed the row');
    });

    test('deleteUnseenSince deletes at most `limit` sessions last seen at or before the cutoff, oldest first, and no other', async () => {
      const user = await makeUser();
      // Far in the past, so that no other test's session is older.
      const t0 = 1_000;
      const made: NewConsoleSession[] = [];
      for (let i = 0; i < 5; i++) {
        const s = sessionOf(user, t0 + i * 1000);
        assert.equal(await h.store.consoleSessions.create(s, standingOf(user)), true);
        made.push(s);
      }
      assert.equal(await h.store.consoleSessions.deleteUnseenSince(t0 + 3000, 2), 2);
      let left = await digests();
      assert.deepEqual(
        made.map((s) => left.has(s.digest)),
        [false, false, true, true, true],
        'the two oldest went',
      );
      assert.equal(await h.store.consoleSessions.deleteUnseenSince(t0 + 3000, 100), 2, 'the cutoff is inclusive');
      left = await digests();
      assert.deepEqual(
        made.map((s) => left.has(s.digest)),
        [false, false, false, false, true],
      );
      await h.store.consoleSessions.touch(made[4].digest, t0 + 10_000);
      assert.equal(await h.store.consoleSessions.deleteUnseenSince(t0 + 5000, 100), 0, 'a session seen since stays');
    });

    test(
      'a lock being written when create runs wins: create waits for it and then stores nothing',
      { skip: BACKEND === 'sqlite' && 'SQLite runs one write at a time: the conditional insert cannot overlap a lock' },
      async () => {
        const user = await makeUser();
        const pool = (h.store as PostgresStore).db.pool;
        const locker = await pool.connect();
        try {
          await locker.query('BEGIN');
          await locker.query('UPDATE users SET locked_at = $2, locked_until = $3 WHERE id = $1', [user.id, Date.now(), Date.now() + 60_000]);
          const session = sessionOf(user);
          const created = h.store.consoleSessions.create(session, standingOf(user));
          let settled = false;
          void created.then(() => (settled = true));
          await new Promise((resolve) => setTimeout(resolve, 200));
          assert.equal(settled, false, 'the insert waits for the uncommitted lock');
          await locker.query('COMMIT');
          assert.equal(await created, false);
          assert.equal(await h.store.consoleSessions.find(session.digest), undefined);
        } finally {
          locker.release();
        }
      },
    );
  });

  describe('revocations', () => {
    const withUri = async (revocationURI: string | null): Promise<OAuthApp> => {
      const app = await makeApp();
      assert.equal(await h.store.appEngines.set(app.id, engineSettings({ clientAuth: 'client_secret_post', revocationURI })), undefined);
      return app;
    };
    const plan = (at = Date.now() - 1000) => ({ firstAttemptAt: at, giveUpAt: at + 86_400_000 });
    /** Claims everything due for `owner` and keeps what belongs to these profiles (other tests share the database). */
    const claimOf = async (owner: string, profileIds: number[]) =>
      (await h.store.revocations.claim(1000, owner, 60_000)).pending.filter((p) => p.profileId !== null && profileIds.includes(p.profileId));

    test("a profile's delete with a plan queues its tokens and its app's client, opened when claimed; without a plan, nothing", async () => {
      const app = await withUri('https://as.example/revoke');
      const owner = await makeUser();
      const [queued, plain] = [await makeProfile(app.id, owner.id), await makeProfile(app.id, owner.id)];
      const at = Date.now() - 1000;
      assert.equal(await h.store.profiles.delete(queued.id, undefined, plan(at)), undefined);
      assert.equal(await h.store.profiles.delete(plain.id), undefined);
      const [claimed, ...more] = await claimOf('node-a', [queued.id, plain.id]);
      assert.deepEqual(more, []);
      assert.deepEqual(
        { ...claimed, id: 0 },
        {
          id: 0,
          profileId: queued.id,
          appId: app.id,
          revocationURI: 'https://as.example/revoke',
          clientId: app.clientId,
          clientSecret: app.clientSecret,
          clientAuth: 'client_secret_post',
          refreshToken: queued.refreshToken,
          accessToken: queued.accessToken,
          attempts: 0,
          giveUpAt: at + 86_400_000,
        },
      );
      // Leased: another node claims nothing until it is released.
      assert.deepEqual(await claimOf('node-b', [queued.id]), []);
      const next = Date.now() + 60_000;
      await h.store.revocations.retry(claimed.id, 'node-b', 5, Date.now() - 1, 'not the holder');
      assert.deepEqual(await claimOf('node-b', [queued.id]), [], "another node's retry changes nothing");
      await h.store.revocations.retry(claimed.id, 'node-a', 1, next, 'HTTP 503');
      assert.deepEqual(await claimOf('node-b', [queued.id]), [], 'not due before its next attempt');
      await h.store.revocations.retry(claimed.id, 'node-a', 1, Date.now() - 1, 'HTTP 503');
      assert.deepEqual(await claimOf('node-a', [queued.id]), [], 'a retry once the lease is released changes nothing');
    });

    test("an app's delete with a plan queues every profile; an app without a revocation URI queues none; remove and count", async () => {
      const app = await withUri('https://as.example/revoke');
      const none = await withUri(null);
      const owner = await makeUser();
      const ids = [(await makeProfile(app.id, owner.id)).id, (await makeProfile(app.id, owner.id)).id];
      const quiet = (await makeProfile(none.id, owner.id)).id;
      const before = await h.store.revocations.count();
      assert.equal(await h.store.apps.delete(app.id, undefined, plan()), undefined);
      assert.equal(await h.store.profiles.delete(quiet, undefined, plan()), undefined);
      assert.equal(await h.store.revocations.count(), before + 2);
      assert.equal(await h.store.profiles.get(ids[0]), undefined, 'the cascade deleted the profiles');
      const claimed = await claimOf('node-c', [...ids, quiet]);
      assert.deepEqual(
        claimed.map((c) => c.profileId!).sort((a, b) => a - b),
        ids,
      );
      for (const c of claimed) await h.store.revocations.remove(c.id);
      assert.equal(await h.store.revocations.count(), before);
    });

    test('a queued revocation is re-encrypted by a key rotation like any sealed row, and opens after the old key is retired', async () => {
      const app = await withUri('https://as.example/revoke');
      const profile = await makeProfile(app.id, (await makeUser()).id);
      assert.equal(await h.store.profiles.delete(profile.id, undefined, plan()), undefined);
      const old = (await h.store.keys.status()).find((k) => k.active)!.version;
      const next = await h.store.keys.addVersion();
      while ((await h.store.keys.reencryptBatch(50)) > 0);
      assert.equal((await h.store.keys.status()).find((k) => k.version === old)?.rows ?? 0, 0, 'nothing left under the old key');
      await h.store.keys.retire(old);
      const [claimed] = await claimOf('node-k', [profile.id]);
      assert.equal(claimed?.refreshToken, profile.refreshToken);
      assert.equal(claimed.clientSecret, app.clientSecret);
      assert.ok((await h.store.keys.status()).some((k) => k.version === next && k.active));
      await h.store.revocations.remove(claimed.id);
    });

    test('add: tokens held by no profile are queued sealed and claimed opened', async () => {
      const item = {
        profileId: null,
        appId: 4242,
        revocationURI: 'https://as.example/revoke',
        clientId: rnd('client-'),
        clientSecret: rnd('secret-'),
        clientAuth: 'client_secret_basic' as const,
        refreshToken: rnd('RT-'),
        accessToken: null,
      };
      const at = Date.now() - 1000;
      await h.store.revocations.add(item, plan(at));
      const mine = (await h.store.revocations.claim(1000, 'node-add', 60_000)).pending.filter((p) => p.clientId === item.clientId);
      assert.equal(mine.length, 1);
      assert.deepEqual({ ...mine[0], id: 0 }, { ...item, id: 0, attempts: 0, giveUpAt: at + 86_400_000 });
      await h.store.revocations.remove(mine[0].id);
    });

    test('a stale If-Match refuses the delete and queues nothing', async () => {
      const app = await withUri('https://as.example/revoke');
      const profile = await makeProfile(app.id, (await makeUser()).id);
      const before = await h.store.revocations.count();
      assert.deepEqual(await h.store.profiles.delete(profile.id, [profile.version + 7], plan()), { refused: 'stale' });
      assert.equal(await h.store.revocations.count(), before);
      assert.ok(await h.store.profiles.get(profile.id));
    });
  });

  describe('dataSources', () => {
    test('create, get, summary (no options) and list', async () => {
      const owner = await makeUser();
      const app = await makeApp(54);
      const profile = await makeProfile(app.id, owner.id);
      const input = dataSourceInput(owner.id, 54, profile.id);
      const ds = await ok(h.store.dataSources.create(input));
      assert.deepEqual(ds, { id: ds.id, version: ds.version, ...input });
      assert.deepEqual(await h.store.dataSources.get(ds.id), ds);
      const { options: _options, ...summary } = ds;
      assert.deepEqual(await h.store.dataSources.summary(ds.id), summary);
      const second = await makeDataSource(owner.id, 63, null);
      const { options: _o2, ...secondSummary } = second;
      assert.deepEqual(await h.store.dataSources.list(owner.id), [summary, secondSummary]);
      assert.deepEqual(await h.store.dataSources.list((await makeUser()).id), []);
      assert.equal(await h.store.dataSources.get(MISSING), undefined);
      assert.equal(await h.store.dataSources.summary(MISSING), undefined);
      assert.deepEqual(await h.store.dataSources.create({ ...dataSourceInput(owner.id, 54, null), name: ds.name.toUpperCase() }), { refused: 'name' });
      assert.equal((await h.store.dataSources.list(owner.id)).length, 2);
    });

    test('a profile of another data store is refused (profileReference, otherDataStore); one the owner cannot reach too (not otherDataStore)', async () => {
      const owner = await makeUser();
      const stranger = await makeUser();
      const app = await makeApp(54);
      const own = await makeProfile(app.id, owner.id);
      const createdByOwner = await makeProfile(app.id, stranger.id, owner.id);
      const foreign = await makeProfile(app.id, stranger.id);

      assert.deepEqual(await h.store.dataSources.create(dataSourceInput(owner.id, 62, own.id)), {
        refused: 'profileReference',
        profileId: own.id,
        otherDataStore: true,
      });
      assert.deepEqual(await h.store.dataSources.create(dataSourceInput(owner.id, 54, foreign.id)), {
        refused: 'profileReference',
        profileId: foreign.id,
        otherDataStore: false,
      });
      assert.deepEqual(await h.store.dataSources.create(dataSourceInput(owner.id, 54, MISSING)), {
        refused: 'profileReference',
        profileId: MISSING,
        otherDataStore: false,
      });
      assert.deepEqual(await h.store.dataSources.list(owner.id), []);
      // A profile the owner created for someone else is within its reach.
      assert.equal((await makeDataSource(owner.id, 54, createdByOwner.id)).oauthProfileId, createdByOwner.id);
    });

    test('update: applied with a matching ifVersion; a stale one is refused (stale) and nothing changes; an unreachable profile is refused', async () => {
      const owner = await makeUser();
      const stranger = await makeUser();
      const app = await makeApp(54);
      const profile = await makeProfile(app.id, owner.id);
      const foreign = await makeProfile(app.id, stranger.id);
      const ds = await makeDataSource(owner.id, 54, null);

      const change = { name: rnd('renamed '), description: null, options: { ServerName: 'other' }, oauthProfileId: profile.id };
      const updated = await ok(h.store.dataSources.update(ds.id, change, [ds.version]));
      assert.deepEqual(updated, { ...ds, ...change, version: ds.version + 1 });
      assert.deepEqual(await h.store.dataSources.get(ds.id), updated);

      assert.deepEqual(await h.store.dataSources.update(ds.id, { ...change, name: rnd('stale '), options: {} }, [ds.version]), { refused: 'stale' });
      assert.deepEqual(await h.store.dataSources.update(ds.id, { ...change, oauthProfileId: foreign.id }), {
        refused: 'profileReference',
        profileId: foreign.id,
        otherDataStore: false,
      });
      assert.deepEqual(await h.store.dataSources.get(ds.id), updated);
      assert.deepEqual(await h.store.dataSources.update(MISSING, change), { refused: 'missing', what: 'dataSource', id: MISSING });
    });

    test('delete: a stale ifVersion is refused (stale) and nothing changes; then it goes; a missing id (missing)', async () => {
      const owner = await makeUser();
      const ds = await makeDataSource(owner.id, 54, null);
      assert.deepEqual(await h.store.dataSources.delete(ds.id, [ds.version + 1]), { refused: 'stale' });
      assert.deepEqual(await h.store.dataSources.get(ds.id), ds);
      assert.equal(await h.store.dataSources.delete(ds.id, [ds.version]), undefined);
      assert.equal(await h.store.dataSources.get(ds.id), undefined);
      assert.deepEqual(await h.store.dataSources.list(owner.id), []);
      assert.deepEqual(await h.store.dataSources.delete(ds.id), { refused: 'missing', what: 'dataSource', id: ds.id });
    });
  });
});
