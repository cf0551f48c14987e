/**
 * The token engine's heart (api.md §8.2–§8.3): a valid access token for a profile, refreshing it when it expires,
 * with exactly one token-endpoint call per generation across every node that shares the database.
 *
 * - A refresh runs under a lease on the profile (owner, expiry by the database's clock) that outlasts the whole
 *   outbound deadline with its retries; no transaction stays open across the HTTP call. Claiming the lease commits
 *   an in-flight marker before the call.
 * - The new tokens are committed by compare-and-swap on the generation and the lease: a PUT, a consent or a delete
 *   that came first wins, and the refresh result is dropped.
 * - Callers on this node that want the same generation refreshed share the holder's promise; callers on other nodes
 *   find the lease taken and wait for the generation to move, reading the result from the database.
 * - A holder that takes over a lease whose holder died with a call in flight sends the same refresh token once; if
 *   the AS refuses it, the rotated token was lost (`rotation_lost`) and the profile needs a new consent.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { ApiError, fail } from '../errors.js';
import type { AsError, ClientAuth, CurrentToken, Due, Grant, Store, TokenStatus } from '../domain/ports/index.js';
import { TOKEN_CALL_BACKOFF, nextAttempt, worstCaseDelayMs, type BackoffPolicy } from './backoff.js';
import { DEFAULT_SETTINGS } from './settings.js';
import { nextRefreshAt } from './next-refresh.js';
import type { RefreshMetrics } from './metrics.js';
import { revokeUnused } from '../domain/revocation.js';

/** What one call to the token endpoint came to (./exchange.ts), already classified (§8.4). */
export type ExchangeOutcome =
  | { kind: 'success'; accessToken: string; refreshToken: string | undefined; expiresAt: number }
  | {
      kind: 'reconsent' | 'clientError' | 'rateLimited' | 'transient' | 'refused';
      lastError: AsError;
      /** how long the AS asked to be left alone (429), or nothing */
      retryAfterMs?: number;
      /** false when the request certainly never reached the AS (refused before connecting, connection refused) */
      sent: boolean;
    };

export interface ExchangeRequest {
  tokenURI: string;
  clientId: string;
  clientSecret: string;
  clientAuth: ClientAuth;
  refreshToken: string;
  defaultExpiresIn: number;
}

export type Exchange = (request: ExchangeRequest) => Promise<ExchangeOutcome>;

/** The caller's access check on the profile (its owner and creator): throws when the caller may not reach it. */
export type Reachable = (profile: Pick<TokenStatus, 'ownerId' | 'creatorId'>) => void;

export interface AccessToken {
  accessToken: string;
  tokenType: 'Bearer';
  expiresAt: string | null;
  scope: string | null;
}

export interface EngineOptions {
  exchange: Exchange;
  now?: () => number;
  /** attempts of one refresh at transient failures, and the full-jitter backoff between them */
  backoff?: BackoffPolicy;
  /** the lease; by default longer than every attempt's deadline (connect 5 s + headers 10 s + body 10 s) and the backoff */
  leaseMs?: number;
  /** how often a caller waiting for another node's lease looks again */
  pollMs?: number;
  random?: () => number;
  /** where each refresh's outcome is logged (profile, generation, outcome, the AS's error code, duration; never a token) */
  log?: { info(fields: object, message: string): void; warn(fields: object, message: string): void };
  /** counts and times each refresh that holds the lease, by outcome (api.md §8.8) */
  metrics?: RefreshMetrics;
}

/** A forced refresh is refused this soon after the last refresh of any kind (§8.2). */
const FORCE_PAUSE_MS = 10_000;
/** How long a profile in `retrying` waits before the next on-demand call, at most. */
const MAX_RETRY_PAUSE_MS = 5 * 60_000;
/** One attempt's deadline (§8.5), plus a margin for the database work around the call. */
const ATTEMPT_MS = 25_000 + 5_000;

type Round = { done: AccessToken } | { again: true };

export class TokenEngine {
  /** this process as a lease holder: a name an operator can read in the database, made unique by a random tail */
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly inFlight = new Map<string, Promise<Round>>();
  private readonly now: () => number;
  private readonly leaseMs: number;
  private readonly backoff: BackoffPolicy;
  private readonly pollMs: number;
  private readonly random: () => number;

  constructor(
    private readonly store: Store,
    private readonly options: EngineOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.backoff = options.backoff ?? TOKEN_CALL_BACKOFF;
    this.leaseMs = options.leaseMs ?? this.backoff.maxAttempts * ATTEMPT_MS + worstCaseDelayMs(this.backoff);
    this.pollMs = options.pollMs ?? 50;
    this.random = options.random ?? Math.random;
  }

  /**
   * A valid access token of the profile (its reachability is the caller's check): the stored one when it stays
   * valid for `minValidityMs`, else a refreshed one. Catalogue errors for a dead grant, a refused client, a moved
   * origin, a refused URI, a too-early forced refresh, and an AS that did not answer usably.
   */
  async accessToken(profileId: number, request: { minValidityMs: number; force: boolean; reachable?: Reachable }): Promise<AccessToken> {
    let force = request.force;
    // Each round either answers or sees the generation move (a refresh, a PUT) and looks again; a handful suffices.
    for (let round = 0; round < 8; round++) {
      const current = await this.look(profileId, request.reachable);
      const { status, scope } = current;
      const now = this.now();
      if (force && status.refreshedAt !== null && now - status.refreshedAt < FORCE_PAUSE_MS) {
        throw fail('refreshTooSoon', profileId, { 'retry-after': String(Math.ceil((status.refreshedAt + FORCE_PAUSE_MS - now) / 1000)) });
      }
      if (!force && status.expiresAt !== null && status.expiresAt - now >= request.minValidityMs) {
        // The one read above holds the sealed access token: it is opened only here, when it is returned.
        const accessToken = await current.accessToken();
        if (accessToken) return { accessToken, tokenType: 'Bearer', expiresAt: new Date(status.expiresAt).toISOString(), scope };
      }
      if (status.state === 'retrying' && status.nextRefreshAt !== null && status.nextRefreshAt > now) {
        throw fail('refreshUnavailable', status.lastError?.error ?? 'retrying', { 'retry-after': String(Math.ceil((status.nextRefreshAt - now) / 1000)) });
      }
      const outcome = await this.shared(status, scope, true);
      if ('done' in outcome) return outcome.done;
      force = false; // a refresh happened meanwhile (ours or another's): the token it left is fresh
    }
    throw fail('refreshUnavailable', 'the profile kept changing during the refresh');
  }

  /**
   * The background refresh of one due profile (api.md §8.7): refreshed as a token request would, except that a lease
   * held by another caller is left to it. Never throws: what happened is logged (a failed refresh by holding()).
   */
  async refreshDue(due: Due): Promise<void> {
    try {
      const { status, scope } = await this.look(due.profileId);
      if (status.generation !== due.generation) return; // refreshed or replaced since it was found due
      await this.shared(status, scope, false);
    } catch (err) {
      // A refusal was logged where it was decided; anything else is unexpected here and an operator's to see.
      if (!(err instanceof ApiError)) this.options.log?.warn({ profileId: due.profileId, err }, 'background refresh failed');
    }
  }

  /**
   * What every refresh checks first, in one read (Tokens.current): the profile's status, its app's token URI and
   * scope (not the client secret: only a refresh opens it). Refuses whom `reachable` refuses — first, so that nobody
   * else learns more than that there is no such profile — then a dead grant, a refused client, a moved origin.
   */
  private async look(profileId: number, reachable?: Reachable): Promise<CurrentToken> {
    const current = await this.store.tokens.current(profileId);
    if (!current) throw fail('profileNotFound', profileId);
    reachable?.(current.status);
    const { status } = current;
    this.refuseDead(status, current.appRefused);
    if (status.tokenOrigin !== null && new URL(current.tokenURI).origin !== status.tokenOrigin) {
      await this.store.tokens.mark(profileId, status.generation, 'origin_changed', null);
      throw fail('originChanged', profileId);
    }
    return current;
  }

  /** Profiles in a state that no refresh may leave: their catalogue error. */
  private refuseDead(status: TokenStatus, clientRefused: boolean): void {
    if (status.state === 'needs_reconsent')
      throw fail('needsReconsent', `${status.profileId}: the authorization server answered ${status.lastError?.error ?? 'invalid_grant'}`);
    // An app's refused client holds up every profile of the app, until the app's credentials change (its status then
    // goes back to ok): derived from the app, never stored per profile, so nothing is left stuck afterwards.
    if (clientRefused) throw fail('appClientError', status.oauthAppId);
    if (status.state === 'origin_changed') throw fail('originChanged', status.profileId);
  }

  /**
   * One refresh per profile and generation in this process: callers of the moment share it. `wait`: when another
   * node holds the lease, wait for its result (a token request) rather than leave it (the background refresh).
   */
  private shared(status: TokenStatus, scope: string | null, wait: boolean): Promise<Round> {
    const key = `${status.profileId}:${status.generation}`;
    let round = this.inFlight.get(key);
    if (!round) {
      round = this.refresh(status, scope, wait).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, round);
    }
    return round;
  }

  private async refresh(status: TokenStatus, scope: string | null, wait: boolean): Promise<Round> {
    const { profileId, generation } = status;
    const claim = await this.store.tokens.claim(profileId, generation, this.owner, this.leaseMs);
    if (!claim.claimed) {
      if (!claim.status) throw fail('profileNotFound', profileId);
      if (wait && claim.status.generation === generation) await this.waitForOther(claim.status);
      return { again: true };
    }
    const holding = () => this.holding(status, scope, claim);
    return this.options.metrics?.refresh(holding) ?? holding();
  }

  /** The lease held: the call and the commit of its result, one unit that the metrics count and time. */
  private async holding(status: TokenStatus, scope: string | null, claim: { recovered: boolean }): Promise<Round> {
    const { profileId, generation } = status;
    // Holding the lease: read what the call needs (the refresh token, the client's secret) now, not before. Should a
    // read fail (a damaged secret, the database), nothing was sent: the lease goes back, so that the next caller
    // neither waits for it nor takes the profile over as if a call had been lost.
    let grant: Grant | undefined;
    try {
      grant = await this.store.tokens.grant(profileId);
    } catch (err) {
      await this.store.tokens.release(profileId, generation, this.owner).catch(() => undefined);
      throw err;
    }
    if (!grant) throw fail('profileNotFound', profileId);
    const settings = grant.settings ?? DEFAULT_SETTINGS;
    const request: ExchangeRequest = {
      tokenURI: grant.tokenURI,
      clientId: grant.clientId,
      clientSecret: grant.clientSecret,
      clientAuth: settings.clientAuth,
      refreshToken: grant.refreshToken,
      defaultExpiresIn: settings.defaultExpiresIn,
    };
    // Taken over from a holder that died mid-call: the token may already be rotated away, so exactly one more try.
    const started = this.now();
    const outcome = await this.call(request, claim.recovered);
    const fields = { profileId, generation, ms: this.now() - started, recovered: claim.recovered };
    if (outcome.kind === 'success') {
      const refreshToken = outcome.refreshToken ?? grant.refreshToken;
      const retired = refreshToken !== grant.refreshToken ? grant.refreshToken : undefined;
      const won = await this.store.tokens.complete(profileId, generation, this.owner, {
        accessToken: outcome.accessToken,
        refreshToken,
        expiresAt: outcome.expiresAt,
        nextRefreshAt: settings.proactive ? nextRefreshAt(outcome.expiresAt, this.now(), settings.refreshMargin * 1000, this.random) : null,
        retired,
      });
      if (!won) {
        // A PUT or a consent came first: its tokens stand, this result is dropped, its new tokens queued for revocation.
        this.options.log?.info({ ...fields, outcome: 'dropped' }, 'token refresh dropped: the profile changed meanwhile');
        if (retired !== undefined) {
          const { clientId, clientSecret, clientAuth } = request;
          const item = { profileId, appId: status.oauthAppId, clientId, clientSecret, clientAuth, refreshToken, accessToken: outcome.accessToken };
          await revokeUnused(this.store, settings.revocationURI, item).catch((err: unknown) =>
            this.options.log?.warn({ ...fields, err }, "a dropped refresh's new tokens could not be queued for revocation"),
          );
        }
        return { again: true };
      }
      this.options.log?.info({ ...fields, outcome: 'refreshed', rotated: retired !== undefined }, 'token refreshed');
      return { done: { accessToken: outcome.accessToken, tokenType: 'Bearer', expiresAt: new Date(outcome.expiresAt).toISOString(), scope } };
    }
    this.options.log?.warn(
      { ...fields, outcome: outcome.kind, error: outcome.lastError.error, httpStatus: outcome.lastError.httpStatus },
      'token refresh failed',
    );
    return this.failed(status, outcome, claim.recovered);
  }

  /** Calls while the AS fails transiently, as the backoff policy allows; a takeover gets exactly one call. */
  private async call(request: ExchangeRequest, recovered: boolean): Promise<ExchangeOutcome> {
    for (let made = 1; ; made++) {
      const outcome = await this.options.exchange(request);
      if (outcome.kind !== 'transient' || recovered) return outcome;
      const next = nextAttempt(this.backoff, made, { random: this.random, retryAfterMs: outcome.retryAfterMs });
      if (!next.retry) return outcome;
      await sleep(next.delayMs);
    }
  }

  private async failed(status: TokenStatus, outcome: Exclude<ExchangeOutcome, { kind: 'success' }>, recovered: boolean): Promise<Round> {
    const { profileId, generation } = status;
    const failures = status.failures + 1;
    const record = (state: TokenStatus['state'], lastError: AsError, nextRefreshAt: number | null, finished = true) =>
      this.store.tokens.recordFailure(profileId, generation, this.owner, { state, failures, lastError, nextRefreshAt, finished });
    switch (outcome.kind) {
      case 'reconsent': {
        const lastError = recovered ? { ...outcome.lastError, error: 'rotation_lost' } : outcome.lastError;
        if (!(await record('needs_reconsent', lastError, null))) return { again: true };
        throw fail('needsReconsent', `${profileId}: the authorization server answered ${lastError.error}`);
      }
      case 'clientError':
        await this.store.appEngines.setStatus(status.oauthAppId, { state: 'client_error', lastError: outcome.lastError });
        // The grant is not dead: its next refresh stays planned, for when the app's credentials are mended.
        if (!(await record(status.state, outcome.lastError, status.nextRefreshAt))) return { again: true };
        throw fail('appClientError', status.oauthAppId);
      case 'refused':
        if (!(await record('retrying', outcome.lastError, null))) return { again: true };
        throw fail('tokenEndpointRefused', outcome.lastError.description ?? outcome.lastError.error);
      case 'rateLimited':
      case 'transient': {
        const pause = outcome.retryAfterMs ?? Math.min(MAX_RETRY_PAUSE_MS, this.backoff.baseMs * 2 ** Math.min(failures, 20));
        // After a takeover the token's fate is still unknown: leave the marker, so the next holder recovers again.
        if (!(await record('retrying', outcome.lastError, this.now() + pause, !(recovered && outcome.sent)))) return { again: true };
        throw fail('refreshUnavailable', outcome.lastError.error, { 'retry-after': String(Math.max(1, Math.ceil(pause / 1000))) });
      }
    }
  }

  /** Another node holds the lease of this generation: wait until the generation moves or the lease is free or over. */
  private async waitForOther(held: TokenStatus): Promise<void> {
    const until = (held.lease?.until ?? 0) + this.pollMs;
    for (;;) {
      await sleep(this.pollMs);
      const now = await this.store.tokens.status(held.profileId);
      if (!now || now.generation !== held.generation || now.lease === null || now.state !== held.state || this.now() > until) return;
    }
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
