/**
 * The revocation outbox's worker (api.md §9): every node looks once per `intervalMs` for queued revocations whose
 * next attempt is due, takes them under a lease (two nodes never send the same one), and revokes at the AS (RFC
 * 7009) the refresh token, then the access token. A revoked refresh token ends the row; a failure is tried again
 * with exponential backoff and full jitter until 24 hours after the delete, then given up. Every step is logged with
 * the row, the profile and the app, never a token.
 *
 * The access token is revoked on a best-effort basis: many ASes do not revoke access tokens (RFC 7009 §2.2.1 lets
 * them answer `unsupported_token_type`), they expire within the hour, and revoking the refresh token ends the grant
 * at the ASes that rotate. Its failure is logged, not retried.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { PendingRevocation, Store } from '../domain/ports/index.js';
import { backoffDelay, type BackoffPolicy } from './backoff.js';
import type { Revoke } from './revoke.js';

export interface OutboxOptions {
  intervalMs: number;
  /** how many revocations one look takes, at most */
  batch: number;
  /** the lease on a taken row: longer than its two calls' deadlines (§8.5: 25 s each) */
  leaseMs: number;
  /** the waits between attempts (maxAttempts is not used: the 24 hours bound the attempts) */
  backoff: Pick<BackoffPolicy, 'baseMs' | 'capMs'>;
  random: () => number;
  log?: { info(fields: object, message: string): void; warn(fields: object, message: string): void };
}

export const OUTBOX_DEFAULTS: OutboxOptions = {
  intervalMs: 1_000,
  batch: 20,
  leaseMs: 2 * 60_000,
  backoff: { baseMs: 30_000, capMs: 60 * 60_000 },
  random: Math.random,
};

export class RevocationOutbox {
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly options: OutboxOptions;
  private timer: NodeJS.Timeout | undefined;
  private looking: Promise<void> | undefined;
  private stopped = true;
  private failing = false;

  constructor(
    private readonly store: Store,
    private readonly revoke: Revoke,
    options: Partial<OutboxOptions> = {},
  ) {
    this.options = { ...OUTBOX_DEFAULTS, ...options };
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule();
  }

  /** No new look; the look in progress (its calls are bounded by their deadlines) ends first. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.looking;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.looking = this.look().finally(() => {
        this.looking = undefined;
        this.schedule();
      });
    }, this.options.intervalMs);
    this.timer.unref();
  }

  /** One look: what is due, each revocation in turn (a batch is small; the calls are the slow part). */
  async look(): Promise<void> {
    const log = this.options.log;
    try {
      const { pending, damaged } = await this.store.revocations.claim(this.options.batch, this.owner, this.options.leaseMs);
      for (const id of damaged) {
        log?.warn({ revocationId: id }, 'revocation dropped: its sealed tokens cannot be opened');
        await this.store.revocations.remove(id);
      }
      for (const p of pending) await this.attempt(p);
      if (this.failing) log?.info({}, 'revocation outbox: the database answers again');
      this.failing = false;
    } catch (err) {
      if (!this.failing) log?.warn({ err }, 'revocation outbox: cannot read the queued revocations');
      this.failing = true;
    }
  }

  private async attempt(p: PendingRevocation): Promise<void> {
    const log = this.options.log;
    const fields = { revocationId: p.id, profileId: p.profileId, appId: p.appId, attempt: p.attempts + 1 };
    const call = (token: string, hint: 'refresh_token' | 'access_token') =>
      this.revoke({ revocationURI: p.revocationURI, clientId: p.clientId, clientSecret: p.clientSecret, clientAuth: p.clientAuth, token, hint }).catch(
        (err: Error) => ({ revoked: false as const, reason: err.name }),
      );
    const refresh = await call(p.refreshToken, 'refresh_token');
    if (refresh.revoked) {
      if (p.accessToken !== null) {
        const access = await call(p.accessToken, 'access_token');
        if (!access.revoked) log?.info({ ...fields, reason: access.reason }, 'access token not revoked (best effort; it expires)');
      }
      await this.store.revocations.remove(p.id);
      log?.info(fields, 'tokens of a deleted profile revoked');
      return;
    }
    const now = Date.now();
    const attempts = p.attempts + 1;
    if (now >= p.giveUpAt) {
      await this.store.revocations.remove(p.id);
      log?.warn({ ...fields, reason: refresh.reason }, 'revocation given up: the AS kept failing for 24 hours');
      return;
    }
    const next = Math.min(p.giveUpAt, now + Math.max(1, backoffDelay({ ...this.options.backoff, maxAttempts: 0 }, attempts, this.options.random)));
    await this.store.revocations.retry(p.id, this.owner, attempts, next, refresh.reason);
    log?.warn({ ...fields, reason: refresh.reason, nextAttemptAt: new Date(next).toISOString() }, 'revocation failed; tried again later');
  }
}
