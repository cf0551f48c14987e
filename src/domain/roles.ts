/** Role rules (api.md §3.3): roles and their users stay in one tenant; nobody grants more than they hold. */
import { fail } from '../errors.js';
import type { NewRole, Role, Store } from '../storage/store.js';
import { covers, isAdministrator, mayAdminister, type Identity } from './access.js';
import { Perm, isPermissionId } from './permissions.js';

export function assertPermissionIds(ids: number[], field: string): void {
  const bad = ids.find((id) => !isPermissionId(id));
  if (bad !== undefined) throw fail('invalidReference', `${field}: no permission ${bad}`);
}

export async function listRoles(store: Store, actor: Identity, tenantId?: number): Promise<Role[]> {
  if (tenantId !== undefined) {
    if (!(await store.tenant(tenantId))) throw fail('tenantNotFound', tenantId);
    if (!mayAdminister(actor, Perm.ViewRole, tenantId)) throw fail('forbidden');
    return store.listRoles(tenantId);
  }
  const all = await store.listRoles();
  return isAdministrator(actor) ? all : all.filter((r) => actor.adminTenants.has(r.tenantId));
}

export async function roleFor(store: Store, actor: Identity, id: number, perm: number): Promise<Role> {
  const role = await store.role(id);
  if (!role) throw fail('roleNotFound', id);
  if (!mayAdminister(actor, perm, role.tenantId)) throw fail('forbidden');
  return role;
}

export async function createRole(store: Store, actor: Identity, input: NewRole): Promise<Role> {
  assertPermissionIds(input.permissions, 'permissions');
  if (!(await store.tenant(input.tenantId))) throw fail('tenantNotFound', input.tenantId);
  if (!mayAdminister(actor, Perm.CreateRole, input.tenantId) || !covers(actor, input.permissions)) throw fail('forbidden');
  return store.createRole(input);
}

export async function updateRole(store: Store, actor: Identity, id: number, input: NewRole): Promise<Role> {
  assertPermissionIds(input.permissions, 'permissions');
  const current = await roleFor(store, actor, id, Perm.ModifyRole);
  if (!covers(actor, current.permissions) || !covers(actor, input.permissions)) throw fail('forbidden');
  return store.updateRole(id, input);
}

export async function deleteRole(store: Store, actor: Identity, id: number): Promise<void> {
  const current = await roleFor(store, actor, id, Perm.DeleteRole);
  if (!covers(actor, current.permissions)) throw fail('forbidden');
  await store.deleteRole(id);
}
