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
  retiredDigest,
  toCensus,
  toDue,
  tokensDigest,
} from '../token-columns.js';
import { Batcher } from './batcher.js';
import { DB_NOW, byId, isUnavailable, type Lookup, type PgDb } from './db.js';
import type { PgSealing } from './keyring.js';

const STATUS_COLUMNS = tokenStatusColumns(DB_NOW);

interface ClaimItem {
  profileId: number;
  generation: number;
  owner: string;
  leaseMs: number;
}

interface CommitItem {
  profileId: number;
  generation: number;
  owner: string;
  access: Buffer | null;
  refresh: Buffer | null;
  expiresAt: number;
  now: number;
  digest: string;
  retired: string | null;
  keyVersion: number;
  nextRefreshAt: number | null;
}

/**
 * Takes the lease of each requested generation while nobody holds it or its time ran out, and marks the call in flight:
 * the claims of the moment in one statement and one commit (./batcher.ts). The rows are locked first, in id order (as
 * every batched write here), so the in-flight marker each had (`recovered`) is read from the row version the update
 * applies to, and batches in flight at once never wait for each other in a cycle. Returns the rows it claimed.
 */
const CLAIM = `WITH old AS MATERIALIZED (
    SELECT id, in_flight FROM oauth_profiles WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE)
  UPDATE oauth_profiles p SET lease_owner = c.c_owner, lease_until = ${DB_NOW} + c.c_lease_ms, in_flight = c.c_generation
  FROM old JOIN unnest($1::bigint[], $2::int[], $3::text[], $4::bigint[]) AS c(c_id, c_generation, c_owner, c_lease_ms) ON c.c_id = old.id
  WHERE p.id = old.id AND p.generation = c.c_generation AND (p.lease_owner IS NULL OR p.lease_until <= ${DB_NOW})
  RETURNING p.id, old.in_flight`;

/**
 * A refresh's commit, for the refreshes of the moment in one statement: each row only at its claimed generation while
 * its owner holds the lease. Rows locked in id order first, as CLAIM. The values' names do not clash with the table's,
 * which refreshCommitSet's expressions name unqualified.
 */
const COMPLETE = `WITH locked AS MATERIALIZED (SELECT id FROM oauth_profiles WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE)
  UPDATE oauth_profiles p SET ${refreshCommitSet({
    access: 'n.n_access',
    refresh: 'n.n_refresh',
    expiresAt: 'n.n_expires_at',
    now: 'n.n_now',
    digest: 'n.n_digest',
    retired: 'n.n_retired',
    nextRefreshAt: 'n.n_next_refresh_at',
  })}, key_version = n.n_key_version
  FROM unnest($1::bigint[], $2::int[], $3::text[], $4::bytea[], $5::bytea[], $6::bigint[], $7::bigint[], $8::text[], $9::text[], $10::int[],
      $11::bigint[])
    AS n(n_id, n_generation, n_owner, n_access, n_refresh, n_expires_at, n_now, n_digest, n_retired, n_key_version, n_next_refresh_at)
  WHERE p.id = n.n_id AND p.id IN (SELECT id FROM locked) AND p.generation = n.n_generation AND p.lease_owner = n.n_owner
  RETURNING p.id`;

/** A failure applies only at the claimed generation, while `owner` holds the lease ($1–$3). */
const LEASE_HELD = 'id = $1 AND generation = $2 AND lease_owner = $3';

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
    const inFlight = await this.claims.add({ profileId, generation, owner, leaseMs });
    if (inFlight !== undefined) return { claimed: true, recovered: inFlight === generation };
    return { claimed: false, status: await this.status(profileId) };
  }

  async complete(profileId: number, generation: number, owner: string, next: Refreshed): Promise<boolean> {
    const { sealed, keyVersion } = await this.sealing.sealRow(
      'oauth_profiles',
      profileId,
      { access_token: next.accessToken, refresh_token: next.refreshToken },
      this.db.pool,
    );
    return this.commits.add({
      profileId,
      generation,
      owner,
      access: sealed.access_token,
      refresh: sealed.refresh_token,
      expiresAt: next.expiresAt,
      now: Date.now(),
      digest: tokensDigest(next.accessToken, next.refreshToken),
      retired: retiredDigest(next),
      keyVersion,
      nextRefreshAt: next.nextRefreshAt,
    });
  }

  /**
   * The claims and the commits of concurrent refreshes, each kind batched into one statement and one commit (a group
   * commit, as the PUT's): with 50 refreshes in flight, two durable commits each through a pool of 10 connections made
   * the commits the limit (BENCHMARKS.md, issue 13). Up to three batches of a kind in flight, as the PUT's.
   */
  private readonly claims = new Batcher<ClaimItem, number | null | undefined>(
    async (items) => {
      const rows = await this.db.prepared('tokenkeep_token_claim', CLAIM, [
        items.map((i) => i.profileId),
        items.map((i) => i.generation),
        items.map((i) => i.owner),
        items.map((i) => i.leaseMs),
      ]);
      // The marker the row had before: null when no call was in flight; undefined when the row was not claimed.
      const taken = new Map(rows.map((row) => [byId(row), row.in_flight as number | null]));
      return items.map((i) => taken.get(i.profileId));
    },
    { conflictKey: (i) => i.profileId, fatal: isUnavailable, inFlight: 3 },
  );

  private readonly commits = new Batcher<CommitItem, boolean>(
    async (items) => {
      const column = <K extends keyof CommitItem>(key: K) => items.map((item) => item[key]);
      const rows = await this.db.prepared('tokenkeep_token_complete', COMPLETE, [
        column('profileId'),
        column('generation'),
        column('owner'),
        column('access'),
        column('refresh'),
        column('expiresAt'),
        column('now'),
        column('digest'),
        column('retired'),
        column('keyVersion'),
        column('nextRefreshAt'),
      ]);
      const committed = new Set(rows.map(byId));
      return items.map((i) => committed.has(i.profileId));
    },
    { conflictKey: (i) => i.profileId, fatal: isUnavailable, inFlight: 3 },
  );

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
