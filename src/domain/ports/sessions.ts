/**
 * Console sessions (api.md §10): a signed-in browser, kept in the database so that every node knows it. The session
 * id itself is never stored, only its SHA-256 digest; the row holds whose session it is, when it began and was last
 * seen (epoch ms by the signing node's clock, as consent states), and a digest of the password hash it was signed in
 * with. Timeouts and what ends a session are the domain's rules (src/domain/console-sessions.ts): the store keeps and
 * hands back facts.
 */
import type { Principal } from './logins.js';

export interface NewConsoleSession {
  /** SHA-256 (hex) of the session id sent in the cookie; the id itself is stored nowhere */
  digest: string;
  userId: number;
  /** SHA-256 (hex) of the user's password hash at sign-in: a changed password no longer matches */
  passwordDigest: string;
  /** epoch ms; also the first last-seen time */
  createdAt: number;
}

export interface ConsoleSession extends NewConsoleSession {
  /** the user's name now (read with the row): the principal is looked up by it, and must be the same user id */
  userName: string;
  lastSeenAt: number;
}

/** What the user's row must still hold for a new session to be stored: what the sign-in just verified. */
export type SignedInStanding = Pick<Principal, 'passwordHash' | 'status' | 'tenantStatus' | 'lockedUntil'>;

export interface ConsoleSessions {
  /**
   * Stores a session only while the user's row (and its tenant's status) still holds `standing`, checked and written
   * in one statement that a concurrent change of that row waits for or sees (a lock, deactivation or new password
   * committed since the password was verified wins); false when it no longer does, or the user is gone.
   */
  create(session: NewConsoleSession, standing: SignedInStanding): Promise<boolean>;
  /** The session whose id has this digest, with its user's current name; undefined when there is none. */
  find(digest: string): Promise<ConsoleSession | undefined>;
  /** Records a use at `now` (never moves last_seen_at back); nothing when the session is gone. */
  touch(digest: string, now: number): Promise<void>;
  delete(digest: string): Promise<void>;
  /** Ends every session of the user (a lock, deactivation, new password); deleting the user cascades as well. */
  deleteOfUser(userId: number): Promise<void>;
  /** Ends every session of the tenant's users (the tenant deactivated). */
  deleteOfTenant(tenantId: number): Promise<void>;
  /** Deletes at most `limit` sessions last seen at or before `seenUpTo`; answers how many went. */
  deleteUnseenSince(seenUpTo: number, limit: number): Promise<number>;
}
