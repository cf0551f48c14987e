/** `?tenantId=` or `?tenantName=` on list operations, resolved to a tenant id (404 for an unknown name). */
import { fail } from '../../errors.js';
import type { Store } from '../../storage/store.js';

export async function tenantFilter(store: Store, query: { tenantId?: number; tenantName?: string }): Promise<number | undefined> {
  if (query.tenantId !== undefined) return query.tenantId;
  if (query.tenantName === undefined) return undefined;
  const tenant = await store.tenantByName(query.tenantName);
  if (!tenant) throw fail('tenantNotFound', query.tenantName.slice(0, 128));
  return tenant.id;
}
