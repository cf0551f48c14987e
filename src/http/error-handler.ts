/**
 * Turns every error into HDP's envelope with a code from the one catalogue. Nothing from a request body, a header
 * or a stack ever reaches a response; unexpected errors are logged (without request data) and answered with 500.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, fail } from '../errors.js';
import { describeValidationError } from './validation.js';
import { StoreUnavailable } from '../storage/errors.js';
import { SealedValueUnreadable } from '../sealing/key-ring.js';
import { SESSION_CHALLENGE } from './session-cookie.js';

const BODY_LIMIT = 64 * 1024;

/** What a row of a sealed table is called in `secretUnreadable`'s message. */
const SEALED_OBJECT: Record<string, string> = {
  oauth_apps: 'OAuth application',
  oauth_profiles: 'OAuth profile',
  datasources: 'data source',
  consent_states: 'consent state',
};

function toApiError(err: FastifyError, request: FastifyRequest): ApiError | undefined {
  if (err instanceof ApiError) return err;
  if (err instanceof StoreUnavailable) {
    request.log.warn({ reason: err.message }, 'database unavailable');
    return fail('unavailable', '', { 'retry-after': '1' });
  }
  // A stored secret that fails its integrity check (the barrier names its place, never its value).
  if (err instanceof SealedValueUnreadable) return fail('secretUnreadable', `${SEALED_OBJECT[err.table]} ${err.id}`);
  if (err.validation) {
    if (err.validationContext === 'params') {
      const kind = request.routeOptions.config.notFound;
      const id = String(Object.values(request.params as Record<string, string>)[0] ?? '').slice(0, 100);
      if (kind) return fail(kind, id);
    }
    return fail('invalidJson', describeValidationError(err.validation as never, err.validationContext));
  }
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return fail('unsupportedMediaType');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return fail('payloadTooLarge', request.routeOptions.bodyLimit ?? BODY_LIMIT);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return fail('invalidJson', 'the body is empty');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return fail('invalidJson', 'the body is not valid JSON');
  }
  // Fastify's JSON parser reports syntax errors and prototype poisoning with a 400 status.
  if (err.statusCode === 400 || err instanceof SyntaxError) return fail('invalidJson', 'the body is not valid JSON');
  if (err.statusCode === 413) return fail('payloadTooLarge', request.routeOptions.bodyLimit ?? BODY_LIMIT);
  if (err.statusCode === 415) return fail('unsupportedMediaType');
  return undefined;
}

/** Any error as the catalogue's: unexpected ones are logged (without request data) and become 500 `internal`. */
export function apiErrorOf(err: FastifyError, request: FastifyRequest): ApiError {
  const apiError = toApiError(err, request);
  if (!apiError) {
    request.log.error({ err: { type: err.name, message: err.message, stack: err.stack } }, 'unexpected error');
    return fail('internal');
  }
  if (apiError.status >= 500) request.log.error({ code: apiError.code }, apiError.message);
  return apiError;
}

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const apiError = apiErrorOf(err, request);
    if (apiError.status === 401) reply.header('www-authenticate', request.consoleRequest ? SESSION_CHALLENGE : 'Basic realm="tokenkeep", charset="UTF-8"');
    reply.headers(apiError.headers).code(apiError.status).send(apiError.toBody());
  });
}

export { BODY_LIMIT };
