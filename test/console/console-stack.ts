/**
 * What the browser tests run against, all on 127.0.0.1: the real server process (`node dist/cli.js serve`, built
 * with `npm run build` first when dist/ — server or console — is missing or older than its sources) on a fresh
 * SQLite file, serving the built console; and the tests' oidc-provider (test/engine/as-support.ts: rotating refresh
 * tokens, PKCE, its own login and consent pages) with tokenkeep's redirect URI registered.
 *
 * TOKENKEEP_PUBLIC_URL must be the server's own origin before it starts (the consent's redirect URI and the Origin
 * check of cookie-authenticated writes hang on it), so a free port is picked first; a start that loses the port to
 * another process in between is tried again on another.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAuthorizationServer, type AuthorizationServer } from '../engine/as-support.js';
import { ADMIN_PASSWORD, USER_PASSWORD } from '../helpers.js';
import { CONSOLE_INDEX, api, basic, ensureBuilt, startServer, type Running } from '../process-support.js';

export const ADMIN = 'd2cadmin';
export const USER = 'd2cuser';
/** The seeded users' passwords, configured at the server's first start as the README says. */
export const PASSWORDS: Record<string, string> = { [ADMIN]: ADMIN_PASSWORD, [USER]: USER_PASSWORD };

export interface Answer {
  method: string;
  path: string;
  status: number;
}

/** The server's log lines (JSON, one per line) of answered requests: `{"method","path","status",…,"msg":"request"}`. */
function answersIn(output: string): Answer[] {
  const answers: Answer[] = [];
  for (const line of output.split('\n')) {
    if (!line.includes('"msg":"request"')) continue;
    try {
      const { method, path, status } = JSON.parse(line) as Answer;
      answers.push({ method, path, status });
    } catch {
      /* a line cut by the pipe: the next read has it whole */
    }
  }
  return answers;
}

export interface ConsoleStack {
  /** the server's origin, which is also its TOKENKEEP_PUBLIC_URL */
  base: string;
  /** the console's address */
  consoleUrl: string;
  as: AuthorizationServer;
  server: Running;
  /** every request the server has answered so far, in order, as its request log tells (method, path without query, status) */
  answers(): Answer[];
  /** an API call with Basic auth as one of the seeded users */
  api(method: string, path: string, user: string, body?: unknown): Promise<{ status: number; body: any; text: string }>;
  close(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

export async function startConsoleStack(): Promise<ConsoleStack> {
  ensureBuilt();
  assert.ok(existsSync(CONSOLE_INDEX), `the console is built (${CONSOLE_INDEX}): npm run build makes it`);
  const dir = mkdtempSync(join(tmpdir(), 'tokenkeep-console-'));
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const as = await startAuthorizationServer({ redirectUris: [`${base}/hdpui/oauth2callback`], accessTokenTTL: 3600 });
    let server: Running;
    try {
      server = await startServer({
        PORT: String(port),
        TOKENKEEP_DB: join(dir, `tokenkeep-${attempt}.db`),
        TOKENKEEP_MASTER_KEY: randomBytes(32).toString('base64'),
        TOKENKEEP_ADMIN_PASSWORD: ADMIN_PASSWORD,
        TOKENKEEP_USER_PASSWORD: USER_PASSWORD,
        TOKENKEEP_PUBLIC_URL: base,
        TOKENKEEP_ALLOW_LOOPBACK_HTTP_URIS: '1',
      });
    } catch (err) {
      await as.close();
      if (attempt < 3 && /EADDRINUSE/.test(String(err))) continue;
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    return {
      base,
      consoleUrl: `${base}/console/`,
      as,
      server,
      answers: () => answersIn(server.output()),
      api: (method, path, user, body) => api(base, method, path, basic(user, PASSWORDS[user]), body),
      async close() {
        try {
          await server.stop().catch(() => server.kill());
        } finally {
          await as.close();
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  }
}
