/** How both databases key names: the unique key of a name, and the stored key of a name that no user has. */
import { createHash } from 'node:crypto';

/** Names are unique case-insensitively through a lower-cased key column. */
export const nameKey = (name: string): string => name.normalize('NFC').toLowerCase();

/**
 * The key under which failed logins of a user name that no user has are stored: SHA-256 (hex) of the name key. Not
 * the name itself: people type passwords into the user-name field, and those must not sit in the database as text;
 * any string, U+0000 included, becomes 64 hex digits PostgreSQL accepts.
 */
export const unknownNameDigest = (userName: string): string => createHash('sha256').update(nameKey(userName)).digest('hex');

/** How many expired unknown-name rows one recorded failure deletes at most: growth stays bounded, no write is long. */
export const UNKNOWN_NAME_PRUNE_BATCH = 100;
