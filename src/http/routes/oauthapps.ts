/** `/api/mgmt/oauthapps` (api.md §5): read with MgmtAPI (11), manage with OAuth (28); `?user=` on every one. */
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import * as apps from '../../domain/oauth-apps.js';
import { Perm } from '../../domain/permissions.js';
import { IdParams, OnBehalfQuery, errors, success } from '../schemas/common.js';
import { App, AppBody, AppList } from '../schemas/oauth.js';
import { TenantQuery } from '../schemas/roles.js';
import { tenantFilter } from './tenant-filter.js';
import type { FastifyReply } from 'fastify';
import type { OAuthApp, OAuthAppHeader } from '../../domain/ports/index.js';
import { ifMatchVersions, setEtag } from '../etag.js';

export const oauthAppRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { store, appRules } = app.services;
  const tags = ['mgmt: OAuth applications'];
  const read = { permissions: [Perm.MgmtAPI], onBehalf: true, notFound: 'appNotFound' as const };
  const manage = { ...read, permissions: [Perm.MgmtAPI, Perm.OAuth] };
  /** The object with its ETag; the client secret when the domain read it (only for those who may manage the application). */
  const present = (found: OAuthAppHeader | OAuthApp, reply: FastifyReply) => {
    setEtag(reply, found.version);
    const { version: _version, ...rest } = found;
    return rest;
  };
  const toInput = (body: typeof AppBody.static) => ({ ...body, description: body.description ?? null, scope: body.scope ?? null });

  app.get(
    '/api/mgmt/oauthapps',
    {
      config: read,
      schema: {
        operationId: 'listOAuthApps',
        summary: 'List the OAuth applications usable by (or managed by) the effective user',
        tags,
        querystring: Type.Intersect([OnBehalfQuery, TenantQuery]),
        response: { 200: success('The OAuth applications (no client secrets)', AppList), ...errors(400, 403, 404) },
      },
    },
    async (request) => ({ applications: await apps.listApps(store, request.actor, await tenantFilter(store, request.query)) }),
  );

  app.post(
    '/api/mgmt/oauthapps',
    {
      config: manage,
      schema: {
        operationId: 'createOAuthApp',
        summary: 'Create an OAuth application',
        tags,
        querystring: OnBehalfQuery,
        body: AppBody,
        response: { 201: success('The created OAuth application', App), ...errors(400, 403, 404, 409, 413, 415) },
      },
    },
    async (request, reply) => {
      const created = await apps.createApp(store, request.actor, toInput(request.body), appRules);
      reply.code(201).header('location', `/api/mgmt/oauthapps/${created.id}`);
      return present(created, reply);
    },
  );

  app.get(
    '/api/mgmt/oauthapps/:id',
    {
      config: read,
      schema: {
        operationId: 'getOAuthApp',
        summary: 'Get an OAuth application (the client secret only for its managers)',
        tags,
        params: IdParams,
        querystring: OnBehalfQuery,
        response: { 200: success('The OAuth application', App), ...errors(403, 404) },
      },
    },
    async (request, reply) => {
      return present(await apps.appFor(store, request.actor, request.params.id), reply);
    },
  );

  app.put(
    '/api/mgmt/oauthapps/:id',
    {
      config: manage,
      schema: {
        operationId: 'replaceOAuthApp',
        summary: 'Replace an OAuth application',
        tags,
        params: IdParams,
        querystring: OnBehalfQuery,
        body: AppBody,
        response: { 200: success('The replaced OAuth application', App), ...errors(400, 403, 404, 409, 413, 415, 412) },
      },
    },
    async (request, reply) => {
      const updated = await apps.updateApp(store, request.actor, request.params.id, toInput(request.body), appRules, ifMatchVersions(request));
      return present(updated, reply);
    },
  );

  app.delete(
    '/api/mgmt/oauthapps/:id',
    {
      config: manage,
      schema: {
        operationId: 'deleteOAuthApp',
        summary: 'Delete an OAuth application and its profiles',
        tags,
        params: IdParams,
        querystring: OnBehalfQuery,
        response: { 204: success('Deleted', { type: 'null' }), ...errors(403, 404, 412) },
      },
    },
    async (request, reply) => {
      await apps.deleteApp(store, request.actor, request.params.id, ifMatchVersions(request));
      return reply.code(204).send();
    },
  );
};
