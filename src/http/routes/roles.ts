/** `/api/admin/roles`: ViewRole/CreateRole/ModifyRole/DeleteRole (17–20) with administrative access on the tenant. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Perm } from '../../domain/permissions.js';
import * as roles from '../../domain/roles.js';
import { IdParams, errors, success } from '../schemas/common.js';
import { Role, RoleBody, RoleList, TenantQuery } from '../schemas/roles.js';
import { tenantFilter } from './tenant-filter.js';

export const roleRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { store } = app.services;
  const tags = ['admin: roles'];
  const cfg = (perm: number) => ({ permissions: [perm], notFound: 'roleNotFound' as const });
  const toInput = (body: typeof RoleBody.static) => ({
    name: body.name,
    tenantId: body.tenantId,
    description: body.description ?? null,
    permissions: body.permissions,
    users: body.users ?? [],
  });

  app.get(
    '/api/admin/roles',
    {
      config: cfg(Perm.ViewRole),
      schema: {
        operationId: 'listRoles',
        summary: 'List roles',
        tags,
        querystring: TenantQuery,
        response: { 200: success('The roles the caller may see', RoleList), ...errors(400, 403, 404) },
      },
    },
    async (request) => ({ roles: await roles.listRoles(store, request.actor, await tenantFilter(store, request.query)) }),
  );

  app.post(
    '/api/admin/roles',
    {
      config: cfg(Perm.CreateRole),
      schema: {
        operationId: 'createRole',
        summary: 'Create a role',
        tags,
        body: RoleBody,
        response: { 201: success('The created role', Role), ...errors(400, 403, 404, 409, 413, 415) },
      },
    },
    async (request, reply) => {
      const role = await roles.createRole(store, request.actor, toInput(request.body));
      reply.code(201).header('location', `/api/admin/roles/${role.id}`);
      return role;
    },
  );

  app.get(
    '/api/admin/roles/:id',
    {
      config: cfg(Perm.ViewRole),
      schema: { operationId: 'getRole', summary: 'Get a role', tags, params: IdParams, response: { 200: success('The role', Role), ...errors(403, 404) } },
    },
    async (request) => roles.roleFor(store, request.actor, request.params.id, Perm.ViewRole),
  );

  app.put(
    '/api/admin/roles/:id',
    {
      config: cfg(Perm.ModifyRole),
      schema: {
        operationId: 'replaceRole',
        summary: 'Replace a role',
        tags,
        params: IdParams,
        body: RoleBody,
        response: { 200: success('The replaced role', Role), ...errors(400, 403, 404, 409, 413, 415) },
      },
    },
    async (request) => roles.updateRole(store, request.actor, request.params.id, toInput(request.body)),
  );

  app.delete(
    '/api/admin/roles/:id',
    {
      config: cfg(Perm.DeleteRole),
      schema: {
        operationId: 'deleteRole',
        summary: 'Delete a role',
        tags,
        params: IdParams,
        response: { 204: success('Deleted', { type: 'null' }), ...errors(403, 404, 409) },
      },
    },
    async (request, reply) => {
      await roles.deleteRole(store, request.actor, request.params.id);
      return reply.code(204).send();
    },
  );
};
