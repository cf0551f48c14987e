/**
 * Schema pieces shared by every resource. Response objects set additionalProperties: false so that a field nobody
 * declared (a leaked secret, say) fails the response check in the tests, and is dropped by the serializer anyway.
 */
import { Type, type TSchema } from '@sinclair/typebox';

export const Id = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });
export const IdParams = Type.Object({ id: Id });
/** Printable text: no control characters. */
export const Name = (max = 128) => Type.String({ minLength: 1, maxLength: max, pattern: '^[^\\p{Cc}]+$' });
export const Text = (max: number) => Type.String({ maxLength: max, pattern: '^[^\\p{Cc}]*$' });
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
export const StatusValue = Type.Union([Type.Literal(0), Type.Literal(1)]);
export const IdList = (max = 1000) => Type.Array(Id, { maxItems: max });

/** `?user=<userName>` on every management operation that acts on behalf of a user. */
export const OnBehalfQuery = Type.Object({ user: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })) });

/**
 * HDP's error envelope (api.md §1.1). Its `$id` makes it one shared schema of the OpenAPI document,
 * `#/components/schemas/HdpError`, that every error response refers to.
 */
export const ErrorBody = Type.Object(
  {
    error: Type.Object(
      {
        code: Type.Integer({ description: "The error code: HDP's own (2222xxxxx) or tokenkeep's (2230xxxxx); see the README" }),
        message: Type.Object({ lang: Type.Literal('en-US'), value: Type.String() }, { additionalProperties: false }),
      },
      { additionalProperties: false },
    ),
  },
  { $id: 'HdpError', additionalProperties: false, description: 'HDP error envelope: a numeric code and an English message' },
);

export const strictObject = <T extends Parameters<typeof Type.Object>[0]>(props: T, description?: string) =>
  Type.Object(props, { additionalProperties: false, description });

/** What each error status means, as the OpenAPI document describes it; the message says which case it is. */
const errorMeaning = {
  400: 'Invalid request: malformed JSON, a field or query parameter of the wrong type or value, or an invalid reference',
  401: 'Not authenticated: missing or wrong credentials, or a locked or inactive account',
  403: 'Forbidden: the caller lacks a permission this operation needs',
  404: 'Not found: no such object visible to the caller, or an unknown user named by `?user=`',
  409: 'Conflict with the stored state: a name already in use, or an object still in use',
  412: 'Precondition failed: If-Match does not match the current version (ETag); read it again',
  413: 'The request body is larger than 64 KiB',
  415: 'The request body is not application/json',
  429: 'Too many failed logins from this address; retry after Retry-After',
  500: 'Unexpected server failure (no detail is given)',
  503: 'The database is unavailable; retry after Retry-After',
} as const;
type ErrorStatus = keyof typeof errorMeaning;

/**
 * The error responses a route can give, for the OpenAPI document. Every authenticated route can answer 401 and,
 * under a flood of failed logins, 429 (api.md §2). Each response has its own description; the `allOf` around the
 * one shared envelope is how a response carries a description of its own next to a shared schema.
 */
const responses = (statuses: readonly ErrorStatus[]) => Object.fromEntries(statuses.map((s) => [s, { description: errorMeaning[s], allOf: [ErrorBody] }]));

export const errors = (...statuses: ErrorStatus[]) => responses([401, 429, 500, 503, ...statuses]);

/** The error responses of a route without authentication (the health check): neither 401 nor 429. */
export const publicErrors = (...statuses: ErrorStatus[]) => responses([500, 503, ...statuses]);

/** A success response with its description for the OpenAPI document (the schema itself is unchanged). */
export const success = <T extends object>(description: string, schema: T): T => ({ ...schema, description });
