/**
 * Connect a profile (api.md §9): pick an app and name the profile; the API checks both as a create would, answers
 * the provider's authorization URL, and the browser goes there to sign in and consent. The provider sends it back
 * through tokenkeep's callback to /console/ with the outcome (consent-return.ts).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api/client';
import { connectProfile } from '../api/profiles';
import type { AppSummary } from '../api/types';
import { BusyButton } from '../components/busy-button';
import { Field } from '../components/field';
import { useAction } from '../components/use-action';
import { fieldError, required, type FieldErrors } from '../field-errors';
import { useMessages } from '../messages';

const LABELS = { oauthAppId: 'App', name: 'Profile name', description: 'Description' };

export function ConnectProfile({ apps, onCancel }: { apps: AppSummary[] | null; onCancel(): void }) {
  const messages = useMessages();
  const action = useAction();
  const [appId, setAppId] = useState('');
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [errors, setErrors] = useState<FieldErrors>({});
  const heading = useRef<HTMLHeadingElement>(null);
  const form = useRef<HTMLFormElement>(null);
  useEffect(() => heading.current?.focus(), []);
  useEffect(() => form.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus(), [errors]);
  // One app: nothing to choose.
  useEffect(() => {
    if (apps?.length === 1 && appId === '') setAppId(String(apps[0].id));
  }, [apps]);

  const submit = (event: Event) => {
    event.preventDefault();
    const found: FieldErrors = {};
    if (appId === '') found.oauthAppId = required(LABELS.oauthAppId);
    if (name.trim() === '') found.name = required(LABELS.name);
    setErrors(found);
    if (Object.keys(found).length > 0) {
      messages.warn('The profile was not connected: correct the marked fields.');
      return;
    }
    void action.run(async () => {
      try {
        const started = await connectProfile({ oauthAppId: Number(appId), name: name.trim(), description: description.trim() === '' ? null : description });
        messages.say('Opening the provider’s sign-in…');
        location.assign(started.authorizationUrl);
        // Stay busy while the browser leaves.
        await new Promise((resolve) => setTimeout(resolve, 10_000));
      } catch (err) {
        if (!(err instanceof ApiError)) {
          messages.warn(`The profile was not connected: ${String(err)}`);
          return;
        }
        if (err.status === 401) return;
        const field = fieldError(err, LABELS);
        if (field) {
          setErrors(field);
          messages.warn('The profile was not connected: correct the marked field.');
        } else {
          messages.warn(`The profile was not connected: ${err.message}`);
        }
      }
    });
  };

  return (
    <section class="panel" aria-labelledby="connect-heading">
      <h2 id="connect-heading" ref={heading} tabIndex={-1}>
        Connect a profile
      </h2>
      <form ref={form} onSubmit={submit} aria-busy={action.busy ? 'true' : undefined} noValidate>
        <Field
          id="connect-app"
          label="App"
          error={errors.oauthAppId}
          help={apps?.length === 0 ? 'No app is available yet: someone who manages apps must create one.' : undefined}
        >
          {(a11y) => (
            <select {...a11y} required value={appId} onChange={(e) => setAppId(e.currentTarget.value)}>
              <option value="">{apps === null ? 'Loading apps…' : 'Choose an app'}</option>
              {(apps ?? []).map((a) => (
                <option key={a.id} value={String(a.id)}>
                  {a.name}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field id="connect-name" label="Profile name" error={errors.name} help="Letters, digits and _ only (at most 128), unique among your profiles.">
          {(a11y) => (
            <input
              {...a11y}
              type="text"
              required
              autocomplete="off"
              spellcheck={false}
              maxLength={128}
              value={name}
              onInput={(e) => setName(e.currentTarget.value)}
            />
          )}
        </Field>
        <Field id="connect-description" label="Description" error={errors.description}>
          {(a11y) => <input {...a11y} type="text" maxLength={1024} value={description} onInput={(e) => setDescription(e.currentTarget.value)} />}
        </Field>
        <div class="actions">
          <BusyButton action={action} type="submit" variant="primary">
            Continue to sign-in
          </BusyButton>
          <button type="button" class="button button-plain" onClick={onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </section>
  );
}
