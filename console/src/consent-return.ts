/**
 * The end of a consent started by the console. The API sends the browser back to the start's `returnTo`
 * (`/console/`) with the outcome in the query — `consent=connected&profileId=7` or `consent=error&error=<code>`
 * (src/domain/consent.ts) — since a returnTo may carry no fragment. The console reads it once, removes it from the
 * address (history.replaceState, to `/console/#/profiles`) so that a reload or a bookmark does not repeat it, and
 * says what happened.
 */

export type ConsentOutcome = { ok: true; profileId: number | null } | { ok: false; code: number | null };

/** What each refusal (README's error table) means to the person who just consented. */
const REFUSALS: Record<number, string> = {
  222207710: 'the profile no longer exists',
  222207711: 'the app can no longer be used',
  223006409: 'a profile of that name already exists',
  223015400: 'consent is not set up on this server (TOKENKEEP_PUBLIC_URL)',
  223016400: 'the consent link expired or was already used; start again',
  223017400: 'the answer did not come from the app’s authorization server',
  223018403: 'the consent belongs to another user',
  223019403: 'the consent was declined',
  223020502: 'the provider did not grant access',
  223021502: 'the provider granted no lasting access (no refresh token); ask it for offline access',
};

/** The outcome in `search` (`?consent=…`), or null when there is none. */
export function readConsentOutcome(search: string): ConsentOutcome | null {
  const query = new URLSearchParams(search);
  const consent = query.get('consent');
  if (consent === 'connected') {
    const id = Number(query.get('profileId'));
    return { ok: true, profileId: Number.isSafeInteger(id) && id > 0 ? id : null };
  }
  if (consent === 'error') {
    const code = Number(query.get('error'));
    return { ok: false, code: Number.isSafeInteger(code) && code > 0 ? code : null };
  }
  return null;
}

export function describeConsentOutcome(outcome: ConsentOutcome): string {
  if (outcome.ok) return 'Connected';
  const why = outcome.code === null ? undefined : REFUSALS[outcome.code];
  const code = outcome.code === null ? '' : ` (error ${outcome.code})`;
  return `The profile was not connected: ${why ?? 'the consent did not complete'}${code}.`;
}

/** Reads the outcome from the address and removes it, leaving `/console/#/profiles`. */
export function takeConsentOutcome(): ConsentOutcome | null {
  const outcome = readConsentOutcome(location.search);
  if (outcome) history.replaceState(null, '', `${location.pathname}#/profiles`);
  return outcome;
}
