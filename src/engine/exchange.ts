/**
 * One refresh-token grant at an app's token endpoint (RFC 6749 §6): the request with the app's client
 * authentication, sent by the outbound client (src/outbound, §8.5), the answer read tolerantly (./token-response.ts)
 * and classified (./classify.ts) into what the engine does next.
 */
import type { OutboundClient } from '../outbound/client.js';
import { classify, type CallOutcome } from './classify.js';
import { clientRequest } from './client-auth.js';
import type { Exchange, ExchangeOutcome, ExchangeRequest } from './refresh.js';
import { readTokenResponse } from './token-response.js';

const requestOf = (r: ExchangeRequest) => clientRequest({ grant_type: 'refresh_token', refresh_token: r.refreshToken }, r);

/** Network failures that mean the request never reached the server: the refresh token was certainly not used. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

export function tokenExchange(client: OutboundClient, now: () => number = Date.now): Exchange {
  return async (r: ExchangeRequest): Promise<ExchangeOutcome> => {
    const secrets = [r.refreshToken, r.clientSecret];
    const sentAt = now();
    const out = await client.post(r.tokenURI, requestOf(r));
    let outcome: CallOutcome;
    let sent = true;
    if (out.kind === 'response') {
      outcome = readTokenResponse({
        status: out.status,
        headers: out.headers,
        body: out.body,
        sentAt: out.sentAt.getTime(),
        defaultExpiresIn: r.defaultExpiresIn,
        receivedAt: now(),
        secrets,
      });
    } else if (out.kind === 'refused') {
      outcome = { kind: 'refused', detail: out.detail };
      sent = false;
    } else if (out.kind === 'network') {
      outcome = { kind: 'network', detail: out.code };
      sent = !NOT_SENT.has(out.code);
    } else {
      outcome = { kind: out.kind === 'timeout' ? 'timeout' : 'tooLarge', detail: out.kind === 'timeout' ? out.phase : undefined };
    }
    const verdict = classify(outcome, { at: sentAt, secrets });
    if (verdict.action === 'success') {
      const t = verdict.tokens;
      return { kind: 'success', accessToken: t.accessToken, refreshToken: t.refreshToken, expiresAt: t.expiresAt };
    }
    const retryAfterMs = 'retryAfterMs' in verdict ? verdict.retryAfterMs : undefined;
    return { kind: verdict.action, lastError: verdict.lastError, ...(retryAfterMs === undefined ? {} : { retryAfterMs }), sent };
  };
}
