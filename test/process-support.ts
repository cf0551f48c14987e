/**
 * Shared by the tests that run the real `node dist/cli.js` process: an up-to-date build (built at most once at a
 * time, and only when a source file is newer than the build), a clean child environment, a server started and
 * waited for by its `listening on http(s)://127.0.0.1:<port>` log line, and CLI runs that always time out.
 * Everything binds to 127.0.0.1; every process started here is killed in the tests' `after` hooks.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const CLI = join(ROOT, 'dist', 'cli.js');
export const START_TIMEOUT_MS = 60_000;
export const STOP_TIMEOUT_MS = 30_000;

export const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;

/** The environment of a child: ours without test-runner, loader or tokenkeep settings, plus the given ones. */
export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) {
    if (key === 'NODE_OPTIONS' || key === 'NODE_TEST_CONTEXT' || /^(PORT|HOST)$/.test(key) || key.startsWith('TOKENKEEP_')) delete env[key];
  }
  return { ...env, npm_config_update_notifier: 'false', npm_config_fund: 'false', ...extra };
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

const newestMtime = (dir: string, ext: string): number =>
  readdirSync(dir).reduce((max, name) => {
    const path = join(dir, name);
    const st = statSync(path);
    return Math.max(max, st.isDirectory() ? newestMtime(path, ext) : name.endsWith(ext) ? st.mtimeMs : 0);
  }, 0);

function buildIsCurrent(): boolean {
  // tsc rewrites every output on each build, dist/cli.js included.
  return existsSync(CLI) && statSync(CLI).mtimeMs > newestMtime(join(ROOT, 'src'), '.ts');
}

const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** `npm run build` unless dist/ is newer than every source file; test files running in parallel take turns. */
export function ensureBuilt(): void {
  const lock = join(tmpdir(), `tokenkeep-build-lock-${Buffer.from(ROOT).toString('hex').slice(-32)}`);
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // Someone else builds; a lock older than two minutes is left over from a killed run.
      try {
        if (Date.now() - statSync(lock).mtimeMs > 120_000) rmSync(lock, { recursive: true, force: true });
      } catch {
        /* gone meanwhile */
      }
      if (!existsSync(lock) && buildIsCurrent()) return;
      assert.ok(Date.now() < deadline, 'timed out waiting for another test file to build');
      sleepSync(200);
    }
  }
  try {
    if (buildIsCurrent()) return;
    const result = spawnSync('npm', ['run', 'build'], { cwd: ROOT, env: childEnv({}), encoding: 'utf8', timeout: 120_000 });
    assert.equal(result.status, 0, `npm run build failed:\n${result.stdout}\n${result.stderr}`);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Running {
  child: ChildProcess;
  base: string;
  port: number;
  output(): string;
  exited: Promise<Exit>;
  /** SIGTERM; resolves with how the process ended */
  stop(): Promise<Exit>;
  /** SIGKILL if still running */
  kill(): void;
}

/** Every child started through this module, so `killAll()` in an `after` hook leaves nothing behind. */
const children = new Set<ChildProcess>();

export function killAll(): void {
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

function track(child: ChildProcess): Promise<Exit> {
  children.add(child);
  return new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
}

/** Starts `node dist/cli.js serve` and waits for its listening line. */
export async function startServer(env: Record<string, string>, opts: { scheme?: 'http' | 'https'; args?: string[] } = {}): Promise<Running> {
  const scheme = opts.scheme ?? 'http';
  const child = spawn(process.execPath, [CLI, 'serve', ...(opts.args ?? [])], {
    cwd: ROOT,
    env: childEnv({ PORT: '0', HOST: '127.0.0.1', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = track(child);
  let output = '';
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  };
  const pattern = new RegExp(`listening on ${scheme}://127\\.0\\.0\\.1:(\\d+)`);
  const listening = new Promise<number>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const m = pattern.exec(output);
      if (m) resolve(Number(m[1]));
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    exited.then(({ code, signal }) => reject(new Error(`server exited (${code ?? signal}) before listening:\n${output}`)));
  });
  try {
    const port = await withTimeout(listening, START_TIMEOUT_MS, 'server start');
    return {
      child,
      port,
      base: `${scheme}://127.0.0.1:${port}`,
      output: () => output,
      exited,
      kill,
      async stop() {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        return withTimeout(exited, STOP_TIMEOUT_MS, 'exit after SIGTERM');
      },
    };
  } catch (err) {
    kill();
    throw err;
  }
}

export interface CliResult extends Exit {
  stdout: string;
  stderr: string;
}

/** Runs `node dist/cli.js <args>` to its end (killed after the timeout). */
export async function runCli(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = track(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const exit = await exited;
  clearTimeout(timer);
  // Let the pipes drain.
  await new Promise((resolve) => setImmediate(resolve));
  return { ...exit, stdout, stderr };
}

/** Starts a CLI command and kills it with SIGKILL as soon as its stdout matches `pattern`. */
export async function runCliUntil(args: string[], env: Record<string, string>, pattern: RegExp, timeoutMs = 60_000): Promise<CliResult & { matched: boolean }> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = track(child);
  let stdout = '';
  let stderr = '';
  let matched = false;
  child.stdout!.on('data', (c: Buffer) => {
    stdout += c.toString('utf8');
    if (!matched && pattern.test(stdout)) {
      matched = true;
      child.kill('SIGKILL');
    }
  });
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const exit = await exited;
  clearTimeout(timer);
  return { ...exit, stdout, stderr, matched };
}

export const fetchT = (url: string, init: RequestInit = {}): Promise<Response> => fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });

/** A JSON request with Basic auth; resolves with status and parsed body (or text). */
export async function api(base: string, method: string, path: string, auth: string, body?: unknown): Promise<{ status: number; body: any; text: string }> {
  const res = await fetchT(`${base}${path}`, {
    method,
    headers: { authorization: auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed, text };
}

/** Runs `tasks` with at most `width` in flight. */
export async function pool<T>(items: T[], width: number, task: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await task(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}
