/**
 * A form POST of tokenkeep as an OAuth client (RFC 6749 §2.3.1): the app's client authentication added to a form —
 * HTTP Basic with the form-encoded id and secret, or both in the body (`client_secret_post`). Used by the refresh
 * (./exchange.ts) and the revocation (./revoke.ts).
 */
import type { ClientAuth } from '../domain/ports/index.js';

export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
  clientAuth: ClientAuth;
}

/** RFC 6749 §2.3.1: the client id and secret are form-encoded before they are joined for Basic. */
const formEncode = (value: string): string => encodeURIComponent(value).replace(/%20/g, '+');

export function clientRequest(fields: Record<string, string>, c: ClientCredentials): { headers: Record<string, string>; body: string } {
  const form = new URLSearchParams(fields);
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (c.clientAuth === 'client_secret_basic') {
    headers.authorization = `Basic ${Buffer.from(`${formEncode(c.clientId)}:${formEncode(c.clientSecret)}`).toString('base64')}`;
  } else {
    form.set('client_id', c.clientId);
    form.set('client_secret', c.clientSecret);
  }
  return { headers, body: form.toString() };
}
