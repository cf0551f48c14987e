/**
 * OAuth application rules (api.md §5). An application belongs to a tenant. It is usable by that tenant, or by every
 * tenant when it belongs to the system tenant. It is managed — created, changed, deleted, its client secret seen —
 * by Administrator (12) or by OAuth (28) with administrative access on its tenant. Every rule is evaluated for the
 * effective user (the `?user=` target when one is given).
 */
import { fail } from '../errors.js';
import type { NewOAuthApp, OAuthApp, OAuthAppHeader, OAuthAppSummary, Store, Versions } from '../storage/store.js';
import { mayAdminister, type Identity } from './access.js';
import { isDataStore } from './datastores.js';
import { Perm, SYSTEM_TENANT_ID } from './permissions.js';

export const usableBy = (app: Pick<OAuthApp, 'tenantId'>, tenantId: number): boolean =>
  app.tenantId === SYSTEM_TENANT_ID || app.tenantId === tenantId;

export const manages = (who: Identity, app: Pick<OAuthApp, 'tenantId'>): boolean => mayAdminister(who, Perm.OAuth, app.tenantId);

const visibleTo = (who: Identity, app: Pick<OAuthApp, 'tenantId'>): boolean => usableBy(app, who.tenantId) || manages(who, app);

export async function listApps(store: Store, actor: Identity, tenantId?: number): Promise<OAuthAppSummary[]> {
  const apps = (await store.listApps()).filter((a) => visibleTo(actor, a));
  return tenantId === undefined ? apps : apps.filter((a) => a.tenantId === tenantId);
}

/** An app the actor may see, without opening its secret: 404 `222207711` for an unknown or invisible id alike. */
async function visibleApp(store: Store, actor: Identity, id: number): Promise<OAuthAppHeader> {
  const app = await store.appHeader(id);
  if (!app || !visibleTo(actor, app)) throw fail('appNotFound', id);
  return app;
}

/**
 * An app as the actor may see it: with its client secret for a manager, without it — and without opening it, so a
 * damaged secret does not fail the read — for anyone else. A manager's read of a damaged secret is 500 `secretUnreadable`.
 */
export async function appFor(store: Store, actor: Identity, id: number): Promise<OAuthAppHeader | OAuthApp> {
  const header = await visibleApp(store, actor, id);
  if (!manages(actor, header)) return header;
  const app = await store.app(id);
  if (!app) throw fail('appNotFound', id); // deleted since the header was read
  return app;
}

export interface AppRules {
  /** `http:` URIs to loopback hosts, for development against a local authorization server */
  allowLoopbackHttp: boolean;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

function checkUri(field: string, value: string, rules: AppRules): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw fail('invalidJson', `${field}: must be an absolute URL`);
  }
  if (url.username || url.password) throw fail('invalidJson', `${field}: must not carry credentials`);
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && rules.allowLoopbackHttp && LOOPBACK.has(url.hostname)) return;
  throw fail('invalidJson', `${field}: must be an https: URL`);
}

function checkApp(input: NewOAuthApp, rules: AppRules): void {
  if (!isDataStore(input.dataStore)) throw fail('invalidJson', `dataStore: there is no data store ${input.dataStore}`);
  checkUri('authorizeURI', input.authorizeURI, rules);
  checkUri('tokenURI', input.tokenURI, rules);
}

export async function createApp(store: Store, actor: Identity, input: Omit<NewOAuthApp, 'tenantId'> & { tenantId?: number }, rules: AppRules): Promise<OAuthApp> {
  const app = { ...input, tenantId: input.tenantId ?? actor.tenantId };
  checkApp(app, rules);
  if (!(await store.tenant(app.tenantId))) throw fail('tenantNotFound', app.tenantId);
  if (!manages(actor, app)) throw fail('forbidden');
  return store.createApp(app);
}

/**
 * An app the actor manages: 404 when it cannot even see it, 403 when it sees but may not manage it. Its secret stays
 * closed: a damaged one can still be replaced or deleted.
 */
async function managedApp(store: Store, actor: Identity, id: number): Promise<OAuthAppHeader> {
  const app = await visibleApp(store, actor, id);
  if (!manages(actor, app)) throw fail('forbidden');
  return app;
}

export async function updateApp(
  store: Store, actor: Identity, id: number, input: Omit<NewOAuthApp, 'tenantId'> & { tenantId?: number }, rules: AppRules, ifVersion?: Versions,
): Promise<OAuthApp> {
  const current = await managedApp(store, actor, id);
  if (input.tenantId !== undefined && input.tenantId !== current.tenantId) {
    throw fail('invalidJson', 'tenantId: an application cannot move to another tenant');
  }
  const app = { ...input, tenantId: current.tenantId };
  checkApp(app, rules);
  return store.updateApp(id, app, ifVersion);
}

export async function deleteApp(store: Store, actor: Identity, id: number, ifVersion?: Versions): Promise<void> {
  await managedApp(store, actor, id);
  await store.deleteApp(id, ifVersion);
}

