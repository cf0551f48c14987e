/**
 * Graceful shutdown of the real process: requests the server has accepted when SIGTERM arrives all complete (2xx),
 * the process then exits 0 by itself within a few seconds, nothing listens any more, and after a restart on the same
 * database every acknowledged PUT is there.
 *
 * The in-flight requests are made slow without any test hook: the server is restarted before them, so its
 * credential cache is cold and all of them wait for the one scrypt verification of the password (OWASP
 * parameters); the PUTs also carry 2 × 12 KiB tokens to seal. SIGTERM is sent as soon as the server has logged
 * "incoming request" for every one of them, so every one of them was accepted, and most are still running.
 *
 * The backend is a parameter: SQLite always; PostgreSQL when TOKENKEEP_TEST_PG_URL is set and the server accepts it.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import {
  ADMIN_AUTH,
  backends,
  call,
  ensureBuilt,
  killChildren,
  pool,
  refusedBackend,
  sleep,
  startProcess,
  withTimeout,
  type ServerProcess,
} from '../durability-support.js';

const PUTS = 50;
const GETS = 10;
const EXIT_WITHIN_MS = 10_000;

const INCOMING = /"msg":"incoming request"/;
const COMPLETED = /"msg":"request"/;
const CLOSING = /SIGTERM received: closing/;

const profileBody = (name: string, appId: number, version: string, tokenBytes = 16) => ({
  name,
  oauthAppId: appId,
  description: `${name} ${version}`,
  accessToken: `AT-${name}-${version}-${'a'.repeat(tokenBytes)}`,
  refreshToken: `RT-${name}-${version}-${'r'.repeat(tokenBytes)}`,
});

/** A request on a new connection: its status, or the connection error's code. */
function probe(port: number): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/api/healthcheck', agent: false, timeout: 5_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end();
  });
}

type Outcome = { status: number; body: any } | { error: string };

/**
 * Sends a request. With `hold`, the body's first half goes out at once and the rest only when `hold` resolves, so
 * the request is certainly in flight (accepted, body not complete) until then.
 */
async function send(base: string, method: string, path: string, body?: unknown, hold?: Promise<void>): Promise<Outcome> {
  try {
    const bytes = body ? Buffer.from(JSON.stringify(body)) : undefined;
    const payload =
      bytes && hold
        ? new ReadableStream<Uint8Array>({
            async start(controller) {
              const half = Math.floor(bytes.length / 2);
              controller.enqueue(bytes.subarray(0, half));
              await hold;
              controller.enqueue(bytes.subarray(half));
              controller.close();
            },
          })
        : bytes;
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: ADMIN_AUTH,
        ...(bytes ? { 'content-type': 'application/json', 'content-length': String(bytes.length) } : {}),
      },
      body: payload,
      signal: AbortSignal.timeout(30_000),
      ...(payload instanceof ReadableStream ? { duplex: 'half' } : {}),
    } as RequestInit);
    const text = await res.text();
    return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
  } catch (err) {
    return { error: `${(err as Error).message} ${((err as Error).cause as Error | undefined)?.message ?? ''}` };
  }
}

describe('graceful shutdown (SIGTERM)', { timeout: 200_000 }, () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    killChildren();
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
  });

  for (const backend of backends) {
    test(
      `${backend.name}: SIGTERM finishes every accepted request, exits 0, and the acknowledged PUTs survive`,
      { skip: backend.skip, timeout: 120_000 },
      async (t) => {
        ensureBuilt();
        const db = await backend.create('shutdown');
        cleanups.push(db.cleanup);

        // First run: the data.
        let first: ServerProcess;
        try {
          first = await startProcess('cli', db.env);
        } catch (err) {
          const reason = refusedBackend(backend, err);
          if (!reason) throw err;
          t.skip(reason);
          return;
        }
        const app = await call(
          first.base,
          'POST',
          '/api/mgmt/oauthapps',
          {
            name: 'shutdown_app',
            dataStore: 54,
            tenantId: 1,
            clientId: 'cid',
            clientSecret: 'SECRET-shutdown',
            authorizeURI: 'https://accounts.example.com/authorize',
            tokenURI: 'https://oauth2.example.com/token',
          },
          60_000,
        );
        assert.equal(app.status, 201, app.text);
        const names = Array.from({ length: PUTS + GETS }, (_, i) => `profile_${i}`);
        const ids = new Map<string, number>();
        await pool(names, 8, async (name) => {
          const res = await call(first.base, 'POST', '/api/mgmt/oauthprofiles', profileBody(name, app.body.id, 'v0'));
          assert.equal(res.status, 201, res.text);
          ids.set(name, res.body.id);
        });
        first.signal('SIGTERM');
        assert.deepEqual(await withTimeout(first.exited, 30_000, 'first run exit'), { code: 0, signal: null }, first.output());

        // Second run: every PUT below has sent only half of its body when SIGTERM comes.
        // debug: the server logs each request as it arrives, which is how the test knows all were accepted.
        const server = await startProcess('cli', { ...db.env, TOKENKEEP_LOG_LEVEL: 'debug' }, { watch: [INCOMING, COMPLETED, CLOSING] });
        const putNames = names.slice(0, PUTS);
        const getNames = names.slice(PUTS);
        let release!: () => void;
        const held = new Promise<void>((resolve) => {
          release = resolve;
        });
        const puts = putNames.map((name) =>
          send(server.base, 'PUT', `/api/mgmt/oauthprofiles/${ids.get(name)}`, profileBody(name, app.body.id, 'v1', 12 * 1024), held),
        );
        const gets = getNames.map((name) => send(server.base, 'GET', `/api/mgmt/oauthprofiles/${ids.get(name)}`));
        await server.waitFor(INCOMING, PUTS + GETS, 30_000);
        const completedBefore = server.count(COMPLETED);
        const sigtermAt = Date.now();
        server.signal('SIGTERM');
        // The rest of the PUT bodies arrive only after SIGTERM: those requests were surely still in flight.
        setTimeout(release, 100);

        // A new connection while the server closes: refused (or, had it slipped in, a clean 503 / reset).
        await server.waitFor(CLOSING, 1, 10_000);
        const during = await probe(server.port);

        const putOutcomes = await Promise.all(puts);
        const getOutcomes = await Promise.all(gets);
        const answeredMs = Date.now() - sigtermAt;

        // The process must end by itself. If it has not after EXIT_WITHIN_MS, that is recorded and it is killed, so
        // that the durability check below still runs; the test fails at the end.
        const problems: string[] = [];
        const exit = await Promise.race([server.exited, sleep(EXIT_WITHIN_MS).then(() => undefined)]);
        const exitMs = Date.now() - sigtermAt;
        if (!exit) {
          problems.push(
            `still running ${exitMs} ms after SIGTERM, although every accepted request was answered ${answeredMs} ms after it ` +
              '(the keep-alive connections of those requests stay open after their responses until the keep-alive timeout)',
          );
          server.signal('SIGKILL');
          await server.exited;
        } else if (exit.code !== 0 || exit.signal !== null) {
          problems.push(`exit ${JSON.stringify(exit)} instead of code 0\n${server.output().slice(-3000)}`);
        }
        const afterExit = await probe(server.port);
        t.diagnostic(
          `${completedBefore} of ${PUTS + GETS} accepted requests had completed at SIGTERM, all answered after ${answeredMs} ms; ` +
            `exit ${JSON.stringify(exit ?? 'none')} after ${exitMs} ms; new connection while closing: ${during}; after exit: ${afterExit}`,
        );

        assert.ok(completedBefore < PUTS + GETS, 'requests were still in flight when SIGTERM arrived');
        putOutcomes.forEach((o, i) => {
          assert.ok('status' in o, `PUT ${putNames[i]} was accepted but got no answer: ${'error' in o ? o.error : ''}`);
          assert.equal(o.status, 200, `PUT ${putNames[i]}: ${JSON.stringify(o.body)}`);
          assert.deepEqual(o.body, { id: ids.get(putNames[i]), ...profileBody(putNames[i], app.body.id, 'v1', 12 * 1024) });
        });
        getOutcomes.forEach((o, i) => {
          assert.ok('status' in o, `GET ${getNames[i]} was accepted but got no answer: ${'error' in o ? o.error : ''}`);
          assert.equal(o.status, 200, `GET ${getNames[i]}: ${JSON.stringify(o.body)}`);
          assert.deepEqual(o.body, { id: ids.get(getNames[i]), ...profileBody(getNames[i], app.body.id, 'v0') });
        });
        assert.ok(during === 'ECONNREFUSED' || during === 503 || during === 'ECONNRESET', `a new connection while closing: ${during}`);
        assert.equal(afterExit, 'ECONNREFUSED', 'nothing listens after the exit');
        assert.doesNotMatch(server.output(), /"level":50|unexpected error/, 'no error was logged during the shutdown');

        // Third run: every acknowledged PUT is on disk, and the untouched profiles are as they were.
        const third = await startProcess('cli', db.env);
        const wrong: string[] = [];
        await pool(names, 8, async (name) => {
          const res = await call(third.base, 'GET', `/api/mgmt/oauthprofiles/${ids.get(name)}`, undefined, 60_000);
          const want = putNames.includes(name)
            ? { id: ids.get(name), ...profileBody(name, app.body.id, 'v1', 12 * 1024) }
            : { id: ids.get(name), ...profileBody(name, app.body.id, 'v0') };
          if (res.status !== 200 || !isDeepStrictEqual(res.body, want)) wrong.push(`${name}: ${res.status} ${res.text.slice(0, 120)}`);
        });
        third.signal('SIGTERM'); // its connections were all busy until answered: see the exit problem above
        assert.deepEqual(wrong, [], 'after the restart every acknowledged PUT is there');
        assert.deepEqual(problems, [], `the process exits 0 by itself within ${EXIT_WITHIN_MS} ms of SIGTERM`);
      },
    );
  }
});
