/**
 * Data sources, only as far as OAuth profiles need them (api.md §7): they belong to their owner alone and may
 * reference an OAuth profile through the option `OAuthProfileId` (a string holding the id, as in HDP).
 */
import { fail } from '../errors.js';
import type { ConnectionType, DataSource, DataSourceSummary, Store, Versions } from './ports/index.js';
import type { Identity } from './access.js';
import { isDataStore } from './datastores.js';
import { settle } from './refusals.js';

export const PROFILE_OPTION = 'OAuthProfileId';

export interface DataSourceInput {
  name: string;
  dataStore?: number;
  connectionType?: ConnectionType;
  description?: string | null;
  options?: Record<string, string>;
}

/** Splits the profile reference off the other options; the reference is stored as a real foreign key. */
function splitOptions(options: Record<string, string> = {}): { options: Record<string, string>; oauthProfileId: number | null } {
  const { [PROFILE_OPTION]: ref, ...rest } = options;
  if (ref === undefined || ref === '') return { options: rest, oauthProfileId: null };
  if (!/^[1-9][0-9]{0,15}$/.test(ref) || !Number.isSafeInteger(Number(ref))) {
    throw fail('invalidOption', `${PROFILE_OPTION}: must be the id of an OAuth profile`);
  }
  return { options: rest, oauthProfileId: Number(ref) };
}

/** The options as HDP shows them: the profile reference back among them, as a string. */
export const presentOptions = (ds: DataSource): Record<string, string> =>
  ds.oauthProfileId === null ? ds.options : { ...ds.options, [PROFILE_OPTION]: String(ds.oauthProfileId) };

export const listDataSources = (store: Store, actor: Identity): Promise<DataSourceSummary[]> => store.dataSources.list(actor.id);

function assertOwned<D extends Pick<DataSource, 'ownerId'>>(actor: Identity, id: number, ds: D | undefined): D {
  if (!ds || ds.ownerId !== actor.id) throw fail('dataSourceNotFound', id);
  return ds;
}

export async function dataSourceFor(store: Store, actor: Identity, id: number): Promise<DataSource> {
  let ds: DataSource | undefined;
  try {
    ds = await store.dataSources.get(id);
  } catch (err) {
    // Damaged options: only the owner learns that; anyone else gets the usual 404.
    await ownedDataSource(store, actor, id);
    throw err;
  }
  return assertOwned(actor, id, ds);
}

/** The access check without opening the options: a data source whose options are damaged can still be replaced and deleted. */
async function ownedDataSource(store: Store, actor: Identity, id: number): Promise<DataSourceSummary> {
  return assertOwned(actor, id, await store.dataSources.summary(id));
}

export async function createDataSource(store: Store, actor: Identity, input: DataSourceInput): Promise<DataSource> {
  if (input.dataStore === undefined) throw fail('invalidJson', 'dataStore: is required');
  if (!isDataStore(input.dataStore)) throw fail('invalidJson', `dataStore: there is no data store ${input.dataStore}`);
  return settle(
    store.dataSources.create({
      ownerId: actor.id,
      name: input.name,
      dataStore: input.dataStore,
      connectionType: input.connectionType ?? 'Cloud',
      description: input.description ?? null,
      ...splitOptions(input.options),
    }),
    { name: `data source ${input.name}` },
  );
}

/** Full replace; `dataStore` and `connectionType` may be repeated but not changed. */
export async function updateDataSource(store: Store, actor: Identity, id: number, input: DataSourceInput, ifVersion?: Versions): Promise<DataSource> {
  const current = await ownedDataSource(store, actor, id);
  if (input.dataStore !== undefined && input.dataStore !== current.dataStore) {
    throw fail('invalidJson', 'dataStore: is not allowed to be changed');
  }
  if (input.connectionType !== undefined && input.connectionType !== current.connectionType) throw fail('connectionTypeChanged');
  return settle(store.dataSources.update(id, { name: input.name, description: input.description ?? null, ...splitOptions(input.options) }, ifVersion), {
    stale: `data source ${id}`,
    name: `data source ${input.name}`,
  });
}

export async function deleteDataSource(store: Store, actor: Identity, id: number, ifVersion?: Versions): Promise<void> {
  await ownedDataSource(store, actor, id);
  await settle(store.dataSources.delete(id, ifVersion), { stale: `data source ${id}` });
}
