/**
 * Authentication in front of every route but the health check — HTTP Basic (RFC 7617) or the console's session cookie
 * (api.md §10) — then `?user=` resolution and the route's permission check, all in onRequest, so that a 401/403 is
 * decided before a body is parsed (api.md §6 order).
 *
 * A request with an Authorization header is judged by that header alone, as before the console existed: Basic wins
 * over a cookie sent beside it, and such a request needs no CSRF token (a page of another site cannot make a browser
 * add an Authorization header of its choosing). Only a request without one is authenticated by the cookie, and then
 * also shows its Origin and CSRF token (./session-cookie.ts) before `?user=` is looked at.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { fail } from '../errors.js';
import { holds } from '../domain/access.js';
import type { Authenticator } from '../domain/authenticator.js';
import type { ConsoleSessions } from '../domain/console-sessions.js';
import type { Principal } from '../domain/ports/index.js';
import type { Principals } from '../domain/principals.js';
import { resolveActor } from './on-behalf.js';
import { guardSessionRequest, sessionIdOf, type CookiePolicy } from './session-cookie.js';

/** Bigger than any sane user name and password; larger headers are refused before decoding. */
const MAX_CREDENTIALS_LENGTH = 1024;

export interface Credentials {
  userName: string;
  password: string;
}

/** Parses `Authorization: Basic …`; undefined for anything that is not well-formed Basic. */
export function parseBasic(header: string | undefined): Credentials | undefined {
  if (!header) return undefined;
  const match = /^basic +([A-Za-z0-9+/=]+) *$/i.exec(header);
  if (!match || match[1].length > MAX_CREDENTIALS_LENGTH) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { userName: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export interface AuthDeps {
  principals: Principals;
  authenticator: Authenticator;
  sessions: ConsoleSessions;
  cookies: CookiePolicy;
}

export function installAuth(app: FastifyInstance, deps: AuthDeps): void {
  app.decorateRequest('principal', null as never);
  app.decorateRequest('actor', null as never);
  app.decorateRequest('consoleRequest', false);

  /** The caller by the session cookie: 401 without a session that admits, 403 for a write without Origin and token. */
  const bySession = async (request: FastifyRequest): Promise<Principal> => {
    const sessionId = sessionIdOf(app, request);
    if (sessionId === undefined) throw fail('unauthorized');
    request.consoleRequest = true;
    const resumed = await deps.sessions.resume(sessionId);
    if (!resumed) throw fail('unauthorized');
    guardSessionRequest(request, sessionId, deps.cookies);
    return resumed.principal;
  };

  app.addHook('onRequest', async (request: FastifyRequest) => {
    const config = request.routeOptions.config;
    if (config.auth === false) return;
    if (request.headers.authorization === undefined) {
      request.principal = await bySession(request);
    } else {
      const credentials = parseBasic(request.headers.authorization);
      if (!credentials) throw fail('unauthorized');
      request.principal = await deps.authenticator.authenticate(credentials.userName, credentials.password, request.ip);
    }
    const permissions = config.permissions ?? [];
    const user = config.onBehalf ? (request.query as Record<string, unknown>).user : undefined;
    request.actor = user === undefined ? request.principal : await resolveActor(deps.principals, request.principal, user, permissions);
    if (!holds(request.principal, ...permissions)) throw fail('forbidden');
  });
}
