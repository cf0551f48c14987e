/**
 * Row-to-record mappers shared by both stores, for the records that carry no sealed value (opening secrets is each
 * store's own business). Columns are named alike in the SQLite and PostgreSQL schemas.
 */
import type { ConnectionType, DataSourceSummary, OAuthAppSummary, ProfileHeader } from './store.js';

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
