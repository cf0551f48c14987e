import { Type } from '@sinclair/typebox';
import { strictObject } from './common.js';

export const Permission = strictObject({ id: Type.Integer(), name: Type.String(), description: Type.String() });
export const PermissionList = strictObject({ permissions: Type.Array(Permission) });
export const EffectivePermissionList = strictObject({
  permissions: Type.Array(strictObject({ id: Type.Integer(), name: Type.String() })),
});
