/**
 * PostgreSQL OAuth profiles, as ../sqlite/'s. The tokens are sealed on write and opened on read by the barrier
 * (src/sealing/barrier.ts), once per write: a PUT seals them before its first attempt and keeps them across attempts.
 *
 * A PUT applies only while the row is still at the version the caller read (`current`): the common one (same app)
 * joins the batched in-place UPDATE of the moment, a move to another app runs in a transaction that locks the row
 * `FOR UPDATE` and the new app `FOR SHARE` while the move is checked. A PUT that misses reads the header again to
 * tell a missing row and a stale If-Match from a concurrent change, after which it starts again from the row as it is.
 */
import type { IntegrityRules, OAuthProfile, ProfileHeader, ProfileInput, ProfileStats, Profiles, Refusal, Versions } from '../../domain/ports/index.js';
import type { RevocationPlan } from '../../domain/ports/index.js';
import { nameKey } from '../names.js';
import { answerRefusal, enforce } from '../refused.js';
import { toProfile, toProfileHeader, withTokens, profileValues, type SealedTokens } from '../rows.js';
import { dueIfProactive, notRetired, refreshDigest, tokenChangeSet, tokensDigest } from '../token-columns.js';
import { Batcher } from './batcher.js';
import { DB_NOW, byId, isUnavailable, type Lookup, type PgDb, type Queryable, type Row } from './db.js';
import type { PgSealing } from './keyring.js';
import type { PgRevocations } from './revocations.js';
import { deleteVersioned, nextId } from './versioned.js';

/** A profile's header from its own row (SELECT or RETURNING): the owner's tenant by a sub-select. */
const PROFILE_HEADER_COLUMNS = `id, version, name, app_id, description, owner_id, creator_id,
  (SELECT tenant_id FROM users WHERE users.id = oauth_profiles.owner_id) AS owner_tenant_id`;

/** After a PUT's write missed: the header as it is now, and whether the PUT's refresh token is one the engine retired. */
const WHY_MISSED = `SELECT ${PROFILE_HEADER_COLUMNS}, NOT (${notRetired('$2::text')}) AS retired FROM oauth_profiles WHERE id = $1`;

/** One PUT's new values for a profile row, sealed (see replaceInPlace). */
interface InPlaceUpdate {
  id: number;
  /** the version the row must still have: the one the PUT was decided on */
  basedOn: number;
  name: string;
  description: string | null;
  access: Buffer | null;
  refresh: Buffer;
  keyVersion: number;
  /** tokensDigest of the PUT's tokens, refreshDigest of its refresh token, and the origin they are pinned to */
  digest: string;
  refreshDigest: string;
  origin: string;
}

/** What a PUT names its engine columns by, inside the statements below (see ../token-columns.ts). */
type Engine = Pick<InPlaceUpdate, 'digest' | 'refreshDigest' | 'origin'>;
const engineOf = (input: ProfileInput & { tokenOrigin: string }): Engine => ({
  digest: tokensDigest(input.accessToken, input.refreshToken),
  refreshDigest: refreshDigest(input.refreshToken),
  origin: input.tokenOrigin,
});

/**
 * Updates in place every row of the batch that exists, is still at the version its PUT was based on and is not given
 * a refresh token the engine rotated away; one statement and one commit for all of them (a group commit). Returns the
 * updated rows' headers. The rows are locked first, in id order: batches in flight at once (of this server or
 * another) then never wait for each other in a cycle. The engine's columns are reset where the tokens change.
 */
const UPDATE_IN_PLACE = `WITH locked AS MATERIALIZED (
    SELECT id FROM oauth_profiles WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE)
  UPDATE oauth_profiles p SET name = v.name, name_key = v.name_key, description = v.description,
    access_token = v.access_token, refresh_token = v.refresh_token, key_version = v.key_version, version = p.version + 1,
    ${tokenChangeSet('v.new_digest', 'v.origin', 'p.app_id', DB_NOW)}
  FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::bytea[], $8::int[], $9::text[],
      $10::text[], $11::text[])
    AS v(id, based_on, name, name_key, description, access_token, refresh_token, key_version, new_digest, refresh_digest, origin)
  WHERE p.id = v.id AND p.id IN (SELECT id FROM locked) AND p.version = v.based_on AND ${notRetired('v.refresh_digest')}
  RETURNING p.id, p.version, p.name, p.app_id, p.description, p.owner_id, p.creator_id,
    (SELECT tenant_id FROM users WHERE users.id = p.owner_id) AS owner_tenant_id`;

export class PgProfiles implements Profiles {
  private readonly row: Lookup<number>;
  private readonly headerRow: Lookup<number>;

  constructor(
    private readonly db: PgDb,
    private readonly rules: IntegrityRules,
    private readonly sealing: PgSealing,
    private readonly revocations: PgRevocations,
  ) {
    this.row = db.lookup<number>(
      'tokenkeep_profile',
      `SELECT p.id, p.version, p.name, p.app_id,
      p.description, p.access_token, p.refresh_token, p.owner_id, p.creator_id, u.tenant_id AS owner_tenant_id
    FROM oauth_profiles p JOIN users u ON u.id = p.owner_id WHERE p.id = ANY($1::bigint[])`,
      byId,
    );
    this.headerRow = db.lookup<number>('tokenkeep_profile_header', `SELECT ${PROFILE_HEADER_COLUMNS} FROM oauth_profiles WHERE id = ANY($1::bigint[])`, byId);
  }

  private async toProfile(on: Queryable, r: Row): Promise<OAuthProfile> {
    const id = Number(r.id);
    return toProfile(r, {
      accessToken: r.access_token === null ? null : await this.sealing.open('oauth_profiles', id, 'access_token', r.access_token as Buffer, on),
      refreshToken: await this.sealing.open('oauth_profiles', id, 'refresh_token', r.refresh_token as Buffer, on),
    });
  }

  /**
   * Written as JSON by PostgreSQL, so Node receives one text value instead of 100 rows to parse and serialize. Each
   * row becomes an object under its column aliases (json_agg of a row: 0.15 ms for 100, json_build_object 0.24 ms),
   * and the statement is prepared.
   */
  async listJson(userId: number): Promise<string> {
    const [row] = await this.db.prepared(
      'tokenkeep_profile_list',
      `SELECT coalesce(json_agg(s ORDER BY s.id), '[]')::text AS list
      FROM (SELECT p.id, p.name, p.description, p.app_id AS "oauthAppId", a.authorize_uri AS "authorizeURI",
          a.token_uri AS "tokenURI", a.scope
        FROM oauth_profiles p JOIN oauth_apps a ON a.id = p.app_id WHERE p.owner_id = $1 OR p.creator_id = $1) s`,
      [userId],
    );
    return row.list as string;
  }

  async get(id: number): Promise<OAuthProfile | undefined> {
    const row = await this.row(id);
    return row && this.toProfile(this.db.pool, row);
  }

  async header(id: number): Promise<ProfileHeader | undefined> {
    const row = await this.headerRow(id);
    return row && toProfileHeader(row);
  }

  /**
   * Two autocommit statements instead of a transaction of eight round trips: the id (sealed values are bound to it),
   * then one INSERT that reads the app in the same statement. The unique index answers a taken name; the foreign keys
   * keep the app and the owner from going away before it commits. The app is not locked FOR SHARE: a new profile has
   * no data sources yet, so nothing it holds depends on the app's data store.
   */
  async create(input: ProfileInput & { ownerId: number; creatorId: number; tokenOrigin: string }): Promise<OAuthProfile | Refusal> {
    const id = await nextId(this.db, this.db.pool, 'oauth_profiles');
    const tokens = await this.sealTokens(this.db.pool, id, input);
    let header: Row | undefined;
    try {
      ({
        rows: [header],
      } = await this.db.pool.query(
        `INSERT INTO oauth_profiles (id, owner_id, creator_id, app_id, name, name_key,
          description, access_token, refresh_token, key_version, token_origin, tokens_digest, next_refresh_at)
        SELECT $1::bigint, $2::bigint, $3::bigint, a.id, $5::text, $6::text, $7::text, $8::bytea, $9::bytea, $10::int, $11::text, $12::text,
          ${dueIfProactive('a.id', DB_NOW)}
        FROM oauth_apps a WHERE a.id = $4 RETURNING ${PROFILE_HEADER_COLUMNS}`,
        profileValues(id, input, tokens),
      ));
    } catch (err) {
      return answerRefusal(this.db.mapError(err, { names: true }));
    }
    if (!header) return { refused: 'appReference', appId: input.oauthAppId };
    return withTokens(toProfileHeader(header), input);
  }

  /**
   * One pass: If-Match is judged against `current` before anything is written or sealed, the tokens are sealed once
   * (the row id is known), then each attempt is one write conditional on the row's version.
   */
  async update(current: ProfileHeader, input: ProfileInput & { tokenOrigin: string }, ifVersion?: Versions): Promise<OAuthProfile | Refusal> {
    const stale = this.rules.version(current.version, ifVersion);
    if (stale) return stale;
    const tokens = await this.sealTokens(this.db.pool, current.id, input);
    return this.replace(current, input, ifVersion, tokens);
  }

  /**
   * One attempt, conditional on the row still being at `current.version` and the refresh token not being one the
   * engine rotated away: what it changes is decided from `current`. Only when it misses is the row read again: no row
   * is `missing`, a version If-Match no longer accepts is `stale`, a retired refresh token is `retiredRefreshToken`,
   * and otherwise a concurrent write changed the row, so the attempt starts again from the row as it is now, with the
   * same sealed tokens. (A miss means another write committed in between: every round makes progress.)
   */
  private async replace(
    current: ProfileHeader,
    input: ProfileInput & { tokenOrigin: string },
    ifVersion: Versions | undefined,
    tokens: SealedTokens,
  ): Promise<OAuthProfile | Refusal> {
    const engine = engineOf(input);
    const written =
      input.oauthAppId === current.oauthAppId ? await this.replaceInPlace(current, input, tokens, engine) : await this.move(current, input, tokens, engine);
    if (written) return written;
    const row = await this.db.one(this.db.pool, WHY_MISSED, [current.id, engine.refreshDigest]);
    if (!row) return { refused: 'missing', what: 'profile', id: current.id };
    const fresh = toProfileHeader(row);
    const stale = this.rules.version(fresh.version, ifVersion);
    if (stale) return stale;
    if (row.retired) return { refused: 'retiredRefreshToken' };
    return this.replace(fresh, input, ifVersion, tokens);
  }

  /**
   * Up to three batches in flight, so that a batch does not wait for the previous one's commit: on this machine's fast
   * disk that made no measurable difference, but where an fsync takes milliseconds (network storage) one commit at a
   * time would cap the PUT rate at a batch per fsync. The rows' ordered locking keeps concurrent batches deadlock-free.
   */
  private readonly updateInPlace = new Batcher<InPlaceUpdate, Row | undefined>(
    async (items) => {
      const column = <K extends keyof InPlaceUpdate>(key: K) => items.map((item) => item[key]);
      const rows = await this.db.prepared('tokenkeep_update_in_place', UPDATE_IN_PLACE, [
        column('id'),
        column('basedOn'),
        column('name'),
        items.map((item) => nameKey(item.name)),
        column('description'),
        column('access'),
        column('refresh'),
        column('keyVersion'),
        column('digest'),
        column('refreshDigest'),
        column('origin'),
      ]);
      const byRowId = new Map(rows.map((row) => [byId(row), row]));
      return items.map((item) => byRowId.get(item.id));
    },
    { conflictKey: (item) => item.id, fatal: isUnavailable, inFlight: 3 },
  );

  /**
   * The common PUT — same application, tokens replaced — as one autocommit statement instead of a five-round-trip
   * transaction, shared with the other PUTs of the moment (one statement and one commit for all of them). It applies
   * only while the row is still at `current.version`; the unique index answers a taken name (the refusal `name`).
   * Otherwise (no row, another version) it answers undefined, and the caller finds out why. The app needs no lock:
   * the locked row references it, so it cannot go away before commit. Locking it anyway made every concurrent PUT of
   * the app's profiles share one row lock on it (a MultiXact each).
   *
   * A batch whose statement fails is run again item by item (./batcher.ts), so a taken name fails its own item alone:
   * that item's error arrives here and becomes its refusal, as it became its 409 before.
   */
  private async replaceInPlace(current: ProfileHeader, input: ProfileInput, tokens: SealedTokens, engine: Engine): Promise<OAuthProfile | Refusal | undefined> {
    let header: Row | undefined;
    try {
      header = await this.updateInPlace.add({
        id: current.id,
        basedOn: current.version,
        name: input.name,
        description: input.description,
        access: tokens.access,
        refresh: tokens.refresh,
        keyVersion: tokens.version,
        ...engine,
      });
    } catch (err) {
      return answerRefusal(this.db.mapError(err, { names: true }));
    }
    return header && withTokens(toProfileHeader(header), input);
  }

  /**
   * A PUT that moves the profile to another application: one transaction that locks the row (FOR UPDATE) and goes on
   * only while it is still at `current.version` and the refresh token is not a retired one (else undefined, and the
   * caller finds out why), checks the move with the domain's rule (`profileMove`), and writes the tokens sealed before.
   * The unique index answers a taken name.
   */
  private async move(current: ProfileHeader, input: ProfileInput, tokens: SealedTokens, engine: Engine): Promise<OAuthProfile | Refusal | undefined> {
    const id = current.id;
    return this.db.decide(
      async (c) => {
        const row = await this.db.one<{ version: number; fresh: boolean }>(
          c,
          `SELECT version, ${notRetired('$2::text')} AS fresh FROM oauth_profiles WHERE id = $1 FOR UPDATE`,
          [id, engine.refreshDigest],
        );
        if (row?.version !== current.version || !row.fresh) return undefined;
        // The new app FOR SHARE: neither its data store changes nor it goes away before commit. Data sources are
        // added to this profile only under its FOR SHARE lock, which our FOR UPDATE excludes.
        const app = await this.db.one(c, 'SELECT 1 FROM oauth_apps WHERE id = $1 FOR SHARE', [input.oauthAppId]);
        const broken =
          app &&
          (await this.db.one(
            c,
            `SELECT d.id FROM datasources d JOIN oauth_apps a ON a.id = $1
          WHERE d.oauth_profile_id = $2 AND d.data_store <> a.data_store LIMIT 1`,
            [input.oauthAppId, id],
          ));
        enforce(this.rules.profileMove(input.oauthAppId, app !== undefined, broken?.id as number | undefined));
        const values = [input.oauthAppId, input.name, nameKey(input.name), input.description, tokens.access, tokens.refresh, tokens.version, id];
        const header = await this.db.one(
          c,
          `UPDATE oauth_profiles SET app_id = $1, name = $2, name_key = $3, description = $4, access_token = $5,
          refresh_token = $6, key_version = $7, version = version + 1, ${tokenChangeSet('$9::text', '$10::text', '$1', DB_NOW)}
          WHERE id = $8 RETURNING ${PROFILE_HEADER_COLUMNS}`,
          [...values, engine.digest, engine.origin],
        );
        return withTokens(toProfileHeader(header!), input);
      },
      { names: true },
    );
  }

  private async sealTokens(c: Queryable, id: number, input: ProfileInput): Promise<SealedTokens> {
    const { sealed, keyVersion } = await this.sealing.sealRow('oauth_profiles', id, { access_token: input.accessToken, refresh_token: input.refreshToken }, c);
    return { access: sealed.access_token, refresh: sealed.refresh_token!, version: keyVersion };
  }

  async delete(id: number, ifVersion?: Versions, revoke?: RevocationPlan): Promise<void | Refusal> {
    const queue = revoke && ((c: Queryable) => this.revocations.queue(c, 'p.id = $1', id, revoke));
    return deleteVersioned(this.db, this.rules, { table: 'oauth_profiles', id, what: 'profile' }, ifVersion, queue);
  }

  async stats(id: number): Promise<ProfileStats | undefined> {
    return this.db.tx(
      async (c) => {
        const row = await this.db.one(c, 'SELECT a.data_store FROM oauth_profiles p JOIN oauth_apps a ON a.id = p.app_id WHERE p.id = $1', [id]);
        if (!row) return undefined;
        const dataSources = (await this.db.all(c, 'SELECT id, name, description FROM datasources WHERE oauth_profile_id = $1 ORDER BY id', [id])).map((r) => ({
          id: r.id as number,
          name: r.name as string,
          description: (r.description as string | null) ?? null,
        }));
        return { dataStoreId: row.data_store as number, dataSources };
      },
      { readOnlySnapshot: true },
    );
  }
}
