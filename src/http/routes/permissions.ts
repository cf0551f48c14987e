/** The permission catalogue (administrator API) and the caller's effective permissions (management API). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { fail } from '../../errors.js';
import { Perm, permissionById, permissionCatalogue } from '../../domain/permissions.js';
import { IdParams, errors, success } from '../schemas/common.js';
import { EffectivePermissionList, Permission, PermissionList } from '../schemas/permissions.js';

export const permissionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const config = { permissions: [Perm.MgmtAPI] };

  app.get(
    '/api/admin/permissions',
    {
      config,
      schema: {
        operationId: 'listPermissions',
        summary: 'List the permission catalogue',
        tags: ['admin: permissions'],
        response: { 200: success('The permission catalogue', PermissionList), ...errors(403) },
      },
    },
    async () => ({ permissions: [...permissionCatalogue] }),
  );

  app.get(
    '/api/admin/permissions/:id',
    {
      config: { ...config, notFound: 'permissionNotFound' },
      schema: {
        operationId: 'getPermission',
        summary: 'Get one permission',
        tags: ['admin: permissions'],
        params: IdParams,
        response: { 200: success('The permission', Permission), ...errors(403, 404) },
      },
    },
    async (request) => {
      const permission = permissionById(request.params.id);
      if (!permission) throw fail('permissionNotFound', request.params.id);
      return permission;
    },
  );

  app.get(
    '/api/mgmt/permissions',
    {
      config,
      schema: {
        operationId: 'listEffectivePermissions',
        summary: "The caller's effective permissions",
        tags: ['mgmt: permissions'],
        response: { 200: success("The caller's effective permissions", EffectivePermissionList), ...errors(403) },
      },
    },
    async (request) => ({
      permissions: permissionCatalogue.filter((p) => request.principal.effective.has(p.id)).map(({ id, name }) => ({ id, name })),
    }),
  );
};
