/**
 * The embedded default store: one SQLite connection (./db.ts), the barrier over it (src/sealing/barrier.ts), and one
 * repository per aggregate, composed here. Cascades are the schema's foreign keys: deleting an app deletes its
 * profiles, deleting a profile nulls the data sources' reference, deleting a user deletes what it owns.
 */
import Database from 'better-sqlite3';
import { existsSync, rmSync, statSync } from 'node:fs';
import type { IntegrityRules, Seed, Store } from '../../domain/ports/index.js';
import { Sealing } from '../../sealing/barrier.js';
import { runSync } from '../../sealing/steps.js';
import { nameKey } from '../names.js';
import { SqliteAppEngines } from './app-engines.js';
import { SqliteApps } from './apps.js';
import { SqliteConsentStates } from './consent-states.js';
import { SqliteConsoleSessions } from './console-sessions.js';
import { SqliteDataSources } from './data-sources.js';
import { SqliteDb } from './db.js';
import { keyringHooks } from './keyring.js';
import { SqliteLimits } from './limits.js';
import { SqliteLogins } from './logins.js';
import { migrations } from './migrations.js';
import { SqliteProfiles } from './profiles.js';
import { SqliteRoles } from './roles.js';
import { SqliteTenants } from './tenants.js';
import { SqliteTokens } from './tokens.js';
import { SqliteRevocations } from './revocations.js';
import { SqliteUsers } from './users.js';

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly db: SqliteDb;
  readonly keys: Sealing<never, 'sync'>;
  /** principals are cached per user under the grants stamp every change of grants raises (./grants.ts) */
  readonly logins: SqliteLogins;
  readonly limits: SqliteLimits;
  readonly tenants: SqliteTenants;
  readonly roles: SqliteRoles;
  readonly users: SqliteUsers;
  /** apps, profiles and data sources seal inside the synchronous write that stores them */
  readonly apps: SqliteApps;
  readonly profiles: SqliteProfiles;
  readonly dataSources: SqliteDataSources;
  /** the token engine's columns of each profile; each app's engine settings and status */
  readonly tokens: SqliteTokens;
  readonly appEngines: SqliteAppEngines;
  readonly revocations: SqliteRevocations;
  /** consent in progress: its PKCE verifier sealed inside the write that stores it */
  readonly consentStates: SqliteConsentStates;
  /** signed-in console browsers: found by the digest of their id */
  readonly consoleSessions: SqliteConsoleSessions;
  /** the health check's probe write goes through the group commit, like any write */
  readonly ping = (): Promise<void> => this.db.ping();
  readonly probeWrite = (): Promise<void> => this.db.probeWrite();
  readonly close = (): Promise<void> => this.db.close();

  /** `rules`: the domain's integrity rules (src/domain/integrity.ts), applied inside each write's transaction. */
  constructor(file: string, rules: IntegrityRules) {
    const db = (this.db = new SqliteDb(file));
    const keys = (this.keys = new Sealing(keyringHooks(db), runSync));
    this.logins = new SqliteLogins(db);
    this.limits = new SqliteLimits(db);
    this.roles = new SqliteRoles(db, rules);
    this.tenants = new SqliteTenants(db, rules, this.roles);
    this.revocations = new SqliteRevocations(db, keys);
    this.users = new SqliteUsers(db, rules, this.revocations);
    this.apps = new SqliteApps(db, keys, rules, this.revocations);
    this.profiles = new SqliteProfiles(db, keys, rules, this.revocations);
    this.dataSources = new SqliteDataSources(db, keys, rules);
    this.tokens = new SqliteTokens(db, keys);
    this.appEngines = new SqliteAppEngines(db);
    this.consentStates = new SqliteConsentStates(db, keys);
    this.consoleSessions = new SqliteConsoleSessions(db);
  }

  static peekKeyCheck(file: string): Buffer | undefined {
    if (file === ':memory:' || !existsSync(file)) return undefined;
    // Even a read-only connection creates an empty -wal and -shm when there are none; none existing means no other
    // connection has the database open, so removing the ones this peek made leaves the folder exactly as it was.
    const leftovers = [`${file}-wal`, `${file}-shm`].filter((f) => !existsSync(f));
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get();
      const row = hasMeta ? (db.prepare("SELECT value FROM meta WHERE key = 'key_check'").get() as { value: Buffer } | undefined) : undefined;
      return row?.value;
    } finally {
      db.close();
      for (const f of leftovers) if (existsSync(f) && (f.endsWith('-shm') || statSync(f).size === 0)) rmSync(f);
    }
  }

  async migrate(): Promise<number[]> {
    const { connection } = this.db;
    connection.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
    const done = new Set(connection.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]);
    const applied: number[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      this.db.tx(() => {
        connection.exec(m.sql);
        connection.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, new Date().toISOString());
      });
      applied.push(m.version);
    }
    return applied;
  }

  async bootstrap(seed: Seed): Promise<boolean> {
    return this.db.tx(() => {
      const { n } = this.db.q('SELECT count(*) AS n FROM tenants').get() as { n: number };
      if (n > 0) return false;
      const { tenant } = seed;
      this.db
        .q('INSERT INTO tenants (id, name, name_key, description, parent_tenant, status) VALUES (?, ?, ?, ?, NULL, 1)')
        .run(tenant.id, tenant.name, nameKey(tenant.name), tenant.description);
      for (const role of seed.roles) {
        this.db
          .q('INSERT INTO roles (id, tenant_id, name, name_key, description) VALUES (?, ?, ?, ?, ?)')
          .run(role.id, tenant.id, role.name, nameKey(role.name), role.description);
        for (const p of role.permissions) this.db.q('INSERT INTO role_permissions VALUES (?, ?)').run(role.id, p);
      }
      for (const limit of seed.limits) this.db.q('INSERT INTO limits (id, value) VALUES (?, ?)').run(limit.id, limit.value);
      for (const user of seed.users) this.users.insert(user);
      return true;
    });
  }
}
