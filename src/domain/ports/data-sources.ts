import type { Refusal, Versions } from './refusal.js';

export type ConnectionType = 'Cloud' | 'Hybrid';

export interface DataSource {
  id: number;
  /** row version, incremented by every update: the ETag */
  version: number;
  ownerId: number;
  name: string;
  dataStore: number;
  connectionType: ConnectionType;
  description: string | null;
  /** option values, without OAuthProfileId */
  options: Record<string, string>;
  oauthProfileId: number | null;
}

export type NewDataSource = Omit<DataSource, 'id' | 'version'>;
/**
 * A data source without its options (which may hold secrets): what lists show, and what access checks, If-Match and
 * deletion need, readable even when the sealed options are damaged.
 */
export type DataSourceSummary = Omit<DataSource, 'options'>;
export type DataSourceUpdate = Pick<DataSource, 'name' | 'description' | 'options' | 'oauthProfileId'>;

export interface DataSources {
  list(ownerId: number): Promise<DataSourceSummary[]>;
  get(id: number): Promise<DataSource | undefined>;
  /** Without its options (nothing is decrypted). */
  summary(id: number): Promise<DataSourceSummary | undefined>;
  create(input: NewDataSource): Promise<DataSource | Refusal>;
  update(id: number, input: DataSourceUpdate, ifVersion?: Versions): Promise<DataSource | Refusal>;
  delete(id: number, ifVersion?: Versions): Promise<void | Refusal>;
}
