/**
 * User rules (api.md §3.3): users live in one tenant, hold at least one role of it, meet the password policy, and
 * are managed only by someone who administers their tenant and holds every permission they hold (no escalation).
 */
import { fail } from '../errors.js';
import { hashPassword, type ScryptParams } from '../crypto/passwords.js';
import type { Status, Store, User } from './ports/index.js';
import { covers, isAdministrator, mayAdminister, type Identity } from './access.js';
import { Perm } from './permissions.js';
import { Limit } from './limits.js';
import { passwordProblem } from './password-policy.js';
import { assertPermissionIds } from './roles.js';
import { settle } from './refusals.js';
import { revocationWindow } from './revocation.js';
import { endSessionsOf } from './console-sessions.js';

export interface Grants {
  roles: number[];
  permissions?: number[];
}

export interface UserInput {
  userName: string;
  tenantId?: number;
  status: Status;
  password?: string;
  grants: Grants;
}

interface Ctx {
  store: Store;
  actor: Identity;
  hashParams: ScryptParams;
  clock: () => number;
}

export async function listUsers(store: Store, actor: Identity, tenantId?: number): Promise<User[]> {
  if (tenantId !== undefined) {
    if (!(await store.tenants.get(tenantId))) throw fail('tenantNotFound', tenantId);
    if (!mayAdminister(actor, Perm.ViewUsers, tenantId)) throw fail('forbidden');
    return store.users.list(tenantId);
  }
  const all = await store.users.list();
  return isAdministrator(actor) ? all : all.filter((u) => actor.adminTenants.has(u.tenantId));
}

/** Loads a user the actor may act on with `perm`: 404 when missing, 403 when out of reach or of higher rank. */
export async function userFor(store: Store, actor: Identity, id: number, perm: number): Promise<User> {
  const user = await store.users.get(id);
  if (!user) throw fail('userNotFound', id);
  if (!mayAdminister(actor, perm, user.tenantId)) throw fail('forbidden');
  if (perm !== Perm.ViewUsers && !covers(actor, await store.users.effectivePermissions(id))) throw fail('forbidden');
  return user;
}

/** Checks that grants name real permissions and that the actor holds everything they confer. */
async function checkGrants(store: Store, actor: Identity, grants: Grants): Promise<void> {
  const explicit = grants.permissions ?? [];
  assertPermissionIds(explicit, 'permissions.permissions');
  if (grants.roles.length === 0) throw fail('invalidJson', 'permissions.roles: at least one role is required');
  const conferred = new Set(explicit);
  for (const roleId of grants.roles) {
    const role = await store.roles.get(roleId);
    if (!role) throw fail('invalidReference', `permissions.roles: no role ${roleId}`);
    role.permissions.forEach((p) => conferred.add(p));
  }
  if (!covers(actor, conferred)) throw fail('forbidden');
}

function checkPassword(password: string, userName: string): void {
  const problem = passwordProblem(password, userName);
  if (problem) throw fail('passwordPolicy', problem);
}

export async function createUser(ctx: Ctx, input: UserInput): Promise<User> {
  const tenantId = input.tenantId ?? ctx.actor.tenantId;
  if (!(await ctx.store.tenants.get(tenantId))) throw fail('tenantNotFound', tenantId);
  if (!mayAdminister(ctx.actor, Perm.CreateUsers, tenantId)) throw fail('forbidden');
  await checkGrants(ctx.store, ctx.actor, input.grants);
  if (input.password === undefined) throw fail('invalidJson', 'passwordInfo.password: is required');
  checkPassword(input.password, input.userName);
  return settle(
    ctx.store.users.create({
      userName: input.userName,
      tenantId,
      status: input.status,
      passwordHash: await hashPassword(input.password, ctx.hashParams),
      roles: input.grants.roles,
      permissions: input.grants.permissions ?? [],
    }),
    { name: `user ${input.userName}` },
  );
}

export async function updateUser(ctx: Ctx, id: number, input: UserInput): Promise<User> {
  const current = await userFor(ctx.store, ctx.actor, id, Perm.ModifyUsers);
  if (input.tenantId !== undefined && input.tenantId !== current.tenantId) {
    throw fail('invalidJson', 'tenantId: a user cannot move to another tenant');
  }
  await checkGrants(ctx.store, ctx.actor, input.grants);
  if (input.password !== undefined) checkPassword(input.password, input.userName);
  const updated = await settle(
    ctx.store.users.update(id, {
      userName: input.userName,
      status: input.status,
      passwordHash: input.password === undefined ? undefined : await hashPassword(input.password, ctx.hashParams),
      roles: input.grants.roles,
      permissions: input.grants.permissions ?? [],
    }),
    { name: `user ${input.userName}` },
  );
  // A new password or a deactivation ends the user's console sessions (api.md §10).
  if (input.password !== undefined || input.status !== 1) await endSessionsOf(ctx.store, id);
  return updated;
}

export async function setGrants(ctx: Ctx, id: number, grants: Grants): Promise<User> {
  const current = await userFor(ctx.store, ctx.actor, id, Perm.ModifyUsers);
  await checkGrants(ctx.store, ctx.actor, grants);
  return settle(ctx.store.users.update(id, { ...current, passwordHash: undefined, roles: grants.roles, permissions: grants.permissions ?? [] }), {
    name: `user ${current.userName}`,
  });
}

export async function setStatus(ctx: Ctx, id: number, status: Status, accountLocked: boolean | undefined): Promise<User> {
  const current = await userFor(ctx.store, ctx.actor, id, Perm.ModifyUsers);
  if (status !== current.status) {
    await settle(ctx.store.users.update(id, { ...current, status, passwordHash: undefined }), { name: `user ${current.userName}` });
  }
  const now = ctx.clock();
  const locked = current.lockedUntil !== null && current.lockedUntil > now;
  if (accountLocked === false && (locked || current.failedCount > 0)) await settle(ctx.store.users.setLock(id, null));
  if (accountLocked === true && !locked) {
    const period = (await ctx.store.limits.all()).get(Limit.PasswordLockoutPeriod) ?? 1800;
    await settle(ctx.store.users.setLock(id, { lockedAt: now, lockedUntil: now + period * 1000 }));
  }
  // A deactivation or a lock ends the user's console sessions (api.md §10): an unlock later does not revive them.
  if (status !== 1 || accountLocked === true) await endSessionsOf(ctx.store, id);
  return (await ctx.store.users.get(id))!;
}

export async function setPassword(ctx: Ctx, id: number, password: string): Promise<void> {
  const current = await userFor(ctx.store, ctx.actor, id, Perm.ModifyUsers);
  checkPassword(password, current.userName);
  await settle(ctx.store.users.update(id, { ...current, passwordHash: await hashPassword(password, ctx.hashParams) }), { name: `user ${current.userName}` });
  await endSessionsOf(ctx.store, id);
}

export async function deleteUser(store: Store, actor: Identity, id: number): Promise<void> {
  await userFor(store, actor, id, Perm.DeleteUsers);
  // The profiles it owns go with it: those of apps with a revocation URI are revoked at their AS (api.md §9).
  await settle(store.users.delete(id, revocationWindow()));
}
