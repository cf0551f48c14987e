/** The integrity rules both stores apply inside their transactions, as pure functions (src/domain/integrity.ts). */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  appChangeRefusal,
  identityRefusal,
  importedRoleRefusal,
  memberRefusal,
  profileMoveRefusal,
  profileReferenceRefusal,
  roleChangeRefusal,
  roleDeletionRefusal,
  tenantDeletionRefusal,
  userRolesRefusal,
  versionRefusal,
} from '../../src/domain/integrity.js';
import { SYSTEM_TENANT_ID, defaultRoles } from '../../src/domain/permissions.js';
import type { Role } from '../../src/domain/ports/index.js';

const role = (over: Partial<Role> = {}): Role => ({ id: 10, name: 'Ops', tenantId: 5, description: null, permissions: [2, 1], users: [], ...over });

describe('integrity rules', () => {
  test('If-Match: no header accepts any version; a list accepts only its versions; an empty list none', () => {
    assert.equal(versionRefusal(3, undefined), undefined);
    assert.equal(versionRefusal(3, [1, 3]), undefined);
    assert.deepEqual(versionRefusal(3, [2]), { refused: 'stale' });
    assert.deepEqual(versionRefusal(3, []), { refused: 'stale' });
  });

  test('identity: a user without a role is named first, then the last Administrator', () => {
    assert.equal(identityRefusal({ administratorRemains: true, userWithoutRole: undefined }), undefined);
    assert.deepEqual(identityRefusal({ administratorRemains: false, userWithoutRole: undefined }), { refused: 'lastAdministrator' });
    assert.deepEqual(identityRefusal({ administratorRemains: false, userWithoutRole: 7 }), { refused: 'userWithoutRole', userId: 7 });
  });

  test('tenants: the system tenant is never deleted; another only without users', () => {
    assert.deepEqual(tenantDeletionRefusal(SYSTEM_TENANT_ID, false), { refused: 'systemTenant' });
    assert.deepEqual(tenantDeletionRefusal(5, true), { refused: 'tenantHasUsers', tenantId: 5 });
    assert.equal(tenantDeletionRefusal(5, false), undefined);
  });

  test('imported roles come from the system tenant only', () => {
    assert.equal(importedRoleRefusal(2, role({ id: 2, tenantId: SYSTEM_TENANT_ID })), undefined);
    assert.deepEqual(importedRoleRefusal(10, role()), { refused: 'reference', field: 'importedRoles', id: 10, otherTenant: true });
    assert.deepEqual(importedRoleRefusal(99, undefined), { refused: 'reference', field: 'importedRoles', id: 99, otherTenant: false });
  });

  test("members: a role's users live in its tenant; a tenant's admins there or in the system tenant", () => {
    assert.equal(memberRefusal('users', 5, 3, 5), undefined);
    assert.deepEqual(memberRefusal('users', 5, 3, SYSTEM_TENANT_ID), { refused: 'reference', field: 'users', id: 3, otherTenant: true });
    assert.equal(memberRefusal('admins', 5, 3, SYSTEM_TENANT_ID), undefined);
    assert.deepEqual(memberRefusal('admins', 5, 3, 6), { refused: 'reference', field: 'admins', id: 3, otherTenant: true });
    assert.deepEqual(memberRefusal('admins', 5, 3, undefined), { refused: 'reference', field: 'admins', id: 3, otherTenant: false });
  });

  test("a user's roles: at least one, each existing and of the user's tenant", () => {
    assert.deepEqual(userRolesRefusal(5, []), { refused: 'noRole' });
    assert.equal(userRolesRefusal(5, [{ id: 10, tenantId: 5 }]), undefined);
    assert.deepEqual(
      userRolesRefusal(5, [
        { id: 10, tenantId: 5 },
        { id: 11, tenantId: undefined },
      ]),
      { refused: 'reference', field: 'roles', id: 11, otherTenant: false },
    );
    assert.deepEqual(userRolesRefusal(5, [{ id: 2, tenantId: SYSTEM_TENANT_ID }]), { refused: 'reference', field: 'roles', id: 2, otherTenant: true });
  });

  test('roles stay in their tenant; a default role can change only its users', () => {
    const admin = defaultRoles[0];
    const current = role({ id: admin.id, name: admin.name, tenantId: SYSTEM_TENANT_ID, permissions: [...admin.permissions] });
    const same = { name: admin.name, tenantId: SYSTEM_TENANT_ID, description: 'new words', permissions: [...admin.permissions].reverse(), users: [4] };
    assert.equal(roleChangeRefusal(current, same), undefined, 'users, description and the order of permissions may change');
    assert.deepEqual(roleChangeRefusal(current, { ...same, name: 'Renamed' }), { refused: 'defaultRoleChanged' });
    assert.deepEqual(roleChangeRefusal(current, { ...same, permissions: same.permissions.slice(1) }), { refused: 'defaultRoleChanged' });
    assert.deepEqual(roleChangeRefusal(current, { ...same, tenantId: 5 }), { refused: 'roleMoved' });
    assert.equal(roleChangeRefusal(role(), { name: 'Renamed', tenantId: 5, description: null, permissions: [9], users: [] }), undefined);
    assert.deepEqual(roleDeletionRefusal(admin.id), { refused: 'defaultRoleDeleted' });
    assert.equal(roleDeletionRefusal(10), undefined);
  });

  test("an app's data store changes only while no data source uses its profiles", () => {
    assert.deepEqual(appChangeRefusal({ dataStore: 54 }, { dataStore: 55 }, true), { refused: 'appDataStoreInUse' });
    assert.equal(appChangeRefusal({ dataStore: 54 }, { dataStore: 55 }, false), undefined);
    assert.equal(appChangeRefusal({ dataStore: 54 }, { dataStore: 54 }, true), undefined);
  });

  test('a profile moves only to an app that exists and suits the data sources using it', () => {
    assert.deepEqual(profileMoveRefusal(8, false, undefined), { refused: 'appReference', appId: 8 });
    assert.deepEqual(profileMoveRefusal(8, true, 3), { refused: 'appReference', appId: 8, dataSourceId: 3 });
    assert.equal(profileMoveRefusal(8, true, undefined), undefined);
  });

  test("a data source's profile is reachable by its owner and for its data store", () => {
    assert.deepEqual(profileReferenceRefusal(4, undefined, 54), { refused: 'profileReference', profileId: 4, otherDataStore: false });
    assert.deepEqual(profileReferenceRefusal(4, { dataStore: 55 }, 54), { refused: 'profileReference', profileId: 4, otherDataStore: true });
    assert.equal(profileReferenceRefusal(4, { dataStore: 54 }, 54), undefined);
  });
});
