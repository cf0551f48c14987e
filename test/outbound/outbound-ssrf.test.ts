/**
 * §8.5 against real listeners on loopback that count what reaches them: a refused URI opens no connection (the
 * listener counts zero), in every literal notation; a name that resolves to loopback — by the OS's resolver or a
 * rebinding one — is connected to and then dropped before a single byte is written (the listener counts a
 * connection and zero bytes, so not even a TLS ClientHello); a redirect is returned, never followed. Each refusal is
 * paired with a control that reaches the same listener when loopback is allowed, so a zero is the client's doing and
 * not a listener that nothing could reach.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect, type LookupFunction } from 'node:net';
import { createOutboundClient, type OutboundClient } from '../../src/outbound/client.js';
import { classifyAddress } from '../../src/outbound/address-policy.js';
import type { OutboundOutcome } from '../../src/outbound/outcome.js';
import { httpListener, rawListener, type Counted, type LoopbackHost } from '../listener-support.js';

const FORM = { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=refresh_token&refresh_token=rt-secret' };

const ok = (req: unknown, res: import('node:http').ServerResponse): void => {
  res.writeHead(200, { 'content-type': 'application/json' }).end('{"access_token":"at"}');
};

/** A resolver that answers `answers` in turn (the last one from then on), in both shapes Node asks for. */
function scriptedLookup(...answers: string[]): LookupFunction & { calls: number } {
  const lookup = ((_hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    const address = answers[Math.min(lookup.calls, answers.length - 1)];
    lookup.calls += 1;
    const family = address.includes(':') ? 6 : 4;
    if (options.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  }) as unknown as LookupFunction & { calls: number };
  lookup.calls = 0;
  return lookup;
}

function assertRefused(outcome: OutboundOutcome, reason: 'scheme' | 'address' | 'invalid', context: string): void {
  assert.equal(outcome.kind, 'refused', `${context}: ${JSON.stringify(outcome)}`);
  if (outcome.kind === 'refused') assert.equal(outcome.reason, reason, `${context}: ${outcome.detail}`);
}

describe('outbound SSRF: literals are refused before connecting', () => {
  const listeners = new Map<LoopbackHost, Counted>();
  let strict: OutboundClient;
  let loopback: OutboundClient;
  before(async () => {
    for (const host of ['127.0.0.1', '::1'] as const) listeners.set(host, await httpListener(host, ok));
    strict = createOutboundClient({ allowLoopback: false });
    loopback = createOutboundClient({ allowLoopback: true });
  });
  after(async () => {
    await strict?.close();
    await loopback?.close();
    for (const l of listeners.values()) await l.close();
  });
  const v4 = () => listeners.get('127.0.0.1') as Counted;
  const v6 = () => listeners.get('::1') as Counted;

  test('control: with loopback allowed, each listener is reached by its plain literal', async () => {
    for (const l of [v4(), v6()]) {
      const before = l.requests;
      const outcome = await loopback.post(`${l.origin('http')}/token`, FORM);
      assert.equal(outcome.kind, 'response', JSON.stringify(outcome));
      assert.equal(l.requests, before + 1);
    }
  });

  test('without the loopback flag, http: and https: to 127.0.0.1 and ::1 are refused and no connection is opened', async () => {
    const v4Before = v4().connections;
    const v6Before = v6().connections;
    for (const l of [v4(), v6()]) {
      assertRefused(await strict.post(`${l.origin('http')}/token`, FORM), 'scheme', l.origin('http'));
      assertRefused(await strict.post(`${l.origin('https')}/token`, FORM), 'address', l.origin('https'));
    }
    assertRefused(await strict.post(`https://localhost:${v4().port}/token`, FORM), 'address', 'https://localhost');
    assert.equal(v4().connections, v4Before);
    assert.equal(v6().connections, v6Before);
  });

  test('other notations of 127.0.0.1 reach the listener when loopback is allowed, and open no connection when it is not', async () => {
    const port = v4().port;
    const notations = [`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`, `0x7F000001`, `%31%32%37.0.0.1`, `[::ffff:127.0.0.1]`, `[::ffff:7f00:1]`];
    for (const host of notations) {
      const before = v4().requests;
      const reached = await loopback.post(`http://${host}:${port}/token`, FORM);
      assert.equal(reached.kind, 'response', `${host} with loopback allowed: ${JSON.stringify(reached)}`);
      assert.equal(v4().requests, before + 1, `${host} reaches 127.0.0.1`);
    }
    const before = v4().connections;
    for (const host of notations) {
      assertRefused(await strict.post(`http://${host}:${port}/token`, FORM), 'scheme', `http://${host}`);
      assertRefused(await strict.post(`https://${host}:${port}/token`, FORM), 'address', `https://${host}`);
    }
    assert.equal(v4().connections, before, 'no notation opened a connection');
  });

  test('0.0.0.0 and [::] reach this machine, and are refused even with loopback allowed', async () => {
    // The threat is real: the kernel connects the unspecified address to a local listener.
    for (const [address, l] of [
      ['0.0.0.0', v4()],
      ['::', v6()],
    ] as const) {
      const before = l.connections;
      await new Promise<void>((resolve, reject) => {
        const s = netConnect({ host: address, port: l.port }, () => {
          s.destroy();
          resolve();
        }).on('error', reject);
      });
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(l.connections, before + 1, `a plain connect to ${address} reaches the ${l.origin()} listener`);
    }
    const v4Before = v4().connections;
    const v6Before = v6().connections;
    for (const client of [strict, loopback]) {
      assertRefused(await client.post(`https://0.0.0.0:${v4().port}/`, FORM), 'address', '0.0.0.0');
      assertRefused(await client.post(`https://[::]:${v6().port}/`, FORM), 'address', '[::]');
    }
    assertRefused(await loopback.post(`http://0.0.0.0:${v4().port}/`, FORM), 'address', 'http://0.0.0.0');
    assertRefused(await loopback.post(`http://0:${v4().port}/`, FORM), 'address', 'http://0');
    assert.equal(v4().connections, v4Before);
    assert.equal(v6().connections, v6Before);
  });

  test('IPv4-compatible and NAT64 forms of loopback are refused even with loopback allowed, with no connection', async () => {
    const before = v4().connections + v6().connections;
    for (const host of ['[::127.0.0.1]', '[::7f00:1]', '[64:ff9b::127.0.0.1]', '[64:ff9b:1::7f00:1]', '[::ffff:0:7f00:1]', '[2002:7f00:1::1]']) {
      for (const client of [strict, loopback]) assertRefused(await client.post(`https://${host}:${v4().port}/`, FORM), 'address', host);
    }
    assert.equal(v4().connections + v6().connections, before);
  });

  test('http: to a public literal or a name other than localhost is refused even with loopback allowed', async () => {
    assertRefused(await loopback.post('http://8.8.8.8/token', FORM), 'address', 'http://8.8.8.8');
    assertRefused(await loopback.post('http://as.example.com/token', FORM), 'scheme', 'http://as.example.com');
  });
});

describe('outbound SSRF: names are judged by the address actually connected to', () => {
  let v4: Counted;
  let v6: Counted;
  before(async () => {
    v4 = await rawListener('127.0.0.1');
    v6 = await rawListener('::1');
  });
  after(async () => {
    await v4?.close();
    await v6?.close();
  });

  /** Waits until the listener has seen `connections` connections and the client's socket is gone. */
  async function settled(l: Counted, connections: number): Promise<void> {
    for (let i = 0; i < 100 && l.connections < connections; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 50));
  }

  for (const [family, address] of [
    ['IPv4', '127.0.0.1'],
    ['IPv6', '::1'],
  ] as const) {
    test(`a name that resolves to ${address} is connected, then dropped before a byte is written (https: no ClientHello either)`, async () => {
      const l = family === 'IPv4' ? v4 : v6;
      const lookup = scriptedLookup(address);
      const client = createOutboundClient({ allowLoopback: false, lookup });
      try {
        const before = { connections: l.connections, bytes: l.bytes };
        const outcome = await client.post(`https://as.example.test:${l.port}/token`, FORM);
        assertRefused(outcome, 'address', 'rebound name');
        await settled(l, before.connections + 1);
        assert.equal(lookup.calls, 1, 'the resolver was asked');
        assert.equal(l.connections, before.connections + 1, 'the connection was made (the check is on the connected socket)');
        assert.equal(l.bytes, before.bytes, 'not a byte reached the listener');
      } finally {
        await client.close();
      }
    });
  }

  test('DNS rebinding: a resolver that answered a public address at check time answers loopback at connect time → dropped, zero bytes', async () => {
    const lookup = scriptedLookup('93.184.215.14', '127.0.0.1');
    // What a validate-then-connect client would have seen at its check: a public address.
    const first = await new Promise<string>((resolve) =>
      (lookup as unknown as (h: string, o: object, cb: (e: null, a: string) => void) => void)('as.example.test', {}, (_e, a) => resolve(a)),
    );
    assert.deepEqual(classifyAddress(first), { kind: 'public' });
    const client = createOutboundClient({ allowLoopback: false, lookup });
    try {
      const before = { connections: v4.connections, bytes: v4.bytes };
      assertRefused(await client.post(`https://as.example.test:${v4.port}/token`, FORM), 'address', 'rebinding');
      await settled(v4, before.connections + 1);
      assert.equal(v4.connections, before.connections + 1);
      assert.equal(v4.bytes, before.bytes, 'not a byte reached the listener');
    } finally {
      await client.close();
    }
  });

  test('control: with loopback allowed the same name is connected and the TLS handshake starts', async () => {
    const client = createOutboundClient({ allowLoopback: true, lookup: scriptedLookup('127.0.0.1'), connectTimeoutMs: 300 });
    try {
      const before = v4.bytes;
      // The raw listener never answers: the ClientHello goes out, then the connect deadline ends the handshake.
      assert.deepEqual(await client.post(`https://as.example.test:${v4.port}/token`, FORM), { kind: 'timeout', phase: 'connect' });
      assert.ok(v4.bytes > before, 'the TLS ClientHello was written once the address was allowed');
    } finally {
      await client.close();
    }
  });

  test('localhost and the names under it (RFC 6761) are refused before connecting, whatever a resolver would say', async () => {
    const client = createOutboundClient({ allowLoopback: false });
    try {
      const before = { connections: v4.connections + v6.connections, bytes: v4.bytes + v6.bytes };
      assertRefused(await client.post(`https://localhost:${v4.port}/`, FORM), 'address', 'localhost');
      assertRefused(await client.post(`https://app.localhost:${v4.port}/`, FORM), 'address', 'app.localhost');
      assert.equal(v4.connections + v6.connections, before.connections);
      // `localhost.` with a trailing dot is still localhost to the RFC; the early check knows, and so would the socket.
      assertRefused(await client.post(`https://localhost.:${v4.port}/`, FORM), 'address', 'localhost.');
      assert.equal(v4.bytes + v6.bytes, before.bytes);
    } finally {
      await client.close();
    }
  });

  test('http: with loopback allowed: a name that resolves to loopback may be called only if it is localhost', async () => {
    const client = createOutboundClient({ allowLoopback: true, lookup: scriptedLookup('127.0.0.1'), headersTimeoutMs: 200 });
    try {
      const before = v4.connections;
      assertRefused(await client.post(`http://as.example.test:${v4.port}/`, FORM), 'scheme', 'http name');
      assert.equal(v4.connections, before);
      const bytes = v4.bytes;
      assert.deepEqual(await client.post(`http://localhost:${v4.port}/`, FORM), { kind: 'timeout', phase: 'headers' });
      assert.equal(v4.connections, before + 1);
      assert.ok(v4.bytes > bytes, 'the request was written');
    } finally {
      await client.close();
    }
  });
});

describe('outbound SSRF: redirects are returned, never followed', () => {
  let target: Counted;
  let redirector: Counted;
  let client: OutboundClient;
  before(async () => {
    target = await httpListener('127.0.0.1', ok);
    redirector = await httpListener('127.0.0.1', (req, res) => {
      const status = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('status') ?? 302);
      res.writeHead(status, { location: `${target.origin('http')}/steal` }).end();
    });
    client = createOutboundClient({ allowLoopback: true });
  });
  after(async () => {
    await client?.close();
    await target?.close();
    await redirector?.close();
  });

  test('control: the target listener is reachable', async () => {
    // Its own client, closed after: `client` must hold no pooled connection to the target that a redirect could reuse.
    const control = createOutboundClient({ allowLoopback: true });
    const before = target.requests;
    assert.equal((await control.post(`${target.origin()}/token`, FORM)).kind, 'response');
    assert.equal(target.requests, before + 1);
    await control.close();
  });

  test('301, 302, 303, 307 and 308 come back as they are; the listener named by Location sees no connection', async () => {
    const before = { connections: target.connections, requests: target.requests };
    for (const status of [301, 302, 303, 307, 308]) {
      const outcome = await client.post(`${redirector.origin()}/token?status=${status}`, FORM);
      assert.equal(outcome.kind, 'response');
      if (outcome.kind !== 'response') continue;
      assert.equal(outcome.status, status);
      assert.equal(outcome.headers.location, `${target.origin('http')}/steal`);
    }
    assert.ok(redirector.requests >= 5);
    assert.equal(target.connections, before.connections, 'no connection to the Location');
    assert.equal(target.requests, before.requests, 'Location was never fetched');
  });
});
