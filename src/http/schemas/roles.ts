import { Type } from '@sinclair/typebox';
import { Id, IdList, Name, Nullable, Text, strictObject } from './common.js';

export const RoleBody = Type.Object({
  name: Name(),
  tenantId: Id,
  description: Type.Optional(Nullable(Text(1024))),
  permissions: IdList(100),
  users: Type.Optional(IdList(10_000)),
});
export const Role = strictObject({
  id: Type.Integer(),
  name: Type.String(),
  tenantId: Type.Integer(),
  description: Nullable(Type.String()),
  permissions: Type.Array(Type.Integer()),
  users: Type.Array(Type.Integer()),
});
export const RoleList = strictObject({ roles: Type.Array(Role) });
export const TenantQuery = Type.Object({ tenantId: Type.Optional(Id), tenantName: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })) });
