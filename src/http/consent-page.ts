/**
 * The page a browser sees at the end of a consent (api.md §9), when the start named no returnTo: a small, accessible
 * HTML document — language, title, one heading, a sentence saying what happened — with no script and no style, so
 * the strictest policy holds. Every value shown is escaped; nothing of the query is shown but an AS error code that
 * the flow already reduced to RFC 6749's characters, and never a state, a code or a token.
 */
import type { ApiError } from '../errors.js';

/** The answer's own policy: nothing may load, frame it, set a base URL or submit a form (no script, no style either). */
export const CONSENT_PAGE_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text as HTML character data or a quoted attribute value. */
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c]);

export type PageOutcome = { ok: true; profileId: number; name: string; created: boolean } | { ok: false; error: ApiError };

/** What each refusal means for the user, before the catalogue's message (which names the details). */
const HEADLINES: Partial<Record<ApiError['kind'], string>> = {
  consentNotConfigured: 'Consent is not set up on this server',
  consentStateInvalid: 'This consent link cannot be used',
  consentIssuerMismatch: 'The answer did not come from the expected provider',
  consentOtherUser: 'This consent belongs to another user',
  consentDenied: 'The consent was declined',
  consentAsError: 'The provider did not grant access',
  consentNoRefreshToken: 'The provider granted no lasting access',
  duplicateName: 'A profile of that name already exists',
  profileNotFound: 'The profile no longer exists',
  appReferenceInvalid: 'The application can no longer be used',
};

function page(title: string, paragraphs: string[]): string {
  const body = paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)} – tokenkeep</title>
</head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
${body}
</main>
</body>
</html>
`;
}

/** The page and its HTTP status: 200 when the profile holds the new tokens, the refusal's status otherwise. */
export function consentPage(outcome: PageOutcome): { status: number; html: string } {
  if (outcome.ok) {
    const what = outcome.created
      ? `The new OAuth profile ${outcome.name} (id ${outcome.profileId}) is connected: it holds tokens from its provider, and tokenkeep keeps them fresh.`
      : `The OAuth profile ${outcome.name} (id ${outcome.profileId}) is connected again: it holds new tokens from its provider, and tokenkeep keeps them fresh.`;
    return { status: 200, html: page('Profile connected', [what, 'You can close this window.']) };
  }
  const { error } = outcome;
  const title = HEADLINES[error.kind] ?? 'The consent was not completed';
  return { status: error.status, html: page(title, [error.message, `Error code ${error.code}.`]) };
}
