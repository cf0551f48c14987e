/**
 * SQLite schema, as versioned migrations. Each one is applied in its own transaction together with its row in
 * `schema_migrations`, so a crash leaves the schema at a whole version. Never edit a released migration: add one.
 *
 * Secret columns (tokens, client secrets, data-source options) hold sealed BLOBs (src/storage/sealing.ts), and
 * each such table records the data-key version of its row, so rotation finds what it still has to re-encrypt.
 *
 * Names are unique case-insensitively through a `name_key` column (the name lower-cased by the application, which
 * knows Unicode better than SQLite's ASCII-only NOCASE). AUTOINCREMENT keeps ids of deleted rows from coming back.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'identity and oauth objects',
    sql: `
CREATE TABLE tenants (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  name_key TEXT NOT NULL UNIQUE,
  description TEXT,
  parent_tenant INTEGER REFERENCES tenants(id),
  status INTEGER NOT NULL CHECK (status IN (0, 1))
);
CREATE TABLE roles (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  name_key TEXT NOT NULL,
  description TEXT,
  UNIQUE (tenant_id, name_key)
);
CREATE TABLE role_permissions (
  role_id INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
  permission INTEGER NOT NULL,
  PRIMARY KEY (role_id, permission)
) WITHOUT ROWID;
CREATE TABLE users (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_name TEXT NOT NULL,
  name_key TEXT NOT NULL UNIQUE,
  tenant_id INTEGER NOT NULL REFERENCES tenants(id),
  status INTEGER NOT NULL CHECK (status IN (0, 1)),
  password_hash TEXT NOT NULL,
  failed_count INTEGER NOT NULL DEFAULT 0,
  failed_since INTEGER,
  locked_at INTEGER,
  locked_until INTEGER
);
CREATE INDEX users_tenant ON users(tenant_id);
CREATE TABLE user_roles (
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role_id INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
  PRIMARY KEY (user_id, role_id)
) WITHOUT ROWID;
CREATE INDEX user_roles_role ON user_roles(role_id);
CREATE TABLE user_permissions (
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  permission INTEGER NOT NULL,
  PRIMARY KEY (user_id, permission)
) WITHOUT ROWID;
CREATE TABLE tenant_admins (
  tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  PRIMARY KEY (tenant_id, user_id)
) WITHOUT ROWID;
CREATE INDEX tenant_admins_user ON tenant_admins(user_id);
CREATE TABLE limits (
  id INTEGER PRIMARY KEY,
  value INTEGER NOT NULL
);
CREATE TABLE keyring (
  version INTEGER PRIMARY KEY,
  wrapped BLOB NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value BLOB NOT NULL
);
CREATE TABLE oauth_apps (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  name_key TEXT NOT NULL,
  data_store INTEGER NOT NULL,
  description TEXT,
  client_id TEXT NOT NULL,
  client_secret BLOB NOT NULL,
  authorize_uri TEXT NOT NULL,
  token_uri TEXT NOT NULL,
  scope TEXT,
  version INTEGER NOT NULL DEFAULT 1,
  key_version INTEGER NOT NULL,
  UNIQUE (tenant_id, name_key)
);
CREATE INDEX oauth_apps_key_version ON oauth_apps(key_version);
CREATE TABLE oauth_profiles (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  creator_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
  app_id INTEGER NOT NULL REFERENCES oauth_apps(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  name_key TEXT NOT NULL,
  description TEXT,
  access_token BLOB,
  refresh_token BLOB NOT NULL,
  version INTEGER NOT NULL DEFAULT 1,
  key_version INTEGER NOT NULL,
  UNIQUE (owner_id, name_key)
);
CREATE INDEX oauth_profiles_key_version ON oauth_profiles(key_version);
CREATE INDEX oauth_profiles_creator ON oauth_profiles(creator_id);
CREATE INDEX oauth_profiles_app ON oauth_profiles(app_id);
CREATE TABLE datasources (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  name_key TEXT NOT NULL,
  data_store INTEGER NOT NULL,
  connection_type TEXT NOT NULL CHECK (connection_type IN ('Cloud', 'Hybrid')),
  description TEXT,
  options BLOB NOT NULL,
  oauth_profile_id INTEGER REFERENCES oauth_profiles(id) ON DELETE SET NULL,
  version INTEGER NOT NULL DEFAULT 1,
  key_version INTEGER NOT NULL,
  UNIQUE (owner_id, name_key)
);
CREATE INDEX datasources_key_version ON datasources(key_version);
CREATE INDEX datasources_profile ON datasources(oauth_profile_id);
`,
  },
  {
    version: 2,
    name: 'profiles by owner in id order; recent login failures',
    // The profile list reads an owner's profiles in id order: without (owner_id, id) it sorted them every time.
    // Lockout counts failures in a sliding window, so the times of the recent failures are kept.
    sql: `CREATE INDEX oauth_profiles_owner ON oauth_profiles(owner_id, id);
ALTER TABLE users ADD COLUMN failure_times TEXT;`,
  },
  {
    version: 3,
    name: 'failed logins of unknown user names',
    // An unknown name is "locked" like an account so that the answers never tell whether a name exists; kept in the
    // database (not per process) so that every node and every restart agree. Keyed by a digest of the name key
    // (unknownNameDigest in ../names.ts); last_failure is indexed for pruning the rows that no longer count.
    sql: `CREATE TABLE unknown_name_failures (
  name_digest TEXT PRIMARY KEY,
  failure_times TEXT,
  last_failure INTEGER NOT NULL,
  locked_until INTEGER
) WITHOUT ROWID;
CREATE INDEX unknown_name_failures_last ON unknown_name_failures(last_failure);`,
  },
  {
    version: 4,
    name: 'token engine: the refresh state of profiles, the engine settings of apps',
    // api.md §8, beside the HDP columns so that a full-replace PUT never clears it. Times are epoch milliseconds; a
    // lease is judged by the database's clock on PostgreSQL. tokens_digest (SHA-256 of the tokens, src/storage/
    // token-columns.ts) lets a PUT tell whether it changes the tokens without opening them; NULL on rows from before
    // this migration, which never equals a digest, so their first PUT counts as a change. retired_refresh holds the
    // digests of the newest refresh tokens the engine rotated away, space-separated: a PUT of one is refused.
    // app_engines has a row only once an app's settings or status were written: none means the defaults and 'ok'.
    sql: `ALTER TABLE oauth_profiles ADD COLUMN generation INTEGER NOT NULL DEFAULT 1;
ALTER TABLE oauth_profiles ADD COLUMN token_state TEXT NOT NULL DEFAULT 'active'
  CHECK (token_state IN ('active', 'retrying', 'needs_reconsent', 'app_error', 'origin_changed'));
ALTER TABLE oauth_profiles ADD COLUMN expires_at INTEGER;
ALTER TABLE oauth_profiles ADD COLUMN refreshed_at INTEGER;
ALTER TABLE oauth_profiles ADD COLUMN next_refresh_at INTEGER;
ALTER TABLE oauth_profiles ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE oauth_profiles ADD COLUMN last_error TEXT;
ALTER TABLE oauth_profiles ADD COLUMN token_origin TEXT;
ALTER TABLE oauth_profiles ADD COLUMN lease_owner TEXT;
ALTER TABLE oauth_profiles ADD COLUMN lease_until INTEGER;
ALTER TABLE oauth_profiles ADD COLUMN in_flight INTEGER;
ALTER TABLE oauth_profiles ADD COLUMN tokens_digest TEXT;
ALTER TABLE oauth_profiles ADD COLUMN retired_refresh TEXT;
CREATE TABLE app_engines (
  app_id INTEGER PRIMARY KEY REFERENCES oauth_apps(id) ON DELETE CASCADE,
  settings TEXT,
  status TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'client_error')),
  last_error TEXT
);`,
  },
  {
    version: 5,
    name: 'background refresh: which apps are proactive, the index of due profiles',
    // api.md §8.7. app_engines.proactive mirrors settings.proactive, so the due query joins a column instead of
    // reading JSON. next_refresh_at is set only where a refresh is planned (a proactive app's profiles, a retry's next
    // attempt), so the partial index holds those and the due query reads a range of it. The profiles of apps already
    // proactive are planned as a change of settings plans them (src/storage/token-columns.ts planSet).
    sql: `ALTER TABLE app_engines ADD COLUMN proactive INTEGER NOT NULL DEFAULT 0 CHECK (proactive IN (0, 1));
UPDATE app_engines SET proactive = 1 WHERE json_extract(settings, '$.proactive') = 1;
UPDATE oauth_profiles SET next_refresh_at = coalesce(expires_at - (SELECT 1000 * json_extract(e.settings, '$.refreshMargin') FROM app_engines e
  WHERE e.app_id = oauth_profiles.app_id), CAST(unixepoch('subsec') * 1000 AS INTEGER))
  WHERE token_state = 'active' AND app_id IN (SELECT app_id FROM app_engines WHERE proactive = 1);
CREATE INDEX oauth_profiles_due ON oauth_profiles(next_refresh_at) WHERE next_refresh_at IS NOT NULL;`,
  },
  {
    version: 6,
    name: 'revocation outbox: the tokens of deleted profiles, to revoke at their AS',
    // api.md §9. Written in the delete's own transaction, so no foreign key: the profile and its app are gone when the
    // row is read (profile_id is null for tokens that never were in a profile: a consent that could not be stored). It carries what the call needs (the URI, the client, its authentication) and its three secrets
    // sealed together under one key version. The lease lets one process at a time work on a row; give_up_at ends
    // the retries (24 hours after the delete).
    sql: `CREATE TABLE revocations (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  profile_id INTEGER,
  app_id INTEGER NOT NULL,
  revocation_uri TEXT NOT NULL,
  client_id TEXT NOT NULL,
  client_auth TEXT NOT NULL,
  client_secret BLOB NOT NULL,
  refresh_token BLOB NOT NULL,
  access_token BLOB,
  key_version INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  give_up_at INTEGER NOT NULL,
  last_error TEXT,
  lease_owner TEXT,
  lease_until INTEGER
);
CREATE INDEX revocations_next ON revocations(next_attempt_at);
CREATE INDEX revocations_key_version ON revocations(key_version);`,
  },
  {
    version: 7,
    name: 'consent: the states of authorization requests in progress',
    // api.md §9. A row per started consent, found by the SHA-256 of its state (the state itself is never stored) and
    // taken by one DELETE … RETURNING, so one callback wins. The PKCE verifier is sealed like a token (key_version, as
    // every sealed table). The target is a new profile's name and description, or the id of a profile to re-consent
    // (not a foreign key: a profile deleted meanwhile must be told at the callback, not make the state vanish).
    // expires_at is indexed for pruning; a deleted user or app takes its states along.
    sql: `CREATE TABLE consent_states (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  state_digest TEXT NOT NULL UNIQUE,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  actor_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  app_id INTEGER NOT NULL REFERENCES oauth_apps(id) ON DELETE CASCADE,
  profile_id INTEGER,
  name TEXT,
  description TEXT,
  return_to TEXT,
  verifier BLOB NOT NULL,
  key_version INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  CHECK ((profile_id IS NULL) <> (name IS NULL))
);
CREATE INDEX consent_states_expires ON consent_states(expires_at);
CREATE INDEX consent_states_key_version ON consent_states(key_version);`,
  },
  {
    version: 8,
    name: 'console sessions',
    // api.md §10. A row per signed-in console browser, keyed by the SHA-256 of the session id (the id itself is only
    // in the cookie). password_digest is the SHA-256 of the user's password hash at sign-in: a new password (a new
    // salt, so a new hash) no longer matches. Times are epoch ms by the signing node's clock, as consent states'.
    // user_id is indexed for ending a user's sessions (and the cascade of a user's delete), last_seen_at for pruning
    // idle sessions in bounded batches.
    sql: `CREATE TABLE console_sessions (
  digest TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  password_digest TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX console_sessions_user ON console_sessions(user_id);
CREATE INDEX console_sessions_last_seen ON console_sessions(last_seen_at);`,
  },
  {
    version: 9,
    name: 'principals version',
    // The principal cache (src/domain/principals.ts) keeps a user as authentication reads it while meta's
    // principals_version stays the same. Every change to a table a principal is read from raises it, by these triggers,
    // inside the writing transaction, whichever connection or process writes (a `users` command beside a server
    // included). grants_version, which only grant changes raised, is gone with the grants cache it served.
    sql: `DELETE FROM meta WHERE key = 'grants_version';
INSERT INTO meta (key, value) VALUES ('principals_version', 0) ON CONFLICT (key) DO NOTHING;
${['tenants', 'roles', 'role_permissions', 'users', 'user_roles', 'user_permissions', 'tenant_admins']
  .flatMap((table) =>
    ['INSERT', 'UPDATE', 'DELETE'].map(
      (event) => `CREATE TRIGGER principals_${table}_${event.toLowerCase()} AFTER ${event} ON ${table}
BEGIN UPDATE meta SET value = value + 1 WHERE key = 'principals_version'; END;`,
    ),
  )
  .join('\n')}`,
  },
];
