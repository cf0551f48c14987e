/**
 * OAuth profile rules (api.md §6). A profile is reachable only by its owner or its creator, as effective user;
 * anyone else — administrators without `?user=` included — gets the same 404 as for an id that does not exist.
 * Its app must be usable by the owner's tenant.
 */
import { fail } from '../errors.js';
import type { OAuthAppSummary, OAuthProfile, ProfileHeader, ProfileInput, ProfileStats, Store, Versions } from './ports/index.js';
import type { Identity } from './access.js';
import { usableBy } from './oauth-apps.js';
import { settle } from './refusals.js';
import { revocationPlan } from './revocation.js';

export const reachableBy = (who: Identity, profile: Pick<OAuthProfile, 'ownerId' | 'creatorId'>): boolean =>
  profile.ownerId === who.id || profile.creatorId === who.id;

/** The profile if `who` may reach it; otherwise the 404 of an id that does not exist. */
/** The access check of a profile already read (the owner and the creator are all it needs): 404 when not reachable. */
export function assertReachable<P extends Pick<OAuthProfile, 'ownerId' | 'creatorId'>>(who: Identity, id: number, profile: P | undefined): P {
  if (!profile || !reachableBy(who, profile)) throw fail('profileNotFound', id);
  return profile;
}

export async function profileFor(store: Store, actor: Identity, id: number): Promise<OAuthProfile> {
  let profile: OAuthProfile | undefined;
  try {
    profile = await store.profiles.get(id);
  } catch (err) {
    // Damaged tokens: only someone who may reach the profile learns that; anyone else gets the usual 404.
    await reachableProfile(store, actor, id);
    throw err;
  }
  return assertReachable(actor, id, profile);
}

/**
 * The access check without opening the tokens: a profile whose stored tokens are damaged can still be replaced
 * (PUT), deleted and inspected (stats) by its owner.
 */
export async function reachableProfile(store: Store, actor: Identity, id: number): Promise<ProfileHeader> {
  return assertReachable(actor, id, await store.profiles.header(id));
}

function assertUsable(app: OAuthAppSummary | undefined, appId: number, ownerTenantId: number): void {
  if (!app || !usableBy(app, ownerTenantId)) throw fail('appReferenceInvalid', appId);
}

/** The app's token URI origin, which the stored tokens are pinned to (api.md §8.5), once the app is usable. */
async function checkApp(store: Store, appId: number, ownerTenantId: number): Promise<string> {
  const app = await store.apps.summary(appId);
  assertUsable(app, appId, ownerTenantId);
  return new URL(app!.tokenURI).origin;
}

/** The effective user's profiles as the JSON text of a `ProfileSummary[]`. */
export const listProfilesJson = (store: Store, actor: Identity): Promise<string> => store.profiles.listJson(actor.id);

/** The effective user owns the new profile; the authenticated caller is recorded as its creator. */
export async function createProfile(store: Store, actor: Identity, caller: Identity, input: ProfileInput): Promise<OAuthProfile> {
  const tokenOrigin = await checkApp(store, input.oauthAppId, actor.tenantId);
  return settle(store.profiles.create({ ...input, ownerId: actor.id, creatorId: caller.id, tokenOrigin }), { name: `OAuth profile ${input.name}` });
}

export async function updateProfile(store: Store, actor: Identity, id: number, input: ProfileInput, ifVersion?: Versions): Promise<OAuthProfile> {
  // Neither read depends on the other: on PostgreSQL they share one wait. The access check still answers first.
  const [header, app] = await Promise.all([store.profiles.header(id), store.apps.summary(input.oauthAppId)]);
  const current = assertReachable(actor, id, header);
  assertUsable(app, input.oauthAppId, current.ownerTenantId);
  // The header read for the check is the one the store builds on: it decides a move or a rename from it and writes
  // only while the row is still at its version, so the row is not read a second time on the usual path.
  const tokenOrigin = new URL(app!.tokenURI).origin;
  return settle(store.profiles.update(current, { ...input, tokenOrigin }, ifVersion), { stale: `OAuth profile ${id}`, name: `OAuth profile ${input.name}` });
}

export async function deleteProfile(store: Store, actor: Identity, id: number, ifVersion?: Versions): Promise<void> {
  const profile = await reachableProfile(store, actor, id);
  const revoke = await revocationPlan(store, profile.oauthAppId);
  await settle(store.profiles.delete(id, ifVersion, revoke), { stale: `OAuth profile ${id}` });
}

export async function profileStats(store: Store, actor: Identity, id: number): Promise<ProfileStats> {
  await reachableProfile(store, actor, id);
  const stats = await store.profiles.stats(id);
  if (!stats) throw fail('profileNotFound', id); // deleted since the access check
  return stats;
}
