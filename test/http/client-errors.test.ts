/**
 * Requests Node's HTTP parser refuses before Fastify sees them, sent as raw bytes to a real listening app: each is
 * answered with HDP's envelope, no-store, the security headers and Connection: close — as a complete, well-formed
 * HTTP/1.1 response.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { harness, type Harness } from '../helpers.js';
import { catalogue } from '../../src/errors.js';
import { securityHeaders } from '../../src/http/security-headers.js';
import { clientErrorResponse } from '../../src/http/client-errors.js';

let h: Harness;
let port: number;

before(async () => {
  h = await harness();
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  port = (h.app.server.address() as AddressInfo).port;
});
after(async () => h?.close());

interface Raw {
  statusLine: string;
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** Writes `bytes`, reads until the server closes the connection, parses the one response. */
function exchange(bytes: string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    socket.setTimeout(10_000, () => socket.destroy(new Error('the server did not close the connection')));
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return reject(new Error(`no complete response head: ${JSON.stringify(text.slice(0, 200))}`));
      const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
      const headers = new Map<string, string>();
      for (const line of lines) {
        const colon = line.indexOf(':');
        assert.ok(!headers.has(line.slice(0, colon).toLowerCase()), `header repeated: ${line}`);
        headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
      }
      resolve({ statusLine, status: Number(statusLine.split(' ')[1]), headers, body: text.slice(end + 4) });
    });
    socket.write(bytes);
  });
}

function assertAnswer(res: Raw, status: number, kind: keyof typeof catalogue, mentions: RegExp): void {
  assert.match(res.statusLine, new RegExp(`^HTTP/1\\.1 ${status} \\w`), res.statusLine);
  assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.equal(Number(res.headers.get('content-length')), Buffer.byteLength(res.body), 'Content-Length is the body length');
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.equal(res.headers.get('connection'), 'close');
  for (const [name, value] of Object.entries(securityHeaders(false))) assert.equal(res.headers.get(name), value, name);
  assert.equal(res.headers.get('strict-transport-security'), undefined, 'no HSTS on plain HTTP');
  const body = JSON.parse(res.body);
  assert.deepEqual(body, { error: { code: catalogue[kind].code, message: { lang: 'en-US', value: body.error.message.value } } });
  assert.equal(catalogue[kind].status, status);
  assert.match(body.error.message.value, mentions);
}

test('a 20 KB header is 431 with the envelope', async () => {
  const res = await exchange(`GET /api/healthcheck HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
  assertAnswer(res, 431, 'headersTooLarge', /headers are larger than \d+ bytes/);
});

test('an unknown method is 400 with the envelope', async () => {
  const res = await exchange('FOO / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  assertAnswer(res, 400, 'badRequest', /unknown method/);
});

test('Content-Length together with Transfer-Encoding is 400 with the envelope', async () => {
  const res = await exchange(
    'POST /api/mgmt/oauthprofiles HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
      'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  );
  assertAnswer(res, 400, 'badRequest', /both Content-Length and Transfer-Encoding/);
});

test('other garbage is 400 with the envelope, naming no request data', async () => {
  const res = await exchange('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header SECRET-VALUE\r\n\r\n');
  assertAnswer(res, 400, 'badRequest', /./);
  assert.ok(!res.body.includes('SECRET-VALUE'));
});

test('after a good request on a keep-alive connection, a bad one still gets its own answer', async () => {
  const res = await new Promise<string>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    socket.setTimeout(10_000, () => socket.destroy(new Error('timeout')));
    socket.on('data', (c) => {
      chunks.push(c);
      // once the first answer is complete, send the bad request
      if (chunks.length === 1) socket.write('FOO / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.write('GET /api/healthcheck HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  });
  assert.match(res, /^HTTP\/1\.1 200 /);
  assert.match(res, /HTTP\/1\.1 400 Bad Request\r\n[^]*"code":223000400/);
});

test('Transfer-Encoding before Content-Length is the same 400', async () => {
  const res = await exchange(
    'POST /api/mgmt/oauthprofiles HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
      'Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n',
  );
  assertAnswer(res, 400, 'badRequest', /both Content-Length and Transfer-Encoding/);
});

test('a request that does not arrive in time (Node waits headersTimeout, 60 s, so asked directly) is 408 with the envelope', () => {
  const text = clientErrorResponse({ code: 'ERR_HTTP_REQUEST_TIMEOUT' }, false);
  const end = text.indexOf('\r\n\r\n');
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const headers = new Map(lines.map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]));
  assertAnswer({ statusLine, status: 408, headers, body: text.slice(end + 4) }, 408, 'requestTimeout', /in time/);
});
