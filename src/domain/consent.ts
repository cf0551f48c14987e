/**
 * The rules of consent (api.md §9) that know neither HTTP nor the AS: how long a started consent lives, who may
 * complete it, where a browser may be sent back to, and how the outcome rides along. The flow itself — the
 * authorization request, the callback, the code exchange — is src/engine/consent.ts.
 */
import { fail } from '../errors.js';
import type { Identity } from './access.js';
import type { ConsentState } from './ports/index.js';

/** A started consent must be completed within this time (by the clock of the node that started it). */
export const CONSENT_LIFETIME_MS = 10 * 60_000;

/** HDP's own redirect path: an app registered for HDP keeps its redirect URI (api.md §9). */
export const CALLBACK_PATH = '/hdpui/oauth2callback';

/** The redirect URI of a server whose external origin is `publicUrl` (TOKENKEEP_PUBLIC_URL). */
export const redirectUriOf = (publicUrl: string): string => `${publicUrl}${CALLBACK_PATH}`;

/** Longest returnTo accepted: a path and a query of an application's page, not a document. */
const MAX_RETURN_TO = 2048;
/** RFC 3986 path and query characters; `%` only as a complete escape. No `#`: the outcome is appended as a query. */
const PATH_AND_QUERY = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*$/;

/**
 * A `returnTo` (where the callback sends the browser, with the outcome in the query): a path on this server, never
 * another site. Refused unless it starts with one `/` and holds no `//` anywhere (a browser reads `//evil.example` as
 * another host, and `/a//b` invites a later rewrite into one), no backslash (`/\evil` is `//evil` to browsers), no
 * scheme (nothing before the first `/`), no control character, space or character outside RFC 3986's path and query
 * (Location holds ASCII only), no fragment.
 */
export function checkReturnTo(value: string): string {
  const refuse = (problem: string) => fail('invalidJson', `returnTo: ${problem}`);
  if (value.length > MAX_RETURN_TO) throw refuse(`must be at most ${MAX_RETURN_TO} characters`);
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(value)) throw refuse('must not contain control characters');
  if (value.includes('\\')) throw refuse('must not contain a backslash');
  if (!value.startsWith('/')) throw refuse('must be a path on this server, starting with "/" (not a URL of another site)');
  if (value.includes('//')) throw refuse('must not contain "//" (a browser may read it as another site)');
  if (!PATH_AND_QUERY.test(value)) throw refuse('must be a path and query of RFC 3986 characters (percent-encode others; no "#")');
  return value;
}

/** What the browser learns in the returnTo's query: the profile connected, or the catalogue code of the refusal. */
export type ConsentReturn = { profileId: number } | { errorCode: number };

/** The returnTo with the outcome added to its query (`consent=connected&profileId=7`, `consent=error&error=223016400`). */
export function returnLocation(returnTo: string, outcome: ConsentReturn): string {
  const query = 'profileId' in outcome ? `consent=connected&profileId=${outcome.profileId}` : `consent=error&error=${outcome.errorCode}`;
  const separator = !returnTo.includes('?') ? '?' : returnTo.endsWith('?') || returnTo.endsWith('&') ? '' : '&';
  return `${returnTo}${separator}${query}`;
}

/** A state at or past its end is refused, whichever node started it. */
export const expired = (state: Pick<ConsentState, 'expiresAt'>, now: number): boolean => now >= state.expiresAt;

/**
 * RFC 6749 §10.12: a callback that arrives signed in (the browser sent credentials) must be the user's who started
 * it or the one it is for; another user's browser completing it would get a victim's grant into an attacker's
 * profile, or the reverse. A callback without credentials is the state's alone (it is the credential).
 */
export const mayComplete = (state: Pick<ConsentState, 'userId' | 'actorId'>, signedIn: Identity | undefined): boolean =>
  signedIn === undefined || signedIn.id === state.userId || signedIn.id === state.actorId;
