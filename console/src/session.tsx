/**
 * Who is signed in, what they may do, and for whom they act. The session itself is the server's (an HttpOnly
 * cookie); the console only knows the user's name and permissions, and the CSRF token in api/client.ts's memory.
 */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import { Perm } from './api/permissions';

export interface Session {
  userName: string;
  permissions: Set<number>;
  /** the user named by `?user=`, or null */
  onBehalf: string | null;
  actOnBehalf(userName: string | null): void;
  signOut(): Promise<void>;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a signed-in console');
  return session;
}

/** Administrator (12) implies every permission. */
export const holds = (session: Pick<Session, 'permissions'>, permission: number): boolean =>
  session.permissions.has(Perm.Administrator) || session.permissions.has(permission);

/** Who sees Apps: managers of OAuth applications (28) and administrators (12). */
export const managesApps = (session: Pick<Session, 'permissions'>): boolean => holds(session, Perm.OAuth);

/** Who may act on behalf of a user: OnBehalfOf (21) or Administrator (12). */
export const actsOnBehalf = (session: Pick<Session, 'permissions'>): boolean => holds(session, Perm.OnBehalfOf);
