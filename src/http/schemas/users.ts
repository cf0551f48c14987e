import { Type } from '@sinclair/typebox';
import { Id, IdList, Nullable, StatusValue, strictObject } from './common.js';

/** 1–128 characters, no control characters and no colon (Basic auth splits at the first colon). */
export const UserName = Type.String({ minLength: 1, maxLength: 128, pattern: '^[^\\p{Cc}:]+$' });
const Password = Type.String({ minLength: 1, maxLength: 1024 });

export const GrantsBody = Type.Object({ roles: IdList(100), permissions: Type.Optional(IdList(100)) });
export const StatusInfoBody = Type.Object({ status: StatusValue, accountLocked: Type.Optional(Type.Boolean()) });
export const PasswordInfoBody = Type.Object({ password: Password });

export const UserBody = Type.Object({
  userName: UserName,
  tenantId: Type.Optional(Id),
  statusInfo: StatusInfoBody,
  passwordInfo: Type.Optional(PasswordInfoBody),
  permissions: GrantsBody,
});

export const Grants = strictObject({ roles: Type.Array(Type.Integer()), permissions: Type.Array(Type.Integer()) });
export const StatusInfo = strictObject({
  status: StatusValue,
  accountLocked: Type.Boolean(),
  accountLockedAt: Nullable(Type.String({ description: 'UTC, YYYY-MM-DD HH:mm:ss' })),
  accountLockedUntil: Nullable(Type.String({ description: 'UTC, YYYY-MM-DD HH:mm:ss' })),
});
export const User = strictObject({
  id: Type.Integer(),
  userName: Type.String(),
  tenantId: Type.Integer(),
  statusInfo: StatusInfo,
  permissions: Grants,
});
export const UserList = strictObject({ users: Type.Array(User) });
