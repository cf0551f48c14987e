/**
 * `?user=<userName>` (api.md §4): the operation runs as the named user.
 *
 * Allowed for Administrator (12); otherwise the caller needs MgmtAPI (11), OnBehalfOf (21), the operation's own
 * permissions and administrative access on some tenant — decided before the name is looked up (403). A name that
 * does not exist, or whose tenant the caller does not administer, is the same 404, so a tenant administrator
 * learns nothing about other tenants' users. A caller without Administrator cannot act as a user who holds
 * permissions the caller lacks (403): that would be escalation by proxy.
 */
import { fail } from '../errors.js';
import { administers, covers, holds, isAdministrator, type Identity } from '../domain/access.js';
import { Perm } from '../domain/permissions.js';
import type { Principals } from '../domain/principals.js';

export async function resolveActor(principals: Principals, caller: Identity, userParam: unknown, permissions: number[]): Promise<Identity> {
  if (userParam === undefined) return caller;
  if (typeof userParam !== 'string' || userParam === '') throw fail('invalidJson', 'user: must be one non-empty user name');
  const mayActForOthers = isAdministrator(caller) || (holds(caller, Perm.MgmtAPI, Perm.OnBehalfOf, ...permissions) && caller.adminTenants.size > 0);
  if (!mayActForOthers) throw fail('forbidden');
  const target = await principals.byName(userParam);
  if (!target || !administers(caller, target.tenantId)) throw fail('userNotFound', userParam);
  if (!covers(caller, target.effective)) throw fail('forbidden');
  return target;
}
