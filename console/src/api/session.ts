/** Console sessions (api.md §10): sign in, find the session again after a reload, sign out. */
import { ApiError, request, setCsrfToken } from './client';
import type { SessionInfo } from './types';

/** The session the cookie holds, or null when there is none (401). */
export async function currentSession(): Promise<SessionInfo | null> {
  try {
    const session = await request<SessionInfo>('/console/session', { expect401: true });
    setCsrfToken(session.csrfToken);
    return session;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
}

export async function signIn(userName: string, password: string): Promise<SessionInfo> {
  const session = await request<SessionInfo>('/console/session', { method: 'POST', body: { userName, password }, expect401: true });
  setCsrfToken(session.csrfToken);
  return session;
}

/** Ends the session on the server (one already gone is fine); the token is forgotten whatever the answer. */
export async function signOut(): Promise<void> {
  try {
    await request<void>('/console/session', { method: 'DELETE', expect401: true });
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) throw err;
  } finally {
    setCsrfToken(null);
  }
}
