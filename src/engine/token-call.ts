/**
 * One form POST of tokenkeep as an OAuth client to an app's token endpoint, and what the engine makes of the answer:
 * sent by the outbound client (src/outbound, §8.5), read tolerantly (./token-response.ts) and classified
 * (./classify.ts). Shared by the refresh-token grant (./exchange.ts) and the authorization-code grant of consent
 * (./code-exchange.ts), so both read an AS alike.
 */
import type { OutboundClient, OutboundRequest } from '../outbound/client.js';
import { classify, type CallOutcome, type Verdict } from './classify.js';
import { readTokenResponse } from './token-response.js';

export interface TokenCallContext {
  /** the app's `defaultExpiresIn` (§8.6), for an answer without `expires_in` */
  defaultExpiresIn: number;
  /** every secret the request carries (a refresh token or a code and its verifier, the client secret): none reaches a description */
  secrets: readonly string[];
  now: () => number;
}

/** Network failures that mean the request never reached the server: what it carried was certainly not used. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** The verdict on one call, and whether the request may have reached the AS (false: certainly not). */
export async function callTokenEndpoint(
  client: OutboundClient,
  tokenURI: string,
  request: OutboundRequest,
  ctx: TokenCallContext,
): Promise<{ verdict: Verdict; sent: boolean }> {
  const sentAt = ctx.now();
  const out = await client.post(tokenURI, request);
  let outcome: CallOutcome;
  let sent = true;
  if (out.kind === 'response') {
    outcome = readTokenResponse({
      status: out.status,
      headers: out.headers,
      body: out.body,
      sentAt: out.sentAt.getTime(),
      defaultExpiresIn: ctx.defaultExpiresIn,
      receivedAt: ctx.now(),
      secrets: ctx.secrets,
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
  return { verdict: classify(outcome, { at: sentAt, secrets: ctx.secrets }), sent };
}
