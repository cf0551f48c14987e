/**
 * PostgreSQL data sources, as ../sqlite/'s. The options are sealed on write and opened on read by the barrier
 * (src/sealing/barrier.ts). An update locks its row first (`FOR UPDATE`), then checks the If-Match version against the
 * row as committed; the referenced profile and its app are locked `FOR SHARE` while they are checked (profileUsable).
 */
import type pg from 'pg';
import type { DataSource, DataSourceSummary, DataSourceUpdate, DataSources, NewDataSource } from '../../domain/ports/data-sources.js';
import type { IntegrityRules, Refusal, Versions } from '../../domain/ports/index.js';
import { nameKey } from '../names.js';
import { enforce } from '../refused.js';
import { DATA_SOURCE_SUMMARY_COLUMNS, dataSourceValues, toDataSource, toDataSourceSummary } from '../rows.js';
import type { PgDb, Queryable, Row } from './db.js';
import type { PgSealing } from './keyring.js';
import { deleteVersioned, nextId } from './versioned.js';

export class PgDataSources implements DataSources {
  constructor(
    private readonly db: PgDb,
    private readonly rules: IntegrityRules,
    private readonly sealing: PgSealing,
  ) {}

  private async toDataSource(on: Queryable, r: Row): Promise<DataSource> {
    return toDataSource(r, await this.sealing.open('datasources', Number(r.id), 'options', r.options as Buffer, on));
  }

  async list(ownerId: number): Promise<DataSourceSummary[]> {
    const rows = await this.db.all(this.db.pool, `SELECT ${DATA_SOURCE_SUMMARY_COLUMNS} FROM datasources WHERE owner_id = $1 ORDER BY id`, [ownerId]);
    return rows.map(toDataSourceSummary);
  }

  async summary(id: number): Promise<DataSourceSummary | undefined> {
    const row = await this.db.one(this.db.pool, `SELECT ${DATA_SOURCE_SUMMARY_COLUMNS} FROM datasources WHERE id = $1`, [id]);
    return row && toDataSourceSummary(row);
  }

  private async dataSourceOn(on: Queryable, id: number): Promise<DataSource | undefined> {
    const row = await this.db.one(on, 'SELECT * FROM datasources WHERE id = $1', [id]);
    return row && this.toDataSource(on, row);
  }

  async get(id: number): Promise<DataSource | undefined> {
    return this.dataSourceOn(this.db.pool, id);
  }

  /**
   * The referenced profile as the owner may reach it, with its app's data store, judged by the domain's rule. The
   * profile is locked FOR SHARE (it cannot change app or go away), then its app FOR SHARE (its data store cannot
   * change), each in its own statement so the second reads the app the locked profile really points to.
   */
  private async profileUsable(c: pg.PoolClient, profileId: number | null, ownerId: number, dataStore: number): Promise<void> {
    if (profileId === null) return;
    const profile = await this.db.one<{ app_id: number }>(
      c,
      `SELECT app_id FROM oauth_profiles
      WHERE id = $1 AND (owner_id = $2 OR creator_id = $2) FOR SHARE`,
      [profileId, ownerId],
    );
    const app = profile && (await this.db.one<{ data_store: number }>(c, 'SELECT data_store FROM oauth_apps WHERE id = $1 FOR SHARE', [profile.app_id]));
    enforce(this.rules.profileReference(profileId, app && { dataStore: app.data_store }, dataStore));
  }

  async create(input: NewDataSource): Promise<DataSource | Refusal> {
    return this.db.decide(
      async (c) => {
        await this.profileUsable(c, input.oauthProfileId, input.ownerId, input.dataStore);
        await this.db.nameFree(c, 'datasources', { column: 'owner_id', value: input.ownerId }, input.name);
        const id = await nextId(this.db, c, 'datasources');
        const { sealed, keyVersion } = await this.sealing.sealRow('datasources', id, { options: JSON.stringify(input.options) }, c);
        await this.db.run(
          c,
          `INSERT INTO datasources (id, owner_id, name, name_key, data_store, connection_type, description, options,
          oauth_profile_id, key_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
          [id, ...dataSourceValues(input, sealed.options, keyVersion)],
        );
        return (await this.dataSourceOn(c, id))!;
      },
      { names: true },
    );
  }

  async update(id: number, input: DataSourceUpdate, ifVersion?: Versions): Promise<DataSource | Refusal> {
    return this.db.decide(
      async (c) => {
        const current = this.db.present(
          await this.db.one(c, 'SELECT version, owner_id, data_store FROM datasources WHERE id = $1 FOR UPDATE', [id]),
          'dataSource',
          id,
        );
        enforce(this.rules.version(current.version as number, ifVersion));
        await this.profileUsable(c, input.oauthProfileId, current.owner_id as number, current.data_store as number);
        await this.db.nameFree(c, 'datasources', { column: 'owner_id', value: current.owner_id as number }, input.name, id);
        const { sealed, keyVersion } = await this.sealing.sealRow('datasources', id, { options: JSON.stringify(input.options) }, c);
        await this.db.run(
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

  async delete(id: number, ifVersion?: Versions): Promise<void | Refusal> {
    return deleteVersioned(this.db, this.rules, { table: 'datasources', id, what: 'dataSource' }, ifVersion);
  }
}
