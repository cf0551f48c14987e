/**
 * Row-to-record mappers shared by both stores. A record with secrets takes them already opened (by the barrier,
 * ./sealing.ts, which is synchronous on SQLite and asynchronous on PostgreSQL). Columns are named alike in the SQLite
 * and PostgreSQL schemas.
 */
import type {
  ConnectionType,
  Missing,
  NewDataSource,
  NewOAuthApp,
  Role,
  Status,
  Tenant,
  User,
  DataSource,
  DataSourceSummary,
  OAuthApp,
  OAuthAppHeader,
  OAuthAppSummary,
  OAuthProfile,
  ProfileHeader,
  ProfileInput,
  AppStatus,
  CurrentToken,
  Grant,
  AsError,
  EngineSettings,
  TokenState,
  TokenStatus,
  ConsentState,
  NewConsentState,
  ConsoleSession,
} from '../domain/ports/index.js';
import { nameKey } from './names.js';
import { tokensDigest } from './token-columns.js';

type Row = Record<string, unknown>;
const text = (v: unknown): string | null => (v as string | null) ?? null;
const maybe = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** A list of ids as a database aggregates it: an array (PostgreSQL `ARRAY(…)`) or comma-separated text (SQLite `group_concat`). */
export const ids = (value: unknown): number[] =>
  Array.isArray(value) ? value.map(Number) : typeof value === 'string' && value !== '' ? value.split(',').map(Number) : [];

export const toTenant = (row: Row): Tenant => ({
  id: Number(row.id),
  name: row.name as string,
  description: text(row.description),
  parentTenant: maybe(row.parent_tenant),
  status: row.status as Status,
});

/** A role row with its permissions (`perms`) and members (`members`) aggregated. */
export const toRole = (row: Row): Role => ({
  id: Number(row.id),
  name: row.name as string,
  tenantId: Number(row.tenant_id),
  description: text(row.description),
  permissions: ids(row.perms),
  users: ids(row.members),
});

/** A user row with its `role_ids` and `permission_ids` aggregated. */
export const toUser = (row: Row): User => ({
  id: Number(row.id),
  userName: row.user_name as string,
  tenantId: Number(row.tenant_id),
  status: row.status as Status,
  passwordHash: row.password_hash as string,
  failedCount: Number(row.failed_count),
  failedSince: maybe(row.failed_since),
  lockedAt: maybe(row.locked_at),
  lockedUntil: maybe(row.locked_until),
  roles: ids(row.role_ids),
  permissions: ids(row.permission_ids),
});

/** The tables whose rows carry sealed columns and an ETag version. */
export type VersionedTable = 'oauth_apps' | 'oauth_profiles' | 'datasources' | 'revocations';
/** One such row, and what a refusal calls it when it is missing. */
export interface VersionedRow {
  table: VersionedTable;
  id: number;
  what: Missing;
}

/**
 * An application's written columns, in the order both databases' INSERT and UPDATE name them: name, name_key,
 * data_store, description, client_id, client_secret, authorize_uri, token_uri, scope, key_version.
 */
export const appValues = (input: NewOAuthApp, clientSecret: Buffer | null, keyVersion: number): unknown[] => [
  input.name,
  nameKey(input.name),
  input.dataStore,
  input.description,
  input.clientId,
  clientSecret,
  input.authorizeURI,
  input.tokenURI,
  input.scope,
  keyVersion,
];

/** A profile's tokens, sealed together under one key version. */
export interface SealedTokens {
  access: Buffer | null;
  refresh: Buffer;
  version: number;
}

/**
 * A new profile's columns, in the order both databases' INSERT names them: id, owner_id, creator_id, app_id, name,
 * name_key, description, access_token, refresh_token, key_version, token_origin, tokens_digest. The engine's other
 * columns start at their defaults: generation 1, active, no expiry known.
 */
export const profileValues = (
  id: number,
  input: ProfileInput & { ownerId: number; creatorId: number; tokenOrigin: string },
  tokens: SealedTokens,
): unknown[] => [
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
  input.tokenOrigin,
  tokensDigest(input.accessToken, input.refreshToken),
];

/**
 * A new data source's columns after its id, in the order both databases' INSERT names them: owner_id, name, name_key,
 * data_store, connection_type, description, options, oauth_profile_id, key_version.
 */
export const dataSourceValues = (input: NewDataSource, options: Buffer | null, keyVersion: number): unknown[] => [
  input.ownerId,
  input.name,
  nameKey(input.name),
  input.dataStore,
  input.connectionType,
  input.description,
  options,
  input.oauthProfileId,
  keyVersion,
];

export const toAppSummary = (r: Row): OAuthAppSummary => ({
  id: Number(r.id),
  name: r.name as string,
  dataStore: Number(r.data_store),
  tenantId: Number(r.tenant_id),
  description: text(r.description),
  authorizeURI: r.authorize_uri as string,
  tokenURI: r.token_uri as string,
  scope: text(r.scope),
});

/** The columns of an application header: the summary's plus the version and the client id (not the secret). */
export const APP_HEADER_COLUMNS = 'id, version, name, data_store, tenant_id, description, client_id, authorize_uri, token_uri, scope';

export const toAppHeader = (r: Row): OAuthAppHeader => ({
  ...toAppSummary(r),
  version: Number(r.version),
  clientId: r.client_id as string,
});

/** An application with its client secret, opened from the row's `client_secret`. */
export const toApp = (r: Row, clientSecret: string): OAuthApp => ({ ...toAppHeader(r), clientSecret });

export const toProfileHeader = (r: Row): ProfileHeader => ({
  id: Number(r.id),
  version: Number(r.version),
  name: r.name as string,
  oauthAppId: Number(r.app_id),
  description: text(r.description),
  ownerId: Number(r.owner_id),
  creatorId: r.creator_id === null ? null : Number(r.creator_id),
  ownerTenantId: Number(r.owner_tenant_id),
});

/**
 * A profile just written, answered from the row's header and the tokens of the request: the tokens were sealed from
 * exactly these strings, so opening them again would only cost two decryptions.
 */
export const withTokens = (header: ProfileHeader, input: ProfileInput): OAuthProfile => ({
  ...header,
  accessToken: input.accessToken,
  refreshToken: input.refreshToken,
});

/** A profile with its tokens, opened from the row's `access_token` (null stays null) and `refresh_token`. */
export const toProfile = (r: Row, tokens: Pick<OAuthProfile, 'accessToken' | 'refreshToken'>): OAuthProfile => ({
  ...toProfileHeader(r),
  accessToken: tokens.accessToken,
  refreshToken: tokens.refreshToken,
});

/** The columns of an application summary, for SELECT lists. */
export const APP_SUMMARY_COLUMNS = 'id, name, data_store, tenant_id, description, authorize_uri, token_uri, scope';

/** The columns of a data-source summary: all but the sealed options. */
export const DATA_SOURCE_SUMMARY_COLUMNS = 'id, version, owner_id, name, data_store, connection_type, description, oauth_profile_id';

export const toDataSourceSummary = (r: Row): DataSourceSummary => ({
  id: Number(r.id),
  version: Number(r.version),
  ownerId: Number(r.owner_id),
  name: r.name as string,
  dataStore: Number(r.data_store),
  connectionType: r.connection_type as ConnectionType,
  description: text(r.description),
  oauthProfileId: r.oauth_profile_id === null ? null : Number(r.oauth_profile_id),
});

/** Failure times as stored in the `failure_times` column: milliseconds, comma-separated. */
export const failureTimes = {
  parse: (v: unknown): number[] => (typeof v === 'string' && v !== '' ? v.split(',').map(Number) : []),
  format: (times: readonly number[]): string | null => (times.length ? times.join(',') : null),
};

/** A data source with its options, opened from the row's `options` (JSON text once opened). */
export const toDataSource = (r: Row, options: string): DataSource => ({ ...toDataSourceSummary(r), options: JSON.parse(options) as Record<string, string> });

/** An AS error as the `last_error` columns hold it: JSON text, or NULL. */
export const asErrorJson = (error: AsError | null): string | null => (error === null ? null : JSON.stringify(error));
const toAsError = (v: unknown): AsError | null => (typeof v === 'string' ? (JSON.parse(v) as AsError) : null);

/**
 * The columns of a profile's engine record (no token), for SELECT lists. `now` is the SQL expression of the clock
 * leases are judged by: a lease whose time ran out is nobody's (its owner reads as NULL), as claim() sees it.
 */
export const tokenStatusColumns = (now: string, p = ''): string =>
  `${p}id, ${p}name, ${p}app_id, ${p}owner_id, ${p}creator_id, ${p}generation, ${p}token_state, ${p}expires_at, ${p}refreshed_at,
  ${p}next_refresh_at, ${p}failures, ${p}last_error, ${p}token_origin, CASE WHEN ${p}lease_until > ${now} THEN ${p}lease_owner END AS lease_owner,
  ${p}lease_until, ${p}in_flight`;

/**
 * Tokens.current in one read: the profile's engine status, its sealed access token, its app's token URI and scope,
 * and whether the app's client is refused. `now` as tokenStatusColumns; `id` the placeholder of the profile id.
 */
export const currentTokenQuery = (now: string, id: string): string =>
  `SELECT ${tokenStatusColumns(now, 'p.')}, p.access_token, a.token_uri, a.scope, coalesce(e.status, 'ok') = 'client_error' AS app_refused
  FROM oauth_profiles p JOIN oauth_apps a ON a.id = p.app_id LEFT JOIN app_engines e ON e.app_id = p.app_id WHERE p.id = ${id}`;

/** Tokens.grant in one read: the sealed refresh token and client secret, the token URI, the client id, the settings. */
export const grantQuery = (id: string): string =>
  `SELECT p.id, p.refresh_token, p.app_id, a.token_uri, a.client_id, a.client_secret, e.settings
  FROM oauth_profiles p JOIN oauth_apps a ON a.id = p.app_id LEFT JOIN app_engines e ON e.app_id = p.app_id WHERE p.id = ${id}`;

/** A row of grantQuery with its secrets opened. */
export const toGrant = (r: Row, opened: { refreshToken: string; clientSecret: string }): Grant => ({
  ...opened,
  tokenURI: r.token_uri as string,
  clientId: r.client_id as string,
  settings: storedSettings(r.settings),
});

/** A row of currentTokenQuery, its access token opened by `open` when asked. */
export const toCurrentToken = (r: Row, open: (sealed: Buffer) => Promise<string> | string): CurrentToken => ({
  status: toTokenStatus(r),
  tokenURI: r.token_uri as string,
  scope: text(r.scope),
  appRefused: r.app_refused === true || r.app_refused === 1,
  accessToken: async () => (r.access_token === null ? null : open(r.access_token as Buffer)),
});

export const toTokenStatus = (r: Row): TokenStatus => ({
  profileId: Number(r.id),
  name: r.name as string,
  oauthAppId: Number(r.app_id),
  ownerId: Number(r.owner_id),
  creatorId: maybe(r.creator_id),
  generation: Number(r.generation),
  state: r.token_state as TokenState,
  expiresAt: maybe(r.expires_at),
  refreshedAt: maybe(r.refreshed_at),
  nextRefreshAt: maybe(r.next_refresh_at),
  failures: Number(r.failures),
  lastError: toAsError(r.last_error),
  tokenOrigin: text(r.token_origin),
  lease: r.lease_owner === null || r.lease_owner === undefined ? null : { owner: r.lease_owner as string, until: Number(r.lease_until) },
  inFlight: maybe(r.in_flight),
});

/** An app with its `app_engines` row LEFT JOINed (settings, status, last_error): NULLs while none was written. */
/** `app_engines.settings` as stored: JSON, or NULL (no row, or none set) while the domain's defaults apply. */
const storedSettings = (value: unknown): EngineSettings | null => (typeof value === 'string' ? (JSON.parse(value) as EngineSettings) : null);

export const toAppEngine = (r: Row): { settings: EngineSettings | null; status: AppStatus } => ({
  settings: storedSettings(r.settings),
  status: { state: (r.status as AppStatus['state'] | null) ?? 'ok', lastError: toAsError(r.last_error) },
});

/**
 * A new consent state's columns after its id, in the order both databases' INSERT names them: state_digest, user_id,
 * actor_id, app_id, profile_id, name, description, return_to, verifier (sealed), key_version, expires_at.
 */
export const consentStateValues = (state: NewConsentState, verifier: Buffer, keyVersion: number): unknown[] => [
  state.digest,
  state.userId,
  state.actorId,
  state.appId,
  state.target.kind === 'reconsent' ? state.target.profileId : null,
  state.target.kind === 'create' ? state.target.name : null,
  state.target.kind === 'create' ? state.target.description : null,
  state.returnTo,
  verifier,
  keyVersion,
  state.expiresAt,
];

/** A consent state row (without its sealed verifier, handed in opened). */
export const toConsentState = (r: Row, verifier: string): ConsentState => ({
  id: Number(r.id),
  userId: Number(r.user_id),
  actorId: Number(r.actor_id),
  appId: Number(r.app_id),
  target:
    r.profile_id === null || r.profile_id === undefined
      ? { kind: 'create', name: r.name as string, description: text(r.description) }
      : { kind: 'reconsent', profileId: Number(r.profile_id) },
  returnTo: text(r.return_to),
  verifier,
  expiresAt: Number(r.expires_at),
});

/** The columns of a console session as `find` reads them: the row and its user's current name. */
export const CONSOLE_SESSION_COLUMNS = 's.digest, s.user_id, s.password_digest, s.created_at, s.last_seen_at, u.user_name';

export const toConsoleSession = (r: Row): ConsoleSession => ({
  digest: r.digest as string,
  userId: Number(r.user_id),
  userName: r.user_name as string,
  passwordDigest: r.password_digest as string,
  createdAt: Number(r.created_at),
  lastSeenAt: Number(r.last_seen_at),
});
