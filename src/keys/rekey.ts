/**
 * `tokenkeep keys rekey`: the master key is replaced. The ring's data keys and the key-check value are re-wrapped
 * under the new master key in one transaction; no sealed row changes (the data keys stay the same), so it runs beside
 * serving nodes. Those keep serving with the data keys they hold and warn that they must be restarted with the new
 * key; a start with the old key is refused from then on as a wrong key.
 *
 * The new key comes from a file (`--new-key-file`), from standard input, or is generated into a new file
 * (`--generate-key-file`, mode 0600, never overwriting one). Everything about the new key is checked before the
 * database is touched; a generated key is on disk (synced) before the transaction that puts it in use commits.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../config.js';
import { KEY_BYTES, MasterKey, parseKey } from '../crypto/master-key.js';
import type { Keys } from '../domain/ports/index.js';
import { writeNewKeyFile } from './unseal.js';

export interface NewKeyOptions {
  newKeyFile?: string;
  generateKeyFile?: string;
}

export interface PreparedRekey {
  /** the new key, when given (absent: generate one into `generateInto`) */
  key?: Buffer;
  generateInto?: string;
  /** where the new key comes from, for the report (never the key itself) */
  source: string;
}

async function readAll(input: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks).toString('utf8');
}

const notAKey = `does not hold a base64-encoded ${KEY_BYTES}-byte key`;

/** Reads or checks the new key's source; throws ConfigError (a usage error) before anything is written. */
export async function prepareRekey(options: NewKeyOptions, stdin: NodeJS.ReadStream = process.stdin): Promise<PreparedRekey> {
  const { newKeyFile, generateKeyFile } = options;
  if (newKeyFile !== undefined && generateKeyFile !== undefined) {
    throw new ConfigError('keys rekey', 'takes either --new-key-file or --generate-key-file, not both');
  }
  if (generateKeyFile !== undefined) {
    const path = resolve(generateKeyFile);
    if (existsSync(path)) throw new ConfigError('--generate-key-file', `${path} already exists; refusing to overwrite a key file`);
    if (!existsSync(dirname(path))) throw new ConfigError('--generate-key-file', `the folder ${dirname(path)} does not exist`);
    return { generateInto: path, source: path };
  }
  if (newKeyFile !== undefined) {
    const path = resolve(newKeyFile);
    if (!existsSync(path)) throw new ConfigError('--new-key-file', `${path} does not exist`);
    const key = parseKey(readFileSync(path, 'utf8'));
    if (!key) throw new ConfigError('--new-key-file', `${path} ${notAKey}`);
    return { key, source: path };
  }
  if (stdin.isTTY) process.stderr.write(`Reading the new master key (base64 of ${KEY_BYTES} bytes) from standard input; end it with Ctrl-D.\n`);
  const key = parseKey(await readAll(stdin));
  if (!key) throw new ConfigError('standard input', `${notAKey} (or give --new-key-file FILE or --generate-key-file FILE)`);
  return { key, source: 'standard input' };
}

/** Re-wraps the ring under the new key (generating it first if asked); returns what to tell the operator. */
export async function rekey(keys: Keys, prepared: PreparedRekey): Promise<string> {
  let key = prepared.key;
  if (!key) {
    key = MasterKey.generate();
    writeNewKeyFile(prepared.generateInto!, key);
  }
  try {
    await keys.rekey(new MasterKey(key));
  } catch (err) {
    if (prepared.generateInto && err instanceof Error) {
      err.message += `; the generated key in ${prepared.generateInto} was probably not put in use: keep it until a start tells which key opens the database`;
    }
    throw err;
  }
  return (
    `the master key is replaced by the key from ${prepared.source}; a start with the old key is refused from now on.\n` +
    'Next: restart every server with the new key (TOKENKEEP_MASTER_KEY or TOKENKEEP_MASTER_KEY_FILE, or the master.key beside the database);\n' +
    'running servers go on with the data keys they hold until then. Then destroy the old key: backups taken before now still open only with it.\n'
  );
}
