/**
 * The token engine's record of each profile in SQLite (api.md §8): the engine's columns of `oauth_profiles`. Every
 * write runs inside the group commit's synchronous transaction, so a read and the conditional write after it are one
 * atomic step. Leases are judged by this process's clock: one machine's processes share it (SQLite has one host).
 */
import type { AsError, Claim, CurrentToken, Due, Grant, Failure, Refreshed, TokenState, TokenStatus, Tokens } from '../../domain/ports/index.js';
import type { Sealing } from '../../sealing/barrier.js';
import { asErrorJson, currentTokenQuery, grantQuery, toCurrentToken, toGrant, toTokenStatus, tokenStatusColumns } from '../rows.js';
import {
  CENSUS,
  dueQuery,
  expirySet,
  expiryWhere,
  failureSet,
  planSet,
  refreshCommitSet,
  retiredDigest,
  toCensus,
  toDue,
  tokensDigest,
} from '../token-columns.js';
import type { Row, SqliteDb } from './db.js';

const STATUS_COLUMNS = tokenStatusColumns('@now');
const CURRENT = currentTokenQuery('@now', '@id');
const GRANT = grantQuery('?');

/** A refresh's commit and a failure apply only at the claimed generation, while `owner` holds the lease. */
const LEASE_HELD = 'id = @id AND generation = @generation AND lease_owner = @owner';

const COMMIT_SET = refreshCommitSet({
  access: '@access',
  refresh: '@refresh',
  expiresAt: '@expiresAt',
  now: '@now',
  digest: '@digest',
  retired: '@retired',
  nextRefreshAt: '@nextRefreshAt',
});

export class SqliteTokens implements Tokens {
  constructor(
    private readonly db: SqliteDb,
    private readonly sealing: Sealing<never, 'sync'>,
  ) {}

  private read(profileId: number, now: number): TokenStatus | undefined {
    const row = this.db.q(`SELECT ${STATUS_COLUMNS} FROM oauth_profiles WHERE id = @id`).get({ id: profileId, now }) as Row | undefined;
    return row && toTokenStatus(row);
  }

  async status(profileId: number): Promise<TokenStatus | undefined> {
    return this.read(profileId, Date.now());
  }

  async current(profileId: number): Promise<CurrentToken | undefined> {
    const row = this.db.q(CURRENT).get({ id: profileId, now: Date.now() }) as Row | undefined;
    return row && toCurrentToken(row, (sealed) => this.sealing.open('oauth_profiles', profileId, 'access_token', sealed));
  }

  async grant(profileId: number): Promise<Grant | undefined> {
    const row = this.db.q(GRANT).get(profileId) as Row | undefined;
    return (
      row &&
      toGrant(row, {
        refreshToken: this.sealing.open('oauth_profiles', profileId, 'refresh_token', row.refresh_token as Buffer),
        clientSecret: this.sealing.open('oauth_apps', row.app_id as number, 'client_secret', row.client_secret as Buffer),
      })
    );
  }

  async census(): Promise<{ state: TokenState; appRefused: boolean; count: number }[]> {
    return (this.db.q(CENSUS).all() as Row[]).map(toCensus);
  }

  /** The owner's and the creator's index scans as one UNION ALL, as Profiles.listJson reads them. */
  async list(userId: number, state?: TokenState): Promise<TokenStatus[]> {
    const filter = state === undefined ? '' : ' AND token_state = @state';
    const rows = this.db
      .q(
        `SELECT ${STATUS_COLUMNS} FROM oauth_profiles WHERE owner_id = @user${filter}
        UNION ALL SELECT ${STATUS_COLUMNS} FROM oauth_profiles WHERE creator_id = @user AND owner_id <> @user${filter} ORDER BY id`,
      )
      .all({ user: userId, now: Date.now(), ...(state === undefined ? {} : { state }) }) as Row[];
    return rows.map(toTokenStatus);
  }

  async claim(profileId: number, generation: number, owner: string, leaseMs: number): Promise<Claim> {
    return this.db.write((): Claim => {
      // The clock is read inside the write: a write waits for its group commit, and the lease counts from when it is taken.
      const now = Date.now();
      const before = this.db.q('SELECT in_flight FROM oauth_profiles WHERE id = ?').get(profileId) as Row | undefined;
      const taken =
        before !== undefined &&
        this.db
          .q(
            `UPDATE oauth_profiles SET lease_owner = @owner, lease_until = @now + @leaseMs, in_flight = @generation
            WHERE id = @id AND generation = @generation AND (lease_owner IS NULL OR lease_until <= @now)`,
          )
          .run({ id: profileId, generation, owner, leaseMs, now }).changes > 0;
      if (taken) return { claimed: true, recovered: before.in_flight === generation };
      return { claimed: false, status: this.read(profileId, now) };
    });
  }

  async complete(profileId: number, generation: number, owner: string, next: Refreshed): Promise<boolean> {
    return this.db.write(() => {
      const { sealed, keyVersion } = this.sealing.sealRow('oauth_profiles', profileId, { access_token: next.accessToken, refresh_token: next.refreshToken });
      const values = {
        id: profileId,
        generation,
        owner,
        access: sealed.access_token,
        refresh: sealed.refresh_token,
        expiresAt: next.expiresAt,
        now: Date.now(),
        digest: tokensDigest(next.accessToken, next.refreshToken),
        retired: retiredDigest(next),
        nextRefreshAt: next.nextRefreshAt,
        keyVersion,
      };
      // As a profile's PUT: key_version is indexed, so it is named only when a rotation changed it.
      return (
        this.db.q(`UPDATE oauth_profiles SET ${COMMIT_SET} WHERE ${LEASE_HELD} AND key_version = @keyVersion`).run(values).changes > 0 ||
        this.db.q(`UPDATE oauth_profiles SET ${COMMIT_SET}, key_version = @keyVersion WHERE ${LEASE_HELD}`).run(values).changes > 0
      );
    });
  }

  async recordFailure(profileId: number, generation: number, owner: string, failure: Failure): Promise<boolean> {
    const set = failureSet({ state: '@state', failures: '@failures', lastError: '@lastError', nextRefreshAt: '@nextRefreshAt' }, failure.finished);
    return this.db.write(
      () =>
        this.db.q(`UPDATE oauth_profiles SET ${set} WHERE ${LEASE_HELD}`).run({
          id: profileId,
          generation,
          owner,
          state: failure.state,
          failures: failure.failures,
          lastError: asErrorJson(failure.lastError),
          nextRefreshAt: failure.nextRefreshAt,
        }).changes > 0,
    );
  }

  async release(profileId: number, generation: number, owner: string): Promise<void> {
    await this.db.write(() =>
      this.db
        .q(`UPDATE oauth_profiles SET lease_owner = NULL, lease_until = NULL, in_flight = NULL WHERE ${LEASE_HELD}`)
        .run({ id: profileId, generation, owner }),
    );
  }

  async due(limit: number, skipApps: readonly number[]): Promise<Due[]> {
    const skip = skipApps.length === 0 ? 'TRUE' : 'p.app_id NOT IN (SELECT value FROM json_each(@skip))';
    const rows = this.db.q(dueQuery('@now', skip, '@limit')).all({ now: Date.now(), limit, ...(skipApps.length ? { skip: JSON.stringify(skipApps) } : {}) });
    return (rows as Row[]).map(toDue);
  }

  async plan(appId: number, marginMs: number | null): Promise<void> {
    await this.db.write(() =>
      this.db
        .q(`UPDATE oauth_profiles SET ${planSet('@margin', '@now')} WHERE app_id = @app AND token_state = 'active'`)
        .run({ app: appId, margin: marginMs, now: Date.now() }),
    );
  }

  async setExpiry(
    profileId: number,
    generation: number,
    tokens: { accessToken: string | null; refreshToken: string },
    expiresAt: number,
    nextRefreshAt: number | null,
  ): Promise<boolean> {
    return this.db.write(
      () =>
        this.db
          .q(`UPDATE oauth_profiles SET ${expirySet('@expiresAt', '@next')} WHERE ${expiryWhere('@id', '@generation', '@digest')}`)
          .run({ id: profileId, generation, digest: tokensDigest(tokens.accessToken, tokens.refreshToken), expiresAt, next: nextRefreshAt }).changes > 0,
    );
  }

  async mark(profileId: number, generation: number, state: TokenState, lastError: AsError | null): Promise<void> {
    await this.db.write(() =>
      this.db
        .q('UPDATE oauth_profiles SET token_state = ?, last_error = ?, next_refresh_at = NULL WHERE id = ? AND generation = ?')
        .run(state, asErrorJson(lastError), profileId, generation),
    );
  }
}
