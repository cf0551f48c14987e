/**
 * An app's engine settings (api.md §8.6): their defaults, their checks, and who may read and replace them — whoever
 * may manage the app (§5).
 */
import { fail } from '../errors.js';
import type { Identity } from '../domain/access.js';
import { checkUri, managedApp, type AppRules } from '../domain/oauth-apps.js';
import { settle } from '../domain/refusals.js';
import type { AppStatus, EngineSettings, Store } from '../domain/ports/index.js';

export const DEFAULT_SETTINGS: EngineSettings = {
  clientAuth: 'client_secret_basic',
  defaultExpiresIn: 3600,
  refreshMargin: 300,
  proactive: false,
  maxConcurrentRefreshes: 4,
  revocationURI: null,
  issuer: null,
  authorizeParams: {},
};

/** What GET and PUT answer: the settings and the read-only status. */
export type EngineView = EngineSettings & { status: AppStatus };

/** A PUT body: a full replace, omitted fields take their defaults. Types are the route schema's to check. */
export type SettingsInput = Partial<EngineSettings>;

/** Parameters the authorization request sets itself (consent, §9): an app may not override them. */
const RESERVED_PARAMS = new Set(['response_type', 'client_id', 'redirect_uri', 'scope', 'state', 'code_challenge', 'code_challenge_method']);

function checkSettings(input: SettingsInput, rules: AppRules): EngineSettings {
  const s = { ...DEFAULT_SETTINGS, ...input };
  for (const key of Object.keys(s.authorizeParams)) {
    if (RESERVED_PARAMS.has(key)) throw fail('invalidJson', `authorizeParams.${key}: set by tokenkeep itself`);
  }
  return {
    ...s,
    revocationURI: s.revocationURI === null ? null : checkUri('revocationURI', s.revocationURI, rules),
    issuer: s.issuer === null ? null : checkUri('issuer', s.issuer, rules),
  };
}

export async function engineFor(store: Store, actor: Identity, appId: number): Promise<EngineView> {
  await managedApp(store, actor, appId);
  const engine = await store.appEngines.get(appId);
  if (!engine) throw fail('appNotFound', appId); // deleted since the check
  return { ...(engine.settings ?? DEFAULT_SETTINGS), status: engine.status };
}

export async function replaceEngine(store: Store, actor: Identity, appId: number, input: SettingsInput, rules: AppRules): Promise<EngineView> {
  await managedApp(store, actor, appId);
  const settings = checkSettings(input, rules);
  const before = (await store.appEngines.get(appId))?.settings ?? DEFAULT_SETTINGS;
  await settle(store.appEngines.set(appId, settings));
  // The background refresh (api.md §8.7) follows: planned from each token's expiry when it starts or its margin
  // changes, no longer planned when it stops. Each refresh plans the next with its jitter.
  if (settings.proactive !== before.proactive || (settings.proactive && settings.refreshMargin !== before.refreshMargin)) {
    await store.tokens.plan(appId, settings.proactive ? settings.refreshMargin * 1000 : null);
  }
  return engineFor(store, actor, appId);
}

/** The settings a refresh uses (the defaults while none were set); undefined when the app is gone. */
export async function settingsOf(store: Store, appId: number): Promise<{ settings: EngineSettings; status: AppStatus } | undefined> {
  const engine = await store.appEngines.get(appId);
  return engine && { settings: engine.settings ?? DEFAULT_SETTINGS, status: engine.status };
}
