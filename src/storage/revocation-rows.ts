/**
 * What both backends share of the revocation outbox (api.md §9): the profiles a delete queues (those whose app has a
 * revocation URI) as each backend names its JSON, the row a queued revocation becomes, and how a claimed row reads.
 */
import type { ClientAuth, PendingRevocation, RevocationPlan } from '../domain/ports/index.js';

type Row = Record<string, unknown>;

/** The columns of a profile to queue, and its app's client and revocation settings (`uri`, `auth`: JSON reads). */
export const queueSource = (scope: string, uri: string, auth: string): string =>
  `SELECT p.id AS profile_id, p.app_id, p.access_token, p.refresh_token, a.client_id, a.client_secret,
    ${uri} AS uri, coalesce(${auth}, 'client_secret_basic') AS auth
  FROM oauth_profiles p JOIN oauth_apps a ON a.id = p.app_id JOIN app_engines e ON e.app_id = p.app_id
  WHERE ${scope} AND ${uri} IS NOT NULL`;

/** A queued revocation's columns in the order both INSERTs name them. */
export const REVOCATION_COLUMNS =
  'id, profile_id, app_id, revocation_uri, client_id, client_auth, client_secret, refresh_token, access_token, key_version, next_attempt_at, give_up_at';

/** A queued revocation's plain values, before sealing: from a profile being deleted (queueSource's row) or given. */
export interface RevocationSource {
  profileId: number | null;
  appId: number;
  revocationURI: string;
  clientId: string;
  clientAuth: string;
}

export const sourceOf = (r: Row): RevocationSource => ({
  profileId: Number(r.profile_id),
  appId: Number(r.app_id),
  revocationURI: r.uri as string,
  clientId: r.client_id as string,
  clientAuth: r.auth as string,
});

export const revocationValues = (
  id: number,
  source: RevocationSource,
  sealed: Record<'client_secret' | 'refresh_token' | 'access_token', Buffer | null>,
  keyVersion: number,
  plan: RevocationPlan,
): unknown[] => [
  id,
  source.profileId,
  source.appId,
  source.revocationURI,
  source.clientId,
  source.clientAuth,
  sealed.client_secret,
  sealed.refresh_token,
  sealed.access_token,
  keyVersion,
  plan.firstAttemptAt,
  plan.giveUpAt,
];

/** A claimed row with its opened values. */
export const toPending = (r: Row, opened: { clientSecret: string; refreshToken: string; accessToken: string | null }): PendingRevocation => ({
  id: Number(r.id),
  profileId: r.profile_id === null ? null : Number(r.profile_id),
  appId: Number(r.app_id),
  revocationURI: r.revocation_uri as string,
  clientId: r.client_id as string,
  clientAuth: r.client_auth as ClientAuth,
  ...opened,
  attempts: Number(r.attempts),
  giveUpAt: Number(r.give_up_at),
});
