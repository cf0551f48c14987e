/**
 * Strict input (api.md §1): request bodies are validated without any coercion — `"17"`, `17.5`, `null` or `true`
 * for an integer field is a 400. Path and query parameters are text by nature: an integer parameter is accepted only
 * as canonical decimal digits (`2`, never `02`, `+2`, `2.0`, `2e0`, `0x2` or ` 2`, which Ajv's coercion would all
 * turn into 2), so one object has one address and caches, logs and audits see one spelling of it.
 */
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import { fail } from '../errors.js';

const strict = new Ajv.default({ coerceTypes: false, useDefaults: false, removeAdditional: false, allErrors: false, strict: false });
const parameters = new Ajv.default({ coerceTypes: false, useDefaults: true, removeAdditional: false, allErrors: false, strict: false });
addFormats.default(strict);
addFormats.default(parameters);

/** Digits only, no sign, no leading zero: the one spelling of a non-negative integer. The schema bounds the range. */
const CANONICAL_INTEGER = /^(?:0|[1-9][0-9]*)$/;
const NOT_CANONICAL = 'must be an integer in decimal digits (no sign, leading zero, point, exponent or space)';

interface SchemaNode {
  type?: unknown;
  properties?: Record<string, SchemaNode>;
  allOf?: SchemaNode[];
}

/** The names of a parameter object's integer properties (also inside `allOf`, which Type.Intersect produces). */
function integerProperties(schema: SchemaNode): string[] {
  const own = Object.entries(schema.properties ?? {})
    .filter(([, s]) => s.type === 'integer')
    .map(([name]) => name);
  return [...own, ...(schema.allOf ?? []).flatMap(integerProperties)];
}

/**
 * Validates path or query parameters: a canonical integer's text becomes its number, anything else stays text and
 * fails the schema's `type: integer` with a message that says which spelling is expected.
 */
function parameterValidator(schema: SchemaNode): ValidateFunction {
  const validate = parameters.compile(schema as object);
  const integers = integerProperties(schema);
  if (integers.length === 0) return validate;
  const check = ((data: Record<string, unknown> | null | undefined) => {
    if (data) {
      for (const name of integers) {
        const text = data[name];
        if (typeof text === 'string' && CANONICAL_INTEGER.test(text)) data[name] = Number(text);
      }
    }
    const ok = validate(data);
    check.errors = validate.errors?.map((e) => (e.keyword === 'type' && integers.includes(e.instancePath.slice(1)) ? { ...e, message: NOT_CANONICAL } : e));
    return ok;
  }) as ValidateFunction;
  return check;
}

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) =>
  httpPart === 'body' ? strict.compile(schema as object) : parameterValidator(schema as SchemaNode);

/** "name: must match pattern …", "refreshToken: is required": always names the field. */
export function describeValidationError(errors: ErrorObject[], part: string | undefined): string {
  const e = errors[0];
  if (!e) return 'invalid request';
  const path = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
  if (e.keyword === 'required') {
    const missing = String((e.params as { missingProperty: string }).missingProperty);
    return `${path ? `${path}.` : ''}${missing}: is required`;
  }
  const field = path || (part === 'body' ? 'body' : (part ?? 'request'));
  const what = e.propertyName === undefined ? '' : 'a property name ';
  return `${field}: ${what}${e.message ?? 'is invalid'}`;
}

/** A body may repeat the path id (HDP clients send whole objects back) but never contradict it (api.md §1). */
export function checkBodyId(params: unknown, body: unknown): void {
  const pathId = (params as { id?: unknown } | undefined)?.id;
  if (typeof pathId !== 'number' || body === null || typeof body !== 'object' || !('id' in body)) return;
  if ((body as { id: unknown }).id !== pathId) throw fail('invalidJson', `id: must equal the id in the path (${pathId})`);
}
