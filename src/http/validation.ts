/**
 * Strict JSON (api.md §1): request bodies are validated without any coercion — `"17"`, `17.5`, `null` or `true`
 * for an integer field is a 400 — while path and query parameters, which are text by nature, are coerced.
 */
import Ajv, { type ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import { fail } from '../errors.js';

const strict = new Ajv.default({ coerceTypes: false, useDefaults: false, removeAdditional: false, allErrors: false, strict: false });
const lenient = new Ajv.default({ coerceTypes: true, useDefaults: true, removeAdditional: false, allErrors: false, strict: false });
addFormats.default(strict);
addFormats.default(lenient);

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? strict : lenient).compile(schema as object);

/** "name: must match pattern …", "refreshToken: is required": always names the field. */
export function describeValidationError(errors: ErrorObject[], part: string | undefined): string {
  const e = errors[0];
  if (!e) return 'invalid request';
  const path = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
  if (e.keyword === 'required') {
    const missing = String((e.params as { missingProperty: string }).missingProperty);
    return `${path ? `${path}.` : ''}${missing}: is required`;
  }
  const field = path || (part === 'body' ? 'body' : part ?? 'request');
  const what = e.propertyName === undefined ? '' : 'a property name ';
  return `${field}: ${what}${e.message ?? 'is invalid'}`;
}

/** A body may repeat the path id (HDP clients send whole objects back) but never contradict it (api.md §1). */
export function checkBodyId(params: unknown, body: unknown): void {
  const pathId = (params as { id?: unknown } | undefined)?.id;
  if (typeof pathId !== 'number' || body === null || typeof body !== 'object' || !('id' in body)) return;
  if ((body as { id: unknown }).id !== pathId) throw fail('invalidJson', `id: must equal the id in the path (${pathId})`);
}
