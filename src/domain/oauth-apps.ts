/**
 * OAuth application rules (api.md §5). An application belongs to a tenant. It is usable by that tenant, or by every
 * tenant when it belongs to the system tenant. It is managed — created, changed, deleted, its client secret seen —
 * by Administrator (12) or by OAuth (28) with administrative access on its tenant. Every rule is evaluated for the
 * effective user (the `?user=` target when one is given).
 */
import { fail } from '../errors.js';
import type { NewOAuthApp, OAuthApp, OAuthAppHeader, OAuthAppSummary, Store, Versions } from './ports/index.js';
import { mayAdminister, type Identity } from './access.js';
import { isDataStore } from './datastores.js';
import { Perm, SYSTEM_TENANT_ID } from './permissions.js';
import { settle } from './refusals.js';
import { revocationPlan } from './revocation.js';

export const usableBy = (app: Pick<OAuthApp, 'tenantId'>, tenantId: number): boolean => app.tenantId === SYSTEM_TENANT_ID || app.tenantId === tenantId;

export const manages = (who: Identity, app: Pick<OAuthApp, 'tenantId'>): boolean => mayAdminister(who, Perm.OAuth, app.tenantId);

const visibleTo = (who: Identity, app: Pick<OAuthApp, 'tenantId'>): boolean => usableBy(app, who.tenantId) || manages(who, app);

export async function listApps(store: Store, actor: Identity, tenantId?: number): Promise<OAuthAppSummary[]> {
  const apps = (await store.apps.list()).filter((a) => visibleTo(actor, a));
  return tenantId === undefined ? apps : apps.filter((a) => a.tenantId === tenantId);
}

/** An app the actor may see, without opening its secret: 404 `222207711` for an unknown or invisible id alike. */
async function visibleApp(store: Store, actor: Identity, id: number): Promise<OAuthAppHeader> {
  const app = await store.apps.header(id);
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
  const app = await store.apps.get(id);
  if (!app) throw fail('appNotFound', id); // deleted since the header was read
  return app;
}

export interface AppRules {
  /** `http:` URIs to loopback hosts, for development against a local authorization server */
  allowLoopbackHttp: boolean;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Scheme, `//`, the authority, then the path and query. */
const SHAPE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?]*)(.*)$/s;
/** A plain DNS name or IPv4 address, or a bracketed IPv6 address; an optional port. No percent-escapes. */
const AUTHORITY = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]*)?$/;
/** RFC 3986's path and query characters; `%` only as a complete escape. */
const PATH_AND_QUERY = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*$/;

/**
 * An authorize or token URI (RFC 6749 §3.1–3.2), returned in WHATWG's normal form (`URL#href`), which is what is
 * stored. Only text that every URL parser reads alike is accepted: RFC 3986 characters, `scheme://` spelled out, a
 * host that is a plain name or address and that WHATWG does not rewrite — so `https:evil.example`,
 * `https://evil.example\@good.example/`, `https://127.1/` or a percent-escaped host, which browsers, Node's legacy
 * url.parse and HTTP clients resolve to different hosts, are refused instead of being guessed at. No fragment
 * (RFC 6749: MUST NOT) and no userinfo (a credential in a URI ends up in logs). Messages never repeat the URI.
 */
export function checkUri(field: string, value: string, rules: AppRules): string {
  const refuse = (problem: string) => fail('invalidJson', `${field}: ${problem}`);
  // eslint-disable-next-line no-control-regex -- matching control characters is the point: they are refused
  if (/[\u0000-\u0020\u007f]/.test(value)) throw refuse('must not contain spaces or control characters');
  if (/[^\u0021-\u007e]/.test(value)) throw refuse('must be ASCII (percent-encode other characters; an international host name in punycode)');
  if (value.includes('\\')) throw refuse('must not contain a backslash');
  if (value.includes('#')) throw refuse('must not have a fragment (#)');
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(value)?.[1].toLowerCase();
  if (scheme === undefined) throw refuse('must be an absolute URL');
  if (scheme !== 'https' && scheme !== 'http') throw refuse('must be an https: URL');
  const shape = SHAPE.exec(value);
  if (!shape) throw refuse('must spell out "//" after the scheme (https://host/…)');
  const [, , authority, rest] = shape;
  if (authority.includes('@')) throw refuse('must not carry credentials (user@ before the host)');
  if (!AUTHORITY.test(authority)) throw refuse('must have a host that is a plain DNS name or IP address, with an optional port');
  if (!PATH_AND_QUERY.test(rest)) throw refuse('has a character that must be percent-encoded in a URI');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw refuse('is not a valid URL (check the port and the IP address)');
  }
  const host = authority.replace(/:[0-9]*$/, '').toLowerCase();
  // WHATWG rewrites some IPv4 spellings (127.1, 0x7f.0.0.1, 2130706433) that other parsers take as names.
  if (!host.startsWith('[') && url.hostname !== host) throw refuse('must write its host as URL parsers agree on (an IPv4 address as four decimal numbers)');
  if (scheme === 'http' && !(rules.allowLoopbackHttp && LOOPBACK.has(url.hostname))) throw refuse('must be an https: URL');
  return url.href;
}

/** The application with its URIs checked and normalised, as it is to be stored. */
function checkApp<T extends NewOAuthApp>(input: T, rules: AppRules): T {
  if (!isDataStore(input.dataStore)) throw fail('invalidJson', `dataStore: there is no data store ${input.dataStore}`);
  return { ...input, authorizeURI: checkUri('authorizeURI', input.authorizeURI, rules), tokenURI: checkUri('tokenURI', input.tokenURI, rules) };
}

export async function createApp(
  store: Store,
  actor: Identity,
  input: Omit<NewOAuthApp, 'tenantId'> & { tenantId?: number },
  rules: AppRules,
): Promise<OAuthApp> {
  const app = checkApp({ ...input, tenantId: input.tenantId ?? actor.tenantId }, rules);
  if (!(await store.tenants.get(app.tenantId))) throw fail('tenantNotFound', app.tenantId);
  if (!manages(actor, app)) throw fail('forbidden');
  return settle(store.apps.create(app), { name: `OAuth application ${app.name}` });
}

/**
 * An app the actor manages: 404 when it cannot even see it, 403 when it sees but may not manage it. Its secret stays
 * closed: a damaged one can still be replaced or deleted.
 */
export async function managedApp(store: Store, actor: Identity, id: number): Promise<OAuthAppHeader> {
  const app = await visibleApp(store, actor, id);
  if (!manages(actor, app)) throw fail('forbidden');
  return app;
}

export async function updateApp(
  store: Store,
  actor: Identity,
  id: number,
  input: Omit<NewOAuthApp, 'tenantId'> & { tenantId?: number },
  rules: AppRules,
  ifVersion?: Versions,
): Promise<OAuthApp> {
  const current = await managedApp(store, actor, id);
  if (input.tenantId !== undefined && input.tenantId !== current.tenantId) {
    throw fail('invalidJson', 'tenantId: an application cannot move to another tenant');
  }
  const app = checkApp({ ...input, tenantId: current.tenantId }, rules);
  return settle(store.apps.update(id, app, ifVersion), { stale: `OAuth application ${id}`, name: `OAuth application ${app.name}` });
}

export async function deleteApp(store: Store, actor: Identity, id: number, ifVersion?: Versions): Promise<void> {
  await managedApp(store, actor, id);
  const revoke = await revocationPlan(store, id);
  await settle(store.apps.delete(id, ifVersion, revoke), { stale: `OAuth application ${id}` });
}
