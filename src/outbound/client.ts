/**
 * The one HTTP client that leaves the machine (token, revocation and consent-exchange calls; api.md §8.5), on
 * undici's `request` with an Agent whose every connection goes through the guarded connector. What it adds to undici:
 * the URI check before anything is dispatched, the connected-address check (in the connector), no redirects
 * (undici 7's `request` follows none: a 3xx is answered as it is), the timeouts, a body limit, and failures as
 * typed outcomes. It logs nothing; no outcome holds a URL path, a header or a body.
 */
import type { LookupFunction } from 'node:net';
import { Agent, errors, request } from 'undici';
import { guardedConnector } from './guarded-connector.js';
import { failureOf, type OutboundOutcome } from './outcome.js';
import { uriRefusal } from './uri-policy.js';

export interface OutboundLimits {
  /** TCP connect and TLS handshake together */
  connectTimeoutMs: number;
  /** from dispatching the request to the answer's complete headers */
  headersTimeoutMs: number;
  /** from the headers to the body's last byte (a whole-body deadline, not only an idle timer) */
  bodyTimeoutMs: number;
  maxBodyBytes: number;
}

/** §8.5's limits. */
export const OUTBOUND_LIMITS: Readonly<OutboundLimits> = {
  connectTimeoutMs: 5_000,
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 10_000,
  maxBodyBytes: 64 * 1024,
};

export interface OutboundClientOptions extends Partial<OutboundLimits> {
  /** TOKENKEEP_ALLOW_LOOPBACK_HTTP_URIS=1: `http:` to loopback hosts, and loopback addresses over `https:` */
  allowLoopback: boolean;
  /** TOKENKEEP_OUTBOUND_CA_FILE's content: CA certificates (PEM) trusted in addition to Node's bundled roots */
  extraCa?: string | Buffer;
  /** a resolver in place of the OS's; the connected address is judged whatever it answered */
  lookup?: LookupFunction;
}

export interface OutboundRequest {
  headers: Record<string, string>;
  body: string | Buffer;
}

export interface OutboundClient {
  /** POSTs `body` to `url`; never rejects for the server's or the network's doing, only for a programming error. */
  post(url: string | URL, request: OutboundRequest): Promise<OutboundOutcome>;
  /** Closes the pooled connections once the calls in flight have ended. */
  close(): Promise<void>;
}

export function createOutboundClient(options: OutboundClientOptions): OutboundClient {
  const limits = { ...OUTBOUND_LIMITS, ...definedOnly(options) };
  const rule = { allowLoopback: options.allowLoopback };
  const agent = new Agent({
    connect: guardedConnector({
      allowLoopback: options.allowLoopback,
      connectTimeoutMs: limits.connectTimeoutMs,
      ...(options.extraCa !== undefined ? { extraCa: options.extraCa } : {}),
      ...(options.lookup ? { lookup: options.lookup } : {}),
    }),
    headersTimeout: limits.headersTimeoutMs,
    // undici's body timer restarts on every chunk; the whole-body deadline is kept in post() below.
    bodyTimeout: limits.bodyTimeoutMs,
  });

  async function post(url: string | URL, { headers, body }: OutboundRequest): Promise<OutboundOutcome> {
    const refusal = uriRefusal(url, rule);
    if (refusal) return { kind: 'refused', reason: refusal.refused, detail: refusal.detail };

    const sentAt = new Date();
    let response: Awaited<ReturnType<typeof request>>;
    try {
      response = await request(url, { dispatcher: agent, method: 'POST', headers, body });
    } catch (err) {
      if ((err as { code?: unknown }).code === 'UND_ERR_INVALID_ARG') {
        // A header undici will not send (a line break in a value) is the caller's bug, not the network's: loud. The
        // message names no value; neither do undici 7's (they name the header or field), which the tests check.
        throw new TypeError('outbound request not sent: undici refused its method, headers or body as invalid (UND_ERR_INVALID_ARG)', { cause: err });
      }
      return failureOf(err);
    }

    const { statusCode, headers: responseHeaders, body: stream } = response;
    const announced = Number(responseHeaders['content-length']);
    if (Number.isFinite(announced) && announced > limits.maxBodyBytes) {
      stream.destroy();
      return { kind: 'tooLarge', limit: limits.maxBodyBytes };
    }

    const deadline = setTimeout(() => stream.destroy(new errors.BodyTimeoutError()), limits.bodyTimeoutMs);
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of stream) {
        size += (chunk as Buffer).length;
        if (size > limits.maxBodyBytes) {
          stream.destroy();
          return { kind: 'tooLarge', limit: limits.maxBodyBytes };
        }
        chunks.push(chunk as Buffer);
      }
    } catch (err) {
      return failureOf(err);
    } finally {
      clearTimeout(deadline);
    }
    return { kind: 'response', status: statusCode, headers: responseHeaders, body: Buffer.concat(chunks, size), sentAt };
  }

  return { post, close: () => agent.close() };
}

/** The options given, without keys set to undefined (which would otherwise override the defaults when spread). */
function definedOnly(options: OutboundClientOptions): Partial<OutboundLimits> {
  const out: Partial<OutboundLimits> = {};
  for (const key of Object.keys(OUTBOUND_LIMITS) as (keyof OutboundLimits)[]) {
    const value = options[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}
