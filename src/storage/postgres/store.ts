/**
 * The PostgreSQL store: the connection (./db.ts), the barrier over its key ring (./keyring.ts) and one repository per
 * aggregate — identity (tenants, roles, users, logins, limits) and the OAuth objects (applications, profiles and the
 * data sources that reference profiles) — behaving exactly as ../sqlite/store.ts. Secret columns are sealed on write
 * and opened on read by the barrier (src/sealing/barrier.ts). Cascades are the schema's foreign keys.
 *
 * Concurrency across processes (READ COMMITTED, explicit row locks):
 * - an update locks its row first (`FOR UPDATE`), then checks the If-Match version against the row as committed:
 *   two updates of one version through two nodes give one success and one 412, and concurrent full replaces queue,
 *   so the stored row is always exactly one request's (a profile's PUT applies only while its row is still at the
 *   version the request read: the batched in-place PUT locks its rows in id order, then updates those still at it);
 * - a referenced row is locked `FOR SHARE` while it is checked (the new app of a profile that changes app, a data
 *   source's profile and that profile's app), so the data store the check relied on cannot change before the
 *   referencing write commits, and a concurrent change of the referenced row, waiting for that lock, sees the new
 *   reference in its own check;
 * - names are checked before the write (a new or replaced profile's by the write itself) and backed by unique
 *   constraints: a race that slips past the check ends in a unique_violation, answered as the same refusal `name`;
 * - ids come from identity sequences, taken before the insert (sealed values are bound to their row id) and never
 *   handed out twice;
 * - every change of tenants, roles, users or grants takes the identity advisory lock (./grants.ts).
 */
import type { IntegrityRules, Seed, Store } from '../../domain/ports/index.js';
import { Sealing } from '../../sealing/barrier.js';
import { runAsync } from '../../sealing/steps.js';
import { nameKey } from '../names.js';
import { PgAppEngines } from './app-engines.js';
import { PgApps } from './apps.js';
import { PgConsentStates } from './consent-states.js';
import { PgConsoleSessions } from './console-sessions.js';
import { PgDataSources } from './data-sources.js';
import { LOCK, PgDb, type PostgresOptions } from './db.js';
import { keyringHooks, type PgSealing } from './keyring.js';
import { PgLimits } from './limits.js';
import { PgLogins } from './logins.js';
import { migrations } from './migrations.js';
import { PgProfiles } from './profiles.js';
import { PgRoles } from './roles.js';
import { PgTenants } from './tenants.js';
import { PgTokens } from './tokens.js';
import { PgRevocations } from './revocations.js';
import { PgUsers } from './users.js';

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly db: PgDb;
  readonly keys: PgSealing;
  /** principals are read fresh, by one batched, prepared lookup for the requests of the moment */
  readonly logins: PgLogins;
  readonly limits: PgLimits;
  readonly tenants: PgTenants;
  readonly roles: PgRoles;
  readonly users: PgUsers;
  /** apps, profiles and data sources seal before their statement, reading the ring through its connection */
  readonly apps: PgApps;
  readonly profiles: PgProfiles;
  readonly dataSources: PgDataSources;
  /** the token engine's columns of each profile; each app's engine settings and status */
  readonly tokens: PgTokens;
  readonly appEngines: PgAppEngines;
  readonly revocations: PgRevocations;
  /** consent in progress: its PKCE verifier sealed before the statement that stores it */
  readonly consentStates: PgConsentStates;
  /** signed-in console browsers: found by the digest of their id */
  readonly consoleSessions: PgConsoleSessions;
  readonly ping = (): Promise<void> => this.db.ping();
  readonly probeWrite = (): Promise<void> => this.db.probeWrite();
  readonly close = (): Promise<void> => this.db.close();

  /** `rules`: the domain's integrity rules (src/domain/integrity.ts), applied inside each write's transaction. */
  constructor(url: string, rules: IntegrityRules, options: PostgresOptions = {}) {
    this.db = new PgDb(url, options);
    this.keys = new Sealing(keyringHooks(this.db), runAsync);
    this.logins = new PgLogins(this.db);
    this.limits = new PgLimits(this.db);
    this.roles = new PgRoles(this.db, rules);
    this.tenants = new PgTenants(this.db, rules, this.roles);
    this.revocations = new PgRevocations(this.db, this.keys);
    this.users = new PgUsers(this.db, rules, this.revocations);
    this.apps = new PgApps(this.db, rules, this.keys, this.revocations);
    this.profiles = new PgProfiles(this.db, rules, this.keys, this.revocations);
    this.dataSources = new PgDataSources(this.db, rules, this.keys);
    this.tokens = new PgTokens(this.db, this.keys);
    this.appEngines = new PgAppEngines(this.db);
    this.consentStates = new PgConsentStates(this.db, this.keys);
    this.consoleSessions = new PgConsoleSessions(this.db);
  }

  async migrate(): Promise<number[]> {
    const db = this.db;
    await db.ensureDurable();
    const applied: number[] = [];
    for (const m of migrations) {
      const done = await db.tx(
        async (c) => {
          await db.run(
            c,
            `CREATE TABLE IF NOT EXISTS schema_migrations (
          version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`,
          );
          if (await db.one(c, 'SELECT 1 FROM schema_migrations WHERE version = $1', [m.version])) return false;
          await db.run(c, m.sql);
          await db.run(c, 'INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, new Date().toISOString()]);
          return true;
        },
        { locks: [LOCK.migrations] },
      );
      if (done) applied.push(m.version);
    }
    return applied;
  }

  async bootstrap(seed: Seed): Promise<boolean> {
    const db = this.db;
    return db.tx(
      async (c) => {
        const { n } = (await db.one<{ n: number }>(c, 'SELECT count(*) AS n FROM tenants'))!;
        if (n > 0) return false;
        const { tenant } = seed;
        await db.run(c, 'INSERT INTO tenants (id, name, name_key, description, parent_tenant, status) VALUES ($1, $2, $3, $4, NULL, 1)', [
          tenant.id,
          tenant.name,
          nameKey(tenant.name),
          tenant.description,
        ]);
        for (const role of seed.roles) {
          await db.run(c, 'INSERT INTO roles (id, tenant_id, name, name_key, description) VALUES ($1, $2, $3, $4, $5)', [
            role.id,
            tenant.id,
            role.name,
            nameKey(role.name),
            role.description,
          ]);
          await db.run(c, 'INSERT INTO role_permissions (role_id, permission) SELECT $1, unnest($2::int[])', [role.id, role.permissions]);
        }
        // Explicit ids do not advance an identity sequence: move them past what was inserted.
        for (const table of ['tenants', 'roles']) {
          await db.run(c, `SELECT setval(pg_get_serial_sequence('${table}', 'id'), (SELECT max(id) FROM ${table}))`);
        }
        for (const limit of seed.limits) await db.run(c, 'INSERT INTO limits (id, value) VALUES ($1, $2)', [limit.id, limit.value]);
        for (const user of seed.users) await this.users.insert(c, user);
        return true;
      },
      { locks: [LOCK.bootstrap, LOCK.identity] },
    );
  }
}
