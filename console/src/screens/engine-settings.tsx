/**
 * An app's engine settings (api.md §8.6) as form fields, each labelled by what it means, and their conversion to
 * and from the API's shape. A PUT replaces them all; a field left empty takes its default (or none, for a URI).
 */
import type { ClientAuth, EngineSettings } from '../api/types';
import { Field } from '../components/field';
import type { FieldErrors } from '../field-errors';

export const ENGINE_LABELS = {
  clientAuth: 'Client authentication',
  defaultExpiresIn: 'Default expires in (seconds)',
  refreshMargin: 'Refresh margin (seconds)',
  proactive: 'Refresh in the background',
  maxConcurrentRefreshes: 'Max concurrent refreshes',
  revocationURI: 'Revocation URI',
  issuer: 'Issuer',
  authorizeParams: 'Authorize parameters',
};

/** The settings as the form holds them: text, as typed. */
export interface EngineForm {
  clientAuth: ClientAuth;
  defaultExpiresIn: string;
  refreshMargin: string;
  proactive: boolean;
  maxConcurrentRefreshes: string;
  revocationURI: string;
  issuer: string;
  authorizeParams: string;
}

/** The API's defaults (api.md §8.6). */
export const DEFAULT_ENGINE: EngineSettings = {
  clientAuth: 'client_secret_basic',
  defaultExpiresIn: 3600,
  refreshMargin: 300,
  proactive: false,
  maxConcurrentRefreshes: 4,
  revocationURI: null,
  issuer: null,
  authorizeParams: {},
};

export function engineForm(settings: EngineSettings): EngineForm {
  return {
    clientAuth: settings.clientAuth,
    defaultExpiresIn: String(settings.defaultExpiresIn),
    refreshMargin: String(settings.refreshMargin),
    proactive: settings.proactive,
    maxConcurrentRefreshes: String(settings.maxConcurrentRefreshes),
    revocationURI: settings.revocationURI ?? '',
    issuer: settings.issuer ?? '',
    authorizeParams: Object.entries(settings.authorizeParams)
      .map(([name, value]) => `${name}=${value}`)
      .join('\n'),
  };
}

/** The form as the API's body, or the errors that keep it from being one. */
export function engineSettings(form: EngineForm): { settings: EngineSettings } | { errors: FieldErrors } {
  const errors: FieldErrors = {};
  const whole = (field: 'defaultExpiresIn' | 'refreshMargin' | 'maxConcurrentRefreshes'): number => {
    const text = form[field].trim();
    if (text === '') return DEFAULT_ENGINE[field];
    if (!/^\d{1,9}$/.test(text)) errors[field] = `${ENGINE_LABELS[field]}: must be a whole number`;
    return Number(text);
  };
  const authorizeParams: Record<string, string> = {};
  for (const [i, line] of form.authorizeParams.split('\n').entries()) {
    if (line.trim() === '') continue;
    const eq = line.indexOf('=');
    const name = eq < 0 ? '' : line.slice(0, eq).trim();
    if (name === '') {
      errors.authorizeParams = `${ENGINE_LABELS.authorizeParams}: line ${i + 1} must read name=value`;
      break;
    }
    authorizeParams[name] = line.slice(eq + 1).trim();
  }
  const settings: EngineSettings = {
    clientAuth: form.clientAuth,
    defaultExpiresIn: whole('defaultExpiresIn'),
    refreshMargin: whole('refreshMargin'),
    proactive: form.proactive,
    maxConcurrentRefreshes: whole('maxConcurrentRefreshes'),
    revocationURI: form.revocationURI.trim() === '' ? null : form.revocationURI.trim(),
    issuer: form.issuer.trim() === '' ? null : form.issuer.trim(),
    authorizeParams,
  };
  return Object.keys(errors).length > 0 ? { errors } : { settings };
}

interface Props {
  form: EngineForm;
  errors: FieldErrors;
  onChange(form: EngineForm): void;
}

export function EngineSettingsFields({ form, errors, onChange }: Props) {
  const set = <K extends keyof EngineForm>(key: K, value: EngineForm[K]) => onChange({ ...form, [key]: value });
  const text = (key: 'defaultExpiresIn' | 'refreshMargin' | 'maxConcurrentRefreshes' | 'revocationURI' | 'issuer', help: string, numeric = false) => (
    <Field id={`engine-${key}`} label={ENGINE_LABELS[key]} error={errors[key]} help={help}>
      {(a11y) => (
        <input
          {...a11y}
          type="text"
          inputMode={numeric ? 'numeric' : 'url'}
          spellcheck={false}
          autocomplete="off"
          class={numeric ? 'short' : 'mono'}
          value={form[key]}
          onInput={(e) => set(key, e.currentTarget.value)}
        />
      )}
    </Field>
  );
  return (
    <fieldset class="fieldset">
      <legend>Engine settings</legend>
      <Field
        id="engine-proactive"
        label={ENGINE_LABELS.proactive}
        inline
        error={errors.proactive}
        help="Keep every profile’s token fresh before it expires, without waiting for a request."
      >
        {(a11y) => <input {...a11y} type="checkbox" checked={form.proactive} onChange={(e) => set('proactive', e.currentTarget.checked)} />}
      </Field>
      <Field
        id="engine-clientAuth"
        label={ENGINE_LABELS.clientAuth}
        error={errors.clientAuth}
        help="How tokenkeep presents the client ID and secret to the token endpoint."
      >
        {(a11y) => (
          <select {...a11y} value={form.clientAuth} onChange={(e) => set('clientAuth', e.currentTarget.value as ClientAuth)}>
            <option value="client_secret_basic">client_secret_basic (HTTP Basic)</option>
            <option value="client_secret_post">client_secret_post (in the form body)</option>
          </select>
        )}
      </Field>
      {text('defaultExpiresIn', 'How long a token lives when the provider does not say (60 to 31536000; default 3600).', true)}
      {text('refreshMargin', 'Refresh this long before a token expires (0 to 86400; default 300).', true)}
      {text('maxConcurrentRefreshes', 'Refreshes in flight at once towards this token endpoint, per server (1 to 64; default 4).', true)}
      {text('revocationURI', 'Where the tokens of deleted profiles are revoked (RFC 7009). Empty: none.')}
      {text('issuer', 'The provider’s issuer, required in every consent’s answer (RFC 9207). Empty: not checked.')}
      <Field
        id="engine-authorizeParams"
        label={ENGINE_LABELS.authorizeParams}
        error={errors.authorizeParams}
        help="Extra parameters of the authorization request, one name=value per line (Google needs access_type=offline and prompt=consent)."
      >
        {(a11y) => (
          <textarea
            {...a11y}
            rows={3}
            spellcheck={false}
            class="mono"
            value={form.authorizeParams}
            onInput={(e) => set('authorizeParams', e.currentTarget.value)}
          />
        )}
      </Field>
    </fieldset>
  );
}
