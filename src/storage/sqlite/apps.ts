/** OAuth applications in SQLite; the client secret is sealed by the barrier. Deleting one cascades to its profiles. */
import type {
  Apps,
  IntegrityRules,
  RevocationPlan,
  NewOAuthApp,
  OAuthApp,
  OAuthAppHeader,
  OAuthAppSummary,
  Refusal,
  Versions,
} from '../../domain/ports/index.js';
import type { Sealing } from '../../sealing/barrier.js';
import { enforce } from '../refused.js';
import { APP_HEADER_COLUMNS, APP_SUMMARY_COLUMNS, appValues, toApp, toAppHeader, toAppSummary } from '../rows.js';
import type { Row, SqliteDb } from './db.js';
import type { SqliteRevocations } from './revocations.js';
import { deleteVersioned, nextId } from './versioned.js';

export class SqliteApps implements Apps {
  constructor(
    private readonly db: SqliteDb,
    private readonly sealing: Sealing<never, 'sync'>,
    private readonly rules: IntegrityRules,
    private readonly revocations: SqliteRevocations,
  ) {}

  private read(id: number): OAuthApp | undefined {
    const r = this.db.q('SELECT * FROM oauth_apps WHERE id = ?').get(id) as Row | undefined;
    return r && toApp(r, this.sealing.open('oauth_apps', r.id as number, 'client_secret', r.client_secret as Buffer));
  }

  private readHeader(id: number): OAuthAppHeader | undefined {
    const row = this.db.q(`SELECT ${APP_HEADER_COLUMNS} FROM oauth_apps WHERE id = ?`).get(id) as Row | undefined;
    return row && toAppHeader(row);
  }

  async list(): Promise<OAuthAppSummary[]> {
    return (this.db.q(`SELECT ${APP_SUMMARY_COLUMNS} FROM oauth_apps ORDER BY id`).all() as Row[]).map(toAppSummary);
  }

  async get(id: number): Promise<OAuthApp | undefined> {
    return this.read(id);
  }

  async summary(id: number): Promise<OAuthAppSummary | undefined> {
    const row = this.db.q(`SELECT ${APP_SUMMARY_COLUMNS} FROM oauth_apps WHERE id = ?`).get(id) as Row | undefined;
    return row && toAppSummary(row);
  }

  async header(id: number): Promise<OAuthAppHeader | undefined> {
    return this.readHeader(id);
  }

  async create(input: NewOAuthApp): Promise<OAuthApp | Refusal> {
    return this.db.decide(() => {
      this.db.present(this.db.q('SELECT 1 FROM tenants WHERE id = ?').get(input.tenantId), 'tenant', input.tenantId);
      this.db.nameFree('oauth_apps', { column: 'tenant_id', value: input.tenantId }, input.name);
      const id = nextId(this.db, 'oauth_apps');
      const { sealed, keyVersion } = this.sealing.sealRow('oauth_apps', id, { client_secret: input.clientSecret });
      this.db
        .q(
          `INSERT INTO oauth_apps (id, tenant_id, name, name_key, data_store, description, client_id, client_secret,
          authorize_uri, token_uri, scope, key_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(id, input.tenantId, ...appValues(input, sealed.client_secret, keyVersion));
      return this.read(id)!;
    });
  }

  async update(id: number, input: NewOAuthApp, ifVersion?: Versions): Promise<OAuthApp | Refusal> {
    return this.db.decide(() => {
      // The header: a damaged secret is replaced, not opened.
      const current = this.db.present(this.readHeader(id), 'app', id);
      enforce(this.rules.version(current.version, ifVersion));
      this.db.nameFree('oauth_apps', { column: 'tenant_id', value: current.tenantId }, input.name, id);
      const used = this.db.q('SELECT 1 FROM datasources d JOIN oauth_profiles p ON p.id = d.oauth_profile_id WHERE p.app_id = ? LIMIT 1').get(id);
      enforce(this.rules.appChange(current, input, used !== undefined));
      const { sealed, keyVersion } = this.sealing.sealRow('oauth_apps', id, { client_secret: input.clientSecret });
      this.db
        .q(
          `UPDATE oauth_apps SET name = ?, name_key = ?, data_store = ?, description = ?, client_id = ?,
          client_secret = ?, authorize_uri = ?, token_uri = ?, scope = ?, key_version = ?, version = version + 1 WHERE id = ?`,
        )
        .run(...appValues(input, sealed.client_secret, keyVersion), id);
      // The client credentials may have changed: an AS that refused the old ones (client_error) gets asked again.
      this.db.q("UPDATE app_engines SET status = 'ok', last_error = NULL WHERE app_id = ? AND status <> 'ok'").run(id);
      return this.read(id)!;
    });
  }

  /** With `revoke`, the tokens of every profile the cascade deletes are queued for revocation in the same write. */
  async delete(id: number, ifVersion?: Versions, revoke?: RevocationPlan): Promise<void | Refusal> {
    const queue = revoke && (() => this.revocations.queue('p.app_id = ?', id, revoke));
    return deleteVersioned(this.db, this.rules, { table: 'oauth_apps', id, what: 'app' }, ifVersion, queue);
  }
}
