/**
 * The benchmark's data: an OAuth application and a second user (`benchlist`) created through the API of a first
 * server start, then N profiles of `d2cuser` and exactly 100 of `benchlist` written straight into the database, in
 * one transaction per chunk. Tokens are sealed exactly as the store seals them — under data key 1 of the stored key
 * ring, unwrapped with the master key, and bound to their table, row id and column (src/sealing/key-ring.ts) — so the
 * server opens them as its own; `verifySeeded` proves it over HTTP before any measurement.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { MasterKey } from '../src/crypto/master-key.js';
import { nameKey } from '../src/storage/names.js';
import type { SealedChunk } from './seal-worker.js';
import { accessToken, profileName, refreshToken } from './tokens.js';

export const ADMIN_PASSWORD = 'Bench-Adm1n-Passw0rd!';
export const USER_PASSWORD = 'Bench-Us3r-Passw0rd!';
export const LIST_USER = 'benchlist';
export const LIST_PASSWORD = 'Bench-L1st-Passw0rd!';
/** profiles of the list user: the "GET list of 100" scenario */
export const LIST_SIZE = 100;

export const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
export const AUTH = {
  admin: basic('d2cadmin', ADMIN_PASSWORD),
  user: basic('d2cuser', USER_PASSWORD),
  list: basic(LIST_USER, LIST_PASSWORD),
};

export { accessToken, profileName, refreshToken } from './tokens.js';

export interface Dataset {
  appId: number;
  /** d2cuser's profiles: ids firstId … firstId + count - 1 */
  firstId: number;
  count: number;
  /** benchlist's profiles */
  listFirstId: number;
  /** the engine scenarios' app and d2cuser's profiles holding real grants of the bench AS (bench/engine.ts) */
  engine?: EngineDataset;
}

export interface EngineDataset {
  appId: number;
  profileIds: number[];
}

/** One request to a tokenkeep server, its body parsed when there is one. */
export async function api(base: string, method: string, path: string, auth: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

/** The request's answer; throws unless its status is `status`. */
export async function expect(what: string, p: Promise<{ status: number; body: any }>, status: number): Promise<any> {
  const r = await p;
  if (r.status !== status) throw new Error(`${what}: expected ${status}, got ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Through the API of a freshly started server: the OAuth application and the list user. Returns the app id. */
export async function setupThroughApi(base: string): Promise<number> {
  const app = await expect(
    'create OAuth app',
    api(base, 'POST', '/api/mgmt/oauthapps', AUTH.admin, {
      name: 'Bench app',
      dataStore: 54,
      clientId: 'bench-client-id',
      clientSecret: 'bench-client-secret',
      authorizeURI: 'https://accounts.example.com/o/oauth2/v2/auth',
      tokenURI: 'https://oauth2.example.com/token',
      scope: 'analytics.readonly',
    }),
    201,
  );
  await expect(
    'create list user',
    api(base, 'POST', '/api/admin/users', AUTH.admin, {
      userName: LIST_USER,
      statusInfo: { status: 1 },
      passwordInfo: { password: LIST_PASSWORD },
      permissions: { roles: [2] },
    }),
    201,
  );
  return app.id as number;
}

const CHUNK = 20_000;

/** Worker threads that seal chunks of rows; results come back in the order asked for. */
class Sealer {
  private readonly workers: Worker[];
  private readonly waiting = new Map<number, { resolve: (c: SealedChunk) => void; reject: (err: Error) => void }>();
  private next = 0;

  constructor(dataKey: Buffer, count = Math.max(1, availableParallelism())) {
    // tsx's loader hooks do not reach worker threads by themselves on Node 20: register them first, then load the .ts.
    const api = import.meta.resolve('tsx/esm/api');
    const url = new URL('./seal-worker.ts', import.meta.url).href;
    const code = `(async () => { const { register } = await import(${JSON.stringify(api)}); register(); await import(${JSON.stringify(url)}); })()`;
    this.workers = Array.from({ length: count }, () => {
      const w = new Worker(code, { eval: true, workerData: { version: 1, key: new Uint8Array(dataKey) } });
      w.on('message', (c: SealedChunk) => {
        this.waiting.get(c.seq)?.resolve(c);
        this.waiting.delete(c.seq);
      });
      w.on('error', (err) => {
        for (const p of this.waiting.values()) p.reject(err);
        this.waiting.clear();
      });
      return w;
    });
  }

  seal(ids: number[]): Promise<SealedChunk> {
    const seq = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(seq, { resolve, reject });
      this.workers[seq % this.workers.length].postMessage({ seq, ids });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Row i's sealed access and refresh tokens in a chunk. */
const sealedAt = (c: SealedChunk, i: number): [Buffer, Buffer] => [
  Buffer.from(c.data, c.offsets[2 * i], c.offsets[2 * i + 1] - c.offsets[2 * i]),
  Buffer.from(c.data, c.offsets[2 * i + 1], c.offsets[2 * i + 2] - c.offsets[2 * i + 1]),
];

type Row = [id: number, owner: number];

/**
 * d2cuser's `count` profiles from `firstId`, then the list user's 100, in chunks: the chunks are sealed by worker
 * threads a few ahead of the one being written, and `write` stores one chunk (one transaction).
 */
async function seedRows(
  dataKey: Buffer,
  count: number,
  firstId: number,
  userId: number,
  listUserId: number,
  write: (rows: Row[], sealed: SealedChunk) => Promise<void> | void,
  progress: (done: number, total: number) => void,
): Promise<number> {
  const listFirstId = firstId + count;
  const rows: Row[] = [];
  for (let i = 0; i < count; i++) rows.push([firstId + i, userId]);
  for (let i = 0; i < LIST_SIZE; i++) rows.push([listFirstId + i, listUserId]);
  const chunks: Row[][] = [];
  for (let i = 0; i < rows.length; i += CHUNK) chunks.push(rows.slice(i, i + CHUNK));
  const sealer = new Sealer(dataKey);
  try {
    const ahead = 4;
    const sealed = chunks.slice(0, ahead).map((c) => sealer.seal(c.map(([id]) => id)));
    let done = 0;
    for (let k = 0; k < chunks.length; k++) {
      if (k + ahead < chunks.length) sealed.push(sealer.seal(chunks[k + ahead].map(([id]) => id)));
      await write(chunks[k], await sealed[k]);
      done += chunks[k].length;
      progress(done, rows.length);
    }
  } finally {
    await sealer.close();
  }
  return listFirstId;
}

const DESCRIPTION = 'Seeded by the tokenkeep benchmark';

/** Writes the profiles into a stopped server's SQLite file. */
export async function seedSqlite(
  file: string,
  masterKey: Buffer,
  appId: number,
  count: number,
  progress: (done: number, total: number) => void,
): Promise<Dataset> {
  const db = new Database(file);
  try {
    // The file is the benchmark's own, thrown away afterwards: no fsync while loading, and a large page cache. The
    // server reopens it with its own durable settings.
    db.pragma('synchronous = OFF');
    db.pragma('cache_size = -262144');
    const wrapped = db.prepare('SELECT wrapped FROM keyring WHERE version = 1').get() as { wrapped: Buffer } | undefined;
    if (!wrapped) throw new Error('the database has no key ring: was the server started on it?');
    const dataKey = new MasterKey(masterKey).unwrap(1, wrapped.wrapped);
    const userId = (name: string) => {
      const row = db.prepare('SELECT id FROM users WHERE name_key = ?').get(nameKey(name)) as { id: number } | undefined;
      if (!row) throw new Error(`no user ${name}`);
      return row.id;
    };
    const seq = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'oauth_profiles'").get() as { seq: number } | undefined;
    const firstId = (seq?.seq ?? 0) + 1;
    const insert = db.prepare(`INSERT INTO oauth_profiles (id, owner_id, creator_id, app_id, name, name_key, description,
      access_token, refresh_token, version, key_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 1)`);
    const write = db.transaction((rows: Row[], sealed: SealedChunk) => {
      rows.forEach(([id, owner], i) => {
        const name = profileName(id);
        insert.run(id, owner, owner, appId, name, nameKey(name), DESCRIPTION, ...sealedAt(sealed, i));
      });
    });
    const listFirstId = await seedRows(dataKey, count, firstId, userId('d2cuser'), userId(LIST_USER), (rows, sealed) => write(rows, sealed), progress);
    // AUTOINCREMENT: explicit ids move sqlite_sequence forward by themselves; checked rather than assumed.
    const after = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'oauth_profiles'").get() as { seq: number };
    if (after.seq !== listFirstId + LIST_SIZE - 1) throw new Error(`sqlite_sequence is ${after.seq} after seeding`);
    db.pragma('wal_checkpoint(TRUNCATE)');
    return { appId, firstId, count, listFirstId };
  } finally {
    db.close();
  }
}

/**
 * Writes the profiles into a PostgreSQL database prepared by the server. Assumes the PostgreSQL schema mirrors the
 * SQLite one (same tables and columns, bytea for sealed values); if it does not, the error says which statement
 * failed and the caller skips that size.
 */
export async function seedPostgres(
  url: string,
  masterKey: Buffer,
  appId: number,
  count: number,
  progress: (done: number, total: number) => void,
): Promise<Dataset> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const k = await client.query('SELECT wrapped FROM keyring WHERE version = 1');
    if (k.rowCount !== 1) throw new Error('the database has no key ring: was the server started on it?');
    const dataKey = new MasterKey(masterKey).unwrap(1, k.rows[0].wrapped as Buffer);
    const userId = async (name: string) => {
      const r = await client.query('SELECT id FROM users WHERE name_key = $1', [nameKey(name)]);
      if (r.rowCount !== 1) throw new Error(`no user ${name}`);
      return Number(r.rows[0].id);
    };
    const max = await client.query('SELECT coalesce(max(id), 0) AS m FROM oauth_profiles');
    const firstId = Number(max.rows[0].m) + 1;
    const PER_STATEMENT = 1000;
    const write = async (rows: Row[], sealed: SealedChunk) => {
      await client.query('BEGIN');
      for (let s = 0; s < rows.length; s += PER_STATEMENT) {
        const values: unknown[] = [];
        const tuples = rows.slice(s, s + PER_STATEMENT).map(([id, owner], j) => {
          const name = profileName(id);
          values.push(id, owner, owner, appId, name, nameKey(name), DESCRIPTION, ...sealedAt(sealed, s + j));
          const b = j * 9;
          return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7}, $${b + 8}, $${b + 9}, 1, 1)`;
        });
        await client.query(
          `INSERT INTO oauth_profiles (id, owner_id, creator_id, app_id, name, name_key, description,
          access_token, refresh_token, version, key_version) VALUES ${tuples.join(', ')}`,
          values,
        );
      }
      await client.query('COMMIT');
    };
    const listFirstId = await seedRows(dataKey, count, firstId, await userId('d2cuser'), await userId(LIST_USER), write, progress);
    await client.query("SELECT setval(pg_get_serial_sequence('oauth_profiles', 'id'), (SELECT max(id) FROM oauth_profiles))");
    await client.query('ANALYZE oauth_profiles');
    return { appId, firstId, count, listFirstId };
  } finally {
    await client.end();
  }
}

/**
 * Over HTTP on the measured server: a few seeded profiles open to their expected tokens (the sealing is right),
 * the list user sees exactly 100 profiles, and each user's credentials are verified once — which also fills the
 * server's verified-credential cache, so the load starts on the path a returning client takes.
 */
export async function verifySeeded(base: string, d: Dataset): Promise<void> {
  const samples = [d.firstId, d.firstId + d.count - 1, d.firstId + Math.floor(d.count / 2), d.listFirstId];
  for (const id of samples) {
    const auth = id >= d.listFirstId ? AUTH.list : AUTH.user;
    const p = await expect(`GET seeded profile ${id}`, api(base, 'GET', `/api/mgmt/oauthprofiles/${id}`, auth), 200);
    if (p.accessToken !== accessToken(id) || p.refreshToken !== refreshToken(id) || p.name !== profileName(id)) {
      throw new Error(`seeded profile ${id} does not read back as written`);
    }
  }
  const list = await expect('GET list', api(base, 'GET', '/api/mgmt/oauthprofiles', AUTH.list), 200);
  if (list.profiles.length !== LIST_SIZE) throw new Error(`the list user sees ${list.profiles.length} profiles, not ${LIST_SIZE}`);
}
