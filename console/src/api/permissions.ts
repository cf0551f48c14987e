/** The signed-in user's effective permissions (api.md §3.3), by HDP's numbers (§3.1). */
import { request } from './client';

export const Perm = {
  CreateDataSource: 1,
  ModifyDataSource: 3,
  DeleteDataSource: 4,
  Administrator: 12,
  OnBehalfOf: 21,
  OAuth: 28,
} as const;

export async function myPermissions(): Promise<Set<number>> {
  const answer = await request<{ permissions: { id: number; name: string }[] }>('/api/mgmt/permissions');
  return new Set(answer.permissions.map((p) => p.id));
}
