/**
 * Security headers on every answer: successes, errors of every kind, 404 and 405, a URL the router cannot decode,
 * and what Node's parser refuses. Exactly the one list of src/http/security-headers.ts — helmet sends no more and no
 * less — with HSTS only when the process itself serves TLS.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InjectOptions } from 'fastify';
import { selfSignedCertificate } from '../tls-support.js';
import { ADMIN_PASSWORD, basic, harness, USER_PASSWORD, type Harness } from '../helpers.js';
import { securityHeaders } from '../../src/http/security-headers.js';

/** Every header helmet 8 can send: none but ours may appear. */
const HELMET_HEADERS = [
  'content-security-policy',
  'content-security-policy-report-only',
  'cross-origin-embedder-policy',
  'cross-origin-opener-policy',
  'cross-origin-resource-policy',
  'origin-agent-cluster',
  'referrer-policy',
  'strict-transport-security',
  'x-content-type-options',
  'x-dns-prefetch-control',
  'x-download-options',
  'x-frame-options',
  'x-permitted-cross-domain-policies',
  'x-powered-by',
  'x-xss-protection',
];

function assertSecurityHeaders(headers: Record<string, unknown>, tls: boolean, context: string): void {
  const sent = Object.fromEntries(HELMET_HEADERS.filter((name) => headers[name] !== undefined).map((name) => [name, headers[name]]));
  assert.deepEqual(sent, securityHeaders(tls), context);
}

test('the list holds what the issue asks for', () => {
  const plain = securityHeaders(false);
  assert.equal(plain['x-content-type-options'], 'nosniff');
  assert.equal(plain['referrer-policy'], 'no-referrer');
  assert.equal(plain['x-frame-options'], 'DENY');
  const csp = plain['content-security-policy'].split(';').map((d) => d.trim());
  assert.deepEqual(csp.sort(), ["default-src 'none'", "frame-ancestors 'none'"]);
  assert.equal(plain['strict-transport-security'], undefined);
  assert.match(securityHeaders(true)['strict-transport-security'], /^max-age=\d{8,}/);
});

describe('plain HTTP: every kind of answer carries the headers, without HSTS', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(async () => h?.close());

  const admin = basic('d2cadmin', ADMIN_PASSWORD);
  const user = basic('d2cuser', USER_PASSWORD);
  const json = { 'content-type': 'application/json' };
  const cases: [string, InjectOptions, number][] = [
    ['health', { method: 'GET', url: '/api/healthcheck' }, 200],
    ['HEAD health', { method: 'HEAD', url: '/api/healthcheck' }, 200],
    ['a list', { method: 'GET', url: '/api/mgmt/oauthprofiles', headers: { authorization: user } }, 200],
    [
      'a created object',
      { method: 'POST', url: '/api/admin/tenants', headers: { authorization: admin, ...json }, payload: { name: 'Headers', parentTenant: 1 } },
      201,
    ],
    ['the OpenAPI document', { method: 'GET', url: '/api/openapi.json', headers: { authorization: admin } }, 200],
    ['401', { method: 'GET', url: '/api/mgmt/oauthprofiles' }, 401],
    ['401 wrong password', { method: 'GET', url: '/api/mgmt/oauthprofiles', headers: { authorization: basic('d2cuser', 'nope') } }, 401],
    ['403', { method: 'GET', url: '/api/admin/tenants', headers: { authorization: user } }, 403],
    ['404 id', { method: 'GET', url: '/api/mgmt/oauthprofiles/987654', headers: { authorization: user } }, 404],
    ['404 lenient id', { method: 'GET', url: '/api/mgmt/oauthprofiles/01', headers: { authorization: user } }, 404],
    ['404 path', { method: 'GET', url: '/api/nothing/here', headers: { authorization: user } }, 404],
    ['404 undecodable URL', { method: 'GET', url: '/api/%zz' }, 404],
    ['405', { method: 'PATCH', url: '/api/mgmt/oauthprofiles', headers: { authorization: user } }, 405],
    ['400 JSON', { method: 'POST', url: '/api/mgmt/oauthprofiles', headers: { authorization: user, ...json }, payload: '{"name":"a","name":"b"}' }, 400],
    ['400 schema', { method: 'POST', url: '/api/mgmt/oauthprofiles', headers: { authorization: user, ...json }, payload: '{}' }, 400],
    ['413', { method: 'POST', url: '/api/mgmt/oauthprofiles', headers: { authorization: user, ...json }, payload: `"${'x'.repeat(70_000)}"` }, 413],
    ['415', { method: 'POST', url: '/api/mgmt/oauthprofiles', headers: { authorization: user, 'content-type': 'text/plain' }, payload: '{}' }, 415],
    ['204', { method: 'DELETE', url: '/api/admin/tenants/{tenant}', headers: { authorization: admin } }, 204],
  ];
  let tenant = 0;
  for (const [label, opts, status] of cases) {
    test(`${label} (${status})`, async () => {
      const res = await h.app.inject({ ...opts, url: String(opts.url).replace('{tenant}', String(tenant)) });
      assert.equal(res.statusCode, status, res.body.slice(0, 200));
      if (label === 'a created object') tenant = JSON.parse(res.body).id;
      assertSecurityHeaders(res.headers, false, label);
      assert.equal(res.headers['cache-control'], 'no-store', label);
    });
  }
});

function selfSigned(dir: string): { cert: Buffer; key: Buffer } {
  const { cert, key } = selfSignedCertificate(dir);
  return { cert: readFileSync(cert), key: readFileSync(key) };
}

describe('TLS: HSTS on every answer, the raw ones included', () => {
  let h: Harness;
  let dir: string;
  let port: number;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tokenkeep-headers-'));
    h = await harness({ https: selfSigned(dir) });
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    port = (h.app.server.address() as AddressInfo).port;
  });
  after(async () => {
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = (path: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; headers: Record<string, unknown> }>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port, path, headers, rejectUnauthorized: false, timeout: 15_000 }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end();
    });

  test('success, 401, 404 and 405 over HTTPS', async () => {
    for (const [path, headers, status] of [
      ['/api/healthcheck', {}, 200],
      ['/api/mgmt/oauthprofiles', { authorization: basic('d2cuser', USER_PASSWORD) }, 200],
      ['/api/mgmt/oauthprofiles', {}, 401],
      ['/api/nothing', { authorization: basic('d2cuser', USER_PASSWORD) }, 404],
      ['/api/%zz', {}, 404],
    ] as const) {
      const res = await get(path, headers);
      assert.equal(res.status, status, path);
      assertSecurityHeaders(res.headers, true, `${path} ${status}`);
    }
  });

  test('what Node refuses over TLS carries HSTS too', async () => {
    const text = await new Promise<string>((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => socket.write('FOO / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
      const chunks: Buffer[] = [];
      socket.setTimeout(10_000, () => socket.destroy(new Error('timeout')));
      socket.on('data', (c) => chunks.push(c));
      socket.on('error', reject);
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
    assert.match(text, /^HTTP\/1\.1 400 /);
    const head = text.slice(0, text.indexOf('\r\n\r\n')).toLowerCase();
    for (const [name, value] of Object.entries(securityHeaders(true))) assert.ok(head.includes(`\r\n${name}: ${value.toLowerCase()}`), `${name} in ${head}`);
  });
});
