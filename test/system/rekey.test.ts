/**
 * `tokenkeep keys rekey` with real processes: the ring re-wrapped under a new master key, taken from a generated file
 * (0600, never overwriting one), from a key file or from standard input. Afterwards a start with the old key is refused
 * as a wrong key (exit 2) and a start with the new key reads every secret; a server running beside the rekey keeps
 * answering (reads and writes) and warns once that it must be restarted, even when a rotation follows. Refused runs
 * change nothing. SQLite always; the running-server case on PostgreSQL too when TOKENKEEP_TEST_PG_URL names a server.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CLI, ROOT, api, basic, childEnv, ensureBuilt, killAll, runCli, startServer, type CliResult, type Running } from '../process-support.js';
import { createPgDatabase, dropPgDatabase, pgDatabaseUrl } from '../helpers.js';

const ADMIN_PW = 'Rekey-Adm1n!';
const USER_PW = 'Rekey-Us3r!';
const ADMIN_AUTH = basic('d2cadmin', ADMIN_PW);
const USER_AUTH = basic('d2cuser', USER_PW);
const WRONG_KEY = /not the one this database was sealed with/;
const MASTER_KEY_CHANGED = /master key of this database was changed.*[Rr]estart/;

/** Runs the CLI with `input` as its standard input. */
async function runCliWithInput(args: string[], env: Record<string, string>, input: string): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: childEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  child.stdin.end(input);
  const exit = await exited;
  clearTimeout(timer);
  await new Promise((resolve) => setImmediate(resolve));
  return { ...exit, stdout, stderr };
}

interface World {
  appId: number;
  appSecret: string;
  profiles: Map<number, { name: string; access: string; refresh: string }>;
  dataSource: { id: number; password: string };
}

async function populate(base: string): Promise<World> {
  const appSecret = `rk-cs-${randomBytes(6).toString('hex')}`;
  const app = await api(base, 'POST', '/api/mgmt/oauthapps', ADMIN_AUTH, {
    name: 'rekey app',
    dataStore: 54,
    tenantId: 1,
    clientId: 'cid',
    clientSecret: appSecret,
    authorizeURI: 'https://accounts.example.com/auth',
    tokenURI: 'https://oauth2.example.com/token',
  });
  assert.equal(app.status, 201, app.text);
  const profiles = new Map<number, { name: string; access: string; refresh: string }>();
  for (let i = 0; i < 4; i++) {
    const p = { name: `rekey_${i}`, access: `rk-at-${i}-${randomBytes(6).toString('hex')}`, refresh: `rk-rt-${i}-${randomBytes(6).toString('hex')}` };
    const res = await api(base, 'POST', '/api/mgmt/oauthprofiles', USER_AUTH, {
      name: p.name,
      oauthAppId: app.body.id,
      accessToken: p.access,
      refreshToken: p.refresh,
    });
    assert.equal(res.status, 201, res.text);
    profiles.set(res.body.id, p);
  }
  const password = `rk-ds-${randomBytes(6).toString('hex')}`;
  const ds = await api(base, 'POST', '/api/mgmt/datasources', USER_AUTH, { name: 'rekey ds', dataStore: 54, options: { Password: password } });
  assert.equal(ds.status, 201, ds.text);
  return { appId: app.body.id, appSecret, profiles, dataSource: { id: ds.body.id, password } };
}

/** Every secret of the world reads back through the server. */
async function verifyAll(base: string, world: World): Promise<void> {
  for (const [id, p] of world.profiles) {
    const res = await api(base, 'GET', `/api/mgmt/oauthprofiles/${id}`, USER_AUTH);
    assert.equal(res.status, 200, `profile ${id}: ${res.text}`);
    assert.equal(res.body.accessToken, p.access);
    assert.equal(res.body.refreshToken, p.refresh);
  }
  const app = await api(base, 'GET', `/api/mgmt/oauthapps/${world.appId}`, ADMIN_AUTH);
  assert.equal(app.body.clientSecret, world.appSecret, app.text);
  const ds = await api(base, 'GET', `/api/mgmt/datasources/${world.dataSource.id}`, USER_AUTH);
  assert.equal(ds.body.options.Password, world.dataSource.password, ds.text);
}

const newKeyText = (): string => `${randomBytes(32).toString('base64')}\n`;

/** A start refused as a wrong key: exit 2, the wrong-key message, never listening. */
async function assertWrongKeyRefused(env: Record<string, string>, what: string): Promise<void> {
  const res = await runCli(['serve'], { PORT: '0', HOST: '127.0.0.1', ...env }, 30_000);
  assert.doesNotMatch(res.stdout + res.stderr, /listening on/, `${what}: must not listen`);
  assert.equal(res.code, 2, `${what}: exit 2\n${res.stdout}${res.stderr}`);
  assert.match(res.stderr, WRONG_KEY, what);
}

/** The server's warnings that its master key changed (JSON log lines at level 40). */
const keyWarnings = (server: Running): string[] =>
  server
    .output()
    .split('\n')
    .filter((l) => MASTER_KEY_CHANGED.test(l))
    .map((l) => {
      assert.equal(JSON.parse(l).level, 40, `logged as a warning: ${l}`);
      return l;
    });

/**
 * A server holding the old key while the ring is rekeyed (and then, against the procedure, rotated): it keeps
 * answering reads and writes with the data keys it holds and warns exactly once; what it wrote reads under the new key.
 */
async function rekeyBesideServer(env: Record<string, string>, oldKey: Record<string, string>, newKeyFile: string, world: World): Promise<void> {
  const server = await startServer({ ...env, ...oldKey });
  try {
    await verifyAll(server.base, world);
    writeFileSync(newKeyFile, newKeyText(), { mode: 0o600 });
    const rekeyed = await runCli(['keys', 'rekey', '--new-key-file', newKeyFile], { ...env, ...oldKey });
    assert.equal(rekeyed.code, 0, `${rekeyed.stdout}${rekeyed.stderr}`);
    assert.match(rekeyed.stdout, /restart every server/);

    // Past the ring refresh interval (1 s), writes and reads go on; the server warns once.
    const [id] = world.profiles.keys();
    const p = world.profiles.get(id)!;
    for (let round = 0; round < 3; round++) {
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const next = { ...p, refresh: `after-rekey-${round}` };
      const put = await api(server.base, 'PUT', `/api/mgmt/oauthprofiles/${id}`, USER_AUTH, {
        name: p.name,
        oauthAppId: world.appId,
        accessToken: p.access,
        refreshToken: next.refresh,
      });
      assert.equal(put.status, 200, put.text);
      world.profiles.set(id, next);
      await verifyAll(server.base, world);
    }
    assert.equal(keyWarnings(server).length, 1, `one warning that the master key changed:\n${server.output()}`);
    assert.ok(!server.output().includes(readFileSync(newKeyFile, 'utf8').trim()), 'no key in the log');

    // Against the procedure, a rotation while this server runs: it cannot unwrap the new version, and goes on
    // writing under the version it has (its rows stay readable; they are left under the old version).
    const rotated = await runCli(['keys', 'rotate'], { ...env, TOKENKEEP_MASTER_KEY_FILE: newKeyFile });
    assert.equal(rotated.code, 0, `${rotated.stdout}${rotated.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const created = await api(server.base, 'POST', '/api/mgmt/oauthprofiles', USER_AUTH, {
      name: 'by_stale_server',
      oauthAppId: world.appId,
      accessToken: 'stale-at',
      refreshToken: 'stale-rt',
    });
    assert.equal(created.status, 201, created.text);
    world.profiles.set(created.body.id, { name: 'by_stale_server', access: 'stale-at', refresh: 'stale-rt' });
    const list = await api(server.base, 'GET', '/api/mgmt/oauthprofiles', USER_AUTH);
    assert.equal(list.status, 200, list.text);
    assert.equal(keyWarnings(server).length, 1, 'still one warning');
    assert.deepEqual(await server.stop(), { code: 0, signal: null });
  } finally {
    server.kill();
  }

  await assertWrongKeyRefused({ ...env, ...oldKey }, 'the old key after the rekey');
  const restarted = await startServer({ ...env, TOKENKEEP_MASTER_KEY_FILE: newKeyFile });
  try {
    await verifyAll(restarted.base, world);
    assert.equal(keyWarnings(restarted).length, 0);
    assert.deepEqual(await restarted.stop(), { code: 0, signal: null });
  } finally {
    restarted.kill();
  }
}

describe('keys rekey on SQLite', { timeout: 600_000 }, () => {
  let dir: string;
  let env: Record<string, string>;
  let world: World;
  /** how the current master key is configured (at first: master.key generated beside the database) */
  let currentKey: Record<string, string> = {};

  before(async () => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'tokenkeep-rekey-'));
    // Missing folders outside the working directory are refused (README, TOKENKEEP_DB), so the test makes its own.
    mkdirSync(join(dir, 'data'), { mode: 0o700 });
    env = { TOKENKEEP_DB: join(dir, 'data', 'tk.db'), TOKENKEEP_ADMIN_PASSWORD: ADMIN_PW, TOKENKEEP_USER_PASSWORD: USER_PW, TOKENKEEP_LOG_LEVEL: 'info' };
    const server = await startServer(env);
    try {
      world = await populate(server.base);
      assert.deepEqual(await server.stop(), { code: 0, signal: null });
    } finally {
      server.kill();
    }
  });

  after(() => {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  const keyCheck = (): Buffer => {
    const db = new Database(env.TOKENKEEP_DB, { readonly: true });
    try {
      return db.prepare("SELECT value FROM meta WHERE key = 'key_check'").pluck().get() as Buffer;
    } finally {
      db.close();
    }
  };

  test('refused: an existing --generate-key-file, a malformed or missing --new-key-file, both flags, the current key; nothing changes', async () => {
    const before = keyCheck();
    const existing = join(dir, 'existing.key');
    writeFileSync(existing, 'keep me\n', { mode: 0o600 });
    const overwrite = await runCli(['keys', 'rekey', '--generate-key-file', existing], { ...env, ...currentKey });
    assert.equal(overwrite.code, 2, overwrite.stderr);
    assert.match(overwrite.stderr, /--generate-key-file/);
    assert.match(overwrite.stderr, /already exists/);
    assert.equal(readFileSync(existing, 'utf8'), 'keep me\n', 'the existing file is untouched');

    const garbage = join(dir, 'garbage.key');
    writeFileSync(garbage, 'not a key\n');
    const current = join(dir, 'data', 'master.key');
    const cases: [string[], RegExp][] = [
      [['--new-key-file', garbage], /--new-key-file.*32-byte key/],
      [['--new-key-file', join(dir, 'nowhere.key')], /--new-key-file.*does not exist/],
      [['--generate-key-file', join(dir, 'no-such-folder', 'new.key')], /--generate-key-file.*does not exist/],
      [['--new-key-file', garbage, '--generate-key-file', join(dir, 'both.key')], /not both/],
      [['--new-key-file', current], /is the current one/],
    ];
    for (const [args, message] of cases) {
      const res = await runCli(['keys', 'rekey', ...args], { ...env, ...currentKey });
      assert.equal(res.code, 2, `${args.join(' ')}: ${res.stdout}${res.stderr}`);
      assert.match(res.stderr, message);
    }
    const fromStdin = await runCliWithInput(['keys', 'rekey'], { ...env, ...currentKey }, 'short\n');
    assert.equal(fromStdin.code, 2, fromStdin.stderr);
    assert.match(fromStdin.stderr, /standard input/);
    assert.ok(!existsSync(join(dir, 'both.key')) && !existsSync(join(dir, 'no-such-folder')));
    assert.ok(keyCheck().equals(before), 'the key ring is unchanged');
    const status = await runCli(['keys', 'status'], { ...env, ...currentKey });
    assert.equal(status.code, 0, status.stderr);
  });

  test('--generate-key-file: a new 0600 key file; a start with the old key is refused (exit 2), the new key reads every secret', async () => {
    const oldKey = readFileSync(join(dir, 'data', 'master.key'), 'utf8').trim();
    const file = join(dir, 'generated.key');
    const res = await runCli(['keys', 'rekey', '--generate-key-file', file], { ...env, ...currentKey });
    assert.equal(res.code, 0, `${res.stdout}${res.stderr}`);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const key = readFileSync(file, 'utf8').trim();
    assert.equal(Buffer.from(key, 'base64').length, 32);
    assert.ok(!(res.stdout + res.stderr).includes(key) && !(res.stdout + res.stderr).includes(oldKey), 'no key printed');
    assert.match(res.stdout, /restart every server/);

    // master.key beside the database still holds the old key: the default start is refused as a wrong key.
    await assertWrongKeyRefused(env, 'master.key (the old key)');
    await assertWrongKeyRefused({ ...env, TOKENKEEP_MASTER_KEY: oldKey }, 'TOKENKEEP_MASTER_KEY (the old key)');
    currentKey = { TOKENKEEP_MASTER_KEY_FILE: file };
    const server = await startServer({ ...env, ...currentKey });
    try {
      await verifyAll(server.base, world);
      assert.deepEqual(await server.stop(), { code: 0, signal: null });
    } finally {
      server.kill();
    }
  });

  test('the new key from standard input', async () => {
    const before = currentKey;
    const key = newKeyText();
    const res = await runCliWithInput(['keys', 'rekey'], { ...env, ...currentKey }, key);
    assert.equal(res.code, 0, `${res.stdout}${res.stderr}`);
    assert.ok(!(res.stdout + res.stderr).includes(key.trim()));
    await assertWrongKeyRefused({ ...env, ...before }, 'the key before the rekey');
    currentKey = { TOKENKEEP_MASTER_KEY: key.trim() };
    const server = await startServer({ ...env, ...currentKey });
    try {
      await verifyAll(server.base, world);
      assert.deepEqual(await server.stop(), { code: 0, signal: null });
    } finally {
      server.kill();
    }
  });

  test('beside a running server: it keeps answering reads and writes and warns once; the new key reads what it wrote', async () => {
    const file = join(dir, 'beside.key');
    await rekeyBesideServer(env, currentKey, file, world);
    currentKey = { TOKENKEEP_MASTER_KEY_FILE: file };
  });
});

const PG_URL = process.env.TOKENKEEP_TEST_PG_URL;

describe(
  'keys rekey on PostgreSQL',
  { skip: PG_URL ? false : 'TOKENKEEP_TEST_PG_URL is not set: no PostgreSQL server to test against', timeout: 300_000 },
  () => {
    let dir: string;
    let database: string;
    let env: Record<string, string>;
    let world: World;
    let oldKey: Record<string, string>;

    before(async () => {
      ensureBuilt();
      dir = mkdtempSync(join(tmpdir(), 'tokenkeep-rekey-pg-'));
      database = await createPgDatabase();
      env = { TOKENKEEP_DB: pgDatabaseUrl(database), TOKENKEEP_ADMIN_PASSWORD: ADMIN_PW, TOKENKEEP_USER_PASSWORD: USER_PW, TOKENKEEP_LOG_LEVEL: 'info' };
      oldKey = { TOKENKEEP_MASTER_KEY: randomBytes(32).toString('base64') };
      const server = await startServer({ ...env, ...oldKey });
      try {
        world = await populate(server.base);
        assert.deepEqual(await server.stop(), { code: 0, signal: null });
      } finally {
        server.kill();
      }
    });

    after(async () => {
      killAll();
      rmSync(dir, { recursive: true, force: true });
      if (database) await dropPgDatabase(database);
    });

    test('beside a running server: it keeps answering reads and writes and warns once; the old key is refused, the new one reads everything', async () => {
      await rekeyBesideServer(env, oldKey, join(dir, 'new.key'), world);
    });
  },
);
