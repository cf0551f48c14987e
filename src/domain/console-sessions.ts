/**
 * Console sessions (api.md §10): the web console signs in once with a password and then holds an opaque session id
 * in a cookie instead of the password.
 *
 * - The id is 256 random bits (base64url). Only its SHA-256 is stored: a copy of the database opens no session.
 * - A session admits while it is younger than 12 hours, was used within the last 30 minutes, and its user exists, is
 *   active in an active tenant, is not locked, was not locked since the sign-in, and has the password it signed in
 *   with (a digest of the password hash is kept: a new password, even the same one, has a new salt). These are read
 *   on every request, so a change made through any node applies at once.
 * - A lock, a deactivation and a new password also END the user's sessions: they are deleted when the domain makes
 *   the change (here, users.ts, tenants.ts, the authenticator's lockout, the CLI), so a later unlock or reactivation
 *   does not bring them back. The checks above are what holds meanwhile and if a deletion is ever missed (a crash
 *   between the change and the deletion); a session that fails them is deleted when it is next presented. Deleting
 *   the user deletes its sessions by the schema's cascade.
 * - The CSRF token is an HMAC-SHA256 keyed by the session id: bound to the session, the same on every node and after
 *   a reload (GET /console/session answers it again), with no key to share and nothing more to store. Knowing it
 *   tells nothing about the id.
 * - Last use is recorded at most once a minute per session (a GET does not write every time), so the idle timeout
 *   is exact to within that minute. Sessions idle past the timeout are deleted in bounded batches at each sign-in.
 *
 * Times are the app's clock (epoch ms), as consent states' and lockout's: nodes are assumed to agree within seconds.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { fail } from '../errors.js';
import type { Authenticator } from './authenticator.js';
import type { ConsoleSession, Principal, Store } from './ports/index.js';
import type { Principals } from './principals.js';

export const SESSION_IDLE_MS = 30 * 60_000;
export const SESSION_ABSOLUTE_MS = 12 * 60 * 60_000;
/** A session's last use is written at most this often. */
export const SESSION_TOUCH_MS = 60_000;
/** Idle sessions a sign-in deletes at most: the table stays bounded, no sign-in waits on a long delete. */
export const SESSION_PRUNE_BATCH = 100;

/** 32 random bytes in base64url: exactly 43 characters of that alphabet. Anything else is not looked up. */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;
const CSRF_LABEL = 'tokenkeep console CSRF token v1';

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** The stored key of a session: SHA-256 (hex) of its id. */
export const sessionDigest = (sessionId: string): string => sha256(sessionId);

/** The session's CSRF token (see above). */
export const csrfTokenOf = (sessionId: string): string => createHmac('sha256', sessionId).update(CSRF_LABEL).digest('base64url');

/** Whether `token` (a header's value, whatever it holds) is the session's CSRF token; in constant time. */
export function csrfTokenMatches(sessionId: string, token: unknown): boolean {
  if (typeof token !== 'string') return false;
  const expected = Buffer.from(csrfTokenOf(sessionId));
  const given = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Why a session no longer admits its user at `now`; undefined while it does. */
export function sessionEnd(session: ConsoleSession, principal: Principal, now: number): string | undefined {
  if (now - session.createdAt >= SESSION_ABSOLUTE_MS) return 'absolute timeout';
  if (now - session.lastSeenAt >= SESSION_IDLE_MS) return 'idle timeout';
  if (principal.status !== 1 || principal.tenantStatus !== 1) return 'inactive';
  if (principal.lockedUntil !== null && principal.lockedUntil > now) return 'locked';
  // A lock that has run out since (nobody has signed in to clear it yet) still ended the session.
  if (principal.lockedAt !== null && principal.lockedAt >= session.createdAt) return 'locked since the sign-in';
  if (sha256(principal.passwordHash) !== session.passwordDigest) return 'new password';
  return undefined;
}

/** Ends every console session of a user: called by each change that must end them (see above). */
export async function endSessionsOf(store: Store, userId: number): Promise<void> {
  await store.consoleSessions.deleteOfUser(userId);
}

/** Ends the console sessions of every user of a tenant (deactivated: its users are inactive). */
export async function endTenantSessions(store: Store, tenantId: number): Promise<void> {
  await store.consoleSessions.deleteOfTenant(tenantId);
}

export interface SignedIn {
  /** the cookie's value: handed to the browser once, stored nowhere */
  sessionId: string;
  csrfToken: string;
  principal: Principal;
}

export interface Resumed {
  principal: Principal;
  csrfToken: string;
}

export class ConsoleSessions {
  constructor(
    private readonly deps: {
      store: Store;
      principals: Principals;
      /** the one authenticator of Basic auth: its lockout, per-address limit and hashing gate apply alike */
      authenticator: Authenticator;
      clock: () => number;
    },
  ) {}

  /** Checks the password as Basic auth does (its 401 or 429 on failure) and starts a session. */
  async signIn(userName: string, password: string, address: string): Promise<SignedIn> {
    const { store, authenticator, clock } = this.deps;
    const principal = await authenticator.authenticate(userName, password, address);
    const now = clock();
    const sessionId = randomBytes(32).toString('base64url');
    const session = { digest: sessionDigest(sessionId), userId: principal.id, passwordDigest: sha256(principal.passwordHash), createdAt: now };
    // As the authenticator just left the row: this hash, active, unlocked (a successful login clears the lock).
    const standing = { passwordHash: principal.passwordHash, status: principal.status, tenantStatus: principal.tenantStatus, lockedUntil: null };
    // A lock, deactivation or new password that landed since the password was checked: no session.
    if (!(await store.consoleSessions.create(session, standing))) throw fail('unauthorized');
    await store.consoleSessions.deleteUnseenSince(now - SESSION_IDLE_MS, SESSION_PRUNE_BATCH);
    return { sessionId, csrfToken: csrfTokenOf(sessionId), principal };
  }

  /** The session's user and CSRF token while the session admits; undefined otherwise (an ended one is deleted). */
  async resume(sessionId: string): Promise<Resumed | undefined> {
    if (!SESSION_ID.test(sessionId)) return undefined;
    const { store, principals, clock } = this.deps;
    const digest = sessionDigest(sessionId);
    const session = await store.consoleSessions.find(digest);
    if (!session) return undefined;
    const principal = await principals.byName(session.userName);
    // Renamed between the two reads: refused this once (the name is read afresh next time).
    if (!principal || principal.id !== session.userId) return undefined;
    const now = clock();
    if (sessionEnd(session, principal, now) !== undefined) {
      await store.consoleSessions.delete(digest);
      return undefined;
    }
    if (now - session.lastSeenAt >= SESSION_TOUCH_MS) await store.consoleSessions.touch(digest, now);
    return { principal, csrfToken: csrfTokenOf(sessionId) };
  }

  /** Ends the session on the server (nothing when there is none). */
  async signOut(sessionId: string): Promise<void> {
    if (SESSION_ID.test(sessionId)) await this.deps.store.consoleSessions.delete(sessionDigest(sessionId));
  }
}
