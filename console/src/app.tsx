/**
 * The console: finds the session again (a reload keeps it: the cookie is the server's), signs in when there is none,
 * and shows the shell. Any 401 of the API brings it back to sign-in. The end of a consent (consent-return.ts) is
 * said once the console is shown.
 */
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { onUnauthorized, setCsrfToken, setOnBehalf } from './api/client';
import { myPermissions } from './api/permissions';
import { currentSession, signOut } from './api/session';
import type { SessionInfo } from './api/types';
import { describeConsentOutcome, takeConsentOutcome } from './consent-return';
import { MessageRegions, MessagesProvider, useMessages } from './messages';
import { SignIn } from './screens/sign-in';
import { Shell } from './screens/shell';
import { SessionContext, type Session } from './session';

type Phase = { name: 'starting' } | { name: 'signed-out' } | { name: 'signed-in'; userName: string; permissions: Set<number> };

function Console() {
  const messages = useMessages();
  const [phase, setPhase] = useState<Phase>({ name: 'starting' });
  const [onBehalf, setOnBehalfState] = useState<string | null>(null);

  const forget = useCallback(() => {
    setCsrfToken(null);
    setOnBehalf(null);
    setOnBehalfState(null);
    setPhase({ name: 'signed-out' });
  }, []);

  const enter = useCallback(async (session: SessionInfo) => {
    let permissions = new Set<number>();
    try {
      permissions = await myPermissions();
    } catch (err) {
      messages.warn(`Your permissions could not be read: ${err instanceof Error ? err.message : String(err)}`);
    }
    setPhase({ name: 'signed-in', userName: session.userName, permissions });
  }, []);

  useEffect(() => {
    onUnauthorized(() => {
      forget();
      messages.warn('Your session has ended: sign in again.');
    });
    const outcome = takeConsentOutcome();
    void (async () => {
      let session: SessionInfo | null = null;
      try {
        session = await currentSession();
      } catch (err) {
        messages.warn(`The server could not be asked for the session: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (session) await enter(session);
      else setPhase({ name: 'signed-out' });
      if (outcome) (outcome.ok ? messages.say : messages.warn)(describeConsentOutcome(outcome));
    })();
    return () => onUnauthorized(null);
  }, []);

  const session = useMemo<Session | null>(() => {
    if (phase.name !== 'signed-in') return null;
    return {
      userName: phase.userName,
      permissions: phase.permissions,
      onBehalf,
      actOnBehalf: (userName) => {
        setOnBehalf(userName);
        setOnBehalfState(userName);
      },
      signOut: async () => {
        try {
          await signOut();
          messages.say('Signed out');
        } catch (err) {
          messages.warn(`Signing out failed on the server: ${err instanceof Error ? err.message : String(err)}`);
        }
        forget();
      },
    };
  }, [phase, onBehalf]);

  if (phase.name === 'starting') {
    return (
      <main class="starting" aria-busy="true">
        <MessageRegions />
        <p class="muted">Loading the console…</p>
      </main>
    );
  }
  if (session === null) return <SignIn onSignedIn={(info) => void enter(info)} />;
  return (
    <SessionContext.Provider value={session}>
      <Shell />
    </SessionContext.Provider>
  );
}

export function App() {
  return (
    <MessagesProvider>
      <Console />
    </MessagesProvider>
  );
}
