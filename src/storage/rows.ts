/**
 * Row-to-record mappers shared by both stores. A record with secrets takes them already opened (by the barrier,
 * ./sealing.ts, which is synchronous on SQLite and asynchronous on PostgreSQL). Columns are named alike in the SQLite
 * and PostgreSQL schemas.
 */
import type {
  ConnectionType,
  DataSource,
  DataSourceSummary,
  OAuthApp,
  OAuthAppHeader,
  OAuthAppSummary,
  OAuthProfile,
  ProfileHeader,
  ProfileInput,
} from '../domain/ports/index.js';

type Row = Record<string, unknown>;
const text = (v: unknown): string | null => (v as string | null) ?? null;

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
