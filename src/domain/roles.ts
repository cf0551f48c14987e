/** Role rules (api.md §3.3): roles and their users stay in one tenant; nobody grants more than they hold. */
import { fail } from '../errors.js';
import type { NewRole, Role, Store } from './ports/index.js';
import { covers, isAdministrator, mayAdminister, type Identity } from './access.js';
import { Perm, isPermissionId } from './permissions.js';
import { settle } from './refusals.js';

export function assertPermissionIds(ids: number[], field: string): void {
  const bad = ids.find((id) => !isPermissionId(id));
  if (bad !== undefined) throw fail('invalidReference', `${field}: no permission ${bad}`);
}

/**
 * Putting a user into a role or taking it out changes that user's grants, so it is managing the user: as with
 * PUT /users/{id}/permissions, a non-Administrator may do it only to users holding nothing beyond what it holds.
 */
async function assertMembersCovered(store: Store, actor: Identity, before: number[], after: number[]): Promise<void> {
  if (isAdministrator(actor)) return;
  const was = new Set(before);
  const now = new Set(after);
  const changed = new Set([...after.filter((u) => !was.has(u)), ...before.filter((u) => !now.has(u))]);
  for (const userId of changed) {
    if (!covers(actor, await store.users.effectivePermissions(userId))) throw fail('forbidden');
  }
}

export async function listRoles(store: Store, actor: Identity, tenantId?: number): Promise<Role[]> {
  if (tenantId !== undefined) {
    if (!(await store.tenants.get(tenantId))) throw fail('tenantNotFound', tenantId);
    if (!mayAdminister(actor, Perm.ViewRole, tenantId)) throw fail('forbidden');
    return store.roles.list(tenantId);
  }
  const all = await store.roles.list();
  return isAdministrator(actor) ? all : all.filter((r) => actor.adminTenants.has(r.tenantId));
}

export async function roleFor(store: Store, actor: Identity, id: number, perm: number): Promise<Role> {
  const role = await store.roles.get(id);
  if (!role) throw fail('roleNotFound', id);
  if (!mayAdminister(actor, perm, role.tenantId)) throw fail('forbidden');
  return role;
}

export async function createRole(store: Store, actor: Identity, input: NewRole): Promise<Role> {
  assertPermissionIds(input.permissions, 'permissions');
  if (!(await store.tenants.get(input.tenantId))) throw fail('tenantNotFound', input.tenantId);
  if (!mayAdminister(actor, Perm.CreateRole, input.tenantId) || !covers(actor, input.permissions)) throw fail('forbidden');
  await assertMembersCovered(store, actor, [], input.users);
  return settle(store.roles.create(input), { name: `role ${input.name}` });
}

export async function updateRole(store: Store, actor: Identity, id: number, input: NewRole): Promise<Role> {
  assertPermissionIds(input.permissions, 'permissions');
  const current = await roleFor(store, actor, id, Perm.ModifyRole);
  if (!covers(actor, current.permissions) || !covers(actor, input.permissions)) throw fail('forbidden');
  await assertMembersCovered(store, actor, current.users, input.users);
  return settle(store.roles.update(id, input), { name: `role ${input.name}` });
}

export async function deleteRole(store: Store, actor: Identity, id: number): Promise<void> {
  const current = await roleFor(store, actor, id, Perm.DeleteRole);
  if (!covers(actor, current.permissions)) throw fail('forbidden');
  await assertMembersCovered(store, actor, current.users, []);
  await settle(store.roles.delete(id));
}
