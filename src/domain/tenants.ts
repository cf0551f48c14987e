/** Tenant rules (api.md §3.2–§3.3): who may see and change which tenant, and what a tenant may look like. */
import { fail } from '../errors.js';
import type { Store, Tenant } from './ports/index.js';
import { covers, isAdministrator, mayAdminister, type Identity } from './access.js';
import { Perm, SYSTEM_TENANT_ID } from './permissions.js';
import { settle } from './refusals.js';
import { endTenantSessions } from './console-sessions.js';

export interface TenantInput {
  name: string;
  description?: string | null;
  parentTenant?: number | null;
  status?: 0 | 1;
}

export async function listTenants(store: Store, actor: Identity): Promise<Tenant[]> {
  const all = await store.tenants.list();
  return isAdministrator(actor) ? all : all.filter((t) => actor.adminTenants.has(t.id));
}

/** Loads a tenant the actor may administer with `perm`: 404 when it does not exist, 403 when it is not theirs. */
export async function tenantFor(store: Store, actor: Identity, id: number, perm: number = Perm.TenantAPI): Promise<Tenant> {
  const tenant = await store.tenants.get(id);
  if (!tenant) throw fail('tenantNotFound', id);
  if (!mayAdminister(actor, perm, id)) throw fail('forbidden');
  return tenant;
}

export async function createTenant(
  store: Store,
  actor: Identity,
  input: TenantInput & { importedRoles?: number[]; admins?: number[] },
): Promise<{ tenant: Tenant; roles: number[] }> {
  // Only a system-tenant user creates tenants (child tenants cannot create siblings).
  if (!isAdministrator(actor) && actor.tenantId !== SYSTEM_TENANT_ID) throw fail('forbidden');
  if (input.parentTenant !== undefined && input.parentTenant !== SYSTEM_TENANT_ID) {
    throw fail('invalidJson', `parentTenant: must be ${SYSTEM_TENANT_ID}`);
  }
  const importedRoles = input.importedRoles ?? [];
  for (const roleId of importedRoles) {
    const role = await store.roles.get(roleId);
    if (role && !covers(actor, role.permissions)) throw fail('forbidden');
  }
  // The creator gets administrative access on the tenant it creates.
  const admins = [...new Set([...(input.admins ?? []), ...(actor.tenantId === SYSTEM_TENANT_ID ? [actor.id] : [])])];
  return settle(
    store.tenants.create({
      name: input.name,
      parentTenant: SYSTEM_TENANT_ID,
      description: input.description ?? null,
      status: input.status ?? 1,
      importedRoles,
      admins,
    }),
    { name: `tenant ${input.name}` },
  );
}

export async function updateTenant(store: Store, actor: Identity, id: number, input: TenantInput): Promise<Tenant> {
  await tenantFor(store, actor, id);
  const expectedParent = id === SYSTEM_TENANT_ID ? null : SYSTEM_TENANT_ID;
  // HDP's update body takes parentTenant null or 1: null leaves a child tenant's parent as it is.
  if (input.parentTenant !== undefined && input.parentTenant !== null && input.parentTenant !== expectedParent) {
    throw fail('invalidJson', `parentTenant: must be ${expectedParent} for this tenant`);
  }
  const updated = await settle(store.tenants.update(id, { name: input.name, description: input.description ?? null, status: input.status ?? 1 }), {
    name: `tenant ${input.name}`,
  });
  // A deactivated tenant's users are inactive: their console sessions end (api.md §10), and stay ended after a reactivation.
  if (updated.status !== 1) await endTenantSessions(store, id);
  return updated;
}

export async function deleteTenant(store: Store, actor: Identity, id: number): Promise<void> {
  await tenantFor(store, actor, id);
  await settle(store.tenants.delete(id));
}

export async function setTenantAdmins(store: Store, actor: Identity, id: number, admins: number[]): Promise<number[]> {
  await tenantFor(store, actor, id);
  await settle(store.tenants.setAdmins(id, admins));
  return store.tenants.admins(id);
}
