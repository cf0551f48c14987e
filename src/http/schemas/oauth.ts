/** Schemas of OAuth applications, OAuth profiles, data stores and data sources (api.md §5–§7). */
import { Type, type TSchema } from '@sinclair/typebox';
import { Id, Name, Nullable, Text, strictObject } from './common.js';

const Uri = Type.String({ minLength: 1, maxLength: 2048, pattern: '^[^\\p{Cc}\\s]+$' });
/** Stored as text, which cannot hold U+0000 on PostgreSQL (secrets are sealed and may hold anything). */
const NO_NUL = '^[^\\u0000]*$';
const Token = (min: number) => Type.String({ minLength: min, maxLength: 16 * 1024 });

export const AppBody = Type.Object({
  name: Name(),
  dataStore: Type.Integer(),
  tenantId: Type.Optional(Id),
  description: Type.Optional(Nullable(Text(1024))),
  clientId: Type.String({ minLength: 1, maxLength: 1024, pattern: NO_NUL }),
  clientSecret: Type.String({ minLength: 1, maxLength: 4096 }),
  authorizeURI: Uri,
  tokenURI: Uri,
  scope: Type.Optional(Nullable(Type.String({ maxLength: 4096, pattern: NO_NUL }))),
});

const appSummaryFields = {
  id: Type.Integer(),
  name: Type.String(),
  dataStore: Type.Integer(),
  tenantId: Type.Integer(),
  description: Nullable(Type.String()),
  authorizeURI: Type.String(),
  tokenURI: Type.String(),
  scope: Nullable(Type.String()),
};
export const AppSummary = strictObject(appSummaryFields);
export const AppList = strictObject({ applications: Type.Array(AppSummary) });
/** `clientSecret` only for callers who may manage the application. */
export const App = strictObject({ ...appSummaryFields, clientId: Type.String(), clientSecret: Type.Optional(Type.String()) });

export const ProfileBody = Type.Object({
  name: Type.String({ pattern: '^[A-Za-z0-9_]{1,128}$' }),
  oauthAppId: Id,
  description: Type.Optional(Nullable(Type.String({ maxLength: 1024, pattern: NO_NUL }))),
  accessToken: Type.Optional(Nullable(Token(0))),
  refreshToken: Token(1),
});
export const Profile = strictObject({
  id: Type.Integer(),
  name: Type.String(),
  oauthAppId: Type.Integer(),
  description: Nullable(Type.String()),
  accessToken: Nullable(Type.String()),
  refreshToken: Type.String(),
});
export const ProfileSummary = strictObject({
  id: Type.Integer(),
  name: Type.String(),
  description: Nullable(Type.String()),
  oauthAppId: Type.Integer(),
  authorizeURI: Type.String(),
  tokenURI: Type.String(),
  scope: Nullable(Type.String()),
});
export const ProfileList = strictObject({ profiles: Type.Array(ProfileSummary) });
export const ProfileStats = strictObject({
  dataSourcesLinked: Type.Integer(),
  dataStoreId: Type.Integer(),
  dataSources: Type.Array(strictObject({ id: Type.Integer(), name: Type.String(), description: Nullable(Type.String()) })),
});

export const DataStore = strictObject({ id: Type.Integer(), name: Type.String() });
export const DataStoreList = strictObject({ datastores: Type.Array(DataStore) });

/**
 * Data-source options: names are printable (1–128 characters), values may be secrets and hold anything. Not
 * Type.Record: its keys become patternProperties "^(.*)$", which lets a name with a line break through validation
 * unchecked and makes the serializer drop it from answers.
 */
const Options = (value: TSchema, limits: { maxProperties?: number; propertyNames?: TSchema } = {}) =>
  Type.Unsafe<Record<string, string>>({ type: 'object', additionalProperties: value, ...limits });

const ConnectionType = Type.Union([Type.Literal('Cloud'), Type.Literal('Hybrid')]);
export const DataSourceBody = Type.Object({
  name: Name(),
  dataStore: Type.Optional(Type.Integer()),
  connectionType: Type.Optional(ConnectionType),
  description: Type.Optional(Nullable(Text(1024))),
  options: Type.Optional(Options(Type.String({ maxLength: 16 * 1024 }), { maxProperties: 100, propertyNames: Name() })),
});
const dataSourceSummaryFields = {
  id: Type.Integer(),
  name: Type.String(),
  dataStore: Type.Integer(),
  connectionType: ConnectionType,
  description: Nullable(Type.String()),
};
export const DataSourceSummary = strictObject(dataSourceSummaryFields);
export const DataSourceList = strictObject({ datasources: Type.Array(DataSourceSummary) });
export const DataSource = strictObject({ ...dataSourceSummaryFields, options: Options(Type.String()) });
