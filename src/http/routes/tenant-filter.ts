/** `?tenantId=` or `?tenantName=` on list operations, resolved to a tenant id (404 for an unknown name). */
import { fail } from '../../errors.js';
import type { Store } from '../../domain/ports/index.js';

export async function tenantFilter(store: Store, query: { tenantId?: number; tenantName?: string }): Promise<number | undefined> {
  if (query.tenantId !== undefined) return query.tenantId;
  if (query.tenantName === undefined) return undefined;
  // No tenant name holds a control character; such a name is not looked up (PostgreSQL refuses U+0000 in text).
  const tenant = /\p{Cc}/u.test(query.tenantName) ? undefined : await store.tenants.byName(query.tenantName);
  if (!tenant) throw fail('tenantNotFound', query.tenantName.slice(0, 128));
  return tenant.id;
}
