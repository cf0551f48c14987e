/**
 * HTTP Basic (RFC 7617) in front of every route but the health check, then `?user=` resolution and the route's
 * permission check — all in onRequest, so that a 401/403 is decided before a body is parsed (api.md §6 order).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { fail } from '../errors.js';
import { holds } from '../domain/access.js';
import type { Authenticator } from '../domain/authenticator.js';
import type { Store } from '../domain/ports/index.js';
import { resolveActor } from './on-behalf.js';

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

export function installAuth(app: FastifyInstance, deps: { store: Store; authenticator: Authenticator }): void {
  app.decorateRequest('principal', null as never);
  app.decorateRequest('actor', null as never);

  app.addHook('onRequest', async (request: FastifyRequest) => {
    const config = request.routeOptions.config;
    if (config.auth === false) return;
    const credentials = parseBasic(request.headers.authorization);
    if (!credentials) throw fail('unauthorized');
    request.principal = await deps.authenticator.authenticate(credentials.userName, credentials.password, request.ip);
    const permissions = config.permissions ?? [];
    const user = config.onBehalf ? (request.query as Record<string, unknown>).user : undefined;
    request.actor = user === undefined ? request.principal : await resolveActor(deps.store, request.principal, user, permissions);
    if (!holds(request.principal, ...permissions)) throw fail('forbidden');
  });
}
