/** OAuth applications (api.md §5), their engine settings and status (§8.6), and the data stores (§7). */
import { request } from './client';
import type { App, AppBody, AppSummary, DataStore, EngineSettings, EngineView } from './types';

const base = '/api/mgmt/oauthapps';
const mine = { onBehalf: true } as const;

export const apps = async (): Promise<AppSummary[]> => (await request<{ applications: AppSummary[] }>(base, mine)).applications;

/** The application; its client secret comes along only for those who may manage it. */
export const app = (id: number): Promise<App> => request<App>(`${base}/${id}`, mine);

export const createApp = (body: AppBody): Promise<App> => request<App>(base, { ...mine, method: 'POST', body });

export const replaceApp = (id: number, body: AppBody): Promise<App> => request<App>(`${base}/${id}`, { ...mine, method: 'PUT', body });

export const deleteApp = (id: number): Promise<void> => request<void>(`${base}/${id}`, { ...mine, method: 'DELETE' });

export const engine = (id: number): Promise<EngineView> => request<EngineView>(`${base}/${id}/engine`, mine);

export const replaceEngine = (id: number, body: EngineSettings): Promise<EngineView> =>
  request<EngineView>(`${base}/${id}/engine`, { ...mine, method: 'PUT', body });

export const dataStores = async (): Promise<DataStore[]> => (await request<{ datastores: DataStore[] }>('/api/mgmt/datastores')).datastores;
