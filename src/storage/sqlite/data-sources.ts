/** Data sources in SQLite: their options are sealed by the barrier; one may reference a profile its owner reaches. */
import type { DataSource, DataSourceSummary, DataSourceUpdate, DataSources, NewDataSource } from '../../domain/ports/data-sources.js';
import type { IntegrityRules, Refusal, Versions } from '../../domain/ports/index.js';
import type { Sealing } from '../../sealing/barrier.js';
import { nameKey } from '../names.js';
import { enforce } from '../refused.js';
import { DATA_SOURCE_SUMMARY_COLUMNS, dataSourceValues, toDataSource, toDataSourceSummary } from '../rows.js';
import type { Row, SqliteDb } from './db.js';
import { deleteVersioned, nextId } from './versioned.js';

export class SqliteDataSources implements DataSources {
  constructor(
    private readonly db: SqliteDb,
    private readonly sealing: Sealing<never, 'sync'>,
    private readonly rules: IntegrityRules,
  ) {}

  private read(id: number): DataSource | undefined {
    const r = this.db.q('SELECT * FROM datasources WHERE id = ?').get(id) as Row | undefined;
    return r && toDataSource(r, this.sealing.open('datasources', r.id as number, 'options', r.options as Buffer));
  }

  private readSummary(id: number): DataSourceSummary | undefined {
    const row = this.db.q(`SELECT ${DATA_SOURCE_SUMMARY_COLUMNS} FROM datasources WHERE id = ?`).get(id) as Row | undefined;
    return row && toDataSourceSummary(row);
  }

  async list(ownerId: number): Promise<DataSourceSummary[]> {
    return (this.db.q(`SELECT ${DATA_SOURCE_SUMMARY_COLUMNS} FROM datasources WHERE owner_id = ? ORDER BY id`).all(ownerId) as Row[]).map(toDataSourceSummary);
  }

  async get(id: number): Promise<DataSource | undefined> {
    return this.read(id);
  }

  async summary(id: number): Promise<DataSourceSummary | undefined> {
    return this.readSummary(id);
  }

  /** The referenced profile as the owner may reach it, with its app's data store, judged by the domain's rule. */
  private profileUsable(profileId: number | null, ownerId: number, dataStore: number): void {
    if (profileId === null) return;
    const row = this.db
      .q(
        `SELECT a.data_store FROM oauth_profiles p JOIN oauth_apps a ON a.id = p.app_id
      WHERE p.id = @profile AND (p.owner_id = @owner OR p.creator_id = @owner)`,
      )
      .get({ profile: profileId, owner: ownerId }) as Row | undefined;
    enforce(this.rules.profileReference(profileId, row && { dataStore: row.data_store as number }, dataStore));
  }

  async create(input: NewDataSource): Promise<DataSource | Refusal> {
    return this.db.decide(() => {
      this.profileUsable(input.oauthProfileId, input.ownerId, input.dataStore);
      this.db.nameFree('datasources', { column: 'owner_id', value: input.ownerId }, input.name);
      const id = nextId(this.db, 'datasources');
      const { sealed, keyVersion } = this.sealing.sealRow('datasources', id, { options: JSON.stringify(input.options) });
      this.db
        .q(
          `INSERT INTO datasources (id, owner_id, name, name_key, data_store, connection_type, description, options,
          oauth_profile_id, key_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(id, ...dataSourceValues(input, sealed.options, keyVersion));
      return this.read(id)!;
    });
  }

  async update(id: number, input: DataSourceUpdate, ifVersion?: Versions): Promise<DataSource | Refusal> {
    return this.db.decide(() => {
      // The summary: damaged options are replaced wholly, not opened.
      const current = this.db.present(this.readSummary(id), 'dataSource', id);
      enforce(this.rules.version(current.version, ifVersion));
      this.profileUsable(input.oauthProfileId, current.ownerId, current.dataStore);
      this.db.nameFree('datasources', { column: 'owner_id', value: current.ownerId }, input.name, id);
      const { sealed, keyVersion } = this.sealing.sealRow('datasources', id, { options: JSON.stringify(input.options) });
      this.db
        .q(
          'UPDATE datasources SET name = ?, name_key = ?, description = ?, options = ?, oauth_profile_id = ?, key_version = ?, version = version + 1 WHERE id = ?',
        )
        .run(input.name, nameKey(input.name), input.description, sealed.options, input.oauthProfileId, keyVersion, id);
      return this.read(id)!;
    });
  }

  async delete(id: number, ifVersion?: Versions): Promise<void | Refusal> {
    return deleteVersioned(this.db, this.rules, { table: 'datasources', id, what: 'dataSource' }, ifVersion);
  }
}
