/** Signing in to the console (api.md §10) in tests: the session cookie and CSRF token a sign-in answers. */
import assert from 'node:assert/strict';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';

export const SESSION_COOKIE = 'tokenkeep_session';

export interface Session {
  /** the cookie's value: the session id */
  id: string;
  csrfToken: string;
  /** the Set-Cookie header that carried it */
  setCookie: string;
}

export const signInRequest = (userName: string, password: string, headers: Record<string, string> = {}) => ({
  method: 'POST' as const,
  url: '/console/session',
  headers,
  payload: { userName, password },
});

/** The Set-Cookie headers of an answer, as a list. */
export function setCookies(res: LightMyRequestResponse): string[] {
  const header = res.headers['set-cookie'];
  return header === undefined ? [] : Array.isArray(header) ? header : [header];
}

/** The session a successful sign-in answered: its cookie and token. */
export function sessionOf(res: LightMyRequestResponse): Session {
  assert.equal(res.statusCode, 200, `sign-in: ${res.body}`);
  const cookies = setCookies(res).filter((c) => c.startsWith(`${SESSION_COOKIE}=`));
  assert.equal(cookies.length, 1, 'one session cookie is set');
  const id = cookies[0].slice(SESSION_COOKIE.length + 1).split(';')[0];
  return { id, csrfToken: res.json().csrfToken, setCookie: cookies[0] };
}

export async function signIn(app: FastifyInstance, userName: string, password: string): Promise<Session> {
  return sessionOf(await app.inject(signInRequest(userName, password)));
}

/** The headers of a request signed in with `session`: its cookie and, for a write, its CSRF token. */
export const withSession = (session: Session, csrf = true): Record<string, string> => ({
  cookie: `${SESSION_COOKIE}=${session.id}`,
  ...(csrf ? { 'x-csrf-token': session.csrfToken } : {}),
});
