/**
 * What a first start writes into an empty database (api.md §3.2): the system tenant, its default roles, the limits
 * at HDP's defaults and the two default users. The store only writes these rows.
 */
import type { Seed } from './ports/index.js';
import { limitCatalogue } from './limits.js';
import { SYSTEM_TENANT_ID, defaultRoles } from './permissions.js';

export function seed(hashes: { adminPasswordHash: string; userPasswordHash: string }): Seed {
  const user = (userName: string, passwordHash: string, role: number) => ({
    userName,
    tenantId: SYSTEM_TENANT_ID,
    status: 1 as const,
    passwordHash,
    roles: [role],
    permissions: [],
  });
  return {
    tenant: { id: SYSTEM_TENANT_ID, name: 'System', description: 'The system tenant' },
    roles: defaultRoles.map((r) => ({ id: r.id, name: r.name, description: `Default role: ${r.name}`, permissions: r.permissions })),
    limits: limitCatalogue.map((l) => ({ id: l.id, value: l.defaultValue })),
    users: [user('d2cadmin', hashes.adminPasswordHash, 1), user('d2cuser', hashes.userPasswordHash, 2)],
  };
}
