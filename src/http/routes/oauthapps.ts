/** `/api/mgmt/oauthapps` (api.md §5): read with MgmtAPI (11), manage with OAuth (28); `?user=` on every one. */
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import * as apps from '../../domain/oauth-apps.js';
import { Perm } from '../../domain/permissions.js';
import { IdParams, OnBehalfQuery, errors } from '../schemas/common.js';
import { App, AppBody, AppList } from '../schemas/oauth.js';
import { TenantQuery } from '../schemas/roles.js';
import { tenantFilter } from './tenant-filter.js';
import type { FastifyReply } from 'fastify';
import type { OAuthApp } from '../../storage/store.js';
import { ifMatchVersions, setEtag } from '../etag.js';

export const oauthAppRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { store, appRules } = app.services;
  const tags = ['mgmt: OAuth applications'];
  const read = { permissions: [Perm.MgmtAPI], onBehalf: true, notFound: 'appNotFound' as const };
  const manage = { ...read, permissions: [Perm.MgmtAPI, Perm.OAuth] };
  /** The full object with its ETag; the client secret only for those who may manage the application. */
  const present = (found: OAuthApp, reply: FastifyReply, withSecret: boolean) => {
    setEtag(reply, found.version);
    const { version: _version, clientSecret, ...rest } = found;
    return withSecret ? { ...rest, clientSecret } : rest;
  };
  const toInput = (body: typeof AppBody.static) => ({ ...body, description: body.description ?? null, scope: body.scope ?? null });

  app.get('/api/mgmt/oauthapps', {
    config: read,
    schema: { summary: 'List the OAuth applications usable by (or managed by) the effective user', tags, querystring: Type.Intersect([OnBehalfQuery, TenantQuery]), response: { 200: AppList, ...errors(400, 403, 404) } },
  }, async (request) => ({ applications: (await apps.listApps(store, request.actor, await tenantFilter(store, request.query))) }));

  app.post('/api/mgmt/oauthapps', {
    config: manage,
    schema: { summary: 'Create an OAuth application', tags, querystring: OnBehalfQuery, body: AppBody, response: { 201: App, ...errors(400, 403, 404, 409, 413, 415) } },
  }, async (request, reply) => {
    const created = await apps.createApp(store, request.actor, toInput(request.body), appRules);
    reply.code(201).header('location', `/api/mgmt/oauthapps/${created.id}`);
    return present(created, reply, true);
  });

  app.get('/api/mgmt/oauthapps/:id', {
    config: read,
    schema: { summary: 'Get an OAuth application (the client secret only for its managers)', tags, params: IdParams, querystring: OnBehalfQuery, response: { 200: App, ...errors(403, 404) } },
  }, async (request, reply) => {
    const found = await apps.appFor(store, request.actor, request.params.id);
    return present(found, reply, apps.manages(request.actor, found));
  });

  app.put('/api/mgmt/oauthapps/:id', {
    config: manage,
    schema: { summary: 'Replace an OAuth application', tags, params: IdParams, querystring: OnBehalfQuery, body: AppBody, response: { 200: App, ...errors(400, 403, 404, 409, 413, 415, 412) } },
  }, async (request, reply) => {
    const updated = await apps.updateApp(store, request.actor, request.params.id, toInput(request.body), appRules, ifMatchVersions(request));
    return present(updated, reply, true);
  });

  app.delete('/api/mgmt/oauthapps/:id', {
    config: manage,
    schema: { summary: 'Delete an OAuth application and its profiles', tags, params: IdParams, querystring: OnBehalfQuery, response: { 204: { type: 'null' }, ...errors(403, 404, 412) } },
  }, async (request, reply) => {
    await apps.deleteApp(store, request.actor, request.params.id, ifMatchVersions(request));
    return reply.code(204).send();
  });
};
