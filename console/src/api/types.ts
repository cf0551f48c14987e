/** The shapes of the API answers the console reads (api.md §5, §6, §8, §9, §10). */

export interface SessionInfo {
  userName: string;
  csrfToken: string;
}

/** A profile's engine state (api.md §8.1); shown as it is, in a badge. */
export type ProfileState = 'active' | 'retrying' | 'needs_reconsent' | 'app_error' | 'origin_changed' | (string & {});

export interface ProfileStatusRow {
  id: number;
  name: string;
  oauthAppId: number;
  state: ProfileState;
  expiresAt: string | null;
  failures: number;
}

export interface ProfileSummary {
  id: number;
  name: string;
  description: string | null;
  oauthAppId: number;
  authorizeURI: string;
  tokenURI: string;
  scope: string | null;
}

/** What the authorization server answered last (no token value). */
export interface AsError {
  error: string;
  description: string | null;
  httpStatus: number | null;
  at: string;
}

export interface ProfileStatus {
  state: ProfileState;
  expiresAt: string | null;
  refreshedAt: string | null;
  nextRefreshAt: string | null;
  failures: number;
  lastError: AsError | null;
  generation: number;
}

export interface ProfileStats {
  dataSourcesLinked: number;
  dataStoreId: number;
  dataSources: { id: number; name: string; description: string | null }[];
}

export interface AccessToken {
  accessToken: string;
  tokenType: 'Bearer';
  expiresAt: string | null;
  scope: string | null;
}

export interface ConsentStarted {
  authorizationUrl: string;
  expiresAt: string;
}

export interface AppSummary {
  id: number;
  name: string;
  dataStore: number;
  tenantId: number;
  description: string | null;
  authorizeURI: string;
  tokenURI: string;
  scope: string | null;
}

export interface App extends AppSummary {
  clientId: string;
  /** only for those who may manage the application */
  clientSecret?: string;
}

export interface AppBody {
  name: string;
  dataStore: number;
  description: string | null;
  clientId: string;
  clientSecret: string;
  authorizeURI: string;
  tokenURI: string;
  scope: string | null;
}

export type ClientAuth = 'client_secret_basic' | 'client_secret_post';

export interface EngineSettings {
  clientAuth: ClientAuth;
  defaultExpiresIn: number;
  refreshMargin: number;
  proactive: boolean;
  maxConcurrentRefreshes: number;
  revocationURI: string | null;
  issuer: string | null;
  authorizeParams: Record<string, string>;
}

export interface AppStatus {
  state: 'ok' | 'client_error' | (string & {});
  lastError: AsError | null;
}

export type EngineView = EngineSettings & { status: AppStatus };

export interface DataStore {
  id: number;
  name: string;
}
