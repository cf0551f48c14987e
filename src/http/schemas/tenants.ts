import { Type } from '@sinclair/typebox';
import { Id, IdList, Name, Nullable, StatusValue, Text, strictObject } from './common.js';

export const TenantBody = Type.Object({
  name: Name(),
  description: Type.Optional(Nullable(Text(1024))),
  parentTenant: Type.Optional(Nullable(Id)),
  status: Type.Optional(StatusValue),
});
export const TenantCreateBody = Type.Intersect([TenantBody, Type.Object({ importedRoles: Type.Optional(IdList()), admins: Type.Optional(IdList()) })]);
export const Tenant = strictObject({
  id: Type.Integer(),
  name: Type.String(),
  description: Nullable(Type.String()),
  parentTenant: Nullable(Type.Integer()),
  status: StatusValue,
});
export const CreatedTenant = strictObject({ ...Tenant.properties, roles: Type.Array(Type.Integer()) });
export const TenantList = strictObject({ tenants: Type.Array(Tenant) });
export const TenantAdmins = strictObject({ admins: Type.Array(Type.Integer()) });
export const TenantAdminsBody = Type.Object({ admins: IdList() });
