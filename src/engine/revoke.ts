/**
 * Token revocation (RFC 7009) at an app's revocation endpoint, through the outbound client (src/outbound, §8.5):
 * one POST of `token` and `token_type_hint` with the app's client authentication. RFC 7009 §2.2: the server answers
 * 200 whether or not the token was valid, so 200 is success and anything else a failure to try again later.
 */
import type { OutboundClient } from '../outbound/client.js';
import { clientRequest, type ClientCredentials } from './client-auth.js';

export interface RevokeRequest extends ClientCredentials {
  revocationURI: string;
  token: string;
  hint: 'refresh_token' | 'access_token';
}

/** What came of it, without a token: `revoked`, or why not (an HTTP status, a network or refusal code). */
export type Revoke = (request: RevokeRequest) => Promise<{ revoked: true } | { revoked: false; reason: string }>;

export function tokenRevocation(client: OutboundClient): Revoke {
  return async (r) => {
    const out = await client.post(r.revocationURI, clientRequest({ token: r.token, token_type_hint: r.hint }, r));
    if (out.kind === 'response') return out.status === 200 ? { revoked: true } : { revoked: false, reason: `HTTP ${out.status}` };
    return { revoked: false, reason: out.kind === 'network' ? out.code : out.kind };
  };
}
