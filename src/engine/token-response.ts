/**
 * The tolerant reader of a token endpoint's answer (RFC 6749 §5.1 success, §5.2 error; spec §8.4): what came back from
 * one call — status, headers, body bytes — turned into tokens, an AS error, or "unreadable". Pure: no I/O, no clock
 * (the caller passes when it sent the request), and it never throws, whatever the bytes.
 *
 * Tolerant where real providers stray, and why:
 * - JSON whatever the Content-Type says (a body that starts with `{` is read as JSON, charset or not), and
 *   `application/x-www-form-urlencoded` (GitHub's classic answer), also under another Content-Type when the whole
 *   body has the form's shape. Strict libraries refuse both and would lose tokens the AS has already rotated.
 * - A body carrying `error` is an error whatever the status, 200 included (GitHub answers 200 with an error).
 * - `expires_in` as a JSON number or a numeric string (`"3600"`). Absent, or not a whole number of seconds in
 *   1 … 10 years (negative, zero, NaN, `"soon"`, an epoch timestamp sent by mistake) → the app's `defaultExpiresIn`.
 *   Not "unreadable": the tokens themselves are good and, on a rotating AS, the old refresh token is already dead, so
 *   refusing the answer would kill the grant over an optional field. Not clamped to 10 years either: guessing too
 *   short costs one early refresh, guessing too long serves a dead token. Facebook's legacy form answers name the
 *   field `expires`; it is read when `expires_in` is absent.
 * - `token_type` is REQUIRED (§5.1) but case-insensitive (§7.1); `bearer` in any case becomes `Bearer`. A missing or
 *   malformed one is taken as `Bearer` — the only type a refresh returns in practice, and again, refusing the answer
 *   would cost the grant. Another type (e.g. `DPoP`) is passed on as sent.
 * - `refresh_token` absent, `null` or empty → undefined: the stored one stays (never wiped, as NangoHQ/nango#298 did).
 * - `scope` as a string, or as an array of strings (joined by spaces); anything else is ignored.
 *
 * Strict where guessing would store a wrong secret:
 * - `access_token` and `refresh_token` must be strings of visible ASCII (RFC 6749 Appendix A: VSCHAR). A token sent
 *   as a JSON number may already have lost digits in parsing, and a control character would end up in a header.
 * - In a form body, a field the reader uses may occur once only: two different `access_token`s are no answer.
 * - Tokens only from a 2xx answer; any other status without an `error` is unreadable.
 *
 * Descriptions and error codes are scrubbed (./scrub.ts) with the secrets the caller knows; the reasons for
 * "unreadable" are fixed phrases, never a piece of the body (spec §8.4: logged without its body).
 */
import { scrub } from './scrub.js';
import { retryAfterMs } from './retry-after.js';

/** The answer's headers as undici's `request` gives them (names in any case are found). */
export type ResponseHeaders = Readonly<Record<string, string | string[] | undefined>>;

export interface TokenAnswer {
  status: number;
  headers: ResponseHeaders;
  body: Buffer;
  /** When the request was sent, epoch ms: `expiresAt` counts from here (§8.4). */
  sentAt: number;
  /** The app's `defaultExpiresIn` in seconds (§8.6), used when the answer gives no usable `expires_in`. */
  defaultExpiresIn: number;
  /** When the answer arrived, epoch ms; measures an HTTP-date `Retry-After` when the answer has no `Date`. Default `sentAt`. */
  receivedAt?: number;
  /** Secrets that must never appear in a description: the refresh token and client secret sent. */
  secrets?: readonly string[];
}

export interface Tokens {
  kind: 'tokens';
  accessToken: string;
  tokenType: string;
  /** Epoch ms: sentAt + expires_in seconds (or the default). */
  expiresAt: number;
  /** undefined: the answer carried none, keep the stored refresh token. */
  refreshToken: string | undefined;
  /** Present only when the answer carried one (absent: as requested, RFC 6749 §5.1). */
  scope?: string;
  httpStatus: number;
}

export interface AsError {
  kind: 'error';
  /** The AS's error code, scrubbed (a hostile AS may put anything there). */
  error: string;
  /** `error_description`, scrubbed and cut to 200 characters; empty when the AS gave none. */
  description: string;
  httpStatus: number;
  /** From `Retry-After`, when the answer had a valid one. */
  retryAfterMs?: number;
}

export type UnreadableReason =
  | 'oversize'
  | 'empty'
  | 'html'
  | 'invalid-json'
  | 'not-an-object'
  | 'not-json-or-form'
  | 'duplicate-field'
  | 'error-not-a-string'
  | 'status-without-error'
  | 'no-access-token'
  | 'bad-access-token'
  | 'bad-refresh-token';

export interface Unreadable {
  kind: 'unreadable';
  httpStatus: number;
  reason: UnreadableReason;
  retryAfterMs?: number;
}

export type TokenResponse = Tokens | AsError | Unreadable;

/** The outbound client caps bodies at 64 KiB (§8.5); the reader refuses more itself, so its work stays bounded. */
export const MAX_BODY_BYTES = 64 * 1024;
/** 10 years in seconds: a longer `expires_in` is a broken AS or a timestamp, not a lifetime. */
export const MAX_EXPIRES_IN = 10 * 365 * 24 * 60 * 60;
const FALLBACK_EXPIRES_IN = 3600;

// key=value pairs joined by '&' with no white space: the shape of a form body, which prose and HTML do not have.
const FORM_SHAPE = /^[^\s=&]+=[^\s&]*(?:&[^\s=&]+=[^\s&]*)*&?$/;
const VSCHAR = /^[\x20-\x7e]+$/;
const READ_FIELDS = ['access_token', 'token_type', 'expires_in', 'expires', 'refresh_token', 'scope', 'error', 'error_description'];

/** A parsed body: a field's value, or undefined when absent. */
type Fields = (name: string) => unknown;

function header(headers: ResponseHeaders, name: string): string | undefined {
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() !== name) continue;
    const v = headers[key];
    const first = Array.isArray(v) ? v[0] : v;
    return typeof first === 'string' ? first : undefined;
  }
  return undefined;
}

function parseJson(text: string): Fields | UnreadableReason {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'invalid-json';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not-an-object';
  const obj = value as Record<string, unknown>;
  // Own properties only: a body must not reach Object.prototype through a name the reader asks for.
  return (name) => (Object.hasOwn(obj, name) ? obj[name] : undefined);
}

function parseForm(text: string): Fields | UnreadableReason {
  const params = new URLSearchParams(text);
  if (READ_FIELDS.some((name) => params.getAll(name).length > 1)) return 'duplicate-field';
  return (name) => params.get(name) ?? undefined;
}

function parseBody(body: Buffer, contentType: string | undefined): Fields | UnreadableReason {
  if (body.length > MAX_BODY_BYTES) return 'oversize';
  // Not fatal: a stray invalid byte becomes U+FFFD and then fails the checks below where it matters (tokens).
  const text = new TextDecoder('utf-8').decode(body).trim();
  if (text === '') return 'empty';
  const media = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (text.startsWith('{') || text.startsWith('[')) return parseJson(text);
  if (text.startsWith('<')) return 'html';
  if (media === 'application/x-www-form-urlencoded' || FORM_SHAPE.test(text)) return parseForm(text);
  if (media === 'application/json' || media.endsWith('+json')) return parseJson(text);
  return 'not-json-or-form';
}

/** Whole seconds in 1 … MAX_EXPIRES_IN from a number or a numeric string, else undefined. */
function lifetime(v: unknown): number | undefined {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && /^\s*\d+(?:\.\d+)?\s*$/.test(v)) n = Number(v);
  else return undefined;
  if (!Number.isFinite(n)) return undefined;
  const s = Math.floor(n);
  return s >= 1 && s <= MAX_EXPIRES_IN ? s : undefined;
}

function tokenType(v: unknown): string {
  if (typeof v !== 'string') return 'Bearer';
  const t = v.trim();
  if (t === '' || !VSCHAR.test(t)) return 'Bearer';
  return t.toLowerCase() === 'bearer' ? 'Bearer' : t;
}

function scopeOf(v: unknown): string | undefined {
  const s = typeof v === 'string' ? v : Array.isArray(v) && v.every((x) => typeof x === 'string') ? v.join(' ') : undefined;
  if (s === undefined) return undefined;
  const t = s.trim();
  return t !== '' && VSCHAR.test(t) ? t : undefined;
}

const absent = (v: unknown): boolean => v === undefined || v === null || v === '';

/** Reads one token-endpoint answer. Never throws. */
export function readTokenResponse(answer: TokenAnswer): TokenResponse {
  const { status, headers, body, sentAt } = answer;
  const secrets = answer.secrets ?? [];
  const receivedAt = answer.receivedAt ?? sentAt;
  const retry = retryAfterMs(header(headers, 'retry-after'), header(headers, 'date'), receivedAt);
  const withRetry = retry === undefined ? {} : { retryAfterMs: retry };
  const unreadable = (reason: UnreadableReason): Unreadable => ({ kind: 'unreadable', httpStatus: status, reason, ...withRetry });

  const fields = parseBody(body, header(headers, 'content-type'));
  if (typeof fields === 'string') return unreadable(fields);

  const error = fields('error');
  if (!absent(error)) {
    if (typeof error !== 'string') return unreadable('error-not-a-string');
    // Only white space is no error code at all: read on as if absent. Anything else is an error, even when nothing of
    // it survives scrubbing (then its code is empty).
    if (error.trim() !== '') {
      const raw = fields('error_description');
      const description = typeof raw === 'string' ? scrub(raw, secrets) : '';
      return { kind: 'error', error: scrub(error, secrets), description, httpStatus: status, ...withRetry };
    }
  }

  if (!(status >= 200 && status <= 299)) return unreadable('status-without-error');

  const access = fields('access_token');
  if (absent(access)) return unreadable('no-access-token');
  if (typeof access !== 'string' || !VSCHAR.test(access)) return unreadable('bad-access-token');

  const refresh = fields('refresh_token');
  let refreshToken: string | undefined;
  if (!absent(refresh)) {
    if (typeof refresh !== 'string' || !VSCHAR.test(refresh)) return unreadable('bad-refresh-token');
    refreshToken = refresh;
  }

  const expiresInField = fields('expires_in');
  const given = lifetime(absent(expiresInField) ? fields('expires') : expiresInField);
  const fallback = Number.isFinite(answer.defaultExpiresIn) && answer.defaultExpiresIn > 0 ? answer.defaultExpiresIn : FALLBACK_EXPIRES_IN;
  const scope = scopeOf(fields('scope'));

  return {
    kind: 'tokens',
    accessToken: access,
    tokenType: tokenType(fields('token_type')),
    expiresAt: sentAt + (given ?? fallback) * 1000,
    refreshToken,
    ...(scope === undefined ? {} : { scope }),
    httpStatus: status,
  };
}
