/**
 * Shared by the durability tests (system/crash.test.ts, system/shutdown.test.ts): storage backends as a parameter, real server
 * processes (the built CLI, or the deliberately unsafe fixture) that can be SIGKILLed or SIGTERMed, and small HTTP
 * helpers. Everything binds to 127.0.0.1, every wait has a timeout, and `killChildren()` (for `after` hooks) kills
 * every process started here, by its pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { CLI, ROOT, childEnv, ensureBuilt, withTimeout } from './process-support.js';

export const ADMIN_PASSWORD = 'Durable-Adm1n!';
export const USER_PASSWORD = 'Durable-Us3r!';
export const ADMIN_AUTH = `Basic ${Buffer.from(`d2cadmin:${ADMIN_PASSWORD}`, 'utf8').toString('base64')}`;
export const START_TIMEOUT_MS = 60_000;
export const UNSAFE_SERVER = join(ROOT, 'test', 'fixtures', 'unsafe-server.ts');

export { ensureBuilt, withTimeout };

// ---- backends -------------------------------------------------------------------------------------------------------

export interface BackendInstance {
  /** the server's storage settings (TOKENKEEP_DB, and the master key where it is not generated beside the file) */
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

export interface Backend {
  name: 'sqlite' | 'postgres';
  /** set when this backend cannot be tested here: the test is skipped with it */
  skip?: string;
  create(label: string): Promise<BackendInstance>;
}

export const sqliteBackend: Backend = {
  name: 'sqlite',
  async create(label) {
    const dir = mkdtempSync(join(tmpdir(), `tokenkeep-${label}-`));
    // No master key configured: the first start generates master.key beside the database, later starts read it.
    return { env: { TOKENKEEP_DB: join(dir, 'tokenkeep.db') }, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
  },
};

const PG_URL = process.env.TOKENKEEP_TEST_PG_URL;

/** A fresh database per test (CREATE DATABASE on TOKENKEEP_TEST_PG_URL), dropped afterwards. */
export const postgresBackend: Backend = {
  name: 'postgres',
  skip: PG_URL ? undefined : 'TOKENKEEP_TEST_PG_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/postgres)',
  async create(label) {
    const admin = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 10_000 });
    await admin.connect();
    const name = `tokenkeep_${label.replace(/[^a-z0-9]/gi, '_')}_${randomBytes(6).toString('hex')}`.toLowerCase();
    try {
      await admin.query(`CREATE DATABASE ${name}`);
    } finally {
      await admin.end();
    }
    const url = new URL(PG_URL!);
    url.pathname = `/${name}`;
    return {
      // The key file would go beside a database file; a PostgreSQL database has none, so the key is given.
      env: { TOKENKEEP_DB: url.toString(), TOKENKEEP_MASTER_KEY: randomBytes(32).toString('base64') },
      async cleanup() {
        const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 10_000 });
        await c.connect();
        try {
          await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        } finally {
          await c.end();
        }
      },
    };
  },
};

export const backends: Backend[] = [sqliteBackend, postgresBackend];

/** The reason to skip when the server refused to start on this backend's URL (a version without PostgreSQL). */
export function refusedBackend(backend: Backend, err: unknown): string | undefined {
  const message = String((err as Error)?.message ?? err);
  if (backend.name === 'postgres' && /TOKENKEEP_DB/.test(message) && /exited \(2\)|postgres|sqlite file path/i.test(message)) {
    return `the server refuses postgres URLs: ${/tokenkeep: .*/.exec(message)?.[0] ?? message.slice(0, 200)}`;
  }
  return undefined;
}

// ---- server processes -----------------------------------------------------------------------------------------------

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServerProcess {
  child: ChildProcess;
  pid: number;
  base: string;
  port: number;
  /** the last 64 KiB of stdout + stderr */
  output(): string;
  /** how many output lines matched `pattern` so far */
  count(pattern: RegExp): number;
  /** resolves when a line matching `pattern` has been seen `times` times */
  waitFor(pattern: RegExp, times: number, ms: number): Promise<void>;
  exited: Promise<Exit>;
  signal(signal: NodeJS.Signals): void;
}

const children = new Set<ChildProcess>();

/** For `after` hooks: SIGKILL to every still-running process started by this module. */
export function killChildren(): void {
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

export type ServerKind = 'cli' | 'unsafe';

/**
 * Starts `node dist/cli.js serve` (or the unsafe fixture through tsx) on 127.0.0.1 with PORT=0 and waits for its
 * `listening on http://127.0.0.1:<port>` line. Call `ensureBuilt()` first for 'cli'.
 */
export async function startProcess(kind: ServerKind, env: Record<string, string>, opts: { watch?: RegExp[] } = {}): Promise<ServerProcess> {
  const args = kind === 'cli' ? [CLI, 'serve'] : ['--import', 'tsx', UNSAFE_SERVER];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: childEnv({
      PORT: '0',
      HOST: '127.0.0.1',
      TOKENKEEP_ADMIN_PASSWORD: ADMIN_PASSWORD,
      TOKENKEEP_USER_PASSWORD: USER_PASSWORD,
      TOKENKEEP_LOG_LEVEL: 'info',
      ...env,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  void exited.then(() => children.delete(child));
  let tail = '';
  let partial = '';
  const watched = new Map<RegExp, number>((opts.watch ?? []).map((p) => [p, 0]));
  const waiters: { pattern: RegExp; times: number; resolve: () => void }[] = [];
  const onData = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    tail = (tail + text).slice(-64 * 1024);
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      for (const [pattern, n] of watched) if (pattern.test(line)) watched.set(pattern, n + 1);
    }
    for (let i = waiters.length - 1; i >= 0; i--) {
      if ((watched.get(waiters[i].pattern) ?? 0) >= waiters[i].times) waiters.splice(i, 1)[0].resolve();
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const listening = /listening on http:\/\/127\.0\.0\.1:(\d+)/;
  watched.set(listening, 0);
  const port = await withTimeout(
    new Promise<number>((resolve, reject) => {
      const check = () => {
        const m = listening.exec(tail);
        if (m) resolve(Number(m[1]));
      };
      child.stdout!.on('data', check);
      child.stderr!.on('data', check);
      void exited.then(({ code, signal }) => reject(new Error(`server exited (${code ?? signal}) before listening:\n${tail}`)));
    }),
    START_TIMEOUT_MS,
    `${kind} server start`,
  ).catch((err: unknown) => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    throw err;
  });
  return {
    child,
    pid: child.pid!,
    port,
    base: `http://127.0.0.1:${port}`,
    output: () => tail,
    count: (pattern) => watched.get(pattern) ?? 0,
    waitFor: (pattern, times, ms) => {
      if (!watched.has(pattern)) throw new Error(`pattern ${pattern} is not watched`);
      if ((watched.get(pattern) ?? 0) >= times) return Promise.resolve();
      return withTimeout(new Promise<void>((resolve) => waiters.push({ pattern, times, resolve })), ms, `${times}× ${pattern}`);
    },
    exited,
    signal(sig) {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    },
  };
}

// ---- HTTP ------------------------------------------------------------------------------------------------------------

export interface Reply {
  status: number;
  body: any;
  text: string;
}

/** One JSON request as d2cadmin; throws on a network error or after the timeout. */
export async function call(base: string, method: string, path: string, body?: unknown, timeoutMs = 30_000): Promise<Reply> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: ADMIN_AUTH, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
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

/** Runs `task` over `items` with at most `width` in flight. */
export async function pool<T>(items: T[], width: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

/** A small deterministic PRNG, so a failing run can be repeated with its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
