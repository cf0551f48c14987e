/**
 * Sealed start with real processes: the first start of an empty database generates `master.key` (0600) beside it
 * and says loudly to back it up (without printing it); later starts with a wrong key, without a key, with a
 * malformed key or with a key file that does not exist are refused, non-zero, saying why — and leave the database
 * file and its WAL byte for byte as they were, and write no new key.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api, basic, ensureBuilt, killAll, runCli, startServer, type CliResult, type Running } from '../process-support.js';

const ADMIN_PW = 'Sealed-Adm1n!';
const USER_PW = 'Sealed-Us3r!';
const USER_AUTH = basic('d2cuser', USER_PW);
const ADMIN_AUTH = basic('d2cadmin', ADMIN_PW);

const hashOf = (file: string): string => (existsSync(file) ? createHash('sha256').update(readFileSync(file)).digest('hex') : 'absent');

describe('sealed start', { timeout: 600_000 }, () => {
  let dir: string;
  let db: string;
  let keyFile: string;
  let key: string;
  const secrets = {
    refresh: `rt-${randomBytes(8).toString('hex')}`,
    access: `at-${randomBytes(8).toString('hex')}`,
    client: `cs-${randomBytes(8).toString('hex')}`,
  };
  let profileId: number;
  let appId: number;
  let firstOutput = '';
  const running: Running[] = [];

  const env = (extra: Record<string, string> = {}): Record<string, string> => ({
    TOKENKEEP_DB: db,
    TOKENKEEP_ADMIN_PASSWORD: ADMIN_PW,
    TOKENKEEP_USER_PASSWORD: USER_PW,
    TOKENKEEP_LOG_LEVEL: 'info',
    PORT: '0',
    HOST: '127.0.0.1',
    ...extra,
  });

  /** Runs `serve` expecting a refusal; returns its output. A start that gets as far as listening fails the test. */
  async function refusedStart(extra: Record<string, string>, what: string): Promise<CliResult> {
    const res = await runCli(['serve'], env(extra), 30_000);
    assert.notEqual(res.signal, 'SIGKILL', `${what}: the start did not end by itself (it should have been refused):\n${res.stdout}${res.stderr}`);
    assert.doesNotMatch(res.stdout + res.stderr, /listening on/, `${what}: the server must not listen`);
    assert.notEqual(res.code, 0, `${what}: exits non-zero`);
    assert.notEqual(res.code, null);
    return res;
  }

  const files = () => ({ db: hashOf(db), wal: hashOf(`${db}-wal`) });

  before(async () => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'tokenkeep-sealed-'));
    db = join(dir, 'data', 'tk.db');
    keyFile = join(dir, 'data', 'master.key');
    // tokenkeep creates a missing folder only inside its working directory.
    mkdirSync(join(dir, 'data'), { mode: 0o700 });

    // First start of an empty database: a key is generated beside it.
    const server = await startServer(env());
    running.push(server);
    assert.equal((await api(server.base, 'GET', '/api/mgmt/permissions', ADMIN_AUTH)).status, 200);
    const app = await api(server.base, 'POST', '/api/mgmt/oauthapps', ADMIN_AUTH, {
      name: 'sealed app',
      dataStore: 54,
      tenantId: 1,
      clientId: 'cid',
      clientSecret: secrets.client,
      authorizeURI: 'https://accounts.example.com/auth',
      tokenURI: 'https://oauth2.example.com/token',
    });
    assert.equal(app.status, 201, app.text);
    const profile = await api(server.base, 'POST', '/api/mgmt/oauthprofiles', USER_AUTH, {
      name: 'sealed',
      oauthAppId: app.body.id,
      accessToken: secrets.access,
      refreshToken: secrets.refresh,
    });
    assert.equal(profile.status, 201, profile.text);
    profileId = profile.body.id;
    appId = app.body.id;
    const stopped = await server.stop();
    assert.deepEqual(stopped, { code: 0, signal: null }, server.output());
    firstOutput = server.output();
    key = readFileSync(keyFile, 'utf8').trim();
  });

  after(() => {
    for (const r of running) r.kill();
    killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the first start generates master.key, mode 0600, and warns to back it up without showing it', () => {
    assert.ok(existsSync(keyFile), 'master.key beside the database');
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    assert.equal(Buffer.from(key, 'base64').length, 32, 'a base64 32-byte key');
    const lines = firstOutput.split('\n').filter((l) => l.trim() !== '');
    const warning = lines.find((l) => /back it up/i.test(l));
    assert.ok(warning, `a start-up line says to back the key up:\n${firstOutput}`);
    const parsed = JSON.parse(warning);
    assert.equal(parsed.level, 40, 'logged as a warning');
    assert.ok(parsed.msg.includes(keyFile), 'the warning names the key file');
    assert.ok(!firstOutput.includes(key), 'the key itself is never logged');
    assert.ok(!firstOutput.includes(Buffer.from(key, 'base64').toString('hex')), 'not in hex either');
    assert.ok(!firstOutput.includes(Buffer.from(key, 'base64').toString('base64url')), 'not in base64url either');
    for (const s of Object.values(secrets)) assert.ok(!firstOutput.includes(s));
  });

  test('a second start with the generated key unseals, reads the data, and says where the key came from', async () => {
    const server = await startServer(env());
    running.push(server);
    const res = await api(server.base, 'GET', `/api/mgmt/oauthprofiles/${profileId}`, USER_AUTH);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.refreshToken, secrets.refresh);
    assert.match(server.output(), /unsealed with the master key from/);
    assert.doesNotMatch(server.output(), /back it up/i, 'no new key on a later start');
    assert.ok(!server.output().includes(key));
    assert.deepEqual(await server.stop(), { code: 0, signal: null });
  });

  test('a wrong TOKENKEEP_MASTER_KEY is refused; nothing on disk changes', async () => {
    const before = files();
    const wrong = randomBytes(32).toString('base64');
    const res = await refusedStart({ TOKENKEEP_MASTER_KEY: wrong }, 'wrong key');
    assert.match(res.stderr, /not the one this database was sealed with/);
    assert.match(res.stderr, /TOKENKEEP_MASTER_KEY/, 'says which key was used');
    assert.ok(!(res.stdout + res.stderr).includes(wrong), 'the refused key is not echoed');
    assert.ok(!(res.stdout + res.stderr).includes(key));
    assert.deepEqual(files(), before, 'database and WAL bytes unchanged');
    assert.equal(readFileSync(keyFile, 'utf8').trim(), key, 'master.key untouched');

    // The key commands refuse the same way.
    const status = await runCli(['keys', 'status'], env({ TOKENKEEP_MASTER_KEY: wrong }));
    assert.notEqual(status.code, 0);
    assert.match(status.stderr, /not the one this database was sealed with/);
    const rotate = await runCli(['keys', 'rotate'], env({ TOKENKEEP_MASTER_KEY: wrong }));
    assert.notEqual(rotate.code, 0);
    assert.deepEqual(files(), before, 'database and WAL bytes unchanged by refused key commands');
  });

  test('a wrong key in the key file (or in TOKENKEEP_MASTER_KEY_FILE) is refused; nothing on disk changes', async () => {
    const before = files();
    const other = join(dir, 'other.key');
    writeFileSync(other, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    const viaFile = await refusedStart({ TOKENKEEP_MASTER_KEY_FILE: other }, 'wrong key file');
    assert.match(viaFile.stderr, /not the one this database was sealed with/);
    assert.match(viaFile.stderr, /other\.key/, 'names the file the key came from');
    assert.deepEqual(files(), before);

    // A master.key beside the database replaced by another key.
    renameSync(keyFile, `${keyFile}.good`);
    try {
      writeFileSync(keyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
      const replaced = await refusedStart({}, 'replaced master.key');
      assert.match(replaced.stderr, /not the one this database was sealed with/);
      assert.deepEqual(files(), before);
    } finally {
      renameSync(`${keyFile}.good`, keyFile);
    }
  });

  test('a missing key (master.key moved away, nothing configured) is refused, and no new key is written', async () => {
    const before = files();
    const away = join(dir, 'moved-away.key');
    renameSync(keyFile, away);
    try {
      const res = await refusedStart({}, 'missing key');
      assert.match(res.stderr, /no master key is configured/);
      assert.match(res.stderr, /TOKENKEEP_MASTER_KEY/);
      assert.ok(res.stderr.includes(keyFile), 'says where the key file was looked for');
      assert.ok(!existsSync(keyFile), 'no new master.key was written');
      assert.deepEqual(files(), before, 'database and WAL bytes unchanged');
      const status = await runCli(['keys', 'status'], env());
      assert.notEqual(status.code, 0);
      assert.ok(!existsSync(keyFile), 'not by a key command either');

      // The moved key given through the environment or a key file unseals.
      for (const extra of [{ TOKENKEEP_MASTER_KEY: key }, { TOKENKEEP_MASTER_KEY_FILE: away }] as Record<string, string>[]) {
        const server = await startServer(env(extra));
        running.push(server);
        const got = await api(server.base, 'GET', `/api/mgmt/oauthprofiles/${profileId}`, USER_AUTH);
        assert.equal(got.status, 200, got.text);
        assert.equal(got.body.accessToken, secrets.access);
        assert.ok(!server.output().includes(key), 'the key is not logged');
        assert.deepEqual(await server.stop(), { code: 0, signal: null });
        assert.ok(!existsSync(keyFile), 'still no master.key written');
      }
    } finally {
      renameSync(away, keyFile);
    }
  });

  test('a malformed TOKENKEEP_MASTER_KEY is refused naming the setting, without echoing it', async () => {
    const before = files();
    for (const bad of [
      randomBytes(16).toString('base64'),
      randomBytes(31).toString('base64'),
      randomBytes(33).toString('base64'),
      'not base64 at all!',
      `${key}x`,
    ]) {
      const res = await refusedStart({ TOKENKEEP_MASTER_KEY: bad }, `malformed key ${bad.length}`);
      assert.match(res.stderr, /\bTOKENKEEP_MASTER_KEY\b/);
      assert.match(res.stderr, /32 bytes/);
      assert.ok(!res.stderr.includes(bad), 'the malformed value is not echoed');
    }
    assert.deepEqual(files(), before);
  });

  test('TOKENKEEP_MASTER_KEY_FILE naming a missing file, or a file without a key, is refused naming the setting', async () => {
    const before = files();
    const missing = join(dir, 'no-such-dir', 'master.key');
    const res = await refusedStart({ TOKENKEEP_MASTER_KEY_FILE: missing }, 'missing key file');
    assert.match(res.stderr, /\bTOKENKEEP_MASTER_KEY_FILE\b/);
    assert.ok(res.stderr.includes(missing), 'names the path');
    assert.ok(!existsSync(missing), 'nothing was created there');

    const garbage = join(dir, 'garbage.key');
    writeFileSync(garbage, 'this is not a key\n', { mode: 0o600 });
    const bad = await refusedStart({ TOKENKEEP_MASTER_KEY_FILE: garbage }, 'garbage key file');
    assert.match(bad.stderr, /\bTOKENKEEP_MASTER_KEY_FILE\b/);
    assert.match(bad.stderr, /32-byte key/);
    assert.deepEqual(files(), before);
  });

  test('a key file readable by other users is used, with a warning', async () => {
    chmodSync(keyFile, 0o644);
    try {
      const server = await startServer(env());
      running.push(server);
      assert.match(server.output(), /readable by other users/);
      assert.ok(!server.output().includes(key));
      assert.deepEqual(await server.stop(), { code: 0, signal: null });
    } finally {
      chmodSync(keyFile, 0o600);
    }
  });

  test('a first start with TOKENKEEP_MASTER_KEY set writes no key file; a missing TOKENKEEP_MASTER_KEY_FILE is refused even on an empty database', async () => {
    const fresh = join(dir, 'fresh');
    const freshDb = join(fresh, 'tk.db');
    mkdirSync(fresh, { mode: 0o700 });
    const given = randomBytes(32).toString('base64');
    const server = await startServer(env({ TOKENKEEP_DB: freshDb, TOKENKEEP_MASTER_KEY: given }));
    running.push(server);
    assert.doesNotMatch(server.output(), /back it up/i);
    assert.deepEqual(await server.stop(), { code: 0, signal: null });
    assert.ok(!existsSync(join(fresh, 'master.key')), 'no key file when the key is configured');
    const without = await refusedStart({ TOKENKEEP_DB: freshDb }, 'configured-key database started without it');
    assert.match(without.stderr, /no master key is configured/);
    assert.ok(!existsSync(join(fresh, 'master.key')));

    const empty = join(dir, 'empty', 'tk.db');
    const missingFile = join(dir, 'empty', 'nowhere.key');
    mkdirSync(join(dir, 'empty'), { mode: 0o700 });
    const res = await refusedStart({ TOKENKEEP_DB: empty, TOKENKEEP_MASTER_KEY_FILE: missingFile }, 'missing key file on an empty database');
    assert.match(res.stderr, /\bTOKENKEEP_MASTER_KEY_FILE\b/);
    assert.ok(!existsSync(missingFile), 'a configured key file is never generated');
  });
  test('after a crash (a WAL with committed transactions left behind), refused starts still change no byte', async () => {
    const server = await startServer(env());
    running.push(server);
    const put = await api(server.base, 'PUT', `/api/mgmt/oauthprofiles/${profileId}`, USER_AUTH, {
      name: 'sealed',
      oauthAppId: appId,
      accessToken: secrets.access,
      refreshToken: `${secrets.refresh}-2`,
    });
    assert.equal(put.status, 200, put.text);
    server.kill();
    await server.exited;
    assert.ok(existsSync(`${db}-wal`) && statSync(`${db}-wal`).size > 0, 'the crash left a WAL behind');
    const before = files();
    await refusedStart({ TOKENKEEP_MASTER_KEY: randomBytes(32).toString('base64') }, 'wrong key after a crash');
    assert.deepEqual(files(), before, 'a start refused for a wrong key leaves the database file and WAL as they were');
    const away = join(dir, 'moved-after-crash.key');
    renameSync(keyFile, away);
    try {
      await refusedStart({}, 'missing key after a crash');
      assert.deepEqual(files(), before, 'a start refused for a missing key leaves the database file and WAL as they were');
    } finally {
      renameSync(away, keyFile);
    }
    // And the data written before the crash is there.
    const again = await startServer(env());
    running.push(again);
    const got = await api(again.base, 'GET', `/api/mgmt/oauthprofiles/${profileId}`, USER_AUTH);
    assert.equal(got.body.refreshToken, `${secrets.refresh}-2`);
    assert.deepEqual(await again.stop(), { code: 0, signal: null });
  });
});
