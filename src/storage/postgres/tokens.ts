/**
 * The token engine's record of each profile in PostgreSQL (api.md §8), as ../sqlite/'s: the engine's columns of
 * `oauth_profiles`. Every write is one autocommit statement conditional on the row as it is when the statement locks
 * it, so nodes sharing the database agree on who holds a lease and whose result counts. Leases are judged by the
 * database's clock: the nodes' clocks may differ, the database's is one.
 */
import type { AsError, Claim, CurrentToken, Due, Grant, Failure, Refreshed, TokenState, TokenStatus, Tokens } from '../../domain/ports/index.js';
import { asErrorJson, currentTokenQuery, grantQuery, toCurrentToken, toGrant, toTokenStatus, tokenStatusColumns } from '../rows.js';
import {
  CENSUS,
  dueQuery,
  expirySet,
  expiryWhere,
  failureSet,
  planSet,
  refreshCommitSet,
  refreshDigest,
  toCensus,
  toDue,
  tokensDigest,
} from '../token-columns.js';
import { DB_NOW, byId, type Lookup, type PgDb } from './db.js';
import type { PgSealing } from './keyring.js';

const STATUS_COLUMNS = tokenStatusColumns(DB_NOW);

/**
 * Takes the lease of one generation while nobody holds it or its time ran out, and marks the call in flight. The row
 * is locked first so the in-flight marker it had (`recovered`) is read from the row version the update applies to.
 */
const CLAIM = `WITH old AS MATERIALIZED (SELECT id, in_flight FROM oauth_profiles WHERE id = $1 FOR NO KEY UPDATE)
  UPDATE oauth_profiles p SET lease_owner = $3, lease_until = ${DB_NOW} + $4::bigint, in_flight = $2
  FROM old WHERE p.id = old.id AND p.generation = $2 AND (p.lease_owner IS NULL OR p.lease_until <= ${DB_NOW})
  RETURNING old.in_flight`;

/** A refresh's commit and a failure apply only at the claimed generation, while `owner` holds the lease ($1–$3). */
const LEASE_HELD = 'id = $1 AND generation = $2 AND lease_owner = $3';

const COMPLETE = `UPDATE oauth_profiles SET ${refreshCommitSet({
  access: '$4',
  refresh: '$5',
  expiresAt: '$6::bigint',
  now: '$7::bigint',
  digest: '$8::text',
  retired: '$9::text',
  nextRefreshAt: '$11::bigint',
})}, key_version = $10 WHERE ${LEASE_HELD}`;

/**
 * The due profiles by the statement's start time: statement_timestamp() is stable, so the planner bounds the index
 * scan with it (clock_timestamp() is volatile, evaluated per row, and would read the whole table).
 */
const DUE = dueQuery('(extract(epoch from statement_timestamp()) * 1000)::bigint', 'NOT (p.app_id = ANY($2::bigint[]))', '$1');

const failure = (finished: boolean): string =>
  `UPDATE oauth_profiles SET ${failureSet({ state: '$4', failures: '$5', lastError: '$6', nextRefreshAt: '$7::bigint' }, finished)} WHERE ${LEASE_HELD}`;
const FAIL = { finished: failure(true), inFlight: failure(false) };

export class PgTokens implements Tokens {
  private readonly statusRow: Lookup<number>;
  private readonly currentRow: Lookup<number>;
  private readonly grantRow: Lookup<number>;

  constructor(
    private readonly db: PgDb,
    private readonly sealing: PgSealing,
  ) {
    this.statusRow = db.lookup<number>('tokenkeep_token_status', `SELECT ${STATUS_COLUMNS} FROM oauth_profiles WHERE id = ANY($1::bigint[])`, byId);
    this.currentRow = db.lookup<number>('tokenkeep_token_current', currentTokenQuery(DB_NOW, 'ANY($1::bigint[])'), byId);
    this.grantRow = db.lookup<number>('tokenkeep_token_grant', grantQuery('ANY($1::bigint[])'), byId);
  }

  async status(profileId: number): Promise<TokenStatus | undefined> {
    const row = await this.statusRow(profileId);
    return row && toTokenStatus(row);
  }

  async current(profileId: number): Promise<CurrentToken | undefined> {
    const row = await this.currentRow(profileId);
    return row && toCurrentToken(row, (sealed) => this.sealing.open('oauth_profiles', profileId, 'access_token', sealed));
  }

  async grant(profileId: number): Promise<Grant | undefined> {
    const row = await this.grantRow(profileId);
    if (!row) return undefined;
    const [refreshToken, clientSecret] = await Promise.all([
      this.sealing.open('oauth_profiles', profileId, 'refresh_token', row.refresh_token as Buffer),
      this.sealing.open('oauth_apps', Number(row.app_id), 'client_secret', row.client_secret as Buffer),
    ]);
    return toGrant(row, { refreshToken, clientSecret });
  }

  async census(): Promise<{ state: TokenState; appRefused: boolean; count: number }[]> {
    return (await this.db.all(this.db.pool, CENSUS)).map(toCensus);
  }

  async list(userId: number, state?: TokenState): Promise<TokenStatus[]> {
    const rows = await this.db.prepared(
      'tokenkeep_token_list',
      `SELECT ${STATUS_COLUMNS} FROM oauth_profiles
      WHERE (owner_id = $1 OR creator_id = $1) AND ($2::text IS NULL OR token_state = $2::text) ORDER BY id`,
      [userId, state ?? null],
    );
    return rows.map(toTokenStatus);
  }

  async claim(profileId: number, generation: number, owner: string, leaseMs: number): Promise<Claim> {
    const [taken] = await this.db.prepared('tokenkeep_token_claim', CLAIM, [profileId, generation, owner, leaseMs]);
    if (taken) return { claimed: true, recovered: taken.in_flight === generation };
    return { claimed: false, status: await this.status(profileId) };
  }

  async complete(profileId: number, generation: number, owner: string, next: Refreshed): Promise<boolean> {
    const { sealed, keyVersion } = await this.sealing.sealRow(
      'oauth_profiles',
      profileId,
      { access_token: next.accessToken, refresh_token: next.refreshToken },
      this.db.pool,
    );
    const committed = await this.db.exec(this.db.pool, COMPLETE, [
      profileId,
      generation,
      owner,
      sealed.access_token,
      sealed.refresh_token,
      next.expiresAt,
      Date.now(),
      tokensDigest(next.accessToken, next.refreshToken),
      // A token the AS handed back unchanged was not rotated away: remembering it would refuse a PUT of the current one.
      next.retired === undefined || next.retired === next.refreshToken ? null : refreshDigest(next.retired),
      keyVersion,
      next.nextRefreshAt,
    ]);
    return committed > 0;
  }

  async recordFailure(profileId: number, generation: number, owner: string, failed: Failure): Promise<boolean> {
    const sql = failed.finished ? FAIL.finished : FAIL.inFlight;
    const params = [profileId, generation, owner, failed.state, failed.failures, asErrorJson(failed.lastError), failed.nextRefreshAt];
    return (await this.db.exec(this.db.pool, sql, params)) > 0;
  }

  async release(profileId: number, generation: number, owner: string): Promise<void> {
    await this.db.exec(this.db.pool, `UPDATE oauth_profiles SET lease_owner = NULL, lease_until = NULL, in_flight = NULL WHERE ${LEASE_HELD}`, [
      profileId,
      generation,
      owner,
    ]);
  }

  async due(limit: number, skipApps: readonly number[]): Promise<Due[]> {
    return (await this.db.prepared('tokenkeep_token_due', DUE, [limit, skipApps])).map(toDue);
  }

  async plan(appId: number, marginMs: number | null): Promise<void> {
    await this.db.exec(this.db.pool, `UPDATE oauth_profiles SET ${planSet('$2::bigint', DB_NOW)} WHERE app_id = $1 AND token_state = 'active'`, [
      appId,
      marginMs,
    ]);
  }

  async setExpiry(
    profileId: number,
    generation: number,
    tokens: { accessToken: string | null; refreshToken: string },
    expiresAt: number,
    nextRefreshAt: number | null,
  ): Promise<boolean> {
    const sql = `UPDATE oauth_profiles SET ${expirySet('$4::bigint', '$5::bigint')} WHERE ${expiryWhere('$1', '$2', '$3::text')}`;
    return (
      (await this.db.exec(this.db.pool, sql, [profileId, generation, tokensDigest(tokens.accessToken, tokens.refreshToken), expiresAt, nextRefreshAt])) > 0
    );
  }

  async mark(profileId: number, generation: number, state: TokenState, lastError: AsError | null): Promise<void> {
    const sql = 'UPDATE oauth_profiles SET token_state = $3, last_error = $4, next_refresh_at = NULL WHERE id = $1 AND generation = $2';
    await this.db.exec(this.db.pool, sql, [profileId, generation, state, asErrorJson(lastError)]);
  }
}
