/**
 * The request log line (src/app.ts installRequestLog): at info only what an operator needs — a 4xx or 5xx, a write,
 * a slow request — and at debug every request; the line carries method, path without the query, status and ms, and
 * nothing from headers or bodies. The app is configured as src/server.ts configures it (redaction included).
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { redactPaths, type AppDeps } from '../../src/app.js';
import { ADMIN_PASSWORD, basic, harness, type Harness } from '../helpers.js';

const ADMIN = basic('d2cadmin', ADMIN_PASSWORD);

interface Line {
  level: number;
  msg: string;
  method?: string;
  path?: string;
  status?: number;
  ms?: number;
  [key: string]: unknown;
}

/** A harness whose logger writes to memory at `level`. */
async function logged(level: string, overrides: Partial<AppDeps> = {}): Promise<{ h: Harness; requestLines(): Line[] }> {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  const h = await harness({ logger: { level, stream, redact: { paths: redactPaths, censor: '[redacted]' } }, ...overrides });
  return {
    h,
    requestLines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Line)
        .filter((l) => l.msg === 'request'),
  };
}

describe('request log', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  test('at info: errors, writes and slow requests are logged, quick successful reads are not', async () => {
    const log = await logged('info');
    h = log.h;
    assert.equal((await h.app.inject({ method: 'GET', url: '/api/healthcheck' })).statusCode, 200);
    assert.equal((await h.app.inject({ method: 'GET', url: '/api/mgmt/oauthprofiles?user=d2cuser', headers: { authorization: ADMIN } })).statusCode, 200);
    assert.equal((await h.app.inject({ method: 'HEAD', url: '/api/healthcheck' })).statusCode, 200);
    assert.deepEqual(log.requestLines(), [], 'no line for a quick 2xx GET or HEAD');

    // A 401, a 404 (its query is not logged), a 400 and a write.
    assert.equal(
      (await h.app.inject({ method: 'GET', url: '/api/mgmt/oauthprofiles', headers: { authorization: basic('d2cadmin', 'wrong') } })).statusCode,
      401,
    );
    assert.equal((await h.app.inject({ method: 'GET', url: '/api/nothing?user=secret-name', headers: { authorization: ADMIN } })).statusCode, 404);
    assert.equal(
      (await h.app.inject({ method: 'POST', url: '/api/mgmt/oauthprofiles', headers: { authorization: ADMIN }, payload: { name: 7 } })).statusCode,
      400,
    );
    const write = await h.app.inject({ method: 'PUT', url: '/api/admin/users/2/statusinfo', headers: { authorization: ADMIN }, payload: { status: 1 } });
    assert.equal(write.statusCode, 200, write.body);
    const lines = log.requestLines();
    assert.deepEqual(
      lines.map((l) => [l.level, l.method, l.path, l.status]),
      [
        [30, 'GET', '/api/mgmt/oauthprofiles', 401],
        [30, 'GET', '/api/nothing', 404],
        [30, 'POST', '/api/mgmt/oauthprofiles', 400],
        [30, 'PUT', '/api/admin/users/2/statusinfo', 200],
      ],
    );
    for (const l of lines) {
      assert.deepEqual(
        Object.keys(l)
          .filter((k) => !['level', 'time', 'pid', 'hostname', 'reqId', 'msg'].includes(k))
          .sort(),
        ['method', 'ms', 'path', 'status'],
      );
      assert.equal(typeof l.ms, 'number');
    }
    assert.ok(!JSON.stringify(lines).includes('secret-name'), 'never the query');
  });

  test('at info: a request as slow as the threshold is logged, a read included', async () => {
    const log = await logged('info', { slowRequestMs: 0 });
    h = log.h;
    assert.equal((await h.app.inject({ method: 'GET', url: '/api/healthcheck' })).statusCode, 200);
    assert.deepEqual(
      log.requestLines().map((l) => [l.level, l.method, l.path, l.status]),
      [[30, 'GET', '/api/healthcheck', 200]],
    );
  });

  test('at debug: every request, quick reads at debug', async () => {
    const log = await logged('debug');
    h = log.h;
    assert.equal((await h.app.inject({ method: 'GET', url: '/api/healthcheck?x=1' })).statusCode, 200);
    assert.equal((await h.app.inject({ method: 'GET', url: '/api/nothing', headers: { authorization: ADMIN } })).statusCode, 404);
    assert.deepEqual(
      log.requestLines().map((l) => [l.level, l.method, l.path, l.status]),
      [
        [20, 'GET', '/api/healthcheck', 200],
        [30, 'GET', '/api/nothing', 404],
      ],
    );
  });

  test('at warn: no request line at all', async () => {
    const log = await logged('warn');
    h = log.h;
    assert.equal((await h.app.inject({ method: 'GET', url: '/api/nothing', headers: { authorization: ADMIN } })).statusCode, 404);
    assert.equal((await h.app.inject({ method: 'GET', url: '/api/healthcheck' })).statusCode, 200);
    assert.deepEqual(log.requestLines(), []);
  });
});
