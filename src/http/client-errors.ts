/**
 * Requests Node's HTTP parser refuses before Fastify sees them — headers over the size limit (431), an unknown
 * method, both Content-Length and Transfer-Encoding (400), a request that does not arrive in time (408) — still get
 * HDP's envelope, no-store and the security headers. There is no reply object here: the whole HTTP/1.1 answer is
 * written on the socket, which is then closed (the parser cannot find where the next request would start).
 */
import { maxHeaderSize, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { fail, type ApiError } from '../errors.js';
import { securityHeaders } from './security-headers.js';

/** What Node's parser reports: llhttp's code, and its reason (a fixed text of the parser, never request data). */
export interface ParseError {
  code?: string;
  reason?: unknown;
}

/** llhttp's codes, named in words; anything else is named by its code. */
const PROBLEMS: Record<string, string> = {
  HPE_INVALID_METHOD: 'unknown method',
  HPE_UNEXPECTED_CONTENT_LENGTH: 'duplicate Content-Length',
  HPE_INVALID_TRANSFER_ENCODING: 'invalid Transfer-Encoding',
  HPE_INVALID_CONTENT_LENGTH: 'invalid Content-Length',
  HPE_INVALID_HEADER_TOKEN: 'invalid header',
  HPE_INVALID_VERSION: 'invalid HTTP version',
  HPE_INVALID_URL: 'invalid request target',
};

function toApiError(err: ParseError): ApiError {
  if (err.code === 'HPE_HEADER_OVERFLOW') return fail('headersTooLarge', maxHeaderSize);
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return fail('requestTimeout');
  // Request smuggling's classic: llhttp reports it as an invalid Content-Length or Transfer-Encoding, by header order.
  const reason = typeof err.reason === 'string' ? err.reason : '';
  if (/Content-Length/.test(reason) && /Transfer-Encoding/.test(reason)) return fail('badRequest', 'both Content-Length and Transfer-Encoding');
  return fail('badRequest', PROBLEMS[err.code ?? ''] ?? `malformed request (${err.code ?? 'unknown'})`);
}

/** The complete answer, as bytes on the wire. */
export function clientErrorResponse(err: ParseError, tls: boolean): string {
  const error = toApiError(err);
  const body = JSON.stringify(error.toBody());
  const headers: Record<string, string | number> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    connection: 'close',
    ...securityHeaders(tls),
  };
  const head = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  return `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\n${head}\r\n${body}`;
}

/** Fastify's `clientErrorHandler`: answer once if the socket can still take it, then close it. */
export function clientErrorHandler(tls: boolean): (err: Error & ParseError, socket: Socket) => void {
  return (err, socket) => {
    // A reset connection has nobody to answer.
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    socket.end(clientErrorResponse(err, tls), () => socket.destroy());
  };
}
