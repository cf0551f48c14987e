/**
 * The console session's cookie (api.md §10) and what a request that relies on it must also show: its Origin, when it
 * sends one, is this server's, and a request other than GET/HEAD carries the session's CSRF token. The session's
 * rules (timeouts, what ends it, the token itself) are the domain's: src/domain/console-sessions.ts.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { csrfTokenMatches } from '../domain/console-sessions.js';
import { fail } from '../errors.js';

export const SESSION_COOKIE = 'tokenkeep_session';
export const CSRF_HEADER = 'x-csrf-token';

/**
 * The challenge of a 401 to a console request (one that carried the cookie, or to /console/session). Not Basic: a
 * browser answers a Basic challenge to fetch() with its own password dialog, over the console's sign-in form. RFC 9110
 * wants a challenge on every 401; this one names the sign-in form and the cookie, after draft-broyer-http-cookie-auth.
 */
export const SESSION_CHALLENGE = `Cookie realm="tokenkeep", form-action="/console/session", cookie-name="${SESSION_COOKIE}"`;

export interface CookiePolicy {
  /** the cookie's Secure attribute: the server speaks TLS, or TOKENKEEP_PUBLIC_URL is https (a TLS proxy in front) */
  secure: boolean;
  /** this server's origin: TOKENKEEP_PUBLIC_URL; undefined means the request's own scheme and Host */
  publicOrigin: string | undefined;
  /** the server speaks TLS itself (the scheme of its own origin without TOKENKEEP_PUBLIC_URL) */
  tls: boolean;
}

/** The value of the request's session cookie, or undefined (no Cookie header, no such cookie, an unparsable header). */
export function sessionIdOf(app: FastifyInstance, request: FastifyRequest): string | undefined {
  const header = request.headers.cookie;
  if (header === undefined) return undefined;
  try {
    const value = app.parseCookie(header)[SESSION_COOKIE];
    return typeof value === 'string' && value !== '' ? value : undefined;
  } catch {
    return undefined;
  }
}

const attributes = (policy: CookiePolicy) => ({ path: '/', httpOnly: true, sameSite: 'strict' as const, secure: policy.secure });

/** A session cookie without Max-Age: the browser forgets it when it closes; the server ends it after 12 hours anyway. */
export function setSessionCookie(reply: FastifyReply, sessionId: string, policy: CookiePolicy): void {
  reply.setCookie(SESSION_COOKIE, sessionId, attributes(policy));
}

export function clearSessionCookie(reply: FastifyReply, policy: CookiePolicy): void {
  reply.clearCookie(SESSION_COOKIE, attributes(policy));
}

/** A request's Origin, when it sends one, must be this server's own: else 403 `originRejected`. */
export function checkOrigin(request: FastifyRequest, policy: CookiePolicy): void {
  const origin = request.headers.origin;
  if (origin === undefined) return;
  const own = policy.publicOrigin ?? `${policy.tls ? 'https' : 'http'}://${String(request.host).toLowerCase()}`;
  if (origin !== own) throw fail('originRejected');
}

/** A cookie-authenticated request that may change something: Origin (403 `originRejected`), then the CSRF token (403 `csrfTokenInvalid`). */
export function guardSessionRequest(request: FastifyRequest, sessionId: string, policy: CookiePolicy): void {
  if (request.method === 'GET' || request.method === 'HEAD') return;
  checkOrigin(request, policy);
  if (!csrfTokenMatches(sessionId, request.headers[CSRF_HEADER])) throw fail('csrfTokenInvalid');
}
