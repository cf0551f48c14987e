/**
 * Errors next to the field they name. The API names the field at the start of a 400's message
 * (`Invalid JSON Input: tokenURI: must be an https: URL`); a duplicate name is a 409 about `name`. The console shows
 * the field's label in place of its JSON name: "Token URI: must be an https: URL".
 */
import type { ApiError } from './api/client';

/** Field name (as the API spells it) → its error text, already starting with the field's label. */
export type FieldErrors = Record<string, string>;

const INVALID_JSON = 222207007;
const DUPLICATE_NAME = 223006409;
const APP_REFERENCE = 222207711;

/**
 * The field an API error is about and what is wrong with it, or null when it names none of `labels`'s fields.
 * A nested path (`authorizeParams.prompt`) belongs to its top-level field.
 */
export function fieldError(error: ApiError, labels: Record<string, string>): FieldErrors | null {
  let field: string | undefined;
  let problem = error.message;
  if (error.code === INVALID_JSON) {
    const match = /^Invalid JSON Input: ([A-Za-z][A-Za-z0-9_.]*): (.*)$/s.exec(error.message);
    if (match) {
      field = match[1];
      problem = match[2];
    }
  } else if (error.code === DUPLICATE_NAME) {
    field = 'name';
  } else if (error.code === APP_REFERENCE && error.status === 400) {
    field = 'oauthAppId';
  }
  if (field === undefined) return null;
  const top = field.split('.')[0];
  const label = labels[top];
  if (label === undefined) return null;
  const detail = field === top ? problem : `${field.slice(top.length + 1)}: ${problem}`;
  return { [top]: `${label}: ${detail}` };
}

/** A field left empty that the API requires, said the way the API would. */
export const required = (label: string): string => `${label}: is required`;
