/** Sign-in (api.md §10): user name and password for a session cookie; the password never leaves this form's state. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api/client';
import { signIn } from '../api/session';
import type { SessionInfo } from '../api/types';
import { BusyButton } from '../components/busy-button';
import { Field } from '../components/field';
import { useAction } from '../components/use-action';
import { MessageRegions, useMessages } from '../messages';

export function SignIn({ onSignedIn }: { onSignedIn(session: SessionInfo): void }) {
  const [userName, setUserName] = useState('');
  const [password, setPassword] = useState('');
  const action = useAction();
  const messages = useMessages();
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => first.current?.focus(), []);

  const submit = (event: Event) => {
    event.preventDefault();
    void action.run(async () => {
      try {
        const session = await signIn(userName, password);
        setPassword('');
        messages.clear();
        onSignedIn(session);
      } catch (err) {
        setPassword('');
        if (err instanceof ApiError && err.status === 401) messages.warn('User name or password is wrong.');
        else messages.warn(err instanceof Error ? err.message : String(err));
      }
    });
  };

  return (
    <main class="sign-in">
      <h1>Sign in to tokenkeep</h1>
      <MessageRegions />
      <form onSubmit={submit} aria-busy={action.busy ? 'true' : undefined} noValidate>
        <Field id="sign-in-user" label="User name">
          {(a11y) => (
            <input
              {...a11y}
              ref={first}
              type="text"
              name="username"
              autocomplete="username"
              autocapitalize="none"
              spellcheck={false}
              required
              value={userName}
              onInput={(e) => setUserName(e.currentTarget.value)}
            />
          )}
        </Field>
        <Field id="sign-in-password" label="Password">
          {(a11y) => (
            <input
              {...a11y}
              type="password"
              name="password"
              autocomplete="current-password"
              required
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
            />
          )}
        </Field>
        <div class="actions">
          <BusyButton action={action} type="submit" variant="primary">
            Sign in
          </BusyButton>
        </div>
      </form>
    </main>
  );
}
