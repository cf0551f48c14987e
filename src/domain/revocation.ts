/**
 * Whether a delete revokes (api.md §9): when the deleted profiles' app has a revocation URI, their tokens are queued
 * for revocation at the AS in the delete's own transaction, tried at once and then with backoff for 24 hours.
 */
import type { NewRevocation, RevocationPlan, Store } from './ports/index.js';

/** How long the outbox keeps trying a revocation after the delete. */
export const REVOCATION_WINDOW_MS = 24 * 60 * 60_000;

/** Tried at once, given up 24 hours later. The store queues only profiles whose app has a revocation URI. */
export const revocationWindow = (now: number = Date.now()): RevocationPlan => ({ firstAttemptAt: now, giveUpAt: now + REVOCATION_WINDOW_MS });

/**
 * The plan for deleting profiles of `appId`, or undefined when its app has no revocation URI: the delete then stays
 * the one statement it is without an outbox.
 */
export async function revocationPlan(store: Store, appId: number): Promise<RevocationPlan | undefined> {
  const engine = await store.appEngines.get(appId);
  return engine?.settings?.revocationURI ? revocationWindow() : undefined;
}

/**
 * Tokens no profile will hold (a refresh result a PUT made moot, a consent that could not be stored): queued for
 * revocation when their app has a revocation URI, so the grant is not left alive at the AS.
 */
export async function revokeUnused(store: Store, revocationURI: string | null, item: Omit<NewRevocation, 'revocationURI'>): Promise<void> {
  if (revocationURI !== null) await store.revocations.add({ ...item, revocationURI }, revocationWindow());
}
