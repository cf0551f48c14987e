/** `/api/admin/roles`: ViewRole/CreateRole/ModifyRole/DeleteRole (17–20) with administrative access on the tenant. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Perm } from '../../domain/permissions.js';
import * as roles from '../../domain/roles.js';
import { IdParams, errors } from '../schemas/common.js';
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

  app.get('/api/admin/roles', {
    config: cfg(Perm.ViewRole),
    schema: { summary: 'List roles', tags, querystring: TenantQuery, response: { 200: RoleList, ...errors(400, 403, 404) } },
  }, async (request) => ({ roles: await roles.listRoles(store, request.actor, await tenantFilter(store, request.query)) }));

  app.post('/api/admin/roles', {
    config: cfg(Perm.CreateRole),
    schema: { summary: 'Create a role', tags, body: RoleBody, response: { 201: Role, ...errors(400, 403, 404, 409, 413, 415) } },
  }, async (request, reply) => {
    const role = await roles.createRole(store, request.actor, toInput(request.body));
    reply.code(201).header('location', `/api/admin/roles/${role.id}`);
    return role;
  });

  app.get('/api/admin/roles/:id', {
    config: cfg(Perm.ViewRole),
    schema: { summary: 'Get a role', tags, params: IdParams, response: { 200: Role, ...errors(403, 404) } },
  }, async (request) => roles.roleFor(store, request.actor, request.params.id, Perm.ViewRole));

  app.put('/api/admin/roles/:id', {
    config: cfg(Perm.ModifyRole),
    schema: { summary: 'Replace a role', tags, params: IdParams, body: RoleBody, response: { 200: Role, ...errors(400, 403, 404, 409, 413, 415) } },
  }, async (request) => roles.updateRole(store, request.actor, request.params.id, toInput(request.body)));

  app.delete('/api/admin/roles/:id', {
    config: cfg(Perm.DeleteRole),
    schema: { summary: 'Delete a role', tags, params: IdParams, response: { 204: { type: 'null' }, ...errors(403, 404, 409) } },
  }, async (request, reply) => {
    await roles.deleteRole(store, request.actor, request.params.id);
    return reply.code(204).send();
  });
};
