/**
 * Child processes of the benchmark: the tokenkeep server (`node dist/cli.js serve`, exactly as the README starts
 * it), a bare `node:http` server as the reference, for PostgreSQL a bare `node:http` + `pg` server doing one
 * UPDATE per request, and the engine scenarios' authorization server (bench/as-process.ts). Each child logs into a file rather than a pipe, so reading its output costs the load generator
 * (this process) nothing; the listening line is found by polling that file.
 * Every child is tracked and killed with SIGKILL when this process exits, however it exits.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The server's entry: a snapshot of dist/ (see snapshotBuild), so a rebuild by a concurrent test run cannot change it mid-run. */
let CLI = join(ROOT, 'dist', 'cli.js');
const START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 60_000;

const children = new Set<ChildProcess>();
const cleanups: (() => void)[] = [];

function killChildren(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
  children.clear();
}

/** Runs at exit (normal, error or signal): kill what we started, then remove temporary files. */
export function onExit(cleanup: () => void): void {
  cleanups.push(cleanup);
}

let installed = false;
export function installExitHandlers(): void {
  if (installed) return;
  installed = true;
  process.on('exit', () => {
    killChildren();
    for (const c of cleanups.splice(0)) {
      try {
        c();
      } catch {
        /* best effort */
      }
    }
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal} received, stopping children\n`);
      process.exit(130);
    });
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The environment of a child: ours without loader, test-runner or tokenkeep settings, plus the given ones. */
export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) {
    if (key === 'NODE_OPTIONS' || key === 'NODE_TEST_CONTEXT' || /^(PORT|HOST)$/.test(key) || key.startsWith('TOKENKEEP_')) delete env[key];
  }
  return { ...env, npm_config_update_notifier: 'false', npm_config_fund: 'false', ...extra };
}

// ---- build ---------------------------------------------------------------------------------------------------------

const newestMtime = (dir: string): number =>
  readdirSync(dir).reduce((max, name) => {
    const path = join(dir, name);
    const st = statSync(path);
    return Math.max(max, st.isDirectory() ? newestMtime(path) : name.endsWith('.ts') ? st.mtimeMs : 0);
  }, 0);

const DIST_CLI = join(ROOT, 'dist', 'cli.js');
const buildIsCurrent = () => existsSync(DIST_CLI) && statSync(DIST_CLI).mtimeMs > newestMtime(join(ROOT, 'src'));

/**
 * `npm run build` unless dist/ is newer than every source file, then a copy of dist/ that this run alone uses
 * (under .tmp/, inside the checkout so that node_modules and package.json still resolve). The lock directory is the
 * one the test helpers use (test/process-support.ts): a test run rebuilding dist/ meanwhile neither runs tsc over
 * our build nor changes the server under measurement. Every server of one run is then the same build.
 */
export async function snapshotBuild(log: (line: string) => void, otherDist?: string): Promise<void> {
  if (otherDist) {
    // Another build (e.g. of an older commit, for an A/B comparison): used as it is, not rebuilt or copied.
    if (!existsSync(join(otherDist, 'cli.js'))) throw new Error(`--server-dist: no cli.js in ${otherDist}`);
    CLI = join(otherDist, 'cli.js');
    return;
  }
  const lock = join(tmpdir(), `tokenkeep-build-lock-${Buffer.from(ROOT).toString('hex').slice(-32)}`);
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      try {
        if (Date.now() - statSync(lock).mtimeMs > 120_000) rmSync(lock, { recursive: true, force: true });
      } catch {
        /* gone meanwhile */
      }
      if (Date.now() > deadline) throw new Error('timed out waiting for another build of dist/');
      await sleep(200);
    }
  }
  try {
    if (!buildIsCurrent()) {
      log('building dist/ (npm run build)');
      const result = spawnSync('npm', ['run', 'build'], { cwd: ROOT, env: childEnv({}), encoding: 'utf8', timeout: 180_000 });
      if (result.status !== 0) throw new Error(`npm run build failed:\n${result.stdout}\n${result.stderr}`);
    }
    const tmp = join(ROOT, '.tmp');
    mkdirSync(tmp, { recursive: true });
    // Copies left by a bench that was killed (its process is gone).
    for (const name of readdirSync(tmp)) {
      const pid = Number(/^bench-dist-(\d+)$/.exec(name)?.[1]);
      if (pid && !isAlive(pid)) rmSync(join(tmp, name), { recursive: true, force: true });
    }
    const copy = join(tmp, `bench-dist-${process.pid}`);
    cpSync(join(ROOT, 'dist'), copy, { recursive: true });
    onExit(() => rmSync(copy, { recursive: true, force: true }));
    CLI = join(copy, 'cli.js');
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// ---- processes -----------------------------------------------------------------------------------------------------

export interface Child {
  pid: number;
  base: string;
  /** everything the child wrote so far (the log file) */
  output(): string;
  /** empties the log file: request logs of a long run would otherwise fill the disk */
  truncateLog(): void;
  /** SIGTERM, wait for the exit (SIGKILL after a timeout); resolves with the exit code or signal */
  stop(): Promise<string>;
  exited: Promise<string>;
}

export interface SpawnOptions {
  /** node flags before the script, e.g. --cpu-prof */
  nodeArgs?: string[];
  args: string[];
  env: Record<string, string>;
  logFile: string;
  /** the line that says it listens (group 1 is the port), or a port to poll when the child does not log that line */
  listening: RegExp | { port: number; path: string };
}

export class StartError extends Error {
  constructor(
    message: string,
    readonly output: string,
    readonly exitCode: string,
  ) {
    super(message);
    this.name = 'StartError';
  }
}

export async function spawnChild(opts: SpawnOptions): Promise<Child> {
  // 'a': the child's descriptor is O_APPEND, so truncating the file from here is safe while it writes.
  const fd = openSync(opts.logFile, 'a');
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), ...opts.args], {
    cwd: ROOT,
    env: childEnv(opts.env),
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  children.add(child);
  const exited = new Promise<string>((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve(String(code ?? signal));
    }),
  );
  let exitCode: string | undefined;
  void exited.then((c) => (exitCode = c));
  const output = () => (existsSync(opts.logFile) ? readFileSync(opts.logFile, 'utf8') : '');
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  };

  const deadline = Date.now() + START_TIMEOUT_MS;
  let port: number | undefined;
  while (port === undefined) {
    const m = opts.listening instanceof RegExp ? opts.listening.exec(output()) : await answers(opts.listening.port, opts.listening.path);
    if (m) port = opts.listening instanceof RegExp ? Number((m as RegExpExecArray)[1]) : opts.listening.port;
    else if (exitCode !== undefined) {
      throw new StartError(`${opts.args.join(' ')} exited (${exitCode}) before listening`, output(), exitCode);
    } else if (Date.now() > deadline) {
      kill();
      throw new StartError(`${opts.args.join(' ')} did not listen within ${START_TIMEOUT_MS} ms`, output(), 'timeout');
    } else await sleep(25);
  }
  return {
    pid: child.pid!,
    base: `http://127.0.0.1:${port}`,
    output,
    truncateLog: () => truncateSync(opts.logFile, 0),
    exited,
    async stop() {
      if (exitCode !== undefined) return exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(kill, STOP_TIMEOUT_MS);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

const LISTENING = /listening on http:\/\/127\.0\.0\.1:(\d+)/;

async function answers(port: number, path: string): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

/** A port free right now on 127.0.0.1 (for a child that will not log the port it got). */
function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolvePort(port));
    });
  });
}

/** Levels at which the server logs its `listening on` line (info). */
const LOGS_LISTENING = new Set(['info', 'debug', 'trace']);

export interface ServerSettings {
  db: string;
  masterKey: string;
  adminPassword: string;
  userPassword: string;
  logLevel: string;
  logFile: string;
  /** directory for --cpu-prof output; no profiling when absent */
  cpuProfDir?: string;
  cpuProfName?: string;
  /** TOKENKEEP_ALLOW_LOOPBACK_HTTP_URIS=1: the engine scenarios' authorization server is http:// on 127.0.0.1 */
  allowLoopbackHttpUris?: boolean;
}

/**
 * `node dist/cli.js serve` on 127.0.0.1 with a free port: PORT=0 and the port read from the listening line; at log
 * levels that do not print it, a port picked here and polled until the health check answers.
 */
export async function startServer(s: ServerSettings): Promise<Child> {
  const port = LOGS_LISTENING.has(s.logLevel) ? 0 : await freePort();
  const nodeArgs = s.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${s.cpuProfDir}`, ...(s.cpuProfName ? [`--cpu-prof-name=${s.cpuProfName}`] : [])] : [];
  return spawnChild({
    nodeArgs,
    args: [CLI, 'serve'],
    env: {
      PORT: String(port),
      HOST: '127.0.0.1',
      TOKENKEEP_DB: s.db,
      TOKENKEEP_MASTER_KEY: s.masterKey,
      TOKENKEEP_ADMIN_PASSWORD: s.adminPassword,
      TOKENKEEP_USER_PASSWORD: s.userPassword,
      TOKENKEEP_LOG_LEVEL: s.logLevel,
      ...(s.allowLoopbackHttpUris ? { TOKENKEEP_ALLOW_LOOPBACK_HTTP_URIS: '1' } : {}),
    },
    logFile: s.logFile,
    listening: port === 0 ? LISTENING : { port, path: '/api/healthcheck' },
  });
}

/** The reference: the least a Node HTTP server can do per request — answer a small JSON body. */
const BARE_SERVER = `
import { createServer } from 'node:http';
const body = JSON.stringify({ status: 'active' });
const server = createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
server.listen(0, '127.0.0.1', () => console.log('bare listening on http://127.0.0.1:' + server.address().port));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

export function startBare(logFile: string): Promise<Child> {
  return spawnChild({ args: ['--input-type=module', '-e', BARE_SERVER], env: {}, logFile, listening: LISTENING });
}

/**
 * The PostgreSQL reference: per request, the body read and ONE autocommit `UPDATE … SET v = $1 WHERE id = $2` of a
 * random row of a 1,000-row table, through a pg.Pool of 10 connections (tokenkeep's own pool size), then a small
 * JSON body. It refuses to start unless synchronous_commit is durable (as tokenkeep does), so both wait for the same
 * fsync per commit. The table lives in the database under measurement, which the bench drops afterwards.
 * `pg` resolves because spawnChild runs children in ROOT, and `-e` modules resolve bare specifiers from the cwd.
 */
const BARE_PG_SERVER = `
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
const ROWS = 1000;
const pool = new pg.Pool({ connectionString: process.env.BARE_PG_URL, max: 10, application_name: 'tokenkeep-bench-bare-pg' });
pool.on('error', (err) => console.error('bare-pg pool: ' + err.message));
const { synchronous_commit: sync } = (await pool.query('SHOW synchronous_commit')).rows[0];
if (!['on', 'remote_write', 'remote_apply'].includes(sync)) {
  console.error('bare-pg: synchronous_commit is ' + sync + ', not durable; refusing to measure');
  process.exit(1);
}
await pool.query('CREATE TABLE IF NOT EXISTS bench_bare_update (id int PRIMARY KEY, v text NOT NULL)');
await pool.query("INSERT INTO bench_bare_update SELECT g, repeat('x', 200) FROM generate_series(1, " + ROWS + ") g ON CONFLICT (id) DO NOTHING");
const body = JSON.stringify({ status: 'updated' });
const server = createServer((req, res) => {
  req.resume();
  req.once('end', () => {
    const id = 1 + Math.floor(Math.random() * ROWS);
    pool.query('UPDATE bench_bare_update SET v = $1 WHERE id = $2', [randomBytes(150).toString('base64'), id]).then(
      () => {
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      },
      (err) => {
        console.error('bare-pg update: ' + err.message);
        res.writeHead(500).end();
      },
    );
  });
});
server.listen(0, '127.0.0.1', () => console.log('bare-pg listening on http://127.0.0.1:' + server.address().port));
process.on('SIGTERM', () => server.close(() => pool.end().then(() => process.exit(0), () => process.exit(1))));
`;

/** BARE_PG_SERVER on the database at `db` (a postgres:// URL); its table is created and filled before it listens. */
export function startBarePg(db: string, logFile: string): Promise<Child> {
  return spawnChild({ args: ['--input-type=module', '-e', BARE_PG_SERVER], env: { BARE_PG_URL: db }, logFile, listening: LISTENING });
}

/**
 * The engine scenarios' authorization server (bench/as-process.ts: the engine tests' oidc-provider) in a child of
 * its own, so that its CPU is accounted apart from the tokenkeep server's. `base` is its control listener; the AS's
 * own URIs are read from there (bench/engine.ts).
 */
export function startAuthorizationServerProcess(logFile: string, accessTokenTTL: number): Promise<Child> {
  return spawnChild({
    nodeArgs: ['--import', 'tsx'],
    args: [join(ROOT, 'bench', 'as-process.ts')],
    env: { BENCH_AS_ACCESS_TTL: String(accessTokenTTL) },
    logFile,
    listening: /bench AS control listening on http:\/\/127\.0\.0\.1:(\d+)/,
  });
}

// ---- measurements from /proc ---------------------------------------------------------------------------------------

/** VmRSS and VmHWM (peak) of a process, in bytes. */
export function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** CPU seconds (user + system) a process has used so far. */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}
