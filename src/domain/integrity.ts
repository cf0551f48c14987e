/**
 * The integrity rules that must hold inside a write's transaction, written once for every backend: each store calls
 * them with what it read in that transaction (src/domain/ports/rules.ts, `IntegrityRules`) and answers their refusal
 * without writing. Pure functions of their arguments; src/domain/refusals.ts names each refusal's catalogue error.
 */
import type { IntegrityRules, NewRole, Refusal, Role, Versions } from './ports/index.js';
import { Perm, SYSTEM_TENANT_ID, isDefaultRole } from './permissions.js';

/** Optimistic concurrency: a request that names versions acts only on a row at one of them. */
export function versionRefusal(current: number, accepted: Versions | undefined): Refusal | undefined {
  return accepted !== undefined && !accepted.includes(current) ? { refused: 'stale' } : undefined;
}

/** At least one active Administrator remains, and every user keeps a role. */
export function identityRefusal(facts: { administratorRemains: boolean; userWithoutRole: number | undefined }): Refusal | undefined {
  if (facts.userWithoutRole !== undefined) return { refused: 'userWithoutRole', userId: facts.userWithoutRole };
  if (!facts.administratorRemains) return { refused: 'lastAdministrator' };
  return undefined;
}

export function tenantDeletionRefusal(tenantId: number, hasUsers: boolean): Refusal | undefined {
  if (tenantId === SYSTEM_TENANT_ID) return { refused: 'systemTenant' };
  if (hasUsers) return { refused: 'tenantHasUsers', tenantId };
  return undefined;
}

/** Only roles of the system tenant are imported into a new tenant. */
export function importedRoleRefusal(roleId: number, source: Role | undefined): Refusal | undefined {
  return !source || source.tenantId !== SYSTEM_TENANT_ID
    ? { refused: 'reference', field: 'importedRoles', id: roleId, otherTenant: source !== undefined }
    : undefined;
}

/** A role's members are users of its tenant; a tenant's admins are users of that tenant or of the system tenant. */
export function memberRefusal(field: 'admins' | 'users', tenantId: number, userId: number, userTenant: number | undefined): Refusal | undefined {
  if (userTenant === undefined) return { refused: 'reference', field, id: userId, otherTenant: false };
  const allowed = userTenant === tenantId || (field === 'admins' && userTenant === SYSTEM_TENANT_ID);
  return allowed ? undefined : { refused: 'reference', field, id: userId, otherTenant: true };
}

/** A user holds at least one role, each of its own tenant. */
export function userRolesRefusal(tenantId: number, roles: readonly { id: number; tenantId: number | undefined }[]): Refusal | undefined {
  if (roles.length === 0) return { refused: 'noRole' };
  for (const role of roles) {
    if (role.tenantId === undefined) return { refused: 'reference', field: 'roles', id: role.id, otherTenant: false };
    if (role.tenantId !== tenantId) return { refused: 'reference', field: 'roles', id: role.id, otherTenant: true };
  }
  return undefined;
}

/** A role stays in its tenant; a default role can change only its users (and description). */
export function roleChangeRefusal(current: Role, next: NewRole): Refusal | undefined {
  if (next.tenantId !== current.tenantId) return { refused: 'roleMoved' };
  if (isDefaultRole(current.id)) {
    const samePerms = [...new Set(next.permissions)].sort((a, b) => a - b).join() === [...current.permissions].sort((a, b) => a - b).join();
    if (next.name !== current.name || !samePerms) return { refused: 'defaultRoleChanged' };
  }
  return undefined;
}

export const roleDeletionRefusal = (roleId: number): Refusal | undefined => (isDefaultRole(roleId) ? { refused: 'defaultRoleDeleted' } : undefined);

export function appChangeRefusal(current: { dataStore: number }, next: { dataStore: number }, usedByDataSources: boolean): Refusal | undefined {
  return next.dataStore !== current.dataStore && usedByDataSources ? { refused: 'appDataStoreInUse' } : undefined;
}

export function profileMoveRefusal(appId: number, appExists: boolean, dataSourceOnOtherStore: number | undefined): Refusal | undefined {
  if (!appExists) return { refused: 'appReference', appId };
  if (dataSourceOnOtherStore !== undefined) return { refused: 'appReference', appId, dataSourceId: dataSourceOnOtherStore };
  return undefined;
}

export function profileReferenceRefusal(profileId: number, found: { dataStore: number } | undefined, dataStore: number): Refusal | undefined {
  if (!found) return { refused: 'profileReference', profileId, otherDataStore: false };
  if (found.dataStore !== dataStore) return { refused: 'profileReference', profileId, otherDataStore: true };
  return undefined;
}

/** The rules as a store receives them (server.ts and the tests hand them to the store they build). */
export const integrityRules: IntegrityRules = {
  administratorPermission: Perm.Administrator,
  version: versionRefusal,
  identity: identityRefusal,
  tenantDeletion: tenantDeletionRefusal,
  importedRole: importedRoleRefusal,
  member: memberRefusal,
  userRoles: userRolesRefusal,
  roleChange: roleChangeRefusal,
  roleDeletion: roleDeletionRefusal,
  appChange: appChangeRefusal,
  profileMove: profileMoveRefusal,
  profileReference: profileReferenceRefusal,
};
