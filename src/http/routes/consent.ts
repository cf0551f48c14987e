/**
 * Consent (api.md §9): `POST /api/mgmt/oauthprofiles/authorize` starts one (MgmtAPI 11 with 1 for a new profile, 3
 * for new tokens of an existing one; `?user=` as everywhere), `GET /hdpui/oauth2callback` is where the AS sends the
 * browser back — HDP's own redirect path. The callback has no Basic authentication (the state is the credential) and
 * answers a page or a 303 to the start's returnTo, never JSON: a browser is reading.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Identity } from '../../domain/access.js';
import { returnLocation } from '../../domain/consent.js';
import { Perm } from '../../domain/permissions.js';
import type { CallbackParams, ConsentResult } from '../../engine/consent.js';
import { fail } from '../../errors.js';
import { parseBasic } from '../auth.js';
import { CONSENT_PAGE_CSP, consentPage } from '../consent-page.js';
import { apiErrorOf } from '../error-handler.js';
import { OnBehalfQuery, errors, success } from '../schemas/common.js';
import { ConsentStartBody, ConsentStarted } from '../schemas/consent.js';

const PARAMS = ['state', 'code', 'iss', 'error'] as const;

/** The callback's parameters; a repeated one (`?state=a&state=b`) means the URL was tampered with. */
function callbackParams(query: unknown): CallbackParams {
  const q = (query ?? {}) as Record<string, unknown>;
  const params = {} as CallbackParams;
  for (const name of PARAMS) {
    const value = q[name];
    if (value !== undefined && typeof value !== 'string') throw fail('consentStateInvalid', `the callback carries ${name} more than once`);
    params[name] = value;
  }
  return params;
}

export const consentRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { consent, authenticator } = app.services;

  app.post(
    '/api/mgmt/oauthprofiles/authorize',
    {
      // 11 here; 1 (a new profile) or 3 (new tokens) once the body says which.
      config: { permissions: [Perm.MgmtAPI], onBehalf: true },
      schema: {
        operationId: 'startOAuthProfileConsent',
        summary: 'Start a consent: the authorization URL that gets a new profile, or new tokens for an existing one, once the user consents',
        tags: ['mgmt: OAuth profiles'],
        querystring: OnBehalfQuery,
        body: ConsentStartBody,
        response: { 200: success('The authorization URL to open in a browser, and when it expires', ConsentStarted), ...errors(400, 403, 404, 409, 413, 415) },
      },
    },
    async (request) => consent.start(request.actor, request.principal, request.body),
  );

  /**
   * The browser's user, when it sent credentials (RFC 6749 §10.12: the consent must then be its own). Wrong ones are
   * refused as on any route (401, counted for lockout), before the state is looked at.
   */
  const signedIn = async (request: FastifyRequest): Promise<Identity | undefined> => {
    if (request.headers.authorization === undefined) return undefined;
    const credentials = parseBasic(request.headers.authorization);
    if (!credentials) throw fail('unauthorized');
    return authenticator.authenticate(credentials.userName, credentials.password, request.ip);
  };

  const answer = (reply: FastifyReply, result: ConsentResult) => {
    reply.header('content-security-policy', CONSENT_PAGE_CSP).header('referrer-policy', 'no-referrer').header('cache-control', 'no-store');
    if (result.returnTo !== null) {
      const outcome = result.ok ? { profileId: result.profileId } : { errorCode: result.error.code };
      return reply.code(303).header('location', returnLocation(result.returnTo, outcome)).send();
    }
    const { status, html } = consentPage(result);
    return reply.code(status).type('text/html; charset=utf-8').send(html);
  };

  app.get(
    '/hdpui/oauth2callback',
    {
      config: { auth: false },
      // A HEAD (a link checker's) must not consume the state: it has its own answer below.
      exposeHeadRoute: false,
      // Not part of the API: the AS sends a browser here. Its answers are pages, not JSON.
      schema: { hide: true },
    },
    async (request, reply) => {
      let result: ConsentResult;
      try {
        const params = callbackParams(request.query);
        result = await consent.complete(params, await signedIn(request));
      } catch (err) {
        result = { ok: false, error: apiErrorOf(err as FastifyError, request), returnTo: null };
      }
      return answer(reply, result);
    },
  );

  app.head('/hdpui/oauth2callback', { config: { auth: false }, schema: { hide: true } }, async (_request, reply) =>
    reply.code(405).header('allow', 'GET').header('content-security-policy', CONSENT_PAGE_CSP).header('referrer-policy', 'no-referrer').send(),
  );
};
