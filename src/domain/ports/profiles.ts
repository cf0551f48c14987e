import type { RevocationPlan } from './revocations.js';
import type { Refusal, Versions } from './refusal.js';

export interface OAuthProfile {
  id: number;
  /** row version, incremented by every update: the ETag */
  version: number;
  name: string;
  oauthAppId: number;
  description: string | null;
  accessToken: string | null;
  refreshToken: string;
  ownerId: number;
  /** null once the creating user is deleted */
  creatorId: number | null;
  ownerTenantId: number;
}

/** A profile without its tokens: what access checks, deletion and stats need, readable even if a token is damaged. */
export type ProfileHeader = Omit<OAuthProfile, 'accessToken' | 'refreshToken'>;

export interface ProfileInput {
  name: string;
  oauthAppId: number;
  description: string | null;
  accessToken: string | null;
  refreshToken: string;
}

/**
 * A list entry: no tokens; the app's URIs and scope joined in (api.md §6). Lists are answered as JSON text of these
 * objects, with exactly these keys (see `Profiles.listJson`).
 */
export interface ProfileSummary {
  id: number;
  name: string;
  description: string | null;
  oauthAppId: number;
  authorizeURI: string;
  tokenURI: string;
  scope: string | null;
}

export interface ProfileStats {
  dataStoreId: number;
  dataSources: { id: number; name: string; description: string | null }[];
}

export interface Profiles {
  /**
   * Profiles the user owns or created, in id order, as the JSON text of a `ProfileSummary[]` with exactly its keys.
   * The database writes the text: for 100 profiles that costs less than handing Node the rows and serializing them
   * there (BENCHMARKS.md, Round 5).
   */
  listJson(userId: number): Promise<string>;
  get(id: number): Promise<OAuthProfile | undefined>;
  header(id: number): Promise<ProfileHeader | undefined>;
  /** `tokenOrigin`: the origin of the app's token URI, which the tokens are pinned to (api.md §8.5). Generation 1, active. */
  create(input: ProfileInput & { ownerId: number; creatorId: number; tokenOrigin: string }): Promise<OAuthProfile | Refusal>;
  /**
   * Replaces the profile `current` (its header as the caller read it) with `input`, in one pass: what changes (a move
   * to another app, a new name) is decided from `current`, the tokens are sealed once, and one conditional write
   * applies only while the row is still at `current.version`. Only when it misses does the store find out why: no
   * row (`missing`), If-Match no longer met (`stale`), or a concurrent change, after which it starts again from the
   * row as it is now. Refuses (`profileMove`) a move to an app of another data store while data sources reference
   * the profile, and (`name`) a name another profile of the owner has.
   *
   * The token engine (api.md §8.3): when the tokens differ from the stored ones, the generation goes up by one, the
   * state becomes active with an unknown expiry and no failure, a refresh lease or call in flight is dropped (the
   * PUT wins), and the tokens are pinned to `tokenOrigin`. A refresh token the engine rotated away is refused
   * (`retiredRefreshToken`).
   */
  update(current: ProfileHeader, input: ProfileInput & { tokenOrigin: string }, ifVersion?: Versions): Promise<OAuthProfile | Refusal>;
  /** Deletes the profile; data sources that referenced it lose the reference. */
  /** With `revoke`, the profile's tokens are queued for revocation in the same transaction (when its app has a URI). */
  delete(id: number, ifVersion?: Versions, revoke?: RevocationPlan): Promise<void | Refusal>;
  /** undefined when there is no such profile */
  stats(id: number): Promise<ProfileStats | undefined>;
}
