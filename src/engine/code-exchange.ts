/**
 * The authorization-code grant of consent (RFC 6749 §4.1.3, with the PKCE verifier of RFC 7636 §4.5): the code the
 * AS sent the browser back with, exchanged at the app's token endpoint with the app's client authentication
 * (./client-auth.ts), sent, read and classified as a refresh is (./token-call.ts). Only one call: a code is good for
 * one exchange, so nothing is retried.
 */
import type { AsError, ClientAuth } from '../domain/ports/index.js';
import type { OutboundClient } from '../outbound/client.js';
import { clientRequest } from './client-auth.js';
import { callTokenEndpoint } from './token-call.js';

export interface CodeExchangeRequest {
  tokenURI: string;
  clientId: string;
  clientSecret: string;
  clientAuth: ClientAuth;
  code: string;
  /** the redirect URI the authorization request named: the token endpoint compares them (RFC 6749 §4.1.3) */
  redirectUri: string;
  codeVerifier: string;
  defaultExpiresIn: number;
}

export type CodeExchangeOutcome =
  /** `refreshToken` undefined: the AS issued none */
  | { kind: 'tokens'; accessToken: string; refreshToken: string | undefined; expiresAt: number }
  /** the AS refused, failed or could not be reached: its error (scrubbed of the code, the verifier and the secret) */
  | { kind: 'failed'; lastError: AsError };

export type CodeExchange = (request: CodeExchangeRequest) => Promise<CodeExchangeOutcome>;

export function codeExchange(client: OutboundClient, now: () => number = Date.now): CodeExchange {
  return async (r) => {
    const form = { grant_type: 'authorization_code', code: r.code, redirect_uri: r.redirectUri, code_verifier: r.codeVerifier };
    const secrets = [r.code, r.codeVerifier, r.clientSecret];
    const { verdict } = await callTokenEndpoint(client, r.tokenURI, clientRequest(form, r), { defaultExpiresIn: r.defaultExpiresIn, secrets, now });
    if (verdict.action !== 'success') return { kind: 'failed', lastError: verdict.lastError };
    const t = verdict.tokens;
    return { kind: 'tokens', accessToken: t.accessToken, refreshToken: t.refreshToken, expiresAt: t.expiresAt };
  };
}
