/**
 * What a route declares about itself, and what the request carries once authenticated. Declared once here so that
 * every route and hook reads the same names.
 */
import type { ErrorKind } from '../errors.js';
import type { Identity } from '../domain/access.js';
import type { Principal } from '../domain/ports/index.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false for the health check (and routes that authenticate by themselves); every other route requires HTTP Basic or a console session */
    auth?: boolean;
    /** permissions the caller must all hold (Administrator implies every one) before the body is even read */
    permissions?: number[];
    /** accepts `?user=`; `permissions` is then also the operation's permission for on-behalf-of */
    onBehalf?: boolean;
    /** the not-found error for a malformed `:id` path parameter */
    notFound?: ErrorKind;
  }
  interface FastifyRequest {
    /** the authenticated caller */
    principal: Principal;
    /** the user the operation runs as: the caller, or the `?user=` target */
    actor: Identity;
    /** a console request (it relied on the session cookie, or is a /console/session route): its 401 challenge is not Basic */
    consoleRequest: boolean;
  }
}

export {};
