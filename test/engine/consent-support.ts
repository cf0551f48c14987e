/**
 * What the consent tests share (api.md §9): the public URL the app is told (nothing listens there: the AS redirects
 * to it and the tests hand the redirect to the app with inject()), an app registered for an AS with its engine
 * settings, and the start and the callback as a client and a browser send them.
 */
import assert from 'node:assert/strict';
import type { LightMyRequestResponse } from 'fastify';
import type { Harness } from '../helpers.js';
import { ADMIN, appBody, createApp, expectStatus } from '../oauth-support.js';
import { unique } from './engine-support.js';

/** TOKENKEEP_PUBLIC_URL of the apps under test. */
export const PUBLIC_URL = 'http://127.0.0.1:7777';
/** The redirect URI those apps send: register it at the AS. */
export const REDIRECT_URI = `${PUBLIC_URL}/hdpui/oauth2callback`;

export interface AsEndpoints {
  authorizeURI?: string;
  tokenURI: string;
  client?: { clientId: string; clientSecret: string };
}

/** An app (of the system tenant, usable by all) for `as`, with these engine settings (e.g. issuer, authorizeParams). */
export async function consentApp(h: Harness, as: AsEndpoints, engine: Record<string, unknown> = {}, scope = 'openid offline_access'): Promise<number> {
  const app = await createApp(
    h,
    ADMIN,
    appBody(unique('consent app '), 1, {
      authorizeURI: as.authorizeURI ?? `${new URL(as.tokenURI).origin}/authorize`,
      tokenURI: as.tokenURI,
      clientId: as.client?.clientId ?? 'consent-client',
      clientSecret: as.client?.clientSecret ?? 'consent-client-secret-0123456789',
      scope,
    }),
  );
  const res = await h.call({ method: 'PUT', url: `/api/mgmt/oauthapps/${app.id}/engine`, as: ADMIN, payload: engine });
  expectStatus(res, 200, 'engine settings');
  return app.id;
}

/** POST /api/mgmt/oauthprofiles/authorize as `as` (a user name, or [name, password]), `?user=` when given. */
export const start = (h: Harness, body: Record<string, unknown>, as: string | [string, string] = ADMIN, user?: string): Promise<LightMyRequestResponse> =>
  h.call({ method: 'POST', url: `/api/mgmt/oauthprofiles/authorize${user === undefined ? '' : `?user=${encodeURIComponent(user)}`}`, as, payload: body });

/** A started consent's authorization URL (the start must have answered 200). */
export function started(res: LightMyRequestResponse): URL {
  const body = expectStatus(res, 200, 'start a consent');
  return new URL(body.authorizationUrl);
}

/** The state a start put into its authorization URL. */
export const stateOf = (authorizationUrl: URL): string => {
  const state = authorizationUrl.searchParams.get('state');
  assert.ok(state, 'the authorization URL carries a state');
  return state;
};

/** GET the callback as the browser the AS redirected: `url` is where the AS sent it (or a path with a query). */
export function callback(h: Harness, url: URL | string, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  const target = typeof url === 'string' ? url : `${url.pathname}${url.search}`;
  return h.app.inject({ method: 'GET', url: target, headers });
}

/** The callback the AS would send for `state`, with these parameters (a code the bad AS accepts, an error, an iss). */
export const callbackUrl = (params: Record<string, string>): string => `/hdpui/oauth2callback?${new URLSearchParams(params).toString()}`;
