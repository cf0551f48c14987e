/**
 * Every setting in one place: environment variables, overridden by command-line flags, turned into one typed and
 * validated Config. The README's configuration table mirrors `settings` below.
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { passwordProblem } from './domain/password-policy.js';
import { parseKey } from './crypto/master-key.js';
import type { DbConfig } from './storage/open.js';

export class ConfigError extends Error {
  constructor(
    readonly setting: string,
    problem: string,
  ) {
    super(`Invalid configuration: ${setting} ${problem}`);
    this.name = 'ConfigError';
  }
}

export interface Config {
  port: number;
  host: string;
  db: DbConfig;
  adminPassword?: string;
  userPassword?: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  allowLoopbackHttpUris: boolean;
  /** TOKENKEEP_OUTBOUND_CA_FILE's certificates (PEM), trusted for calls to authorization servers besides Node's roots */
  outboundCa?: Buffer;
  /** TOKENKEEP_BACKGROUND_REFRESH: this node refreshes proactive apps' profiles in the background */
  backgroundRefresh: boolean;
  /** TOKENKEEP_PUBLIC_URL: the server's external origin (consent's redirect URI is `${publicUrl}/hdpui/oauth2callback`) */
  publicUrl?: string;
  /** decoded TOKENKEEP_MASTER_KEY */
  masterKey?: Buffer;
  masterKeyFile?: string;
  tls?: { cert: Buffer; key: Buffer };
  allowInsecureHttp: boolean;
}

/** name of the environment variable, the flag that overrides it (if any) and the default, for docs and --help */
export const settings = [
  { env: 'PORT', flag: 'port', default: '8080', help: 'TCP port to listen on (0 picks a free one).' },
  { env: 'HOST', flag: 'host', default: '127.0.0.1', help: 'Address to listen on.' },
  {
    env: 'TOKENKEEP_DB',
    flag: 'db',
    default: './data/tokenkeep.db',
    help: 'SQLite file (created if missing), or a postgres:// (postgresql://) URL of a PostgreSQL database.',
  },
  { env: 'TOKENKEEP_MASTER_KEY', flag: undefined, default: '(none)', help: 'Master key, base64 of 32 bytes. Wins over the key file.' },
  {
    env: 'TOKENKEEP_MASTER_KEY_FILE',
    flag: 'master-key-file',
    default: '<db folder>/master.key (./data/master.key with PostgreSQL)',
    help: 'File holding the base64 master key; generated (mode 0600) on the first start of an empty database when no key is configured.',
  },
  { env: 'TOKENKEEP_TLS_CERT', flag: 'tls-cert', default: '(none)', help: 'PEM certificate file; with TOKENKEEP_TLS_KEY the server speaks HTTPS.' },
  { env: 'TOKENKEEP_TLS_KEY', flag: 'tls-key', default: '(none)', help: 'PEM private key file of the certificate.' },
  {
    env: 'TOKENKEEP_ALLOW_INSECURE_HTTP',
    flag: undefined,
    default: '0',
    help: 'Set to 1 to serve plain HTTP on a non-loopback address (only behind a TLS-terminating proxy).',
  },
  { env: 'TOKENKEEP_ADMIN_PASSWORD', flag: undefined, default: '(generated, printed once)', help: 'First-start password of d2cadmin.' },
  { env: 'TOKENKEEP_USER_PASSWORD', flag: undefined, default: '(generated, printed once)', help: 'First-start password of d2cuser.' },
  { env: 'TOKENKEEP_LOG_LEVEL', flag: 'log-level', default: 'info', help: 'fatal, error, warn, info, debug, trace or silent.' },
  {
    env: 'TOKENKEEP_ALLOW_LOOPBACK_HTTP_URIS',
    flag: undefined,
    default: '0',
    help: 'Set to 1 to accept http: authorize/token URIs on loopback hosts (development only).',
  },
  {
    env: 'TOKENKEEP_OUTBOUND_CA_FILE',
    flag: undefined,
    default: '(none)',
    help: "PEM file of CA certificates trusted for calls to authorization servers, besides Node's roots (a private AS).",
  },
  {
    env: 'TOKENKEEP_BACKGROUND_REFRESH',
    flag: undefined,
    default: '1',
    help: "Set to 0 to keep this node out of the background work: refreshing proactive apps' profiles, revoking deleted profiles' tokens (other nodes still do).",
  },
  {
    env: 'TOKENKEEP_PUBLIC_URL',
    flag: undefined,
    default: '(none: consent is off)',
    help: 'The external origin of this server (https://host[:port]; http: only on loopback); consent redirects browsers to <it>/hdpui/oauth2callback.',
  },
] as const;

/** 127.0.0.0/8, ::1 and localhost: traffic that never leaves the machine. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::ffff:127.0.0.1';
}

function loadTls(certPath: string | undefined, keyPath: string | undefined): { cert: Buffer; key: Buffer } | undefined {
  if (!certPath && !keyPath) return undefined;
  if (!certPath) throw new ConfigError('TOKENKEEP_TLS_CERT', 'must be set together with TOKENKEEP_TLS_KEY');
  if (!keyPath) throw new ConfigError('TOKENKEEP_TLS_KEY', 'must be set together with TOKENKEEP_TLS_CERT');
  const read = (setting: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConfigError(setting, `cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'} ${path}`);
    }
  };
  const tls = { cert: read('TOKENKEEP_TLS_CERT', certPath), key: read('TOKENKEEP_TLS_KEY', keyPath) };
  try {
    createSecureContext(tls);
  } catch (err) {
    throw new ConfigError('TOKENKEEP_TLS_CERT', `and TOKENKEEP_TLS_KEY do not form a usable certificate and key: ${(err as Error).message}`);
  }
  return tls;
}

/** The outbound CA file: readable, and PEM certificates Node accepts as trusted roots. */
function readCa(path: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (err) {
    throw new ConfigError('TOKENKEEP_OUTBOUND_CA_FILE', `cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'} ${path}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError('TOKENKEEP_OUTBOUND_CA_FILE', `holds no PEM certificate: ${path}`);
  try {
    createSecureContext({ ca: pem });
  } catch (err) {
    throw new ConfigError('TOKENKEEP_OUTBOUND_CA_FILE', `is not usable as CA certificates: ${(err as Error).message}`);
  }
  return pem;
}

/**
 * TOKENKEEP_PUBLIC_URL (api.md §9): the origin browsers reach this server at, as the AS's redirect URI names it. An
 * origin only — scheme, host, optional port — so that the redirect URI and the paths consent sends a browser back to
 * are unambiguous; `https:`, or `http:` on a loopback host (development, tests). Returned as WHATWG's origin (lower
 * case, default port dropped, no trailing slash).
 */
export function parsePublicUrl(text: string): string {
  const refuse = (problem: string) => new ConfigError('TOKENKEEP_PUBLIC_URL', problem);
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (/[\u0000-\u0020\u007f-\uffff\\]/.test(text)) throw refuse('must be an ASCII URL without spaces, control characters or backslashes');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw refuse('must be an absolute URL such as https://tokenkeep.example.com');
  }
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) throw refuse('must spell out "//" after the scheme (https://host)');
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw refuse('must be an https: URL');
  if (url.protocol === 'http:' && !isLoopback(url.hostname)) throw refuse('must be an https: URL (http: only on a loopback host such as 127.0.0.1)');
  if (url.username !== '' || url.password !== '') throw refuse('must not carry credentials');
  if (!/^\/?$/.test(url.pathname) || url.search !== '' || url.hash !== '' || /[?#]/.test(text)) {
    throw refuse('must be an origin only (https://host[:port]), without a path, query or fragment');
  }
  return url.origin;
}

/** A SQLite path, or a PostgreSQL URL checked for shape only (the server is asked at start); never echoes the URL. */
function parseDb(text: string): DbConfig {
  if (/^postgres(ql)?:/i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new ConfigError('TOKENKEEP_DB', 'is not a valid PostgreSQL URL (postgres://user:password@host:port/database)');
    }
    if (
      !/^postgres(ql)?:$/i.test(url.protocol) ||
      !text.slice(url.protocol.length).startsWith('//') ||
      (url.hostname === '' && !url.searchParams.has('host'))
    ) {
      throw new ConfigError('TOKENKEEP_DB', 'is not a valid PostgreSQL URL (postgres://user:password@host:port/database)');
    }
    // The scheme in lower case, the rest exactly as given (the driver decodes user, password and options itself).
    return { kind: 'postgres', url: `${url.protocol.toLowerCase()}${text.slice(url.protocol.length)}` };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) throw new ConfigError('TOKENKEEP_DB', 'must be a SQLite file path or a postgres:// URL');
  if (text === ':memory:') return { kind: 'sqlite', file: text };
  const file = resolve(text);
  checkSqlitePath(file);
  return { kind: 'sqlite', file };
}

/** Whether `path` lies inside the working directory (or is it). */
const insideWorkingDirectory = (path: string): boolean => {
  const rel = relative(process.cwd(), path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
};

/**
 * A SQLite path that cannot work is refused here, naming the setting, instead of surfacing later as SQLite's
 * "disk I/O error". Nothing is created: the folder (0700) and the file (0600) are made when the store opens. A
 * missing folder is made only inside the working directory (the default ./data); elsewhere a typo in an absolute
 * path would silently create a tree in the wrong place, so the operator creates it.
 */
function checkSqlitePath(file: string): void {
  const problem = (code: string | undefined, path: string) => `cannot be used: ${code ?? 'error'} on ${path}`;
  const stat = (path: string) => {
    try {
      return statSync(path, { throwIfNoEntry: false });
    } catch (err) {
      throw new ConfigError('TOKENKEEP_DB', problem((err as NodeJS.ErrnoException).code, path));
    }
  };
  const existing = stat(file);
  if (existing?.isDirectory()) throw new ConfigError('TOKENKEEP_DB', `names a directory, not a database file: ${file}`);
  if (existing && !existing.isFile()) throw new ConfigError('TOKENKEEP_DB', `is not a regular file: ${file}`);
  // The nearest folder that exists: the file goes there, or the missing folders below it are created there.
  let folder = dirname(file);
  let found;
  while (!(found = stat(folder))) {
    if (!insideWorkingDirectory(folder)) {
      throw new ConfigError(
        'TOKENKEEP_DB',
        `is in the folder ${dirname(file)}, which does not exist; create it first ` + '(tokenkeep creates missing folders only inside the working directory)',
      );
    }
    folder = dirname(folder);
  }
  // A file on the way: Node 20's stat() throws ENOTDIR for the path below it, Node 22 and later report no entry.
  if (!found.isDirectory()) throw new ConfigError('TOKENKEEP_DB', problem('ENOTDIR', folder));
  // SQLite writes the database, its -wal and its -shm: it needs the file and its folder writable.
  try {
    accessSync(folder, constants.W_OK | constants.X_OK);
    if (existing) accessSync(file, constants.R_OK | constants.W_OK);
  } catch (err) {
    throw new ConfigError(
      'TOKENKEEP_DB',
      `${problem((err as NodeJS.ErrnoException).code, (err as NodeJS.ErrnoException).path ?? file)} (tokenkeep needs to read and write it)`,
    );
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function loadConfig(env: NodeJS.ProcessEnv, flags: Record<string, string | undefined> = {}): Config {
  const pick = (name: (typeof settings)[number]['env']): string | undefined => {
    const s = settings.find((x) => x.env === name)!;
    const fromFlag = s.flag ? flags[s.flag] : undefined;
    return fromFlag ?? env[name];
  };

  const portText = pick('PORT') ?? '8080';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new ConfigError('PORT', `must be an integer from 0 to 65535, got "${portText}"`);

  const host = pick('HOST') ?? '127.0.0.1';
  if (host.trim() === '') throw new ConfigError('HOST', 'must not be empty');

  const dbText = pick('TOKENKEEP_DB') ?? './data/tokenkeep.db';
  if (dbText.trim() === '') throw new ConfigError('TOKENKEEP_DB', 'must not be empty');
  const db = parseDb(dbText);

  const logLevel = (pick('TOKENKEEP_LOG_LEVEL') ?? 'info') as Config['logLevel'];
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError('TOKENKEEP_LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}`);

  const loopbackText = pick('TOKENKEEP_ALLOW_LOOPBACK_HTTP_URIS') ?? '0';
  if (loopbackText !== '0' && loopbackText !== '1') throw new ConfigError('TOKENKEEP_ALLOW_LOOPBACK_HTTP_URIS', 'must be 0 or 1');

  const backgroundText = pick('TOKENKEEP_BACKGROUND_REFRESH') ?? '1';
  if (backgroundText !== '0' && backgroundText !== '1') throw new ConfigError('TOKENKEEP_BACKGROUND_REFRESH', 'must be 0 or 1');
  const publicText = pick('TOKENKEEP_PUBLIC_URL');
  const publicUrl = publicText === undefined || publicText === '' ? undefined : parsePublicUrl(publicText);
  const caFile = pick('TOKENKEEP_OUTBOUND_CA_FILE');
  const outboundCa = caFile === undefined || caFile === '' ? undefined : readCa(caFile);

  const keyText = pick('TOKENKEEP_MASTER_KEY');
  const masterKey = keyText === undefined || keyText === '' ? undefined : parseKey(keyText);
  if (keyText && !masterKey) throw new ConfigError('TOKENKEEP_MASTER_KEY', 'must be the base64 encoding of exactly 32 bytes');
  const keyFile = pick('TOKENKEEP_MASTER_KEY_FILE');
  if (keyFile !== undefined && keyFile.trim() === '') throw new ConfigError('TOKENKEEP_MASTER_KEY_FILE', 'must not be empty');

  const tls = loadTls(pick('TOKENKEEP_TLS_CERT'), pick('TOKENKEEP_TLS_KEY'));
  const insecureText = pick('TOKENKEEP_ALLOW_INSECURE_HTTP') ?? '0';
  if (insecureText !== '0' && insecureText !== '1') throw new ConfigError('TOKENKEEP_ALLOW_INSECURE_HTTP', 'must be 0 or 1');
  if (!tls && insecureText !== '1' && !isLoopback(host)) {
    throw new ConfigError(
      'HOST',
      `is ${host}, not a loopback address: plain HTTP there would expose every password; ` +
        'configure TOKENKEEP_TLS_CERT and TOKENKEEP_TLS_KEY, or set TOKENKEEP_ALLOW_INSECURE_HTTP=1 behind a TLS-terminating proxy',
    );
  }

  const adminPassword = pick('TOKENKEEP_ADMIN_PASSWORD');
  const userPassword = pick('TOKENKEEP_USER_PASSWORD');
  for (const [setting, value, user] of [
    ['TOKENKEEP_ADMIN_PASSWORD', adminPassword, 'd2cadmin'],
    ['TOKENKEEP_USER_PASSWORD', userPassword, 'd2cuser'],
  ] as const) {
    const problem = value === undefined ? undefined : passwordProblem(value, user);
    if (problem) throw new ConfigError(setting, `does not meet the password policy: ${problem}`);
  }

  return {
    port,
    host,
    db,
    adminPassword,
    userPassword,
    logLevel,
    allowLoopbackHttpUris: loopbackText === '1',
    outboundCa,
    backgroundRefresh: backgroundText === '1',
    publicUrl,
    masterKey,
    masterKeyFile: keyFile === undefined ? undefined : resolve(keyFile),
    tls,
    allowInsecureHttp: insecureText === '1',
  };
}
