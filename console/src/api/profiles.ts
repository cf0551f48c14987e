/** OAuth profiles (api.md §6), their engine status and tokens (§8), consent (§9); all with `?user=` when acting on behalf. */
import { request } from './client';
import type { AccessToken, ConsentStarted, ProfileStats, ProfileStatus, ProfileStatusRow, ProfileSummary } from './types';

const base = '/api/mgmt/oauthprofiles';
const mine = { onBehalf: true } as const;

/** Where the consent's callback sends the browser back to, with the outcome in the query (consent-return.ts). */
export const CONSENT_RETURN_TO = '/console/';

export const profileStatuses = async (): Promise<ProfileStatusRow[]> => (await request<{ profiles: ProfileStatusRow[] }>(`${base}/status`, mine)).profiles;

export const profiles = async (): Promise<ProfileSummary[]> => (await request<{ profiles: ProfileSummary[] }>(base, mine)).profiles;

export const profileStatus = (id: number): Promise<ProfileStatus> => request<ProfileStatus>(`${base}/${id}/status`, mine);

export const profileStats = (id: number): Promise<ProfileStats> => request<ProfileStats>(`${base}/${id}/stats`, mine);

/** A valid access token; `force` refreshes even a valid one (429 within 10 s of the last refresh). */
export const accessToken = (id: number, force = false): Promise<AccessToken> =>
  request<AccessToken>(`${base}/${id}/token`, { ...mine, method: 'POST', query: force ? { force: 'true' } : {} });

export const deleteProfile = (id: number): Promise<void> => request<void>(`${base}/${id}`, { ...mine, method: 'DELETE' });

/** Starts a consent for a new profile; the browser then goes to the answer's authorizationUrl. */
export const connectProfile = (input: { oauthAppId: number; name: string; description: string | null }): Promise<ConsentStarted> =>
  request<ConsentStarted>(`${base}/authorize`, { ...mine, method: 'POST', body: { ...input, returnTo: CONSENT_RETURN_TO } });

/** Starts a consent that gives an existing profile new tokens. */
export const reconnectProfile = (profileId: number): Promise<ConsentStarted> =>
  request<ConsentStarted>(`${base}/authorize`, { ...mine, method: 'POST', body: { profileId, returnTo: CONSENT_RETURN_TO } });
