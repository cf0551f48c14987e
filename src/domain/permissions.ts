/**
 * HDP's fixed permission catalogue (api.md §3.1). Ids 22–24 exist in HDP but are undocumented and not served.
 */
export const Perm = {
  CreateDataSource: 1,
  ViewDataSource: 2,
  ModifyDataSource: 3,
  DeleteDataSource: 4,
  UseDataSourceWithJDBC: 5,
  UseDataSourceWithODBC: 6,
  UseDataSourceWithOData: 7,
  WebUI: 8,
  ChangePassword: 9,
  SQLEditorWebUI: 10,
  MgmtAPI: 11,
  Administrator: 12,
  CreateUsers: 13,
  ViewUsers: 14,
  ModifyUsers: 15,
  DeleteUsers: 16,
  CreateRole: 17,
  ViewRole: 18,
  ModifyRole: 19,
  DeleteRole: 20,
  OnBehalfOf: 21,
  TenantAPI: 25,
  RegisterExternalAuthService: 26,
  Limits: 27,
  OAuth: 28,
  IPWhiteList: 29,
} as const;

export type PermissionId = (typeof Perm)[keyof typeof Perm];

const descriptions: Record<PermissionId, string> = {
  1: 'Create data sources.',
  2: 'View own data sources and OAuth profiles.',
  3: 'Modify own data sources and OAuth profiles.',
  4: 'Delete own data sources and OAuth profiles.',
  5: 'Query own data sources over JDBC.',
  6: 'Query own data sources over ODBC.',
  7: 'Query own data sources over OData.',
  8: 'Use the Web UI.',
  9: 'Change own password.',
  10: 'Use the SQL editor of the Web UI.',
  11: 'Use the Management API.',
  12: 'Full system administrator: every operation in every tenant.',
  13: 'Create users in administered tenants.',
  14: 'View users in administered tenants.',
  15: 'Modify users in administered tenants.',
  16: 'Delete users in administered tenants.',
  17: 'Create roles in administered tenants.',
  18: 'View roles in administered tenants.',
  19: 'Modify roles in administered tenants.',
  20: 'Delete roles in administered tenants.',
  21: 'Act on behalf of users of administered tenants (?user=).',
  25: 'Use the Tenant API.',
  26: 'Register external authentication services.',
  27: 'Manage limits.',
  28: 'Manage OAuth application objects.',
  29: 'Manage IP address whitelists.',
};

export interface PermissionInfo {
  id: PermissionId;
  name: string;
  description: string;
}

export const permissionCatalogue: readonly PermissionInfo[] = Object.entries(Perm).map(([name, id]) => ({
  id,
  name,
  description: descriptions[id],
}));

const byId = new Map<number, PermissionInfo>(permissionCatalogue.map((p) => [p.id, p]));

export const permissionById = (id: number): PermissionInfo | undefined => byId.get(id);
export const isPermissionId = (id: number): id is PermissionId => byId.has(id);
export const allPermissionIds: readonly PermissionId[] = permissionCatalogue.map((p) => p.id);

/** Default roles of the system tenant (api.md §3.2). Their ids are fixed and they cannot be deleted. */
const range = (from: number, to: number): PermissionId[] => allPermissionIds.filter((id) => id >= from && id <= to);

export const defaultRoles = [
  { id: 1, name: 'System Administrator', permissions: [...allPermissionIds] },
  { id: 2, name: 'User', permissions: range(1, 11) },
  { id: 3, name: 'Tenant Administrator', permissions: [...range(1, 11), ...range(13, 21)] },
] as const;

export const SYSTEM_TENANT_ID = 1;
export const isDefaultRole = (roleId: number): boolean => roleId >= 1 && roleId <= 3;
