/**
 * Acting on behalf of a user (api.md §4, for holders of OnBehalfOf 21 or Administrator 12): every profile,
 * application and data-source call then carries `?user=`. The name is tried first (a list of that user's profiles),
 * so a name the caller may not act for is refused here, not on the next screen. While active, a banner says so on
 * every screen.
 */
import { useState } from 'preact/hooks';
import { ApiError, setOnBehalf } from '../api/client';
import { profileStatuses } from '../api/profiles';
import { BusyButton } from '../components/busy-button';
import { Field } from '../components/field';
import { useAction } from '../components/use-action';
import { useMessages } from '../messages';
import { useSession } from '../session';

export function OnBehalfForm() {
  const session = useSession();
  const messages = useMessages();
  const action = useAction();
  const [userName, setUserName] = useState('');
  const [error, setError] = useState<string | undefined>();

  const submit = (event: Event) => {
    event.preventDefault();
    const name = userName.trim();
    if (name === '') {
      setError('Act on behalf of user: is required');
      return;
    }
    void action.run(async () => {
      setOnBehalf(name);
      try {
        await profileStatuses();
      } catch (err) {
        setOnBehalf(null);
        if (err instanceof ApiError && err.status === 401) return;
        const why =
          err instanceof ApiError && err.status === 404 ? `there is no user ${name} you may act for` : err instanceof Error ? err.message : String(err);
        setError(`Act on behalf of user: ${why}`);
        messages.warn(`Not acting on behalf of ${name}.`);
        return;
      }
      setError(undefined);
      setUserName('');
      session.actOnBehalf(name);
      messages.say(`Showing the profiles and apps of ${name}`);
    });
  };

  return (
    <form class="on-behalf-form" onSubmit={submit} aria-busy={action.busy ? 'true' : undefined} noValidate>
      <Field id="on-behalf-user" label="Act on behalf of user" error={error}>
        {(a11y) => (
          <input
            {...a11y}
            type="text"
            autocomplete="off"
            autocapitalize="none"
            spellcheck={false}
            value={userName}
            onInput={(e) => setUserName(e.currentTarget.value)}
          />
        )}
      </Field>
      <BusyButton action={action} type="submit">
        Act on behalf
      </BusyButton>
    </form>
  );
}

export function OnBehalfBanner({ userName }: { userName: string }) {
  const session = useSession();
  const messages = useMessages();
  return (
    <section class="on-behalf-banner" role="region" aria-label="On behalf">
      <p>Acting on behalf of {userName}</p>
      <button
        type="button"
        class="button button-plain"
        onClick={() => {
          session.actOnBehalf(null);
          messages.say('Showing your own profiles and apps again');
        }}
      >
        Stop acting on behalf
      </button>
    </section>
  );
}
