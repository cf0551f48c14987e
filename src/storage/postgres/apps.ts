/**
 * PostgreSQL OAuth applications, as ../sqlite/'s. The client secret is sealed on write and opened on read by the
 * barrier (src/sealing/barrier.ts). An update locks its row first (`FOR UPDATE`), then checks the If-Match version
 * against the row as committed; a delete is one conditional autocommit statement whose cascades (the app's profiles,
 * the data sources' references to them) are the schema's foreign keys.
 */
import type { IntegrityRules, NewOAuthApp, OAuthApp, OAuthAppHeader, OAuthAppSummary, Apps, Refusal, Versions } from '../../domain/ports/index.js';
import type { RevocationPlan } from '../../domain/ports/index.js';
import { enforce } from '../refused.js';
import { APP_HEADER_COLUMNS, APP_SUMMARY_COLUMNS, appValues, toApp, toAppHeader, toAppSummary } from '../rows.js';
import { byId, type Lookup, type PgDb, type Queryable, type Row } from './db.js';
import type { PgSealing } from './keyring.js';
import type { PgRevocations } from './revocations.js';
import { deleteVersioned, nextId } from './versioned.js';

export class PgApps implements Apps {
  private readonly summaryRow: Lookup<number>;

  constructor(
    private readonly db: PgDb,
    private readonly rules: IntegrityRules,
    private readonly sealing: PgSealing,
    private readonly revocations: PgRevocations,
  ) {
    this.summaryRow = db.lookup<number>('tokenkeep_app_summary', `SELECT ${APP_SUMMARY_COLUMNS} FROM oauth_apps WHERE id = ANY($1::bigint[])`, byId);
  }

  private async toApp(on: Queryable, r: Row): Promise<OAuthApp> {
    return toApp(r, await this.sealing.open('oauth_apps', Number(r.id), 'client_secret', r.client_secret as Buffer, on));
  }

  async list(): Promise<OAuthAppSummary[]> {
    const rows = await this.db.all(this.db.pool, `SELECT ${APP_SUMMARY_COLUMNS} FROM oauth_apps ORDER BY id`);
    return rows.map(toAppSummary);
  }

  async summary(id: number): Promise<OAuthAppSummary | undefined> {
    const row = await this.summaryRow(id);
    return row && toAppSummary(row);
  }

  async header(id: number): Promise<OAuthAppHeader | undefined> {
    const row = await this.db.one(this.db.pool, `SELECT ${APP_HEADER_COLUMNS} FROM oauth_apps WHERE id = $1`, [id]);
    return row && toAppHeader(row);
  }

  private async appOn(on: Queryable, id: number): Promise<OAuthApp | undefined> {
    const row = await this.db.one(on, 'SELECT * FROM oauth_apps WHERE id = $1', [id]);
    return row && this.toApp(on, row);
  }

  async get(id: number): Promise<OAuthApp | undefined> {
    return this.appOn(this.db.pool, id);
  }

  async create(input: NewOAuthApp): Promise<OAuthApp | Refusal> {
    return this.db.decide(
      async (c) => {
        // FOR KEY SHARE: the tenant cannot be deleted under the new application (a delete waits, then cascades to it).
        this.db.present(await this.db.one(c, 'SELECT 1 FROM tenants WHERE id = $1 FOR KEY SHARE', [input.tenantId]), 'tenant', input.tenantId);
        await this.db.nameFree(c, 'oauth_apps', { column: 'tenant_id', value: input.tenantId }, input.name);
        const id = await nextId(this.db, c, 'oauth_apps');
        const { sealed, keyVersion } = await this.sealing.sealRow('oauth_apps', id, { client_secret: input.clientSecret }, c);
        await this.db.run(
          c,
          `INSERT INTO oauth_apps (id, tenant_id, name, name_key, data_store, description, client_id, client_secret,
          authorize_uri, token_uri, scope, key_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
          [id, input.tenantId, ...appValues(input, sealed.client_secret, keyVersion)],
        );
        return (await this.appOn(c, id))!;
      },
      { names: true },
    );
  }

  async update(id: number, input: NewOAuthApp, ifVersion?: Versions): Promise<OAuthApp | Refusal> {
    return this.db.decide(
      async (c) => {
        const current = this.db.present(
          await this.db.one(c, 'SELECT version, tenant_id, data_store FROM oauth_apps WHERE id = $1 FOR UPDATE', [id]),
          'app',
          id,
        );
        enforce(this.rules.version(current.version as number, ifVersion));
        await this.db.nameFree(c, 'oauth_apps', { column: 'tenant_id', value: current.tenant_id as number }, input.name, id);
        // Writers that could add a data source on a profile of this app hold the app FOR SHARE until they commit, so
        // under this row's lock the check sees all of them.
        const used = await this.db.one(c, 'SELECT 1 FROM datasources d JOIN oauth_profiles p ON p.id = d.oauth_profile_id WHERE p.app_id = $1 LIMIT 1', [id]);
        enforce(this.rules.appChange({ dataStore: current.data_store as number }, input, used !== undefined));
        const { sealed, keyVersion } = await this.sealing.sealRow('oauth_apps', id, { client_secret: input.clientSecret }, c);
        await this.db.run(
          c,
          `UPDATE oauth_apps SET name = $1, name_key = $2, data_store = $3, description = $4, client_id = $5,
          client_secret = $6, authorize_uri = $7, token_uri = $8, scope = $9, key_version = $10, version = version + 1 WHERE id = $11`,
          [...appValues(input, sealed.client_secret, keyVersion), id],
        );
        // The client credentials may have changed: an AS that refused the old ones (client_error) gets asked again.
        await this.db.run(c, "UPDATE app_engines SET status = 'ok', last_error = NULL WHERE app_id = $1 AND status <> 'ok'", [id]);
        return (await this.appOn(c, id))!;
      },
      { names: true },
    );
  }

  async delete(id: number, ifVersion?: Versions, revoke?: RevocationPlan): Promise<void | Refusal> {
    const queue = revoke && ((c: Queryable) => this.revocations.queue(c, 'p.app_id = $1', id, revoke));
    return deleteVersioned(this.db, this.rules, { table: 'oauth_apps', id, what: 'app' }, ifVersion, queue);
  }
}
