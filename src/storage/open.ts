/** Picks the storage implementation a configuration names. */
import type { DbConfig } from '../config.js';
import { SqliteStore } from './sqlite/store.js';
import type { Store } from './store.js';

export function openStore(db: DbConfig): Store {
  return new SqliteStore(db.file);
}
