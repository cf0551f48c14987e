/** HDP's data store catalogue, as far as OAuth applications need it (api.md §7). */
export const dataStores = [
  { id: 1, name: 'Salesforce' },
  { id: 54, name: 'Google Analytics' },
  { id: 62, name: 'Google BigQuery' },
  { id: 63, name: 'Autonomous REST Connector' },
] as const;

export const isDataStore = (id: number): boolean => dataStores.some((d) => d.id === id);
