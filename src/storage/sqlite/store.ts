/**
 * The embedded default store: the SQLite identity store plus the OAuth objects (applications, profiles, data
 * sources).
 */
import type { Store } from '../store.js';
import { SqliteIdentityStore } from './identity.js';

export class SqliteStore extends SqliteIdentityStore implements Store {}
