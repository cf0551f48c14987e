/**
 * The token engine's columns of `oauth_profiles` (api.md §8), as both backends write them: the digests that tell a
 * change of tokens without opening them, and the SET lists of the writes that change the engine's record — a PUT (a
 * reset when its tokens differ from the stored ones), a refresh's commit, a failed refresh. The SQL is the same on
 * both databases (SQLite knows IS DISTINCT FROM since 3.39); each backend hands in how its statement names a value
 * (a placeholder, or a column of the batch it updates from), so the rules are written once.
 */
import type { TokenState } from '../domain/ports/index.js';
import { createHash } from 'node:crypto';

/**
 * SHA-256 (hex) of a JSON text: JSON is injective on strings and null (a lone surrogate is escaped, not replaced),
 * so neither a null access token and an empty one, nor a newline inside a token, can make two pairs of tokens alike.
 */
const digestOf = (value: unknown): string => createHash('sha256').update(JSON.stringify(value), 'utf8').digest('hex');

/** What `tokens_digest` holds: whether a PUT changes the tokens is decided by the database, without opening them. */
export const tokensDigest = (accessToken: string | null, refreshToken: string): string => digestOf([accessToken, refreshToken]);

/** How `retired_refresh` remembers a refresh token the engine rotated away (never the token itself). */
export const refreshDigest = (refreshToken: string): string => digestOf(refreshToken);

/**
 * The digest a refresh's commit remembers of the refresh token it rotated away, or null. A token the AS handed back
 * unchanged was not rotated away: remembering it would refuse a PUT of the current one.
 */
export const retiredDigest = (next: { retired: string | undefined; refreshToken: string }): string | null =>
  next.retired === undefined || next.retired === next.refreshToken ? null : refreshDigest(next.retired);

/** How many rotated-away refresh tokens a profile remembers, newest first. */
export const RETIRED_KEPT = 16;
/** `retired_refresh` is space-separated 64-digit digests: its first RETIRED_KEPT of them are this many characters. */
const RETIRED_LENGTH = RETIRED_KEPT * 65 - 1;

/**
 * The WHERE condition of a PUT: its refresh token (`digest`, an SQL expression of refreshDigest) is none the engine
 * rotated away. Every entry is exactly 64 hex digits and a digest holds no space, so a match is a whole entry.
 */
export const notRetired = (digest: string): string => `coalesce(retired_refresh, '') NOT LIKE '%' || ${digest} || '%'`;

/**
 * A PUT's engine columns (api.md §8.3): when its tokens (`digest`, an SQL expression of tokensDigest) differ from the
 * stored ones, the generation goes up by one, the state is active with an unknown expiry and no failure, a lease or a
 * call in flight is dropped (the PUT wins: the lease holder's complete and fail then lose their compare-and-swap),
 * the tokens are pinned to `origin`, and a proactive app's background refresh is due at once (dueIfProactive). The
 * same tokens leave all of it as it is (a NULL digest, of a row stored before
 * the engine existed, is never equal: its first PUT counts as a change). Every expression reads the row as it was.
 */
export function tokenChangeSet(digest: string, origin: string, app: string, now: string): string {
  const changed = `tokens_digest IS DISTINCT FROM ${digest}`;
  const reset = (column: string, value: string): string => `${column} = CASE WHEN ${changed} THEN ${value} ELSE ${column} END`;
  return [
    reset('generation', 'generation + 1'),
    reset('token_state', "'active'"),
    reset('expires_at', 'NULL'),
    reset('failures', '0'),
    reset('last_error', 'NULL'),
    reset('next_refresh_at', dueIfProactive(app, now)),
    reset('lease_owner', 'NULL'),
    reset('lease_until', 'NULL'),
    reset('in_flight', 'NULL'),
    reset('token_origin', origin),
    `tokens_digest = ${digest}`,
  ].join(', ');
}

/**
 * When new tokens of unknown expiry (a create, a PUT) are due for the background refresh (api.md §8.7): at once (`now`)
 * when the profile's app (`app`, an SQL expression of its id) is proactive, else never (NULL). The refresh learns the
 * expiry and plans the next one.
 */
export const dueIfProactive = (app: string, now: string): string =>
  `(SELECT ${now} FROM app_engines WHERE app_engines.app_id = ${app} AND app_engines.proactive)`;

/** How a refresh's commit names its values in SQL (see refreshCommitSet). */
export interface RefreshCommitValues {
  /** the sealed tokens */
  access: string;
  refresh: string;
  expiresAt: string;
  now: string;
  /** tokensDigest of the new tokens */
  digest: string;
  /** refreshDigest of the token the AS rotated away, or NULL */
  retired: string;
  /** the background refresh's next time, or NULL */
  nextRefreshAt: string;
}

/**
 * A refresh's commit (Tokens.complete): the new tokens, a new generation and ETag version, state active with the new
 * expiry, no failure, no lease, no call in flight; the rotated-away token's digest (when there is one) goes first in
 * `retired_refresh`, which keeps the RETIRED_KEPT newest. The key version is each backend's to set.
 */
export const refreshCommitSet = (v: RefreshCommitValues): string =>
  [
    `access_token = ${v.access}`,
    `refresh_token = ${v.refresh}`,
    'generation = generation + 1',
    'version = version + 1',
    "token_state = 'active'",
    `expires_at = ${v.expiresAt}`,
    `refreshed_at = ${v.now}`,
    'failures = 0',
    'last_error = NULL',
    `next_refresh_at = ${v.nextRefreshAt}`,
    'lease_owner = NULL',
    'lease_until = NULL',
    'in_flight = NULL',
    `tokens_digest = ${v.digest}`,
    `retired_refresh = substr(coalesce(${v.retired} || ' ' || retired_refresh, ${v.retired}, retired_refresh), 1, ${RETIRED_LENGTH})`,
  ].join(', ');

/** How a failed refresh names its values in SQL (see failureSet). */
export interface FailureValues {
  state: string;
  failures: string;
  lastError: string;
  nextRefreshAt: string;
}

/**
 * A failed refresh (Tokens.fail): the state, the count, the AS's error and the next attempt; the lease is released.
 * The in-flight marker stays unless the call is known to have ended (`finished`): a call that may have reached the AS
 * makes the next holder's claim `recovered` (api.md §8.3).
 */
export const failureSet = (v: FailureValues, finished: boolean): string =>
  [
    `token_state = ${v.state}`,
    `failures = ${v.failures}`,
    `last_error = ${v.lastError}`,
    `next_refresh_at = ${v.nextRefreshAt}`,
    'lease_owner = NULL',
    'lease_until = NULL',
    ...(finished ? ['in_flight = NULL'] : []),
  ].join(', ');

/** Profiles counted by stored state and by their app's standing (Tokens.census): one scan, facts only. */
export const CENSUS = `SELECT p.token_state AS state, coalesce(e.status, 'ok') = 'client_error' AS app_refused, count(*) AS n
  FROM oauth_profiles p LEFT JOIN app_engines e ON e.app_id = p.app_id GROUP BY 1, 2`;

export const toCensus = (r: Record<string, unknown>): { state: TokenState; appRefused: boolean; count: number } => ({
  state: r.state as TokenState,
  appRefused: r.app_refused === true || r.app_refused === 1,
  count: Number(r.n),
});

/**
 * The profiles whose background refresh is due (Tokens.due), earliest first: `now` is the SQL expression of the
 * database's clock, `skip` a condition on p.app_id that leaves out the busy apps, `limit` the placeholder of the count.
 * The range on next_refresh_at is read through the partial index oauth_profiles_due (migration 5).
 */
export const dueQuery = (now: string, skip: string, limit: string): string =>
  `SELECT p.id, p.generation, p.app_id FROM oauth_profiles p JOIN app_engines e ON e.app_id = p.app_id
  WHERE p.next_refresh_at <= ${now} AND e.proactive AND e.status = 'ok' AND p.token_state IN ('active', 'retrying')
    AND (p.lease_owner IS NULL OR p.lease_until <= ${now}) AND ${skip}
  ORDER BY p.next_refresh_at LIMIT ${limit}`;

/**
 * An app's settings changed (Tokens.plan): its active profiles are due `margin` (SQL expression, ms) before their
 * expiry, or at `now` when that is unknown; with `margin` NULL, none is due. `retrying` keeps its next attempt.
 */
export const planSet = (margin: string, now: string): string =>
  `next_refresh_at = CASE WHEN ${margin} IS NULL THEN NULL ELSE coalesce(expires_at - ${margin}, ${now}) END`;

export const toDue = (r: Record<string, unknown>): { profileId: number; generation: number; oauthAppId: number } => ({
  profileId: Number(r.id),
  generation: Number(r.generation),
  oauthAppId: Number(r.app_id),
});

/**
 * The expiry a consent's token answer gave (Tokens.setExpiry), for the tokens it stored: the condition names the
 * profile (`id`), its generation and the digest of those tokens (tokensDigest), so a refresh or a PUT in between wins.
 */
export const expirySet = (expiresAt: string, nextRefreshAt: string): string => `expires_at = ${expiresAt}, next_refresh_at = ${nextRefreshAt}`;
export const expiryWhere = (id: string, generation: string, digest: string): string =>
  `id = ${id} AND generation = ${generation} AND tokens_digest = ${digest}`;
