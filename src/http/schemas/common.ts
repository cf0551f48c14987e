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

export const ErrorBody = Type.Object(
  {
    error: Type.Object(
      {
        code: Type.Integer(),
        message: Type.Object({ lang: Type.Literal('en-US'), value: Type.String() }, { additionalProperties: false }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export const strictObject = <T extends Parameters<typeof Type.Object>[0]>(props: T, description?: string) =>
  Type.Object(props, { additionalProperties: false, description });

/**
 * The error responses a route can give, for the OpenAPI document. Every authenticated route can answer 401 and,
 * under a flood of failed logins, 429 (api.md §2).
 */
export const errors = (...statuses: number[]) =>
  Object.fromEntries([401, 429, 500, 503, ...statuses].map((s) => [s, ErrorBody]));
