/**
 * The outbound client's limits against real loopback servers that misbehave on purpose: the 64 KiB body cap (with
 * and without Content-Length), the three timeouts (a hung socket, stalled headers, a stalled or trickling body, a
 * resolver or TLS handshake that never finishes), network failures as codes, TLS trust (a private CA given as extra
 * certificates works, and is needed), and outcomes that never carry the request's secrets or the answer's body.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type LookupFunction } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOutboundClient, OUTBOUND_LIMITS, type OutboundClient } from '../../src/outbound/client.js';
import type { OutboundOutcome } from '../../src/outbound/outcome.js';
import { httpListener, rawListener, type Counted } from '../listener-support.js';
import { selfSignedCertificate } from '../tls-support.js';

const SECRET = 'rt-0123456789-secret';
const REQUEST = {
  headers: { authorization: `Basic ${Buffer.from(`client:${SECRET}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
  body: `grant_type=refresh_token&refresh_token=${SECRET}`,
};

/** No outcome may hold the request's secret (plain or as sent in Basic) or a response body's secret. */
function assertNoSecret(outcome: OutboundOutcome): void {
  const text = JSON.stringify(outcome, (key, value) => (key === 'body' && outcome.kind === 'response' ? undefined : value));
  for (const needle of [SECRET, Buffer.from(`client:${SECRET}`).toString('base64'), 'grant_type'])
    assert.ok(!text.includes(needle), `outcome holds ${needle}: ${text}`);
}

const KiB = 1024;

describe('outbound client: answers and limits', () => {
  let server: Counted;
  let client: OutboundClient;
  const seen: { headers: Record<string, unknown>; body: string }[] = [];
  before(async () => {
    server = await httpListener('127.0.0.1', (req, res, body) => {
      seen.push({ headers: req.headers, body: body.toString() });
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path === '/json') res.writeHead(200, { 'content-type': 'application/json' }).end('{"access_token":"at","expires_in":3600}');
      else if (path === '/429') res.writeHead(429, { 'retry-after': '7' }).end();
      else if (path === '/exact') res.writeHead(200).end(Buffer.alloc(OUTBOUND_LIMITS.maxBodyBytes, 'a'));
      else if (path === '/70k-length') res.writeHead(200, { 'content-type': 'text/html' }).end(Buffer.alloc(70 * KiB, `<p>${SECRET}</p>`));
      else if (path === '/70k-chunked') {
        res.writeHead(200, { 'content-type': 'text/html' });
        for (let i = 0; i < 70; i++) res.write(Buffer.alloc(KiB, `<p>${SECRET}</p>`));
        res.end();
      } else if (path === '/huge-length') {
        // Announces 10 MiB and sends a little: the announcement alone is enough to stop.
        res.writeHead(200, { 'content-length': String(10 * KiB * KiB) });
        res.write('x');
      } else res.writeHead(404).end();
    });
    client = createOutboundClient({ allowLoopback: true });
  });
  after(async () => {
    await client?.close();
    await server?.close();
  });

  test('a POST goes out with its headers and body; the answer comes back with status, lower-case headers, body and sentAt', async () => {
    const start = Date.now();
    const outcome = await client.post(`${server.origin()}/json`, REQUEST);
    assert.equal(outcome.kind, 'response');
    if (outcome.kind !== 'response') return;
    assert.equal(outcome.status, 200);
    assert.equal(outcome.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(outcome.body.toString()), { access_token: 'at', expires_in: 3600 });
    assert.ok(outcome.sentAt.getTime() >= start && outcome.sentAt.getTime() <= Date.now());
    const last = seen.at(-1);
    assert.equal(last?.body, REQUEST.body);
    assert.equal(last?.headers.authorization, REQUEST.headers.authorization);
  });

  test('an error status is an answer, not a failure (429 with Retry-After, 404)', async () => {
    const limited = await client.post(`${server.origin()}/429`, REQUEST);
    assert.equal(limited.kind === 'response' && limited.status, 429);
    assert.equal(limited.kind === 'response' && limited.headers['retry-after'], '7');
    const missing = await client.post(`${server.origin()}/nothing`, REQUEST);
    assert.equal(missing.kind === 'response' && missing.status, 404);
  });

  test('a body of exactly 64 KiB is read whole', async () => {
    const outcome = await client.post(`${server.origin()}/exact`, REQUEST);
    assert.equal(outcome.kind, 'response');
    assert.equal(outcome.kind === 'response' && outcome.body.length, 64 * KiB);
  });

  test('a 70 KiB body is tooLarge, announced by Content-Length or chunked, and the outcome holds none of it', async () => {
    for (const path of ['/70k-length', '/70k-chunked', '/huge-length']) {
      const outcome = await client.post(`${server.origin()}${path}`, REQUEST);
      assert.deepEqual(outcome, { kind: 'tooLarge', limit: 64 * KiB }, path);
    }
    // The connection of an abandoned answer is not reused in a broken state: the next call works.
    assert.equal((await client.post(`${server.origin()}/json`, REQUEST)).kind, 'response');
  });

  test('a smaller limit is honoured (the engine may ask for less)', async () => {
    const small = createOutboundClient({ allowLoopback: true, maxBodyBytes: 10 });
    try {
      assert.deepEqual(await small.post(`${server.origin()}/json`, REQUEST), { kind: 'tooLarge', limit: 10 });
    } finally {
      await small.close();
    }
  });
});

// A broken deadline must fail here, not hang the run: each test is bounded well above what it should take.
describe('outbound client: timeouts', { timeout: 10_000 }, () => {
  const listeners: Counted[] = [];
  const short = { allowLoopback: true, connectTimeoutMs: 300, headersTimeoutMs: 300, bodyTimeoutMs: 600 };
  let client: OutboundClient;
  before(() => {
    client = createOutboundClient(short);
  });
  after(async () => {
    // Listeners first: closing them ends any call still hanging on one, which client.close() would wait for.
    for (const l of listeners) await l.close();
    await client?.close();
  });
  const listener = async (...args: Parameters<typeof rawListener>): Promise<Counted> => {
    const l = await rawListener(...args);
    listeners.push(l);
    return l;
  };

  test('a hung socket (accepts, reads, never answers) → timeout in the headers phase', async () => {
    const hung = await listener('127.0.0.1');
    const started = Date.now();
    const outcome = await client.post(`${hung.origin()}/token`, REQUEST);
    assert.deepEqual(outcome, { kind: 'timeout', phase: 'headers' });
    assert.ok(hung.bytes > 0, 'the request was written');
    assert.ok(Date.now() - started < 3_000, `took ${Date.now() - started} ms`);
  });

  test('headers sent, then the body stalls → timeout in the body phase', async () => {
    const stalls = await listener('127.0.0.1', (socket) => {
      socket.once('data', () => socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"access'));
    });
    assert.deepEqual(await client.post(`${stalls.origin()}/token`, REQUEST), { kind: 'timeout', phase: 'body' });
  });

  test('a body that trickles a byte every 100 ms (never idle long enough for an idle timer) → timeout in the body phase', async () => {
    const trickles = await listener('127.0.0.1', (socket) => {
      socket.once('data', () => {
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n');
        const timer = setInterval(() => socket.write('x'), 100);
        socket.on('close', () => clearInterval(timer));
      });
    });
    const started = Date.now();
    assert.deepEqual(await client.post(`${trickles.origin()}/token`, REQUEST), { kind: 'timeout', phase: 'body' });
    assert.ok(Date.now() - started < 3_000, `took ${Date.now() - started} ms`);
  });

  test('a resolver that never answers → timeout in the connect phase', async () => {
    const silent = (() => undefined) as unknown as LookupFunction;
    const c = createOutboundClient({ ...short, allowLoopback: false, lookup: silent });
    try {
      assert.deepEqual(await c.post('https://as.example.test/token', REQUEST), { kind: 'timeout', phase: 'connect' });
    } finally {
      await c.close();
    }
  });

  test('a TLS handshake that never finishes → timeout in the connect phase (one deadline for TCP and TLS)', async () => {
    const silent = await listener('127.0.0.1');
    const started = Date.now();
    assert.deepEqual(await client.post(`${silent.origin('https')}/token`, REQUEST), { kind: 'timeout', phase: 'connect' });
    assert.ok(Date.now() - started < 1_500, `took ${Date.now() - started} ms`);
  });

  test('the defaults are §8.5: connect 5 s, headers 10 s, body 10 s, 64 KiB', () => {
    assert.deepEqual(OUTBOUND_LIMITS, { connectTimeoutMs: 5_000, headersTimeoutMs: 10_000, bodyTimeoutMs: 10_000, maxBodyBytes: 65_536 });
  });
});

describe('outbound client: network failures are codes', () => {
  test('a closed port → network ECONNREFUSED; a peer that hangs up mid-answer → network with undici code', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const freePort = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));

    const hangsUp = await rawListener('127.0.0.1', (socket) => socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\nshort')));
    const client = createOutboundClient({ allowLoopback: true });
    try {
      const refused = await client.post(`http://127.0.0.1:${freePort}/token`, REQUEST);
      assert.deepEqual(refused, { kind: 'network', code: 'ECONNREFUSED' });
      const cut = await client.post(`${hangsUp.origin()}/token`, REQUEST);
      assert.equal(cut.kind, 'network', JSON.stringify(cut));
      assert.match(cut.kind === 'network' ? cut.code : '', /^UND_ERR_|^E[A-Z]+$/);
      for (const o of [refused, cut]) assertNoSecret(o);
    } finally {
      await client.close();
      await hangsUp.close();
    }
  });

  test('a resolver failure → network with its code', async () => {
    const failing = ((_h: string, _o: unknown, cb: (err: NodeJS.ErrnoException) => void) =>
      cb(Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }))) as unknown as LookupFunction;
    const client = createOutboundClient({ allowLoopback: false, lookup: failing });
    try {
      assert.deepEqual(await client.post('https://as.example.test/token', REQUEST), { kind: 'network', code: 'ENOTFOUND' });
    } finally {
      await client.close();
    }
  });

  test('a header undici will not send is a programming error: thrown, without the header value', async () => {
    const client = createOutboundClient({ allowLoopback: true });
    try {
      await assert.rejects(
        client.post('http://127.0.0.1:9/token', { headers: { authorization: `Bearer ${SECRET}\r\nx: y` }, body: '' }),
        (err: Error) => err instanceof TypeError && !err.message.includes(SECRET) && !String((err.cause as Error).message).includes(SECRET),
      );
    } finally {
      await client.close();
    }
  });
});

describe('outbound client: TLS with extra CA certificates (TOKENKEEP_OUTBOUND_CA_FILE)', () => {
  let dir: string;
  let tls: { cert: Buffer; key: Buffer };
  let server: Counted;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tokenkeep-outbound-'));
    const files = selfSignedCertificate(dir, 'as');
    tls = { cert: readFileSync(files.cert), key: readFileSync(files.key) };
    server = await httpListener('127.0.0.1', (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'), tls);
  });
  after(async () => {
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('with the self-signed certificate as extra CA, https: to the local server works', async () => {
    const client = createOutboundClient({ allowLoopback: true, extraCa: tls.cert });
    try {
      const outcome = await client.post(`${server.origin('https')}/token`, REQUEST);
      assert.equal(outcome.kind, 'response', JSON.stringify(outcome));
      assert.equal(outcome.kind === 'response' && outcome.body.toString(), '{"ok":true}');
      // PEM text works as well as a Buffer (the content of the file, however it was read).
      const text = createOutboundClient({ allowLoopback: true, extraCa: tls.cert.toString() });
      assert.equal((await text.post(`${server.origin('https')}/token`, REQUEST)).kind, 'response');
      await text.close();
    } finally {
      await client.close();
    }
  });

  test('without it, the certificate is refused: network failure with the TLS code, no request read', async () => {
    const before = server.requests;
    const client = createOutboundClient({ allowLoopback: true });
    try {
      const outcome = await client.post(`${server.origin('https')}/token`, REQUEST);
      assert.equal(outcome.kind, 'network', JSON.stringify(outcome));
      assert.match(outcome.kind === 'network' ? outcome.code : '', /SELF_SIGNED|UNABLE_TO_VERIFY/);
      assertNoSecret(outcome);
      assert.equal(server.requests, before);
    } finally {
      await client.close();
    }
  });

  test('another certificate as extra CA does not make this one trusted', async () => {
    const other = selfSignedCertificate(dir, 'other');
    const client = createOutboundClient({ allowLoopback: true, extraCa: readFileSync(other.cert) });
    try {
      assert.equal((await client.post(`${server.origin('https')}/token`, REQUEST)).kind, 'network');
    } finally {
      await client.close();
    }
  });

  test('the certificate must name the host: a name it does not carry is refused on the upgraded socket', async () => {
    // The TLS handshake runs on a socket the connector opened itself; the host name must still be checked there.
    const lookup = ((_h: string, o: { all?: boolean }, cb: (...a: unknown[]) => void) =>
      o.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4)) as unknown as LookupFunction;
    const client = createOutboundClient({ allowLoopback: true, extraCa: tls.cert, lookup });
    const before = server.requests;
    try {
      const outcome = await client.post(`https://as.example.test:${server.port}/token`, REQUEST);
      assert.deepEqual(outcome, { kind: 'network', code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
      assert.equal(server.requests, before);
      // Control: the name the certificate carries (CN=localhost; no DNS name in its SAN) passes through the same path.
      assert.equal((await client.post(`https://localhost:${server.port}/token`, REQUEST)).kind, 'response');
    } finally {
      await client.close();
    }
  });
});

describe('outbound client: outcomes hold no secret', () => {
  test('refused, timed out and oversize outcomes hold neither the request body, its Authorization, nor the answer', async () => {
    const big = await httpListener('127.0.0.1', (_req, res) => res.writeHead(200).end(Buffer.alloc(70 * KiB, SECRET)));
    const hung = await rawListener('127.0.0.1');
    const client = createOutboundClient({ allowLoopback: true, headersTimeoutMs: 200 });
    const strict = createOutboundClient({ allowLoopback: false });
    try {
      const outcomes = [
        await strict.post(`${big.origin()}/token?x=${SECRET}`, REQUEST),
        await strict.post(`https://127.0.0.1:${big.port}/token?x=${SECRET}`, REQUEST),
        await strict.post(`https://user:${SECRET}@as.example.test/token`, REQUEST),
        await client.post(`${big.origin()}/token`, REQUEST),
        await client.post(`${hung.origin()}/token`, REQUEST),
      ];
      assert.deepEqual(
        outcomes.map((o) => o.kind),
        ['refused', 'refused', 'refused', 'tooLarge', 'timeout'],
      );
      for (const o of outcomes) assertNoSecret(o);
    } finally {
      await client.close();
      await strict.close();
      await big.close();
      await hung.close();
    }
  });
});
