/** `/api/admin/tenants`: TenantAPI (25) plus administrative access on the tenant, or Administrator. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Perm } from '../../domain/permissions.js';
import * as tenants from '../../domain/tenants.js';
import { IdParams, errors, success } from '../schemas/common.js';
import { CreatedTenant, Tenant, TenantAdmins, TenantAdminsBody, TenantBody, TenantCreateBody, TenantList } from '../schemas/tenants.js';

export const tenantRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { store } = app.services;
  const config = { permissions: [Perm.TenantAPI], notFound: 'tenantNotFound' as const };
  const tags = ['admin: tenants'];

  app.get(
    '/api/admin/tenants',
    {
      config,
      schema: {
        operationId: 'listTenants',
        summary: 'List the tenants the caller administers',
        tags,
        response: { 200: success('The tenants the caller administers', TenantList), ...errors(403) },
      },
    },
    async (request) => ({ tenants: await tenants.listTenants(store, request.actor) }),
  );

  app.post(
    '/api/admin/tenants',
    {
      config,
      schema: {
        operationId: 'createTenant',
        summary: 'Create a tenant',
        tags,
        body: TenantCreateBody,
        response: { 201: success('The created tenant, with its roles', CreatedTenant), ...errors(400, 403, 409, 413, 415) },
      },
    },
    async (request, reply) => {
      const { tenant, roles } = await tenants.createTenant(store, request.actor, request.body);
      reply.code(201).header('location', `/api/admin/tenants/${tenant.id}`);
      return { ...tenant, roles };
    },
  );

  app.get(
    '/api/admin/tenants/:id',
    {
      config,
      schema: {
        operationId: 'getTenant',
        summary: 'Get a tenant',
        tags,
        params: IdParams,
        response: { 200: success('The tenant', Tenant), ...errors(403, 404) },
      },
    },
    async (request) => tenants.tenantFor(store, request.actor, request.params.id),
  );

  app.put(
    '/api/admin/tenants/:id',
    {
      config,
      schema: {
        operationId: 'updateTenant',
        summary: 'Update a tenant',
        tags,
        params: IdParams,
        body: TenantBody,
        response: { 200: success('The updated tenant', Tenant), ...errors(400, 403, 404, 409, 413, 415) },
      },
    },
    async (request) => tenants.updateTenant(store, request.actor, request.params.id, request.body),
  );

  app.delete(
    '/api/admin/tenants/:id',
    {
      config,
      schema: {
        operationId: 'deleteTenant',
        summary: 'Delete a tenant without users',
        tags,
        params: IdParams,
        response: { 204: success('Deleted', { type: 'null' }), ...errors(403, 404, 409) },
      },
    },
    async (request, reply) => {
      await tenants.deleteTenant(store, request.actor, request.params.id);
      return reply.code(204).send();
    },
  );

  app.get(
    '/api/admin/tenants/:id/admins',
    {
      config,
      schema: {
        operationId: 'listTenantAdmins',
        summary: "List a tenant's administrators",
        tags,
        params: IdParams,
        response: { 200: success("The tenant's administrators", TenantAdmins), ...errors(403, 404) },
      },
    },
    async (request) => {
      await tenants.tenantFor(store, request.actor, request.params.id);
      return { admins: await store.tenants.admins(request.params.id) };
    },
  );

  app.put(
    '/api/admin/tenants/:id/admins',
    {
      config,
      schema: {
        operationId: 'replaceTenantAdmins',
        summary: "Replace a tenant's administrators",
        tags,
        params: IdParams,
        body: TenantAdminsBody,
        response: { 200: success("The tenant's administrators now", TenantAdmins), ...errors(400, 403, 404, 413, 415) },
      },
    },
    async (request) => ({ admins: await tenants.setTenantAdmins(store, request.actor, request.params.id, request.body.admins) }),
  );
};
