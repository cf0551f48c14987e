/**
 * What one outbound call comes to, as data: an answer of the server, or one of four failures the engine tells apart
 * (§8.4: a refusal is the app's configuration, not a transient fault; network errors and timeouts are retried; an
 * oversize answer is transient and logged without its body).
 *
 * Outcomes are returned, not thrown, for two reasons: TypeScript types a thrown value as `unknown`, so only a
 * returned union makes the engine's `switch (outcome.kind)` exhaustive at compile time; and a failure holds codes
 * and names only — never an Error whose message or `cause` some library filled with a URL, header or body that a
 * logger would print.
 */
import { RefusedConnectionError } from './guarded-connector.js';
import type { UriRefusal } from './uri-policy.js';

/** The server answered (any status: a 3xx is returned as it is, its Location never fetched). */
export interface OutboundResponse {
  kind: 'response';
  status: number;
  /** lower-case names, as undici reads them; a repeated header is an array */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** at most the client's body limit (64 KiB) */
  body: Buffer;
  /** when the request was handed to the connection pool, before connecting: §8.4 counts `expires_in` from here */
  sentAt: Date;
}

/** §8.5 refused the call: the URI (scheme, literal address, credentials in it) or the address connected to. */
export interface OutboundRefused {
  kind: 'refused';
  reason: UriRefusal['refused'];
  /** names the scheme, host or address and its class; never a path, header or body */
  detail: string;
}

/** The connection failed or broke: an errno (`ECONNREFUSED`, `ENOTFOUND`), a TLS code, or undici's (`UND_ERR_SOCKET`). */
export interface OutboundNetworkFailure {
  kind: 'network';
  code: string;
}

export interface OutboundTimeout {
  kind: 'timeout';
  phase: 'connect' | 'headers' | 'body';
}

/** The answer's body is longer than the limit; it was abandoned and the connection closed. */
export interface OutboundTooLarge {
  kind: 'tooLarge';
  limit: number;
}

export type OutboundFailure = OutboundRefused | OutboundNetworkFailure | OutboundTimeout | OutboundTooLarge;
export type OutboundOutcome = OutboundResponse | OutboundFailure;

const TIMEOUT_PHASES: Record<string, OutboundTimeout['phase']> = {
  UND_ERR_CONNECT_TIMEOUT: 'connect',
  UND_ERR_HEADERS_TIMEOUT: 'headers',
  UND_ERR_BODY_TIMEOUT: 'body',
};

/** The failure an error thrown by undici or the connector stands for; only its code is kept. */
export function failureOf(err: unknown): OutboundFailure {
  if (err instanceof RefusedConnectionError) return { kind: 'refused', reason: err.refusal.refused, detail: err.refusal.detail };
  const code = typeof (err as { code?: unknown } | null)?.code === 'string' ? (err as { code: string }).code : 'UNKNOWN';
  const phase = TIMEOUT_PHASES[code];
  if (phase) return { kind: 'timeout', phase };
  return { kind: 'network', code };
}
