/**
 * Console sessions (api.md §10): `POST /console/session` signs in with a user name and password through the same
 * authenticator as Basic auth (lockout, per-address limit, hashing gate) and sets the session cookie;
 * `GET /console/session` tells a console that reloaded who is signed in and its CSRF token again; `DELETE` signs out.
 * These routes authenticate by themselves (`auth: false`); their 401s challenge to the sign-in form, not to Basic.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { fail } from '../../errors.js';
import { errors, success } from '../schemas/common.js';
import { SessionInfo, SignInBody } from '../schemas/console-session.js';
import { checkOrigin, clearSessionCookie, guardSessionRequest, sessionIdOf, setSessionCookie, type CookiePolicy } from '../session-cookie.js';

/** A user name and a password fit many times over; a bigger body is a 413 before anything is parsed or hashed. */
export const SIGN_IN_BODY_LIMIT = 4096;

export const consoleSessionRoutes: FastifyPluginAsyncTypebox<{ cookies: CookiePolicy }> = async (app, { cookies }) => {
  const { sessions } = app.services;
  const tags = ['console'];
  const security = [{ consoleSession: [] }];

  // Hooks of this plugin apply to its routes only.
  app.addHook('onRequest', (request, _reply, done) => {
    request.consoleRequest = true;
    done();
  });

  app.post(
    '/console/session',
    {
      config: { auth: false },
      bodyLimit: SIGN_IN_BODY_LIMIT,
      // Before the body is read: a sign-in posted by another site's page (login CSRF) is refused as such.
      onRequest: (request, _reply, done) => {
        try {
          checkOrigin(request, cookies);
          done();
        } catch (err) {
          done(err as Error);
        }
      },
      schema: {
        operationId: 'signInConsole',
        summary: 'Sign in to the console: a session cookie instead of a password on every request',
        tags,
        security: [],
        body: SignInBody,
        response: {
          200: success('Signed in: Set-Cookie carries the session (HttpOnly, SameSite=Strict); the body the CSRF token', SessionInfo),
          ...errors(400, 403, 413, 415),
        },
      },
    },
    async (request, reply) => {
      const previous = sessionIdOf(app, request);
      const signedIn = await sessions.signIn(request.body.userName, request.body.password, request.ip);
      // The browser's former session, if any, ends here rather than idling on.
      if (previous !== undefined) await sessions.signOut(previous);
      setSessionCookie(reply, signedIn.sessionId, cookies);
      return { userName: signedIn.principal.userName, csrfToken: signedIn.csrfToken };
    },
  );

  app.get(
    '/console/session',
    {
      config: { auth: false },
      schema: {
        operationId: 'getConsoleSession',
        summary: 'The signed-in user and the CSRF token of the session the cookie names',
        tags,
        security,
        response: { 200: success('The session admits: its user and CSRF token', SessionInfo), ...errors() },
      },
    },
    async (request, reply) => {
      const sessionId = sessionIdOf(app, request);
      const resumed = sessionId === undefined ? undefined : await sessions.resume(sessionId);
      if (!resumed) {
        // A cookie that names no session any more is of no use to the browser.
        if (sessionId !== undefined) clearSessionCookie(reply, cookies);
        throw fail('unauthorized');
      }
      return { userName: resumed.principal.userName, csrfToken: resumed.csrfToken };
    },
  );

  app.delete(
    '/console/session',
    {
      config: { auth: false },
      schema: {
        operationId: 'signOutConsole',
        summary: 'Sign out: the session ends on the server and the cookie is cleared',
        tags,
        security,
        response: { 204: success('Signed out (also when there was no session)', { type: 'null' }), ...errors(403) },
      },
    },
    async (request, reply) => {
      const sessionId = sessionIdOf(app, request);
      if (sessionId !== undefined) {
        // A session that still admits ends only with its Origin and CSRF token, as any other change it signs.
        if (await sessions.resume(sessionId)) guardSessionRequest(request, sessionId, cookies);
        await sessions.signOut(sessionId);
      }
      clearSessionCookie(reply, cookies);
      return reply.code(204).send();
    },
  );
};
