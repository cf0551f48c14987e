/**
 * `/api/mgmt/oauthprofiles` (api.md §6), above all `PUT /api/mgmt/oauthprofiles/{id}`: a user replaces the tokens
 * of a profile it owns or created. Permissions: MgmtAPI (11) with 2 view, 1 create, 3 modify, 4 delete.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { ifMatchVersions, setEtag } from '../etag.js';
import * as profiles from '../../domain/oauth-profiles.js';
import { Perm } from '../../domain/permissions.js';
import type { OAuthProfile } from '../../domain/ports/index.js';
import { IdParams, OnBehalfQuery, errors, success } from '../schemas/common.js';
import { Profile, ProfileBody, ProfileList, ProfileStats } from '../schemas/oauth.js';

export const oauthProfileRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { store } = app.services;
  const tags = ['mgmt: OAuth profiles'];
  const cfg = (perm: number) => ({ permissions: [Perm.MgmtAPI, perm], onBehalf: true, notFound: 'profileNotFound' as const });
  const present = (p: OAuthProfile, reply: FastifyReply) => {
    setEtag(reply, p.version);
    const { id, name, oauthAppId, description, accessToken, refreshToken } = p;
    return { id, name, oauthAppId, description, accessToken, refreshToken };
  };
  /** Full replace: an optional field left out is cleared. */
  const toInput = (body: typeof ProfileBody.static) => ({
    name: body.name,
    oauthAppId: body.oauthAppId,
    description: body.description ?? null,
    accessToken: body.accessToken ?? null,
    refreshToken: body.refreshToken,
  });

  app.get(
    '/api/mgmt/oauthprofiles',
    {
      config: cfg(Perm.ViewDataSource),
      schema: {
        operationId: 'listOAuthProfiles',
        summary: 'List the profiles the effective user owns or created (no tokens)',
        tags,
        querystring: OnBehalfQuery,
        response: { 200: success('The OAuth profiles (no tokens)', ProfileList), ...errors(400, 403, 404) },
      },
    },
    async (request, reply) => {
      // The store's JSON is sent as it is (Fastify serializes no string it is told is JSON): ProfileList, written by SQL.
      const list = await profiles.listProfilesJson(store, request.actor);
      return (reply as FastifyReply).type('application/json; charset=utf-8').send(`{"profiles":${list}}`);
    },
  );

  app.post(
    '/api/mgmt/oauthprofiles',
    {
      config: cfg(Perm.CreateDataSource),
      schema: {
        operationId: 'createOAuthProfile',
        summary: 'Create an OAuth profile owned by the effective user',
        tags,
        querystring: OnBehalfQuery,
        body: ProfileBody,
        response: { 201: success('The created OAuth profile', Profile), ...errors(400, 403, 404, 409, 413, 415) },
      },
    },
    async (request, reply) => {
      const created = await profiles.createProfile(store, request.actor, request.principal, toInput(request.body));
      reply.code(201).header('location', `/api/mgmt/oauthprofiles/${created.id}`);
      return present(created, reply);
    },
  );

  app.get(
    '/api/mgmt/oauthprofiles/:id',
    {
      config: cfg(Perm.ViewDataSource),
      schema: {
        operationId: 'getOAuthProfile',
        summary: 'Get an OAuth profile with its tokens',
        tags,
        params: IdParams,
        querystring: OnBehalfQuery,
        response: { 200: success('The OAuth profile with its tokens', Profile), ...errors(403, 404) },
      },
    },
    async (request, reply) => present(await profiles.profileFor(store, request.actor, request.params.id), reply),
  );

  app.put(
    '/api/mgmt/oauthprofiles/:id',
    {
      config: cfg(Perm.ModifyDataSource),
      schema: {
        operationId: 'replaceOAuthProfile',
        summary: 'Replace an OAuth profile (full replace: omitted optional fields are cleared)',
        tags,
        params: IdParams,
        querystring: OnBehalfQuery,
        body: ProfileBody,
        response: { 200: success('The replaced OAuth profile', Profile), ...errors(400, 403, 404, 409, 413, 415, 412) },
      },
    },
    async (request, reply) =>
      present(await profiles.updateProfile(store, request.actor, request.params.id, toInput(request.body), ifMatchVersions(request)), reply),
  );

  app.delete(
    '/api/mgmt/oauthprofiles/:id',
    {
      config: cfg(Perm.DeleteDataSource),
      schema: {
        operationId: 'deleteOAuthProfile',
        summary: 'Delete an OAuth profile; data sources lose the reference',
        tags,
        params: IdParams,
        querystring: OnBehalfQuery,
        response: { 204: success('Deleted', { type: 'null' }), ...errors(403, 404, 412) },
      },
    },
    async (request, reply) => {
      await profiles.deleteProfile(store, request.actor, request.params.id, ifMatchVersions(request));
      return reply.code(204).send();
    },
  );

  app.get(
    '/api/mgmt/oauthprofiles/:id/stats',
    {
      config: cfg(Perm.ViewDataSource),
      schema: {
        operationId: 'getOAuthProfileStats',
        summary: 'Data sources that use an OAuth profile',
        tags,
        params: IdParams,
        querystring: OnBehalfQuery,
        response: { 200: success('The data sources that use the profile', ProfileStats), ...errors(403, 404) },
      },
    },
    async (request) => {
      const stats = await profiles.profileStats(store, request.actor, request.params.id);
      return { dataSourcesLinked: stats.dataSources.length, ...stats };
    },
  );
};
