/**
 * One refresh-token grant at an app's token endpoint (RFC 6749 §6): the request with the app's client
 * authentication (./client-auth.ts), sent, read and classified by ./token-call.ts into what the engine does next.
 */
import type { OutboundClient } from '../outbound/client.js';
import { clientRequest } from './client-auth.js';
import type { Exchange, ExchangeOutcome, ExchangeRequest } from './refresh.js';
import { callTokenEndpoint } from './token-call.js';

const requestOf = (r: ExchangeRequest) => clientRequest({ grant_type: 'refresh_token', refresh_token: r.refreshToken }, r);

export function tokenExchange(client: OutboundClient, now: () => number = Date.now): Exchange {
  return async (r: ExchangeRequest): Promise<ExchangeOutcome> => {
    const secrets = [r.refreshToken, r.clientSecret];
    const { verdict, sent } = await callTokenEndpoint(client, r.tokenURI, requestOf(r), { defaultExpiresIn: r.defaultExpiresIn, secrets, now });
    if (verdict.action === 'success') {
      const t = verdict.tokens;
      return { kind: 'success', accessToken: t.accessToken, refreshToken: t.refreshToken, expiresAt: t.expiresAt };
    }
    const retryAfterMs = 'retryAfterMs' in verdict ? verdict.retryAfterMs : undefined;
    return { kind: verdict.action, lastError: verdict.lastError, ...(retryAfterMs === undefined ? {} : { retryAfterMs }), sent };
  };
}
