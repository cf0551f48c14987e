/**
 * The real server process, started the way the README does (`npm start`, or `node dist/cli.js serve` once built),
 * talked to over loopback HTTP and stopped with SIGTERM. Everything binds to 127.0.0.1 and everything times out.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const ADMIN_PASSWORD = 'Blackbox-Adm1n!';
const USER_PASSWORD = 'Blackbox-Us3r!';
const START_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 15_000;

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;

/** The environment of a child: ours without test-runner or loader settings, plus the server's. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) {
    if (key === 'NODE_OPTIONS' || key === 'NODE_TEST_CONTEXT' || /^(PORT|HOST)$/.test(key) || key.startsWith('TOKENKEEP_')) delete env[key];
  }
  return { ...env, npm_config_update_notifier: 'false', npm_config_fund: 'false', ...extra };
}

interface Running {
  child: ChildProcess;
  /** pid of the node process that serves (under `npm start` it is not npm's) */
  serverPid: number;
  base: string;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM to the server process; resolves with how the spawned process ended */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** last resort: kills the whole process group */
  kill(): void;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

let built = false;

/** Starts the server and waits for its `listening on http://127.0.0.1:<port>` log line. */
async function start(how: 'npm' | 'node', env: Record<string, string>): Promise<Running> {
  const [command, args] = how === 'npm' ? ['npm', ['start']] : [process.execPath, [CLI, 'serve']];
  const child = spawn(command, args, { cwd: ROOT, env: childEnv(env), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  };
  const listening = new Promise<{ port: number; pid: number }>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const line = output.split('\n').find((l) => /listening on http:\/\/127\.0\.0\.1:\d+/.test(l));
      if (!line) return;
      const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(line)![1]);
      let pid = how === 'node' ? child.pid! : NaN;
      try {
        pid = JSON.parse(line.slice(line.indexOf('{'))).pid ?? pid;
      } catch {
        /* not JSON: keep the spawned pid */
      }
      resolve({ port, pid });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    exited.then(({ code, signal }) => reject(new Error(`server exited (${code ?? signal}) before listening:\n${output}`)));
  });
  try {
    const { port, pid } = await withTimeout(listening, START_TIMEOUT_MS, `${how} start`);
    assert.ok(Number.isInteger(pid) && pid > 0, `server pid from the log: ${pid}`);
    return {
      child,
      serverPid: pid,
      base: `http://127.0.0.1:${port}`,
      output: () => output,
      exited,
      kill,
      async stop() {
        process.kill(pid, 'SIGTERM');
        return withTimeout(exited, STOP_TIMEOUT_MS, 'exit after SIGTERM');
      },
    };
  } catch (err) {
    kill();
    throw err;
  }
}

/** `dist/` as `npm start` would leave it, for the tests that run `node dist/cli.js` directly. */
function ensureBuilt(): void {
  if (built && existsSync(CLI)) return;
  const result = spawnSync('npm', ['run', 'build'], { cwd: ROOT, env: childEnv({}), encoding: 'utf8', timeout: START_TIMEOUT_MS });
  assert.equal(result.status, 0, `npm run build failed:\n${result.stdout}\n${result.stderr}`);
  built = true;
}

const fetchWithTimeout = (url: string, init: RequestInit = {}) => fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });

describe('the server process', { timeout: 300_000 }, () => {
  let dir: string;
  const running: Running[] = [];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tokenkeep-blackbox-'));
  });
  after(() => {
    for (const r of running) r.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  const env = () => ({
    PORT: '0',
    HOST: '127.0.0.1',
    TOKENKEEP_DB: join(dir, 'tk.db'),
    TOKENKEEP_ADMIN_PASSWORD: ADMIN_PASSWORD,
    TOKENKEEP_USER_PASSWORD: USER_PASSWORD,
    TOKENKEEP_LOG_LEVEL: 'info',
  });

  test('npm start serves over loopback and stops cleanly on SIGTERM', async () => {
    ensureBuilt(); // `npm start` runs dist/ as built (by `npm ci`, then `npm run build` after a change)
    const server = await start('npm', env());
    running.push(server);

    const health = await fetchWithTimeout(`${server.base}/api/healthcheck`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'active' });
    assert.equal(health.headers.get('cache-control'), 'no-store');

    const head = await fetchWithTimeout(`${server.base}/api/healthcheck`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal((await head.arrayBuffer()).byteLength, 0);

    const mine = await fetchWithTimeout(`${server.base}/api/mgmt/permissions`, { headers: { authorization: basic('d2cuser', USER_PASSWORD) } });
    assert.equal(mine.status, 200);
    const ids = ((await mine.json()) as { permissions: { id: number; name: string }[] }).permissions.map((p) => p.id).sort((a, b) => a - b);
    assert.deepEqual(ids, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 'd2cuser holds the User role (1–11)');

    const anonymous = await fetchWithTimeout(`${server.base}/api/mgmt/permissions`);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers.get('www-authenticate'), 'Basic realm="tokenkeep", charset="UTF-8"');
    assert.equal(((await anonymous.json()) as { error: { code: number } }).error.code, 223000401);

    const wrong = await fetchWithTimeout(`${server.base}/api/mgmt/permissions`, { headers: { authorization: basic('d2cuser', 'Wrong-Passw0rd') } });
    assert.equal(wrong.status, 401);
    await wrong.arrayBuffer();

    // Data for the restart test.
    const created = await fetchWithTimeout(`${server.base}/api/admin/users`, {
      method: 'POST',
      headers: { authorization: basic('d2cadmin', ADMIN_PASSWORD), 'content-type': 'application/json' },
      body: JSON.stringify({ userName: 'survivor', statusInfo: { status: 1 }, passwordInfo: { password: 'Surv1vor-Pw!' }, permissions: { roles: [2] } }),
    });
    assert.equal(created.status, 201, await created.clone().text());
    assert.match(String(created.headers.get('location')), /^\/api\/admin\/users\/\d+$/);
    await created.arrayBuffer();

    const { code, signal } = await server.stop();
    assert.equal(signal, null, 'npm exited by itself');
    assert.equal(code, 0, `exit code\n${server.output()}`);

    // The log records requests but never a credential.
    const log = server.output();
    assert.match(log, /\/api\/mgmt\/permissions/, 'requests are logged at info');
    for (const secret of [ADMIN_PASSWORD, USER_PASSWORD, 'Surv1vor-Pw!', 'Wrong-Passw0rd', basic('d2cuser', USER_PASSWORD).slice(6)]) {
      assert.ok(!log.includes(secret), 'a credential reached the log');
    }
  });

  test('a second start on the same database keeps the data and does not bootstrap again', async () => {
    ensureBuilt();
    // Different first-start passwords this time: they must be ignored, the database is not empty.
    const server = await start('node', { ...env(), TOKENKEEP_ADMIN_PASSWORD: 'Other-Adm1n-Pw!' });
    running.push(server);
    assert.equal(server.serverPid, server.child.pid);

    const survivor = await fetchWithTimeout(`${server.base}/api/mgmt/permissions`, { headers: { authorization: basic('survivor', 'Surv1vor-Pw!') } });
    assert.equal(survivor.status, 200, 'the user created in the first run logs in');
    await survivor.arrayBuffer();

    const admin = await fetchWithTimeout(`${server.base}/api/admin/users`, { headers: { authorization: basic('d2cadmin', ADMIN_PASSWORD) } });
    assert.equal(admin.status, 200, "the first run's admin password still works");
    const names = ((await admin.json()) as { users: { userName: string }[] }).users.map((u) => u.userName).sort();
    assert.deepEqual(names, ['d2cadmin', 'd2cuser', 'survivor']);

    const other = await fetchWithTimeout(`${server.base}/api/admin/users`, { headers: { authorization: basic('d2cadmin', 'Other-Adm1n-Pw!') } });
    assert.equal(other.status, 401, "the second run's configured password was not applied");
    await other.arrayBuffer();

    const { code, signal } = await server.stop();
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, server.output());
  });

  test('invalid configuration exits non-zero naming the setting', () => {
    ensureBuilt();
    const run = (extra: Record<string, string>, args: string[] = []) =>
      spawnSync(process.execPath, [CLI, ...args], {
        cwd: ROOT,
        env: childEnv({ ...env(), ...extra }),
        encoding: 'utf8',
        timeout: 20_000,
      });

    const port = run({ PORT: 'abc' });
    assert.equal(port.error, undefined);
    assert.notEqual(port.status, 0, 'PORT=abc must not start');
    assert.notEqual(port.status, null, 'exited by itself, not by the timeout');
    assert.match(port.stderr, /\bPORT\b/);

    const flag = run({}, ['serve', '--port', '70000']);
    assert.notEqual(flag.status, 0);
    assert.notEqual(flag.status, null);
    assert.match(flag.stderr, /\bPORT\b/);

    const db = run({ TOKENKEEP_DB: 'mysql://localhost/tokenkeep' });
    assert.notEqual(db.status, 0);
    assert.notEqual(db.status, null);
    assert.match(db.stderr, /\bTOKENKEEP_DB\b/);

    const password = run({ TOKENKEEP_ADMIN_PASSWORD: 'weak' });
    assert.notEqual(password.status, 0);
    assert.notEqual(password.status, null);
    assert.match(password.stderr, /\bTOKENKEEP_ADMIN_PASSWORD\b/);
    assert.ok(!password.stderr.includes('weak'), 'the refused password is not echoed');
  });

  test('--help prints the settings and exits 0', () => {
    ensureBuilt();
    const help = spawnSync(process.execPath, [CLI, '--help'], { cwd: ROOT, env: childEnv({}), encoding: 'utf8', timeout: 20_000 });
    assert.equal(help.status, 0);
    for (const setting of ['PORT', 'HOST', 'TOKENKEEP_DB', 'TOKENKEEP_LOG_LEVEL', 'TOKENKEEP_ADMIN_PASSWORD']) assert.match(help.stdout, new RegExp(setting));
  });
});
