/**
 * The revocation outbox (api.md §9): when a profile is deleted (also by its app's or its owner's deletion) and its app
 * has a revocation URI, its tokens are revoked at the AS (RFC 7009) afterwards, from a row written — sealed — in the
 * delete's own transaction, so that neither a failing AS nor a restart loses it.
 */
import type { ClientAuth } from './tokens.js';

/** What a delete is asked to queue: when the first attempt is due and when to give up (the domain's timing). */
export interface RevocationPlan {
  /** epoch ms */
  firstAttemptAt: number;
  giveUpAt: number;
}

/** Tokens to revoke that are in no profile (a refresh result a PUT made moot, a consent that could not be stored). */
export interface NewRevocation {
  /** the profile they were for; null when none was made */
  profileId: number | null;
  appId: number;
  revocationURI: string;
  clientId: string;
  clientSecret: string;
  clientAuth: ClientAuth;
  refreshToken: string;
  accessToken: string | null;
}

/** One queued revocation, opened for the call: everything it needs, since its app may be gone. */
export interface PendingRevocation extends NewRevocation {
  id: number;
  /** attempts made so far */
  attempts: number;
  giveUpAt: number;
}

export interface Revocations {
  /**
   * Takes the lease of up to `limit` queued revocations whose next attempt is due (the database's clock) and whose
   * lease is free or ran out, for `owner` until now + `leaseMs`, and returns them opened. A row whose sealed values
   * cannot be opened is returned as `damaged` (ids only), to be dropped.
   */
  claim(limit: number, owner: string, leaseMs: number): Promise<{ pending: PendingRevocation[]; damaged: number[] }>;
  /** Queues the revocation of tokens held by no profile, sealed. */
  add(item: NewRevocation, plan: RevocationPlan): Promise<void>;
  /** Removes a revocation (done, given up or damaged). */
  remove(id: number): Promise<void>;
  /** Records a failed attempt: the count, the error (never a token) and the next attempt; the lease is released. */
  retry(id: number, owner: string, attempts: number, nextAttemptAt: number, lastError: string): Promise<void>;
  /** How many are queued (the metrics, an operator's check). */
  count(): Promise<number>;
}
