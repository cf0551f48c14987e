/**
 * The token engine's resources (api.md §8): a profile's status, the status list, a valid access token, and an app's
 * engine settings. Profiles: MgmtAPI (11) with 2 view (3 modify for a forced refresh), reachable as in §6; engine
 * settings: whoever may manage the app (§5).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { holds } from '../../domain/access.js';
import { assertReachable } from '../../domain/oauth-profiles.js';
import { Perm } from '../../domain/permissions.js';
import { replaceEngine, engineFor } from '../../engine/settings.js';
import { statusFor, statusList } from '../../engine/status.js';
import { fail } from '../../errors.js';
import { IdParams, OnBehalfQuery, errors, success } from '../schemas/common.js';
import { AccessTokenBody, EngineSettingsBody, EngineView, ProfileStatus, StatusList, StatusListQuery, TokenQuery } from '../schemas/engine.js';

export const tokenRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { store, appRules, engine } = app.services;
  const profileTags = ['mgmt: OAuth profiles'];
  const view = { permissions: [Perm.MgmtAPI, Perm.ViewDataSource], onBehalf: true, notFound: 'profileNotFound' as const };
  const manage = { permissions: [Perm.MgmtAPI, Perm.OAuth], onBehalf: true, notFound: 'appNotFound' as const };

  app.get(
    '/api/mgmt/oauthprofiles/status',
    {
      config: view,
      schema: {
        operationId: 'listOAuthProfileStatuses',
        summary: "The engine status of the effective user's profiles, optionally only those in one state",
        tags: profileTags,
        querystring: StatusListQuery,
        response: { 200: success('The profiles with their engine state', StatusList), ...errors(400, 403, 404) },
      },
    },
    async (request) => ({ profiles: await statusList(store, request.actor, request.query.state) }),
  );

  app.get(
    '/api/mgmt/oauthprofiles/:id/status',
    {
      config: view,
      schema: {
        operationId: 'getOAuthProfileStatus',
        summary: "A profile's engine status: state, expiry, failures, the authorization server's last error",
        tags: profileTags,
        params: IdParams,
        querystring: OnBehalfQuery,
        response: { 200: success("The profile's engine status", ProfileStatus), ...errors(403, 404) },
      },
    },
    async (request) => statusFor(store, request.actor, request.params.id),
  );

  app.post(
    '/api/mgmt/oauthprofiles/:id/token',
    {
      config: view,
      schema: {
        operationId: 'getOAuthProfileAccessToken',
        summary: 'A valid access token: the stored one while it stays valid for minValidity seconds, else a refreshed one',
        tags: profileTags,
        params: IdParams,
        querystring: TokenQuery,
        response: { 200: success('A valid access token', AccessTokenBody), ...errors(400, 403, 404, 409) },
      },
    },
    async (request) => {
      const force = request.query.force === 'true';
      if (force && !holds(request.principal, Perm.MgmtAPI, Perm.ModifyDataSource)) throw fail('forbidden');
      const id = request.params.id;
      // The engine's one read brings the owner and the creator along: the access check is made on it, first.
      return engine.accessToken(id, {
        minValidityMs: (request.query.minValidity ?? 60) * 1000,
        force,
        reachable: (profile) => void assertReachable(request.actor, id, profile),
      });
    },
  );

  app.get(
    '/api/mgmt/oauthapps/:id/engine',
    {
      config: manage,
      schema: {
        operationId: 'getOAuthAppEngine',
        summary: "An application's engine settings and its standing with the authorization server",
        tags: ['mgmt: OAuth applications'],
        params: IdParams,
        querystring: OnBehalfQuery,
        response: { 200: success('The engine settings', EngineView), ...errors(403, 404) },
      },
    },
    async (request) => engineFor(store, request.actor, request.params.id),
  );

  app.put(
    '/api/mgmt/oauthapps/:id/engine',
    {
      config: manage,
      schema: {
        operationId: 'replaceOAuthAppEngine',
        summary: "Replace an application's engine settings (full replace: omitted fields take their defaults)",
        tags: ['mgmt: OAuth applications'],
        params: IdParams,
        querystring: OnBehalfQuery,
        body: EngineSettingsBody,
        response: { 200: success('The engine settings', EngineView), ...errors(400, 403, 404, 413, 415) },
      },
    },
    async (request) => replaceEngine(store, request.actor, request.params.id, request.body, appRules),
  );
};
