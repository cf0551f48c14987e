/**
 * Consent in progress (api.md §9): what a started authorization request is bound to, kept in the database so that
 * its callback may arrive at any node. The state itself is never stored, only its SHA-256 digest; the PKCE verifier
 * is sealed like a token. Lifetimes and bindings are the domain's rules: the store keeps and hands back facts.
 */
import type { Refusal } from './refusal.js';

/** What the consent writes when it completes: a new profile of the effective user, or new tokens for one it reaches. */
export type ConsentTarget = { kind: 'create'; name: string; description: string | null } | { kind: 'reconsent'; profileId: number };

export interface NewConsentState {
  /** SHA-256 (hex) of the state sent to the AS; the state itself is stored nowhere */
  digest: string;
  /** the effective user: the owner of a new profile, the one who must reach a re-consented one */
  userId: number;
  /** the authenticated caller who started it (the creator of a new profile) */
  actorId: number;
  appId: number;
  target: ConsentTarget;
  /** a path on this server the browser is sent back to, or null (an HTML page answers) */
  returnTo: string | null;
  /** the PKCE code verifier (RFC 7636), sealed at rest */
  verifier: string;
  /** epoch ms, by the clock of the node that started it */
  expiresAt: number;
}

export interface ConsentState extends Omit<NewConsentState, 'digest'> {
  id: number;
}

export interface ConsentStates {
  /**
   * Stores a new state, and deletes every state that expired before `now` (so the table holds no more than the
   * states started within one lifetime). `concurrentDelete` when its user or app was deleted meanwhile.
   */
  add(state: NewConsentState, now: number): Promise<void | Refusal>;
  /**
   * Removes the state whose digest is `digest` and answers it, its verifier opened; undefined when there is none.
   * Exactly one of any number of concurrent takes of one digest, on any node, gets it.
   */
  take(digest: string): Promise<ConsentState | undefined>;
}
