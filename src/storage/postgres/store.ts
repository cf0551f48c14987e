/**
 * The PostgreSQL store: the PostgreSQL identity store plus the OAuth objects — applications, profiles and the data
 * sources that reference profiles — behaving exactly as ../sqlite/store.ts. Secret columns are sealed on write and
 * opened on read by the barrier (../sealing.ts). Cascades are the schema's foreign keys.
 *
 * Concurrency across processes (READ COMMITTED, explicit row locks):
 * - an update locks its row first (`FOR UPDATE`), then checks the If-Match version against the row as committed:
 *   two updates of one version through two nodes give one success and one 412, and concurrent full replaces queue,
 *   so the stored row is always exactly one request's (the batched in-place PUT locks its rows in id order, then
 *   updates those whose app and version still match);
 * - a referenced row is locked `FOR SHARE` while it is checked (the new app of a profile that changes app, a data
 *   source's profile and that profile's app), so the data store the check relied on cannot change before the
 *   referencing write commits, and a concurrent change of the referenced row, waiting for that lock, sees the new
 *   reference in its own check;
 * - names are checked before the write (a new profile's by the insert itself) and backed by unique constraints: a race
 *   that slips past the check ends in a unique_violation, answered as the same refusal `name`;
 * - ids come from identity sequences, taken before the insert (sealed values are bound to their row id) and never
 *   handed out twice.
 */
import type pg from 'pg';
import {
  APP_HEADER_COLUMNS,
  APP_SUMMARY_COLUMNS,
  DATA_SOURCE_SUMMARY_COLUMNS,
  toApp,
  toAppHeader,
  toAppSummary,
  toDataSource,
  toDataSourceSummary,
  toProfile,
  toProfileHeader,
  withTokens,
} from '../rows.js';
import type {
  DataSource,
  DataSourceUpdate,
  NewDataSource,
  NewOAuthApp,
  OAuthApp,
  OAuthAppHeader,
  OAuthAppSummary,
  OAuthProfile,
  ProfileInput,
  ProfileStats,
  Refusal,
  Store,
  DataSourceSummary,
  ProfileHeader,
  IntegrityRules,
} from '../store.js';
import { answerRefusal, enforce, type Versions } from '../store.js';
import { isUnavailable, nameKey, type PostgresOptions, type Queryable, type Row } from './db.js';
import { Batcher } from './batcher.js';
import { PgIdentityStore } from './identity.js';

/** A profile's header from its own row (SELECT or RETURNING): the owner's tenant by a sub-select. */
const PROFILE_HEADER_COLUMNS = `id, version, name, app_id, description, owner_id, creator_id,
  (SELECT tenant_id FROM users WHERE users.id = oauth_profiles.owner_id) AS owner_tenant_id`;

type VersionedTable = 'oauth_apps' | 'oauth_profiles' | 'datasources';

/** One PUT's new values for a profile row, sealed (see replaceTokensInPlace). */
interface InPlaceUpdate {
  id: number;
  appId: number;
  /** the versions If-Match accepts, comma-separated ('' accepts none); null without If-Match */
  ifVersions: string | null;
  name: string;
  description: string | null;
  access: Buffer | null;
  refresh: Buffer;
  keyVersion: number;
}

/**
 * Updates in place every row of the batch that exists, keeps its app and has a version its If-Match accepts; one statement
 * and one commit for all of them (a group commit). Returns the updated rows' headers. The rows are locked first, in id
 * order: batches in flight at once (of this server or another) then never wait for each other in a cycle.
 */
const UPDATE_IN_PLACE = `WITH locked AS MATERIALIZED (
    SELECT id FROM oauth_profiles WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE)
  UPDATE oauth_profiles p SET name = v.name, name_key = v.name_key, description = v.description,
    access_token = v.access_token, refresh_token = v.refresh_token, key_version = v.key_version, version = p.version + 1
  FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[], $8::bytea[], $9::int[])
    AS v(id, app_id, if_versions, name, name_key, description, access_token, refresh_token, key_version)
  WHERE p.id = v.id AND p.id IN (SELECT id FROM locked) AND p.app_id = v.app_id
    AND (v.if_versions IS NULL OR p.version = ANY(string_to_array(v.if_versions, ',')::bigint[]))
  RETURNING p.id, p.version, p.name, p.app_id, p.description, p.owner_id, p.creator_id,
    (SELECT tenant_id FROM users WHERE users.id = p.owner_id) AS owner_tenant_id`;

const byId = (row: Row): number => row.id as number;

export class PostgresStore extends PgIdentityStore implements Store {
  constructor(url: string, rules: IntegrityRules, options: PostgresOptions = {}) {
    super(url, rules, options);
  }

  private async toApp(on: Queryable, r: Row): Promise<OAuthApp> {
    return toApp(r, await this.keys.open('oauth_apps', Number(r.id), 'client_secret', r.client_secret as Buffer, on));
  }

  private async toProfile(on: Queryable, r: Row): Promise<OAuthProfile> {
    const id = Number(r.id);
    return toProfile(r, {
      accessToken: r.access_token === null ? null : await this.keys.open('oauth_profiles', id, 'access_token', r.access_token as Buffer, on),
      refreshToken: await this.keys.open('oauth_profiles', id, 'refresh_token', r.refresh_token as Buffer, on),
    });
  }

  private async toDataSource(on: Queryable, r: Row): Promise<DataSource> {
    return toDataSource(r, await this.keys.open('datasources', Number(r.id), 'options', r.options as Buffer, on));
  }

  /** The id the insert will use: sealed values are bound to their row id, so it is taken from the sequence first. */
  private async nextId(c: Queryable, table: VersionedTable): Promise<number> {
    const { id } = (await this.one<{ id: number }>(c, `SELECT nextval(pg_get_serial_sequence('${table}', 'id')) AS id`))!;
    return id;
  }

  // ---- OAuth applications ---------------------------------------------------------------------------------------

  async listApps(): Promise<OAuthAppSummary[]> {
    const rows = await this.all(this.pool, `SELECT ${APP_SUMMARY_COLUMNS} FROM oauth_apps ORDER BY id`);
    return rows.map(toAppSummary);
  }

  private readonly appSummaryRow = this.lookup<number>(
    'tokenkeep_app_summary',
    `SELECT ${APP_SUMMARY_COLUMNS} FROM oauth_apps WHERE id = ANY($1::bigint[])`,
    byId,
  );

  async appSummary(id: number): Promise<OAuthAppSummary | undefined> {
    const row = await this.appSummaryRow(id);
    return row && toAppSummary(row);
  }

  async appHeader(id: number): Promise<OAuthAppHeader | undefined> {
    const row = await this.one(this.pool, `SELECT ${APP_HEADER_COLUMNS} FROM oauth_apps WHERE id = $1`, [id]);
    return row && toAppHeader(row);
  }

  private async appOn(on: Queryable, id: number): Promise<OAuthApp | undefined> {
    const row = await this.one(on, 'SELECT * FROM oauth_apps WHERE id = $1', [id]);
    return row && this.toApp(on, row);
  }

  async app(id: number): Promise<OAuthApp | undefined> {
    return this.appOn(this.pool, id);
  }

  async createApp(input: NewOAuthApp): Promise<OAuthApp | Refusal> {
    return this.decide(
      async (c) => {
        // FOR KEY SHARE: the tenant cannot be deleted under the new application (a delete waits, then cascades to it).
        this.present(await this.one(c, 'SELECT 1 FROM tenants WHERE id = $1 FOR KEY SHARE', [input.tenantId]), 'tenant', input.tenantId);
        await this.nameFree(c, 'oauth_apps', { column: 'tenant_id', value: input.tenantId }, input.name);
        const id = await this.nextId(c, 'oauth_apps');
        const { sealed, keyVersion } = await this.keys.sealRow('oauth_apps', id, { client_secret: input.clientSecret }, c);
        await this.run(
          c,
          `INSERT INTO oauth_apps (id, tenant_id, name, name_key, data_store, description, client_id, client_secret,
          authorize_uri, token_uri, scope, key_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
          [
            id,
            input.tenantId,
            input.name,
            nameKey(input.name),
            input.dataStore,
            input.description,
            input.clientId,
            sealed.client_secret,
            input.authorizeURI,
            input.tokenURI,
            input.scope,
            keyVersion,
          ],
        );
        return (await this.appOn(c, id))!;
      },
      { names: true },
    );
  }

  async updateApp(id: number, input: NewOAuthApp, ifVersion?: Versions): Promise<OAuthApp | Refusal> {
    return this.decide(
      async (c) => {
        const current = this.present(await this.one(c, 'SELECT version, tenant_id, data_store FROM oauth_apps WHERE id = $1 FOR UPDATE', [id]), 'app', id);
        enforce(this.rules.version(current.version as number, ifVersion));
        await this.nameFree(c, 'oauth_apps', { column: 'tenant_id', value: current.tenant_id as number }, input.name, id);
        // Writers that could add a data source on a profile of this app hold the app FOR SHARE until they commit, so
        // under this row's lock the check sees all of them.
        const used = await this.one(c, 'SELECT 1 FROM datasources d JOIN oauth_profiles p ON p.id = d.oauth_profile_id WHERE p.app_id = $1 LIMIT 1', [id]);
        enforce(this.rules.appChange({ dataStore: current.data_store as number }, input, used !== undefined));
        const { sealed, keyVersion } = await this.keys.sealRow('oauth_apps', id, { client_secret: input.clientSecret }, c);
        await this.run(
          c,
          `UPDATE oauth_apps SET name = $1, name_key = $2, data_store = $3, description = $4, client_id = $5,
          client_secret = $6, authorize_uri = $7, token_uri = $8, scope = $9, key_version = $10, version = version + 1 WHERE id = $11`,
          [
            input.name,
            nameKey(input.name),
            input.dataStore,
            input.description,
            input.clientId,
            sealed.client_secret,
            input.authorizeURI,
            input.tokenURI,
            input.scope,
            keyVersion,
            id,
          ],
        );
        return (await this.appOn(c, id))!;
      },
      { names: true },
    );
  }

  async deleteApp(id: number, ifVersion?: Versions): Promise<void | Refusal> {
    return this.deleteVersioned('oauth_apps', id, ifVersion, 'app');
  }

  /**
   * Deletes a row if it exists and, when asked, still has one of the accepted versions: one conditional DELETE, autocommit (a
   * statement is atomic with its cascades; a transaction around it cost two more round trips), run again if its
   * cascade meets a deadlock. Only when nothing was deleted does a second read tell 404 from 412.
   */
  private async deleteVersioned(
    table: VersionedTable,
    id: number,
    ifVersion: Versions | undefined,
    what: 'app' | 'profile' | 'dataSource',
  ): Promise<void | Refusal> {
    const deleted = await this.retrying(() =>
      ifVersion === undefined
        ? this.exec(this.pool, `DELETE FROM ${table} WHERE id = $1`, [id])
        : this.exec(this.pool, `DELETE FROM ${table} WHERE id = $1 AND version = ANY($2::bigint[])`, [id, ifVersion]),
    );
    if (deleted > 0) return;
    const row = await this.one<{ version: number }>(this.pool, `SELECT version FROM ${table} WHERE id = $1`, [id]);
    if (!row) return { refused: 'missing', what, id };
    const stale = this.rules.version(row.version, ifVersion);
    if (stale) return stale;
    // Between the two statements a concurrent write brought the row to an accepted version: the condition holds now.
    return this.deleteVersioned(table, id, ifVersion, what);
  }

  // ---- OAuth profiles -------------------------------------------------------------------------------------------

  /**
   * Written as JSON by PostgreSQL, so Node receives one text value instead of 100 rows to parse and serialize. Each
   * row becomes an object under its column aliases (json_agg of a row: 0.15 ms for 100, json_build_object 0.24 ms),
   * and the statement is prepared.
   */
  async listProfilesJson(userId: number): Promise<string> {
    const [row] = await this.prepared(
      'tokenkeep_profile_list',
      `SELECT coalesce(json_agg(s ORDER BY s.id), '[]')::text AS list
      FROM (SELECT p.id, p.name, p.description, p.app_id AS "oauthAppId", a.authorize_uri AS "authorizeURI",
          a.token_uri AS "tokenURI", a.scope
        FROM oauth_profiles p JOIN oauth_apps a ON a.id = p.app_id WHERE p.owner_id = $1 OR p.creator_id = $1) s`,
      [userId],
    );
    return row.list as string;
  }

  private readonly profileRow = this.lookup<number>(
    'tokenkeep_profile',
    `SELECT p.id, p.version, p.name, p.app_id,
      p.description, p.access_token, p.refresh_token, p.owner_id, p.creator_id, u.tenant_id AS owner_tenant_id
    FROM oauth_profiles p JOIN users u ON u.id = p.owner_id WHERE p.id = ANY($1::bigint[])`,
    byId,
  );
  private readonly profileHeaderRow = this.lookup<number>(
    'tokenkeep_profile_header',
    `SELECT ${PROFILE_HEADER_COLUMNS} FROM oauth_profiles WHERE id = ANY($1::bigint[])`,
    byId,
  );

  async profile(id: number): Promise<OAuthProfile | undefined> {
    const row = await this.profileRow(id);
    return row && this.toProfile(this.pool, row);
  }

  async profileHeader(id: number): Promise<ProfileHeader | undefined> {
    const row = await this.profileHeaderRow(id);
    return row && toProfileHeader(row);
  }

  /**
   * Two autocommit statements instead of a transaction of eight round trips: the id (sealed values are bound to it),
   * then one INSERT that reads the app in the same statement. The unique index answers a taken name; the foreign keys
   * keep the app and the owner from going away before it commits. The app is not locked FOR SHARE: a new profile has
   * no data sources yet, so nothing it holds depends on the app's data store.
   */
  async createProfile(input: ProfileInput & { ownerId: number; creatorId: number }): Promise<OAuthProfile | Refusal> {
    const id = await this.nextId(this.pool, 'oauth_profiles');
    const tokens = await this.sealTokens(this.pool, id, input);
    let header: Row | undefined;
    try {
      ({
        rows: [header],
      } = await this.pool.query(
        `INSERT INTO oauth_profiles (id, owner_id, creator_id, app_id, name, name_key,
          description, access_token, refresh_token, key_version)
        SELECT $1::bigint, $2::bigint, $3::bigint, a.id, $5::text, $6::text, $7::text, $8::bytea, $9::bytea, $10::int
        FROM oauth_apps a WHERE a.id = $4 RETURNING ${PROFILE_HEADER_COLUMNS}`,
        [
          id,
          input.ownerId,
          input.creatorId,
          input.oauthAppId,
          input.name,
          nameKey(input.name),
          input.description,
          tokens.access,
          tokens.refresh,
          tokens.version,
        ],
      ));
    } catch (err) {
      return answerRefusal(this.mapError(err, { names: true }));
    }
    if (!header) return { refused: 'appReference', appId: input.oauthAppId };
    return withTokens(toProfileHeader(header), input);
  }

  async updateProfile(id: number, input: ProfileInput, ifVersion?: Versions): Promise<OAuthProfile | Refusal> {
    return (await this.replaceTokensInPlace(id, input, ifVersion)) ?? this.updateProfileInTx(id, input, ifVersion);
  }

  /**
   * Up to three batches in flight, so that a batch does not wait for the previous one's commit: on this machine's fast
   * disk that made no measurable difference, but where an fsync takes milliseconds (network storage) one commit at a
   * time would cap the PUT rate at a batch per fsync. The rows' ordered locking keeps concurrent batches deadlock-free.
   */
  private readonly updateInPlace = new Batcher<InPlaceUpdate, Row | undefined>(
    async (items) => {
      const column = <K extends keyof InPlaceUpdate>(key: K) => items.map((item) => item[key]);
      const rows = await this.prepared('tokenkeep_update_in_place', UPDATE_IN_PLACE, [
        column('id'),
        column('appId'),
        column('ifVersions'),
        column('name'),
        items.map((item) => nameKey(item.name)),
        column('description'),
        column('access'),
        column('refresh'),
        column('keyVersion'),
      ]);
      const byRowId = new Map(rows.map((row) => [byId(row), row]));
      return items.map((item) => byRowId.get(item.id));
    },
    { conflictKey: (item) => item.id, fatal: isUnavailable, inFlight: 3 },
  );

  /**
   * The common PUT — same application, tokens replaced — as one autocommit statement instead of a five-round-trip
   * transaction, shared with the other PUTs of the moment (one statement and one commit for all of them). It applies
   * only when the row exists, keeps its app and matches If-Match; the unique index answers a taken name (the refusal
   * `name`). Anything else (no row, another version, another app) goes the transactional way, which tells them apart.
   *
   * A batch whose statement fails is run again item by item (./batcher.ts), so a taken name fails its own item alone:
   * that item's error arrives here and becomes its refusal, as it became its 409 before.
   */
  private async replaceTokensInPlace(id: number, input: ProfileInput, ifVersion?: Versions): Promise<OAuthProfile | Refusal | undefined> {
    const tokens = await this.sealTokens(this.pool, id, input);
    let header: Row | undefined;
    try {
      header = await this.updateInPlace.add({
        id,
        appId: input.oauthAppId,
        ifVersions: ifVersion?.join(',') ?? null,
        name: input.name,
        description: input.description,
        access: tokens.access,
        refresh: tokens.refresh,
        keyVersion: tokens.version,
      });
    } catch (err) {
      return answerRefusal(this.mapError(err, { names: true }));
    }
    return header && withTokens(toProfileHeader(header), input);
  }

  private async updateProfileInTx(id: number, input: ProfileInput, ifVersion?: Versions): Promise<OAuthProfile | Refusal> {
    return this.decide(
      async (c) => {
        const current = this.present(await this.one(c, 'SELECT version, app_id, owner_id FROM oauth_profiles WHERE id = $1 FOR UPDATE', [id]), 'profile', id);
        enforce(this.rules.version(current.version as number, ifVersion));
        // The same app needs no lock: the locked row references it, so it cannot go away before commit. Locking it
        // anyway made every concurrent PUT of the app's profiles share one row lock on it (a MultiXact each).
        if (input.oauthAppId !== current.app_id) {
          // The new app FOR SHARE: neither its data store changes nor it goes away before commit. Data sources are
          // added to this profile only under its FOR SHARE lock, which our FOR UPDATE excludes.
          const app = await this.one(c, 'SELECT 1 FROM oauth_apps WHERE id = $1 FOR SHARE', [input.oauthAppId]);
          const broken =
            app &&
            (await this.one(
              c,
              `SELECT d.id FROM datasources d JOIN oauth_apps a ON a.id = $1
          WHERE d.oauth_profile_id = $2 AND d.data_store <> a.data_store LIMIT 1`,
              [input.oauthAppId, id],
            ));
          enforce(this.rules.profileMove(input.oauthAppId, app !== undefined, broken?.id as number | undefined));
        }
        await this.nameFree(c, 'oauth_profiles', { column: 'owner_id', value: current.owner_id as number }, input.name, id);
        const tokens = await this.sealTokens(c, id, input);
        const header = await this.one(
          c,
          `UPDATE oauth_profiles SET app_id = $1, name = $2, name_key = $3, description = $4, access_token = $5,
          refresh_token = $6, key_version = $7, version = version + 1 WHERE id = $8 RETURNING ${PROFILE_HEADER_COLUMNS}`,
          [input.oauthAppId, input.name, nameKey(input.name), input.description, tokens.access, tokens.refresh, tokens.version, id],
        );
        return withTokens(toProfileHeader(header!), input);
      },
      { names: true },
    );
  }

  private async sealTokens(c: Queryable, id: number, input: ProfileInput): Promise<{ access: Buffer | null; refresh: Buffer; version: number }> {
    const { sealed, keyVersion } = await this.keys.sealRow('oauth_profiles', id, { access_token: input.accessToken, refresh_token: input.refreshToken }, c);
    return { access: sealed.access_token, refresh: sealed.refresh_token!, version: keyVersion };
  }

  async deleteProfile(id: number, ifVersion?: Versions): Promise<void | Refusal> {
    return this.deleteVersioned('oauth_profiles', id, ifVersion, 'profile');
  }

  async profileStats(id: number): Promise<ProfileStats | undefined> {
    return this.tx(
      async (c) => {
        const row = await this.one(c, 'SELECT a.data_store FROM oauth_profiles p JOIN oauth_apps a ON a.id = p.app_id WHERE p.id = $1', [id]);
        if (!row) return undefined;
        const dataSources = (await this.all(c, 'SELECT id, name, description FROM datasources WHERE oauth_profile_id = $1 ORDER BY id', [id])).map((r) => ({
          id: r.id as number,
          name: r.name as string,
          description: (r.description as string | null) ?? null,
        }));
        return { dataStoreId: row.data_store as number, dataSources };
      },
      { readOnlySnapshot: true },
    );
  }

  // ---- data sources ---------------------------------------------------------------------------------------------

  async listDataSources(ownerId: number): Promise<DataSourceSummary[]> {
    const rows = await this.all(this.pool, `SELECT ${DATA_SOURCE_SUMMARY_COLUMNS} FROM datasources WHERE owner_id = $1 ORDER BY id`, [ownerId]);
    return rows.map(toDataSourceSummary);
  }

  async dataSourceSummary(id: number): Promise<DataSourceSummary | undefined> {
    const row = await this.one(this.pool, `SELECT ${DATA_SOURCE_SUMMARY_COLUMNS} FROM datasources WHERE id = $1`, [id]);
    return row && toDataSourceSummary(row);
  }

  private async dataSourceOn(on: Queryable, id: number): Promise<DataSource | undefined> {
    const row = await this.one(on, 'SELECT * FROM datasources WHERE id = $1', [id]);
    return row && this.toDataSource(on, row);
  }

  async dataSource(id: number): Promise<DataSource | undefined> {
    return this.dataSourceOn(this.pool, id);
  }

  /**
   * The referenced profile as the owner may reach it, with its app's data store, judged by the domain's rule. The
   * profile is locked FOR SHARE (it cannot change app or go away), then its app FOR SHARE (its data store cannot
   * change), each in its own statement so the second reads the app the locked profile really points to.
   */
  private async profileUsable(c: pg.PoolClient, profileId: number | null, ownerId: number, dataStore: number): Promise<void> {
    if (profileId === null) return;
    const profile = await this.one<{ app_id: number }>(
      c,
      `SELECT app_id FROM oauth_profiles
      WHERE id = $1 AND (owner_id = $2 OR creator_id = $2) FOR SHARE`,
      [profileId, ownerId],
    );
    const app = profile && (await this.one<{ data_store: number }>(c, 'SELECT data_store FROM oauth_apps WHERE id = $1 FOR SHARE', [profile.app_id]));
    enforce(this.rules.profileReference(profileId, app && { dataStore: app.data_store }, dataStore));
  }

  async createDataSource(input: NewDataSource): Promise<DataSource | Refusal> {
    return this.decide(
      async (c) => {
        await this.profileUsable(c, input.oauthProfileId, input.ownerId, input.dataStore);
        await this.nameFree(c, 'datasources', { column: 'owner_id', value: input.ownerId }, input.name);
        const id = await this.nextId(c, 'datasources');
        const { sealed, keyVersion } = await this.keys.sealRow('datasources', id, { options: JSON.stringify(input.options) }, c);
        await this.run(
          c,
          `INSERT INTO datasources (id, owner_id, name, name_key, data_store, connection_type, description, options,
          oauth_profile_id, key_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
          [
            id,
            input.ownerId,
            input.name,
            nameKey(input.name),
            input.dataStore,
            input.connectionType,
            input.description,
            sealed.options,
            input.oauthProfileId,
            keyVersion,
          ],
        );
        return (await this.dataSourceOn(c, id))!;
      },
      { names: true },
    );
  }

  async updateDataSource(id: number, input: DataSourceUpdate, ifVersion?: Versions): Promise<DataSource | Refusal> {
    return this.decide(
      async (c) => {
        const current = this.present(
          await this.one(c, 'SELECT version, owner_id, data_store FROM datasources WHERE id = $1 FOR UPDATE', [id]),
          'dataSource',
          id,
        );
        enforce(this.rules.version(current.version as number, ifVersion));
        await this.profileUsable(c, input.oauthProfileId, current.owner_id as number, current.data_store as number);
        await this.nameFree(c, 'datasources', { column: 'owner_id', value: current.owner_id as number }, input.name, id);
        const { sealed, keyVersion } = await this.keys.sealRow('datasources', id, { options: JSON.stringify(input.options) }, c);
        await this.run(
          c,
          `UPDATE datasources SET name = $1, name_key = $2, description = $3, options = $4, oauth_profile_id = $5,
          key_version = $6, version = version + 1 WHERE id = $7`,
          [input.name, nameKey(input.name), input.description, sealed.options, input.oauthProfileId, keyVersion, id],
        );
        return (await this.dataSourceOn(c, id))!;
      },
      { names: true },
    );
  }

  async deleteDataSource(id: number, ifVersion?: Versions): Promise<void | Refusal> {
    return this.deleteVersioned('datasources', id, ifVersion, 'dataSource');
  }
}
