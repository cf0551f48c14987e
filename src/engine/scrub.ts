/**
 * What an authorization server (AS) wrote for humans — `error_description`, an `error` code — made safe to store in a
 * profile's `lastError` (§8.1), show in its status and write to a log: at most 200 characters, one line, and never a
 * token value. The AS is not trusted here: a buggy or hostile one may echo the refresh token it was sent, or the
 * client secret, in its description.
 *
 * The rule, in order:
 * 1. Every secret the caller knows (the refresh token sent, the client secret, tokens received) is replaced by
 *    `[redacted]` wherever it occurs, also in its percent-encoded and form-encoded spellings, longest secret first so
 *    that a secret inside another one cannot leave a piece of the longer one behind.
 * 2. Control characters (C0, DEL, C1), line and paragraph separators and bidirectional overrides become spaces
 *    (a description must not forge log lines or reorder what a reader sees); lone surrogates become U+FFFD; runs of
 *    white space collapse to one space. Step 1 runs again on the result, since joining lines may spell a secret.
 * 3. Opaque strings — a run of characters from the token alphabet `A–Z a–z 0–9 - . _ ~ + / =` (RFC 6750's b64token
 *    plus the dot of JWTs) that is 16 or more long and holds a digit and a letter, or 32 or more long and holds a
 *    digit or both lower and upper case — are replaced by `[redacted]`: tokens the caller does not know (another
 *    user's, a token minted for the description) look like that (a random 32-character base64url string has neither
 *    a digit nor mixed case about once in 10^11), and prose and snake_case error codes of any length do not.
 *    Casualties accepted: UUIDs, long hex trace ids, and URLs whose host and path run together without a break that is
 *    not in the alphabet (`example.com/docs/oauth2`).
 * 4. The result is cut to 200 UTF-16 code units (what JavaScript's `length` counts), never inside a surrogate pair.
 * 5. A last check: should any secret still occur (a secret so short or so odd that the replacements themselves
 *    spell it, e.g. a secret `e` inside `[redacted]`), the whole text is withheld and the empty string returned.
 *    Cutting cannot create an occurrence, so the check after the cut holds for what is returned.
 */

export const DESCRIPTION_MAX = 200;
const MARKER = '[redacted]';

// Controls (\p{Cc}: C0, DEL, C1), line/paragraph separators, bidirectional embeddings, overrides and isolates.
const CONTROLS = /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;
// With the u flag a surrogate pair is one code point, so this matches lone surrogates only.
const LONE_SURROGATE = /[\ud800-\udfff]/gu;
const TOKEN_RUN = /[A-Za-z0-9\-._~+/=]{16,}/g;

function spellings(secret: string): string[] {
  const percent = encodeURIComponent(secret);
  // application/x-www-form-urlencoded as URLSearchParams writes it: spaces as '+', and a few more characters escaped.
  const form = new URLSearchParams({ s: secret }).toString().slice(2);
  return [...new Set([secret, percent, form])];
}

function redactSecrets(text: string, secrets: readonly string[]): string {
  const all = [...new Set(secrets.filter((s) => s.length > 0).flatMap(spellings))].sort((a, b) => b.length - a.length);
  let out = text;
  for (const s of all) out = out.split(s).join(MARKER);
  return out;
}

function clean(text: string): string {
  return text.replace(LONE_SURROGATE, '\ufffd').replace(CONTROLS, ' ').replace(/\s+/g, ' ').trim();
}

function redactOpaque(text: string): string {
  return text.replace(TOKEN_RUN, (run) => {
    const digit = /[0-9]/.test(run);
    const opaque = (run.length >= 16 && digit && /[A-Za-z]/.test(run)) || (run.length >= 32 && (digit || (/[a-z]/.test(run) && /[A-Z]/.test(run))));
    return opaque ? MARKER : run;
  });
}

/** Cut to at most `max` UTF-16 code units without leaving half of a surrogate pair at the end. */
export function cut(text: string, max = DESCRIPTION_MAX): string {
  if (text.length <= max) return text;
  const end = /[\ud800-\udbff]/.test(text[max - 1]) ? max - 1 : max;
  return text.slice(0, end);
}

/** `raw` made safe for `lastError` and logs, by the rule above. `secrets` may hold anything; empty strings are ignored. */
export function scrub(raw: string, secrets: readonly string[] = []): string {
  const once = redactOpaque(redactSecrets(clean(redactSecrets(raw, secrets)), secrets));
  const out = cut(once);
  return secrets.some((s) => s.length > 0 && out.includes(s)) ? '' : out;
}
