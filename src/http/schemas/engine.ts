/** Schemas of the token engine's resources (api.md §8): statuses, a token, an app's engine settings. */
import { Type } from '@sinclair/typebox';
import { Id, Nullable, OnBehalfQuery, Text, strictObject } from './common.js';

/** ISO 8601 in UTC, as `Date#toISOString` writes it. */
const Iso = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z$' });
export const TokenStateValue = Type.Union([
  Type.Literal('active'),
  Type.Literal('retrying'),
  Type.Literal('needs_reconsent'),
  Type.Literal('app_error'),
  Type.Literal('origin_changed'),
]);

export const AsErrorBody = strictObject(
  { error: Type.String(), description: Nullable(Type.String()), httpStatus: Nullable(Type.Integer()), at: Iso },
  'What the authorization server answered last (no token value; the description cut to 200 characters)',
);

export const ProfileStatus = strictObject(
  {
    state: TokenStateValue,
    expiresAt: Nullable(Iso),
    refreshedAt: Nullable(Iso),
    nextRefreshAt: Nullable(Iso),
    failures: Type.Integer({ minimum: 0 }),
    lastError: Nullable(AsErrorBody),
    generation: Type.Integer({ minimum: 1 }),
  },
  "A profile's engine status",
);

export const StatusList = strictObject({
  profiles: Type.Array(
    strictObject({ id: Id, name: Type.String(), oauthAppId: Id, state: TokenStateValue, expiresAt: Nullable(Iso), failures: Type.Integer({ minimum: 0 }) }),
  ),
});

export const StatusListQuery = Type.Object({ user: OnBehalfQuery.properties.user, state: Type.Optional(TokenStateValue) });

export const TokenQuery = Type.Object({
  user: OnBehalfQuery.properties.user,
  minValidity: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600, description: 'seconds the returned token must stay valid (default 60)' })),
  force: Type.Optional(
    Type.Union([Type.Literal('true'), Type.Literal('false')], {
      description: 'true: refresh even when the stored token is valid (needs the modify permission)',
    }),
  ),
});

export const AccessTokenBody = strictObject(
  { accessToken: Type.String(), tokenType: Type.Literal('Bearer'), expiresAt: Nullable(Iso), scope: Nullable(Type.String()) },
  'A valid access token',
);

const Uri = Text(2048);
const settingsFields = {
  clientAuth: Type.Union([Type.Literal('client_secret_basic'), Type.Literal('client_secret_post')]),
  defaultExpiresIn: Type.Integer({ minimum: 60, maximum: 31_536_000 }),
  refreshMargin: Type.Integer({ minimum: 0, maximum: 86_400 }),
  proactive: Type.Boolean(),
  maxConcurrentRefreshes: Type.Integer({ minimum: 1, maximum: 64 }),
  revocationURI: Nullable(Uri),
  issuer: Nullable(Uri),
  authorizeParams: Type.Record(Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' }), Text(1024), { maxProperties: 32 }),
};

/** PUT: a full replace; an omitted field takes its default. */
export const EngineSettingsBody = Type.Partial(Type.Object(settingsFields));

export const EngineView = strictObject(
  {
    ...settingsFields,
    status: strictObject({ state: Type.Union([Type.Literal('ok'), Type.Literal('client_error')]), lastError: Nullable(AsErrorBody) }),
  },
  "An app's engine settings and its standing with the authorization server",
);
