/**
 * What the engine must do after one token-endpoint call (spec §8.4), from what the reader made of the answer
 * (./token-response.ts) or from why there was no answer, and the `lastError` (§8.1) it records. Pure.
 *
 * The order of the rules, and why:
 * 1. No answer: the address policy refused the call → `refused`, never retried (the same address is refused again;
 *    the status says why). Network error, timeout, oversize body → `transient`.
 * 2. Tokens → `success`.
 * 3. HTTP 429, whatever the body → `rateLimited`: no call before its `Retry-After` (or RATE_LIMIT_DEFAULT_MS when it
 *    gave none or an unreadable one). The rate limiter in front of an AS does not speak for the grant.
 * 4. HTTP 5xx, whatever the body → `transient`: the AS says it failed, so even an `invalid_grant` in that body is not
 *    taken as the grant's death (declaring a live grant dead costs the user a new consent; one more retry costs little).
 * 5. An AS error code, compared case-insensitively, from any other status (200 included):
 *    `invalid_grant` → `reconsent`; `invalid_client`, `unauthorized_client` → `clientError` (the app's credentials are
 *    refused; the grants are not declared dead). GitHub's own names for the same two facts count too:
 *    `bad_refresh_token` (its refresh endpoint's invalid_grant) and `incorrect_client_credentials`.
 * 6. Anything else — other codes (`invalid_request`, `temporarily_unavailable`, …), unreadable answers — `transient`.
 *
 * `lastError.error` is the AS's code when it sent one, else a code of ours that no RFC 6749 AS sends:
 * `invalid_response`, `rate_limited`, `network_error`, `timeout`, `response_too_large`, `address_refused`.
 */
import { scrub } from './scrub.js';
import type { TokenResponse, Tokens, UnreadableReason } from './token-response.js';

/** Why a call got no answer, as the outbound client reports it. `detail` (e.g. the refused address class) is scrubbed. */
export interface OutboundFailure {
  kind: 'network' | 'timeout' | 'tooLarge' | 'refused';
  detail?: string;
}

export type CallOutcome = TokenResponse | OutboundFailure;

/** §8.1's `lastError`. `at` is an ISO 8601 timestamp, as the status resource shows it. */
export interface LastError {
  error: string;
  /** At most 200 characters; never holds a secret the caller named, nor a long opaque string (./scrub.ts). */
  description: string;
  /** null when no answer came (network, timeout, refused). */
  httpStatus: number | null;
  at: string;
}

export type Verdict =
  | { action: 'success'; tokens: Tokens }
  | { action: 'reconsent'; lastError: LastError }
  | { action: 'clientError'; lastError: LastError }
  | { action: 'rateLimited'; retryAfterMs: number; lastError: LastError }
  | { action: 'transient'; retryAfterMs?: number; lastError: LastError }
  | { action: 'refused'; lastError: LastError };

export interface ClassifyContext {
  /** When the outcome was known, epoch ms: becomes `lastError.at`. */
  at: number;
  /** Every secret of this call: refresh token sent, client secret, tokens received. None may reach `lastError`. */
  secrets: readonly string[];
}

/** The wait after a 429 that named none: long enough not to hammer a limiter, short against a token's lifetime. */
export const RATE_LIMIT_DEFAULT_MS = 60_000;

const RECONSENT_CODES = new Set(['invalid_grant', 'bad_refresh_token']);
const CLIENT_CODES = new Set(['invalid_client', 'unauthorized_client', 'incorrect_client_credentials']);

const REASONS: Record<UnreadableReason, string> = {
  oversize: 'the body is larger than 64 KiB',
  empty: 'the body is empty',
  html: 'the body is HTML',
  'invalid-json': 'the body is not valid JSON',
  'not-an-object': 'the JSON body is not an object',
  'not-json-or-form': 'the body is neither JSON nor form-encoded',
  'duplicate-field': 'a field occurs twice',
  'error-not-a-string': 'its error field is not a string',
  'status-without-error': 'the status is not a success and the body names no error',
  'no-access-token': 'it carries no access_token',
  'bad-access-token': 'its access_token is not a string of visible ASCII characters',
  'bad-refresh-token': 'its refresh_token is not a string of visible ASCII characters',
};

const FAILURES: Record<OutboundFailure['kind'], { error: string; description: string }> = {
  network: { error: 'network_error', description: 'the token endpoint could not be reached' },
  timeout: { error: 'timeout', description: 'the token endpoint did not answer in time' },
  tooLarge: { error: 'response_too_large', description: "the token endpoint's answer is larger than 64 KiB" },
  refused: { error: 'address_refused', description: "the token endpoint's address is not allowed" },
};

/** §8.1's `lastError`, scrubbed: `error` and `description` pass through ./scrub.ts with `secrets`. */
export function lastError(fields: { error: string; description: string; httpStatus: number | null }, at: number, secrets: readonly string[]): LastError {
  return {
    error: scrub(fields.error, secrets),
    description: scrub(fields.description, secrets),
    httpStatus: fields.httpStatus,
    at: new Date(at).toISOString(),
  };
}

/** What the engine does next after one call, and what it records. */
export function classify(outcome: CallOutcome, ctx: ClassifyContext): Verdict {
  const record = (error: string, description: string, httpStatus: number | null): LastError =>
    lastError({ error, description, httpStatus }, ctx.at, ctx.secrets);

  switch (outcome.kind) {
    case 'network':
    case 'timeout':
    case 'tooLarge':
    case 'refused': {
      const f = FAILURES[outcome.kind];
      const description = outcome.detail ? `${f.description}: ${outcome.detail}` : f.description;
      const le = record(f.error, description, null);
      return outcome.kind === 'refused' ? { action: 'refused', lastError: le } : { action: 'transient', lastError: le };
    }
    case 'tokens':
      return { action: 'success', tokens: outcome };
    case 'error':
    case 'unreadable': {
      const status = outcome.httpStatus;
      const le =
        outcome.kind === 'error'
          ? record(outcome.error, outcome.description, status)
          : status === 429
            ? record('rate_limited', 'the token endpoint asked to wait (HTTP 429)', status)
            : record('invalid_response', `the token endpoint's answer (HTTP ${status}) could not be read: ${REASONS[outcome.reason]}`, status);
      const retry = outcome.retryAfterMs;
      if (status === 429) return { action: 'rateLimited', retryAfterMs: retry ?? RATE_LIMIT_DEFAULT_MS, lastError: le };
      const transient: Verdict = retry === undefined ? { action: 'transient', lastError: le } : { action: 'transient', retryAfterMs: retry, lastError: le };
      if (status >= 500 && status <= 599) return transient;
      if (outcome.kind === 'error') {
        const code = outcome.error.toLowerCase();
        if (RECONSENT_CODES.has(code)) return { action: 'reconsent', lastError: le };
        if (CLIENT_CODES.has(code)) return { action: 'clientError', lastError: le };
      }
      return transient;
    }
  }
}
