/**
 * Create or edit an OAuth application (api.md §5) and its engine settings (§8.6), show its standing at its
 * authorization server, show its client secret on request (managers only), delete it. A PUT replaces the whole
 * application, and the API requires a client secret in it: on edit, the secret must be entered again.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { app as getApp, createApp, dataStores, deleteApp, engine, replaceApp, replaceEngine } from '../api/apps';
import { ApiError } from '../api/client';
import type { AppBody, AppStatus, DataStore } from '../api/types';
import { Badge } from '../components/badge';
import { BusyButton } from '../components/busy-button';
import { ConfirmDialog } from '../components/confirm-dialog';
import { Field } from '../components/field';
import { useAction } from '../components/use-action';
import { fieldError, required, type FieldErrors } from '../field-errors';
import { useLoad, useReportFailure } from '../load';
import { useMessages } from '../messages';
import { navigate } from '../router';
import { managesApps, useSession } from '../session';
import { DEFAULT_ENGINE, ENGINE_LABELS, EngineSettingsFields, engineForm, engineSettings, type EngineForm } from './engine-settings';
import { LastError } from './profile-detail';

const APP_LABELS = {
  name: 'Name',
  clientId: 'Client ID',
  clientSecret: 'Client secret',
  authorizeURI: 'Authorize URI',
  tokenURI: 'Token URI',
  scope: 'Scope',
  description: 'Description',
  dataStore: 'Data store',
  tenantId: 'Tenant',
};

interface AppFields {
  name: string;
  clientId: string;
  clientSecret: string;
  authorizeURI: string;
  tokenURI: string;
  scope: string;
  description: string;
  dataStore: string;
}

const EMPTY: AppFields = { name: '', clientId: '', clientSecret: '', authorizeURI: '', tokenURI: '', scope: '', description: '', dataStore: '' };

interface Loaded {
  stores: DataStore[];
  fields: AppFields;
  engine: EngineForm;
  status: AppStatus | null;
  /** the name as stored: the heading's */
  name: string | null;
}

function body(fields: AppFields): AppBody | { errors: FieldErrors } {
  const errors: FieldErrors = {};
  for (const key of ['name', 'clientId', 'clientSecret', 'authorizeURI', 'tokenURI', 'dataStore'] as const) {
    if (fields[key].trim() === '') errors[key] = required(APP_LABELS[key]);
  }
  if (Object.keys(errors).length > 0) return { errors };
  const optional = (text: string) => (text.trim() === '' ? null : text);
  return {
    name: fields.name.trim(),
    dataStore: Number(fields.dataStore),
    clientId: fields.clientId,
    clientSecret: fields.clientSecret,
    authorizeURI: fields.authorizeURI.trim(),
    tokenURI: fields.tokenURI.trim(),
    scope: optional(fields.scope),
    description: optional(fields.description),
  };
}

export function AppForm({ id }: { id: number | null }) {
  const session = useSession();
  const messages = useMessages();
  const save = useAction();
  const remove = useAction();
  const reveal = useAction();
  const form = useRef<HTMLFormElement>(null);
  /** set once a new app exists (its engine settings may still have failed): saving again replaces it */
  const [savedId, setSavedId] = useState<number | null>(id);
  const [fields, setFields] = useState<AppFields>(EMPTY);
  const [engineFields, setEngineFields] = useState<EngineForm>(engineForm(DEFAULT_ENGINE));
  const [errors, setErrors] = useState<FieldErrors>({});
  const [secret, setSecret] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);
  /** the name as stored: the heading's */
  const [storedName, setStoredName] = useState<string | null>(null);

  const [loaded] = useLoad<Loaded>(async () => {
    const storesP = dataStores().catch(() => [] as DataStore[]);
    if (id === null) return { stores: await storesP, fields: EMPTY, engine: engineForm(DEFAULT_ENGINE), status: null, name: null };
    const [found, view, stores] = await Promise.all([
      getApp(id),
      engine(id).catch((err) => {
        if (err instanceof ApiError && err.status === 403) return null;
        throw err;
      }),
      storesP,
    ]);
    // The secret came along (for managers); it is not kept: "Show client secret" asks for it when wanted.
    const fields: AppFields = {
      name: found.name,
      clientId: found.clientId,
      clientSecret: '',
      authorizeURI: found.authorizeURI,
      tokenURI: found.tokenURI,
      scope: found.scope ?? '',
      description: found.description ?? '',
      dataStore: String(found.dataStore),
    };
    return { stores, fields, engine: engineForm(view ?? DEFAULT_ENGINE), status: view?.status ?? null, name: found.name };
  }, [id]);
  useReportFailure(loaded, 'The app');
  useEffect(() => {
    if (loaded.state !== 'done') return;
    setFields(loaded.value.fields);
    setEngineFields(loaded.value.engine);
    setStoredName(loaded.value.name);
  }, [loaded]);
  useEffect(() => form.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus(), [errors]);

  if (loaded.state === 'failed') {
    return <h1 tabIndex={-1}>{loaded.error instanceof ApiError && loaded.error.status === 404 ? 'App not found' : 'App'}</h1>;
  }
  const editing = savedId !== null;
  const heading = !editing ? 'New app' : storedName === null ? 'App' : `Edit app ${storedName}`;
  const set = (key: keyof AppFields) => (e: { currentTarget: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement }) =>
    setFields({ ...fields, [key]: e.currentTarget.value });

  const rejected = (err: unknown, what: string) => {
    if (err instanceof ApiError && err.status === 401) return;
    const field = err instanceof ApiError ? fieldError(err, { ...APP_LABELS, ...ENGINE_LABELS }) : null;
    if (field) {
      setErrors(field);
      messages.warn(`${what}: correct the marked field.`);
    } else {
      setErrors({});
      messages.warn(`${what}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };

  const submit = (event: Event) => {
    event.preventDefault();
    const app = body(fields);
    const settings = engineSettings(engineFields);
    const found = { ...('errors' in app ? app.errors : {}), ...('errors' in settings ? settings.errors : {}) };
    if ('errors' in app || 'errors' in settings) {
      setErrors(found);
      messages.warn(`The app was not saved: correct the marked ${Object.keys(found).length === 1 ? 'field' : 'fields'}.`);
      return;
    }
    void save.run(async () => {
      let appId = savedId;
      const created = appId === null;
      try {
        const stored = appId === null ? await createApp(app) : await replaceApp(appId, app);
        appId = stored.id;
        setStoredName(stored.name);
      } catch (err) {
        rejected(err, 'The app was not saved');
        return;
      }
      if (created) {
        setSavedId(appId);
        // The app exists now: a reload (or a failure below) stays on it.
        history.replaceState(null, '', `#/apps/${appId}`);
      }
      try {
        await replaceEngine(appId, settings.settings);
      } catch (err) {
        rejected(err, created ? 'The app was created, but its engine settings were not saved' : 'The app was saved, but its engine settings were not');
        return;
      }
      setErrors({});
      navigate('#/apps', () => messages.say(created ? 'App created' : 'App saved'));
    });
  };

  const toggleSecret = () => {
    if (secret !== null) {
      setSecret(null);
      return;
    }
    void reveal.run(async () => {
      try {
        const found = await getApp(savedId as number);
        if (found.clientSecret === undefined) messages.warn('The API did not return the client secret: only those who manage this app may see it.');
        else setSecret(found.clientSecret);
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) return;
        messages.warn(`The client secret could not be read: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
  };

  const confirmDelete = () =>
    remove.run(async () => {
      try {
        await deleteApp(savedId as number);
      } catch (err) {
        setConfirming(false);
        if (err instanceof ApiError && err.status === 401) return;
        messages.warn(`The app was not deleted: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
      setConfirming(false);
      navigate('#/apps', () => messages.say('App deleted'));
    });

  const stores = loaded.state === 'done' ? loaded.value.stores : [];
  const status = loaded.state === 'done' ? loaded.value.status : null;
  const text = (
    key: Exclude<keyof AppFields, 'dataStore' | 'description'>,
    options: { help?: string; type?: 'text' | 'password'; mono?: boolean; autocomplete?: string } = {},
  ) => (
    <Field id={`app-${key}`} label={APP_LABELS[key]} error={errors[key]} help={options.help}>
      {(a11y) => {
        const props = {
          ...a11y,
          class: options.mono ? 'mono' : undefined,
          spellcheck: false,
          autocomplete: options.autocomplete ?? 'off',
          required: key !== 'scope',
          value: fields[key],
          onInput: set(key),
        };
        return options.type === 'password' ? <input type="password" {...props} /> : <input type="text" {...props} />;
      }}
    </Field>
  );

  return (
    <section aria-busy={loaded.state === 'loading' ? 'true' : undefined}>
      <h1 tabIndex={-1}>{heading}</h1>
      {loaded.state === 'loading' && <p class="muted">Loading…</p>}
      {editing && status && (
        <section class="panel" aria-labelledby="app-status-heading">
          <h2 id="app-status-heading">App status</h2>
          <dl class="facts">
            <dt>Status</dt>
            <dd>
              <Badge state={status.state} />
            </dd>
            {(status.state === 'client_error' || status.lastError) && (
              <>
                <dt>Last error</dt>
                <dd>
                  <LastError error={status.lastError} />
                </dd>
              </>
            )}
          </dl>
          {status.state === 'client_error' && (
            <p class="notice">The authorization server refused this app’s client credentials. Its profiles wait until the client ID or secret is corrected.</p>
          )}
        </section>
      )}
      <form ref={form} class="app-form" onSubmit={submit} aria-busy={save.busy ? 'true' : undefined} noValidate>
        {text('name')}
        <Field id="app-dataStore" label={APP_LABELS.dataStore} error={errors.dataStore}>
          {(a11y) => (
            <select {...a11y} required value={fields.dataStore} onChange={set('dataStore')}>
              <option value="">Choose a data store</option>
              {stores.map((s) => (
                <option key={s.id} value={String(s.id)}>
                  {s.name}
                </option>
              ))}
            </select>
          )}
        </Field>
        {text('clientId', { mono: true })}
        {text('clientSecret', {
          type: 'password',
          mono: true,
          autocomplete: 'new-password',
          help: editing
            ? 'Enter the client secret again: saving replaces the whole app, and the API does not keep the old secret for an empty field.'
            : undefined,
        })}
        {editing && managesApps(session) && (
          <div class="secret">
            <BusyButton action={reveal} onClick={toggleSecret}>
              {secret === null ? 'Show client secret' : 'Hide client secret'}
            </BusyButton>
            {secret !== null && (
              <p>
                Current client secret: <code class="mono break">{secret}</code>
              </p>
            )}
          </div>
        )}
        {text('authorizeURI', { mono: true, help: 'Where users sign in and consent, https://…' })}
        {text('tokenURI', { mono: true, help: 'Where tokenkeep exchanges codes and refreshes tokens, https://…' })}
        {text('scope', { help: 'As the provider expects it (often space-separated). Empty: none.' })}
        <Field id="app-description" label={APP_LABELS.description} error={errors.description}>
          {(a11y) => <textarea {...a11y} rows={2} value={fields.description} onInput={set('description')} />}
        </Field>
        <EngineSettingsFields form={engineFields} errors={errors} onChange={setEngineFields} />
        <div class="actions">
          <BusyButton action={save} type="submit" variant="primary">
            Save
          </BusyButton>
          <button type="button" class="button button-plain" onClick={() => navigate('#/apps')}>
            Cancel
          </button>
          {editing && (
            <button type="button" class="button button-danger push-right" onClick={() => setConfirming(true)}>
              Delete app
            </button>
          )}
        </div>
      </form>
      {confirming && (
        <ConfirmDialog
          title={`Delete app ${storedName ?? fields.name}?`}
          confirmLabel="Delete"
          action={remove}
          onConfirm={() => void confirmDelete()}
          onClose={() => setConfirming(false)}
        >
          <p>Every profile of this app is deleted with it, and data sources lose those profiles. This cannot be undone.</p>
        </ConfirmDialog>
      )}
    </section>
  );
}
