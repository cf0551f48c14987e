import type { RevocationPlan } from './revocations.js';
import type { Refusal, Versions } from './refusal.js';

export interface OAuthApp {
  id: number;
  /** row version, incremented by every update: the ETag */
  version: number;
  name: string;
  dataStore: number;
  tenantId: number;
  description: string | null;
  clientId: string;
  clientSecret: string;
  authorizeURI: string;
  tokenURI: string;
  scope: string | null;
}

export type NewOAuthApp = Omit<OAuthApp, 'id' | 'version'>;
/** An application without its client credentials: what lists need, and no secret is opened for it. */
export type OAuthAppSummary = Omit<OAuthApp, 'clientId' | 'clientSecret' | 'version'>;
/**
 * An application without its client secret: what access checks, If-Match, deletion and a non-manager's GET need,
 * readable even when the sealed secret is damaged.
 */
export type OAuthAppHeader = Omit<OAuthApp, 'clientSecret'>;

/**
 * Optimistic concurrency: `update` and `delete` take the versions an If-Match accepts; when the row has none of them
 * they change nothing and answer `{ refused: 'stale' }`, checked inside the write itself.
 */
export interface Apps {
  list(): Promise<OAuthAppSummary[]>;
  get(id: number): Promise<OAuthApp | undefined>;
  /** Without the client id and secret: for checks that need neither (nothing is decrypted). */
  summary(id: number): Promise<OAuthAppSummary | undefined>;
  /** Without the client secret (nothing is decrypted). */
  header(id: number): Promise<OAuthAppHeader | undefined>;
  create(input: NewOAuthApp): Promise<OAuthApp | Refusal>;
  update(id: number, input: NewOAuthApp, ifVersion?: Versions): Promise<OAuthApp | Refusal>;
  /** Deletes the app, its profiles, and the data sources' references to those profiles. */
  delete(id: number, ifVersion?: Versions, revoke?: RevocationPlan): Promise<void | Refusal>;
}
