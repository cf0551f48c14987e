/**
 * Start-up sealing rules. The master key comes from TOKENKEEP_MASTER_KEY (base64) or a key file. On the very first
 * start of an empty database with no key configured, a key is generated into `master.key` (mode 0600) beside the
 * database, and the operator is told loudly to back it up apart from the data. A database that already has a key
 * ring is never given a fresh key: without its key, or with a wrong one, the start is refused.
 */
import { existsSync, mkdirSync, openSync, readFileSync, writeSync, fsyncSync, closeSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { KEY_BYTES, MasterKey, parseKey } from '../crypto/master-key.js';
import type { Keys } from '../domain/ports/index.js';
import { SealedError } from '../sealing/key-ring.js';
import type { Config } from '../config.js';

export class UnsealError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsealError';
  }
}

export interface KeySettings {
  /** decoded TOKENKEEP_MASTER_KEY */
  masterKey?: Buffer;
  /** TOKENKEEP_MASTER_KEY_FILE */
  masterKeyFile?: string;
  /** the SQLite database file, the generated key goes beside it; undefined for PostgreSQL (POSTGRES_KEY_FILE) */
  dbFile: string | undefined;
}

export const keySettingsOf = (config: Config): KeySettings => ({
  masterKey: config.masterKey,
  masterKeyFile: config.masterKeyFile,
  dbFile: config.db.kind === 'sqlite' ? config.db.file : undefined,
});

export const defaultKeyFile = (dbFile: string): string => join(dirname(dbFile), 'master.key');
/** Where the key file is looked for, and generated, when the database is a PostgreSQL server. */
export const POSTGRES_KEY_FILE = './data/master.key';

function readKeyFile(path: string, setting: string): Buffer {
  const key = parseKey(readFileSync(path, 'utf8'));
  if (!key) throw new UnsealError(`${setting}: ${path} does not hold a base64-encoded ${KEY_BYTES}-byte key`);
  return key;
}

export function writeNewKeyFile(path: string, key: Buffer): void {
  // 'wx': never overwrite an existing file; 0600: readable by the server's user only. The folder may not exist yet
  // when the database is not a file beside it (PostgreSQL).
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const fd = openSync(path, 'wx', 0o600);
  try {
    writeSync(fd, `${key.toString('base64')}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  // The file's name too must survive a crash: the database may be sealed with this key a moment later.
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

export interface UnsealResult {
  /** where the key came from, for the start-up log (never the key itself) */
  source: string;
  generated: boolean;
  /** set when a key file is readable by others than its owner */
  warning?: string;
}

interface ResolvedKey {
  key?: Buffer;
  source: string;
  /** where a generated key would go */
  file?: string;
  warning?: string;
}

function resolveKey(settings: KeySettings): ResolvedKey {
  let key = settings.masterKey;
  let source = 'TOKENKEEP_MASTER_KEY';
  const file =
    settings.masterKeyFile ??
    (settings.dbFile === undefined ? resolve(POSTGRES_KEY_FILE) : settings.dbFile === ':memory:' ? undefined : defaultKeyFile(settings.dbFile));
  if (!key && settings.masterKeyFile) {
    if (!existsSync(settings.masterKeyFile)) throw new UnsealError(`TOKENKEEP_MASTER_KEY_FILE: ${settings.masterKeyFile} does not exist`);
    key = readKeyFile(settings.masterKeyFile, 'TOKENKEEP_MASTER_KEY_FILE');
    source = settings.masterKeyFile;
  } else if (!key && file && existsSync(file)) {
    key = readKeyFile(file, 'the key file');
    source = file;
  }
  const mode = key && source !== 'TOKENKEEP_MASTER_KEY' ? statSync(source).mode & 0o077 : 0;
  const warning = mode ? `the master key file ${source} is readable by other users; chmod 600 it` : undefined;
  return { key, source, file, warning };
}

const missingKey = (file: string | undefined) =>
  new UnsealError(
    'this database holds encrypted secrets but no master key is configured: ' +
      `set TOKENKEEP_MASTER_KEY or TOKENKEEP_MASTER_KEY_FILE${file ? ` (no key file at ${file})` : ''}`,
  );

/**
 * Checks the configured key against a key-check value read before the database is opened for writing. Closing a
 * SQLite connection checkpoints its WAL, so a start refused after opening would still rewrite the database file;
 * refusing here leaves every byte as it was.
 */
export function refuseWrongKey(settings: KeySettings, keyCheck: Buffer | undefined): void {
  if (keyCheck === undefined) return;
  const { key, source, file } = resolveKey(settings);
  if (!key) throw missingKey(file);
  if (!new MasterKey(key).verify(keyCheck)) {
    throw new UnsealError(`refusing to start: the master key is not the one this database was sealed with (key from ${source}); nothing was changed`);
  }
}

export async function unsealStore(store: { keys: Keys }, settings: KeySettings): Promise<UnsealResult> {
  const initialized = await store.keys.initialized();
  const resolved = resolveKey(settings);
  let { key, source } = resolved;
  const { file, warning } = resolved;

  if (initialized) {
    if (!key) throw missingKey(file);
    try {
      await store.keys.unseal(new MasterKey(key));
    } catch (err) {
      throw new UnsealError(`refusing to start: ${(err as Error).message} (key from ${source}); nothing was changed`);
    }
    return { source, generated: false, warning };
  }

  let generated = false;
  if (!key) {
    key = MasterKey.generate();
    generated = true;
    if (file) {
      writeNewKeyFile(file, key);
      source = file;
    } else {
      source = 'memory (in-memory database)';
    }
  }
  try {
    await store.keys.init(new MasterKey(key));
  } catch (err) {
    // Another server sharing the database (PostgreSQL) created the key ring since we looked: with a configured key,
    // unseal with that ring as any later start would (a wrong key is refused there).
    if (generated || !(err instanceof SealedError) || !(await store.keys.initialized())) throw err;
    try {
      await store.keys.unseal(new MasterKey(key));
    } catch (unsealError) {
      throw new UnsealError(`refusing to start: ${(unsealError as Error).message} (key from ${source}); nothing was changed`);
    }
    return { source, generated: false, warning };
  }
  return { source, generated, warning };
}
