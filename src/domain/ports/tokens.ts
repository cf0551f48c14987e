/**
 * The token engine's state of a profile (api.md §8): what it knows of the stored tokens, the refresh lease, and the
 * app's engine settings. Kept beside the HDP shapes of §5–§6, so an HDP client's full-replace PUT never clears it.
 */
import type { Refusal } from './refusal.js';

/** api.md §8.1 */
export type TokenState = 'active' | 'retrying' | 'needs_reconsent' | 'app_error' | 'origin_changed';

/** What the authorization server (AS) answered last, as shown in a status: no token value, description ≤ 200 chars. */
export interface AsError {
  error: string;
  description: string | null;
  httpStatus: number | null;
  /** ISO 8601 */
  at: string;
}

/** A profile's engine record, without its tokens. Times are epoch milliseconds. */
export interface TokenStatus {
  profileId: number;
  name: string;
  oauthAppId: number;
  ownerId: number;
  creatorId: number | null;
  /** counts token changes (create, PUT with other tokens, refresh, consent) */
  generation: number;
  state: TokenState;
  /** of the stored access token; null when unknown (tokens stored by PUT carry no expiry) */
  expiresAt: number | null;
  refreshedAt: number | null;
  nextRefreshAt: number | null;
  failures: number;
  lastError: AsError | null;
  /** the origin of the token URI the stored refresh token was obtained for (api.md §8.5, origin pinning) */
  tokenOrigin: string | null;
  /** who holds the refresh lease, and until when (the database's clock); null when nobody does */
  lease: { owner: string; until: number } | null;
  /** the generation whose token-endpoint call a holder committed as started and has not finished */
  inFlight: number | null;
}

/** The outcome of asking for the refresh lease of one generation. */
export type Claim =
  /** the caller holds the lease; `recovered`: it took over from a holder that died with a call in flight */
  | { claimed: true; recovered: boolean }
  /** someone else holds it, or the generation moved on (then `status` shows the new one), or there is no profile */
  | { claimed: false; status: TokenStatus | undefined };

/** New tokens from the AS, to be stored by the lease holder. */
export interface Refreshed {
  accessToken: string;
  /** the new refresh token, or the stored one when the answer carried none */
  refreshToken: string;
  expiresAt: number;
  /** when the background refresh should refresh it next (api.md §8.7); null when nothing is scheduled */
  nextRefreshAt: number | null;
  /** the refresh token sent, when the AS rotated it away: it is remembered (as a digest) so a PUT of it is refused */
  retired: string | undefined;
}

/** What a failed refresh leaves in the record. */
export interface Failure {
  state: TokenState;
  failures: number;
  lastError: AsError;
  nextRefreshAt: number | null;
  /** the call is known to have ended (answered, or never sent): the in-flight marker goes with the lease */
  finished: boolean;
}

/** A profile whose background refresh is due (Tokens.due). */
export interface Due {
  profileId: number;
  generation: number;
  oauthAppId: number;
}

/** What a token request needs first (Tokens.current), in one read. */
export interface CurrentToken {
  status: TokenStatus;
  /** the app's token URI and scope */
  tokenURI: string;
  scope: string | null;
  /** the app's client was refused by its AS (its status is client_error) */
  appRefused: boolean;
  /** opens the stored access token, only when it is to be returned (a damaged one throws SealedValueUnreadable) */
  accessToken(): Promise<string | null>;
}

/** What a refresh sends, read by the lease holder (Tokens.grant) in one read, its secrets opened. */
export interface Grant {
  refreshToken: string;
  tokenURI: string;
  clientId: string;
  clientSecret: string;
  /** the app's engine settings as last set; null while none were (the domain's defaults apply) */
  settings: EngineSettings | null;
}

export interface Tokens {
  status(profileId: number): Promise<TokenStatus | undefined>;
  /**
   * The profile's refresh token with its app's token URI, client and engine settings, in one read; undefined when the
   * profile is gone. A damaged sealed value throws SealedValueUnreadable.
   */
  grant(profileId: number): Promise<Grant | undefined>;
  /** The profile's status with what a token request needs of its app and its access token, in one read. */
  current(profileId: number): Promise<CurrentToken | undefined>;
  /** How many profiles are in each stored state, split by whether their app's client is refused (for the metrics). */
  census(): Promise<{ state: TokenState; appRefused: boolean; count: number }[]>;
  /** The statuses of the profiles a user owns or created, in id order, optionally only those in one state. */
  list(userId: number, state?: TokenState): Promise<TokenStatus[]>;
  /**
   * In one commit: takes the refresh lease of `generation` for `owner` until the database's now + `leaseMs`, when
   * nobody holds it or its holder's lease ran out, and marks the call in flight. `recovered` when the lease taken
   * over had a call in flight of this same generation (its holder died after starting it).
   */
  claim(profileId: number, generation: number, owner: string, leaseMs: number): Promise<Claim>;
  /**
   * Compare-and-swap: stores the new tokens (sealed), generation + 1, ETag version + 1, state active, the expiry,
   * refreshedAt = now, no failure, no lease and no call in flight — only while the profile is still at `generation`
   * and `owner` holds its lease. false when it lost (a PUT, a consent or a delete came first; the result is dropped).
   */
  complete(profileId: number, generation: number, owner: string, next: Refreshed): Promise<boolean>;
  /** Records a failed refresh and releases the lease, under the same condition as complete(); false when it lost. */
  recordFailure(profileId: number, generation: number, owner: string, failure: Failure): Promise<boolean>;
  /**
   * Gives the lease back with the call marked as never made, when the holder failed before sending anything (its
   * reads failed): the next caller refreshes normally instead of waiting for the lease and treating it as a takeover.
   * Only while `owner` holds the lease of `generation`.
   */
  release(profileId: number, generation: number, owner: string): Promise<void>;
  /**
   * Profiles whose background refresh is due (api.md §8.7), earliest first, at most `limit`: their next refresh time
   * has come (the database's clock), their app is proactive and its client not refused, their state is active or
   * retrying and nobody holds their lease. `skipApps`: apps whose profiles are left out (their origin is busy).
   * Read through the index on the next refresh time; claiming is claim()'s.
   */
  due(limit: number, skipApps: readonly number[]): Promise<Due[]>;
  /**
   * Plans the background refresh of an app's active profiles after its settings changed: with `marginMs`, each is due
   * `marginMs` before its expiry (now when its expiry is unknown); with null, none is. Profiles in `retrying` keep
   * their next attempt.
   */
  plan(appId: number, marginMs: number | null): Promise<void>;
  /**
   * Records the expiry of tokens a consent just stored (api.md §9), and the background refresh's next time (null: none
   * planned): only while the profile is still at `generation` and still holds exactly `tokens` (a refresh or a PUT
   * that came in between wins, with the expiry it knows). false when nothing was written.
   */
  setExpiry(
    profileId: number,
    generation: number,
    tokens: { accessToken: string | null; refreshToken: string },
    expiresAt: number,
    nextRefreshAt: number | null,
  ): Promise<boolean>;
  /**
   * Sets the state without a lease (the app's token URI moved to another origin: `origin_changed`), only while the
   * profile is at `generation`.
   */
  mark(profileId: number, generation: number, state: TokenState, lastError: AsError | null): Promise<void>;
}

/** How a refresh authenticates the client at the token endpoint. */
export type ClientAuth = 'client_secret_basic' | 'client_secret_post';

/** api.md §8.6 */
export interface EngineSettings {
  clientAuth: ClientAuth;
  /** seconds assumed when the AS's answer has no expires_in */
  defaultExpiresIn: number;
  /** seconds before expiry that a token counts as expiring */
  refreshMargin: number;
  proactive: boolean;
  maxConcurrentRefreshes: number;
  revocationURI: string | null;
  issuer: string | null;
  authorizeParams: Record<string, string>;
}

/** The app's standing with its AS: `client_error` after invalid_client / unauthorized_client, until its credentials change. */
export interface AppStatus {
  state: 'ok' | 'client_error';
  lastError: AsError | null;
}

export interface AppEngines {
  /**
   * The app's settings as last set (null while none were: the domain's defaults apply) and its status (`ok` while
   * none was recorded); undefined when there is no such app.
   */
  get(appId: number): Promise<{ settings: EngineSettings | null; status: AppStatus } | undefined>;
  /** Full replace of the settings; `missing` when there is no such app. */
  set(appId: number, settings: EngineSettings): Promise<void | Refusal>;
  setStatus(appId: number, status: AppStatus): Promise<void>;
}
