/**
 * Who may do what: the permission rules of api.md §3–§4 as pure functions over an identity. Nothing here knows
 * HTTP or SQL; routes and domain services ask these questions.
 */
import { Perm } from './permissions.js';

/** The caller or the effective user of a request: a user with what it may do. */
export interface Identity {
  readonly id: number;
  readonly userName: string;
  readonly tenantId: number;
  readonly effective: ReadonlySet<number>;
  readonly adminTenants: ReadonlySet<number>;
}

export const isAdministrator = (who: Identity): boolean => who.effective.has(Perm.Administrator);

/** Administrator (12) implies every permission. */
export const holds = (who: Identity, ...perms: number[]): boolean => isAdministrator(who) || perms.every((p) => who.effective.has(p));

/** Administrative access on a tenant: listed among its admins, or Administrator (12). */
export const administers = (who: Identity, tenantId: number): boolean => isAdministrator(who) || who.adminTenants.has(tenantId);

/** An administrator-API operation on something in `tenantId`: Administrator, or the permission plus admin access. */
export const mayAdminister = (who: Identity, perm: number, tenantId: number): boolean =>
  isAdministrator(who) || (who.effective.has(perm) && who.adminTenants.has(tenantId));

/**
 * No escalation: a caller without Administrator may only grant, and only manage users holding, permissions it
 * holds itself. Otherwise a tenant administrator could hand out Administrator or reset an administrator's password.
 */
export const covers = (who: Identity, perms: Iterable<number>): boolean => {
  if (isAdministrator(who)) return true;
  for (const p of perms) if (!who.effective.has(p)) return false;
  return true;
};
