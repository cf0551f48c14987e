/**
 * TLS: the real process with TOKENKEEP_TLS_CERT/KEY serves HTTPS on 127.0.0.1 (and nothing else on that port); and
 * loadConfig's rules, checked without binding anything: plain HTTP on a non-loopback HOST is refused unless
 * TOKENKEEP_ALLOW_INSECURE_HTTP=1, and a half, unreadable or unusable certificate configuration is refused naming
 * the setting.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, loadConfig } from '../../src/config.js';
import { ROOT, basic, ensureBuilt, killAll, startServer, type Running } from '../process-support.js';
import { selfSignedCertificate } from '../tls-support.js';

const ADMIN_PW = 'Tls-Adm1n-Pw!';
/** Run as `node -e` with argv [config module URL, environment as JSON]: prints how loadConfig ended, as JSON. */
const LOAD_CONFIG_IN_CHILD = `
const { loadConfig, ConfigError } = await import(process.argv[1]);
try {
  loadConfig(JSON.parse(process.argv[2]));
  console.log(JSON.stringify({ loaded: true }));
} catch (err) {
  console.log(JSON.stringify({ configError: err instanceof ConfigError, setting: err.setting, message: err.message }));
}`;
const USER_PW = 'Tls-Us3r-Pw!';

interface Reply {
  status: number;
  body: string;
  headers: Record<string, unknown>;
}

function get(fn: typeof httpsRequest | typeof httpRequest, url: string, opts: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = fn(url, { ...opts, timeout: 15_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Asserts loading throws a ConfigError for `setting`, named in its message; returns the message. */
function refused(env: NodeJS.ProcessEnv, setting: string, flags: Record<string, string> = {}): string {
  let caught: unknown;
  try {
    loadConfig(env, flags);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError naming ${setting}, got ${String(caught)}`);
  assert.equal(caught.setting, setting);
  assert.match(caught.message, new RegExp(`\\b${setting}\\b`));
  return caught.message;
}

describe('TLS', { timeout: 300_000 }, () => {
  let dir: string;
  let pair: { cert: string; key: string };
  let other: { cert: string; key: string };
  let server: Running | undefined;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tokenkeep-tls-'));
    pair = selfSignedCertificate(dir, 'main');
    other = selfSignedCertificate(dir, 'other');
  });
  after(() => {
    server?.kill();
    killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('the real process', () => {
    test('serves HTTPS with the configured certificate and nothing in plain HTTP', async () => {
      ensureBuilt();
      server = await startServer(
        {
          TOKENKEEP_DB: join(dir, 'tk.db'),
          TOKENKEEP_ADMIN_PASSWORD: ADMIN_PW,
          TOKENKEEP_USER_PASSWORD: USER_PW,
          TOKENKEEP_LOG_LEVEL: 'info',
          TOKENKEEP_TLS_CERT: pair.cert,
          TOKENKEEP_TLS_KEY: pair.key,
          HOST: '127.0.0.1',
        },
        { scheme: 'https' },
      );
      assert.match(server.output(), /listening on https:\/\/127\.0\.0\.1:\d+/);
      assert.doesNotMatch(server.output(), /listening on http:\/\//);
      const ca = readFileSync(pair.cert);

      const health = await get(httpsRequest, `${server.base}/api/healthcheck`, { ca });
      assert.equal(health.status, 200);
      assert.deepEqual(JSON.parse(health.body), { status: 'active' });

      const mine = await get(httpsRequest, `${server.base}/api/mgmt/permissions`, { ca, headers: { authorization: basic('d2cuser', USER_PW) } });
      assert.equal(mine.status, 200, mine.body);
      const anonymous = await get(httpsRequest, `${server.base}/api/mgmt/permissions`, { ca });
      assert.equal(anonymous.status, 401);

      // The certificate is the configured one: a client trusting only another certificate refuses the connection.
      await assert.rejects(get(httpsRequest, `${server.base}/api/healthcheck`, { ca: readFileSync(other.cert) }), /self[- ]signed|certificate/i);
      await assert.rejects(get(httpsRequest, `${server.base}/api/healthcheck`), /self[- ]signed|certificate/i, 'not trusted by default');

      // Plain HTTP to the same port gets no answer from the API.
      const plain = `http://127.0.0.1:${server.port}/api/healthcheck`;
      const outcome = await get(httpRequest, plain).then(
        (r) => r,
        (err: Error) => err,
      );
      if (!(outcome instanceof Error)) {
        assert.notEqual(outcome.status, 200, 'plain HTTP is not served');
        assert.ok(!outcome.body.includes('active'), 'plain HTTP is not served');
      }
      const viaFetch = await fetch(plain, { signal: AbortSignal.timeout(15_000) }).then(
        (r) => r.status,
        (err: Error) => err,
      );
      assert.ok(viaFetch instanceof Error || viaFetch !== 200, `plain HTTP fetch: ${String(viaFetch)}`);

      // Still serving over HTTPS after the plain attempt.
      assert.equal((await get(httpsRequest, `${server.base}/api/healthcheck`, { ca })).status, 200);
      assert.deepEqual(await server.stop(), { code: 0, signal: null });
    });
  });

  describe('loadConfig', () => {
    test('plain HTTP on a non-loopback HOST is refused naming HOST, and accepted with TOKENKEEP_ALLOW_INSECURE_HTTP=1', () => {
      for (const host of ['0.0.0.0', '::', '192.0.2.10', 'example.com', '[::]']) {
        const message = refused({ HOST: host }, 'HOST');
        assert.match(message, /TOKENKEEP_TLS_CERT/, 'says how to fix it');
        assert.match(message, /TOKENKEEP_ALLOW_INSECURE_HTTP/);
        const insecure = loadConfig({ HOST: host, TOKENKEEP_ALLOW_INSECURE_HTTP: '1' });
        assert.equal(insecure.host, host);
        assert.equal(insecure.allowInsecureHttp, true);
        assert.equal(insecure.tls, undefined);
      }
      refused({ HOST: '0.0.0.0', TOKENKEEP_ALLOW_INSECURE_HTTP: '0' }, 'HOST');
      refused({}, 'HOST', { host: '0.0.0.0' });
      refused({ HOST: '0.0.0.0', TOKENKEEP_ALLOW_INSECURE_HTTP: 'yes' }, 'TOKENKEEP_ALLOW_INSECURE_HTTP');
      refused({ HOST: '127.0.0.1', TOKENKEEP_ALLOW_INSECURE_HTTP: 'true' }, 'TOKENKEEP_ALLOW_INSECURE_HTTP');
    });

    test('loopback hosts are served in plain HTTP without further settings', () => {
      for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', 'LOCALHOST']) {
        const config = loadConfig({ HOST: host });
        assert.equal(config.tls, undefined);
        assert.equal(config.allowInsecureHttp, false);
      }
    });

    test('a certificate and key make a non-loopback HOST acceptable, from the environment or the flags', () => {
      const config = loadConfig({ HOST: '0.0.0.0', TOKENKEEP_TLS_CERT: pair.cert, TOKENKEEP_TLS_KEY: pair.key });
      assert.deepEqual(config.tls?.cert, readFileSync(pair.cert));
      assert.deepEqual(config.tls?.key, readFileSync(pair.key));
      assert.equal(config.allowInsecureHttp, false);
      const flags = loadConfig({ HOST: '0.0.0.0' }, { 'tls-cert': pair.cert, 'tls-key': pair.key });
      assert.deepEqual(flags.tls?.cert, readFileSync(pair.cert));
      // A flag wins over the environment.
      const over = loadConfig({ TOKENKEEP_TLS_CERT: join(dir, 'nope.pem'), TOKENKEEP_TLS_KEY: pair.key }, { 'tls-cert': pair.cert });
      assert.deepEqual(over.tls?.cert, readFileSync(pair.cert));
    });

    test('a certificate without its key, or a key without its certificate, is refused naming the missing setting', () => {
      const noKey = refused({ TOKENKEEP_TLS_CERT: pair.cert }, 'TOKENKEEP_TLS_KEY');
      assert.match(noKey, /TOKENKEEP_TLS_CERT/);
      refused({ TOKENKEEP_TLS_KEY: pair.key }, 'TOKENKEEP_TLS_CERT');
      refused({ HOST: '0.0.0.0', TOKENKEEP_TLS_CERT: pair.cert }, 'TOKENKEEP_TLS_KEY');
      refused({}, 'TOKENKEEP_TLS_CERT', { 'tls-key': pair.key });
    });

    test('an unreadable, missing, garbage or mismatched certificate or key is refused', () => {
      const missing = join(dir, 'missing.pem');
      assert.match(refused({ TOKENKEEP_TLS_CERT: missing, TOKENKEEP_TLS_KEY: pair.key }, 'TOKENKEEP_TLS_CERT'), /ENOENT/);
      assert.match(refused({ TOKENKEEP_TLS_CERT: pair.cert, TOKENKEEP_TLS_KEY: missing }, 'TOKENKEEP_TLS_KEY'), /ENOENT/);
      refused({ TOKENKEEP_TLS_CERT: dir, TOKENKEEP_TLS_KEY: pair.key }, 'TOKENKEEP_TLS_CERT'); // a directory

      const garbage = join(dir, 'garbage.pem');
      writeFileSync(garbage, 'this is not a certificate\n');
      assert.ok(refused({ TOKENKEEP_TLS_CERT: garbage, TOKENKEEP_TLS_KEY: pair.key }, 'TOKENKEEP_TLS_CERT'));
      assert.throws(() => loadConfig({ TOKENKEEP_TLS_CERT: pair.cert, TOKENKEEP_TLS_KEY: garbage }), ConfigError);
      const empty = join(dir, 'empty.pem');
      writeFileSync(empty, '');
      assert.throws(() => loadConfig({ TOKENKEEP_TLS_CERT: empty, TOKENKEEP_TLS_KEY: pair.key }), ConfigError);
      // Swapped files, and a key that is not the certificate's.
      assert.throws(() => loadConfig({ TOKENKEEP_TLS_CERT: pair.key, TOKENKEEP_TLS_KEY: pair.cert }), ConfigError);
      const mismatch = refused({ TOKENKEEP_TLS_CERT: pair.cert, TOKENKEEP_TLS_KEY: other.key }, 'TOKENKEEP_TLS_CERT');
      assert.match(mismatch, /TOKENKEEP_TLS_KEY/);
      // Error messages name files, never their contents.
      assert.ok(!mismatch.includes(readFileSync(other.key, 'utf8').split('\n')[1]));
    });

    test('a certificate the process may not read is refused naming TOKENKEEP_TLS_CERT, with EACCES (as root too)', (t) => {
      const unreadable = join(dir, 'unreadable.pem');
      writeFileSync(unreadable, readFileSync(pair.cert));
      chmodSync(unreadable, 0o000);
      const env = { TOKENKEEP_TLS_CERT: unreadable, TOKENKEEP_TLS_KEY: pair.key };
      if (process.getuid?.() !== 0) {
        assert.match(refused(env, 'TOKENKEEP_TLS_CERT'), /EACCES/);
        return;
      }
      // Root reads a mode-0000 file anyway (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), and CI runs as root: load the
      // configuration in a child that is still root, so it reads the project's files, but without those two.
      const drop = '-dac_override,-dac_read_search';
      const res = spawnSync(
        'setpriv',
        [
          '--bounding-set',
          drop,
          '--inh-caps',
          drop,
          process.execPath,
          '--import',
          'tsx',
          '--input-type=module',
          '-e',
          LOAD_CONFIG_IN_CHILD,
          pathToFileURL(join(ROOT, 'src', 'config.ts')).href,
          JSON.stringify(env),
        ],
        { cwd: ROOT, encoding: 'utf8', timeout: 60_000 },
      );
      if ((res.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
        t.skip('setpriv (util-linux) is missing: as root, nothing else makes a file unreadable to this process');
        return;
      }
      assert.equal(res.status, 0, `child: ${res.error ?? ''} ${res.stderr}`);
      const outcome = JSON.parse(res.stdout);
      assert.equal(outcome.configError, true, `expected a ConfigError, got ${res.stdout}`);
      assert.equal(outcome.setting, 'TOKENKEEP_TLS_CERT');
      assert.match(outcome.message, /\bTOKENKEEP_TLS_CERT\b.*EACCES/);
    });
  });
});
