/**
 * The URI policy (src/outbound/uri-policy.ts): which URIs may be called before anything connects. WHATWG URL — the
 * parser undici uses — normalises every IPv4 notation and IPv6 literal, so a literal is judged as the address it is;
 * shown here on examples and as a property over random addresses written in random notations.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { hostRefusal, literalAddress, uriRefusal } from '../../src/outbound/uri-policy.js';

const strict = { allowLoopback: false };
const flagged = { allowLoopback: true };
const reasonOf = (uri: string, rule = strict): string | undefined => uriRefusal(uri, rule)?.refused;

/** The IPv4 notations inet_aton and WHATWG URL accept, for the number `n`. */
const octets = (n: number): number[] => [24, 16, 8, 0].map((s) => (n >>> s) & 255);
const NOTATIONS: [string, (n: number) => string][] = [
  ['dotted decimal', (n) => octets(n).join('.')],
  ['one decimal number', (n) => String(n)],
  ['one hex number', (n) => `0x${n.toString(16)}`],
  [
    'dotted octal',
    (n) =>
      octets(n)
        .map((o) => `0${o.toString(8)}`)
        .join('.'),
  ],
  [
    'dotted hex',
    (n) =>
      octets(n)
        .map((o) => `0x${o.toString(16)}`)
        .join('.'),
  ],
  ['a.b.c (16-bit tail)', (n) => `${octets(n).slice(0, 2).join('.')}.${n & 0xffff}`],
  ['a.b (24-bit tail, hex)', (n) => `${octets(n)[0]}.0x${(n & 0xffffff).toString(16)}`],
  ['percent-encoded digits', (n) => [...octets(n).join('.')].map((c) => (c === '.' ? c : `%${c.charCodeAt(0).toString(16)}`)).join('')],
  ['IPv4-mapped IPv6', (n) => `[::ffff:${octets(n).join('.')}]`],
  ['IPv4-mapped IPv6, hex', (n) => `[0:0:0:0:0:FFFF:${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}]`],
];

describe('URI policy', () => {
  test('WHATWG URL writes every notation of 127.0.0.1 as the address it is', () => {
    const cases: [string, string][] = [
      ['2130706433', '127.0.0.1'],
      ['0x7f.1', '127.0.0.1'],
      ['0177.0.0.1', '127.0.0.1'],
      ['127.1', '127.0.0.1'],
      ['0x7F000001', '127.0.0.1'],
      ['%31%32%37.0.0.1', '127.0.0.1'],
      ['１２７.0.0.1', '127.0.0.1'],
      ['[::ffff:127.0.0.1]', '[::ffff:7f00:1]'],
      ['[0:0:0:0:0:FFFF:7F00:0001]', '[::ffff:7f00:1]'],
      ['[::127.0.0.1]', '[::7f00:1]'],
      ['[64:ff9b::127.0.0.1]', '[64:ff9b::7f00:1]'],
      ['127.0.0.1.', '127.0.0.1'],
      ['0x7f.1.', '127.0.0.1'],
      ['0', '0.0.0.0'],
    ];
    for (const [host, normal] of cases) {
      assert.equal(new URL(`https://${host}:8443/token`).hostname, normal, host);
      assert.equal(literalAddress(new URL(`https://${host}/`).hostname), normal.replace(/^\[|\]$/g, ''), host);
    }
    // A host that looks numeric but is not an address does not parse at all, so it never reaches a resolver.
    for (const host of ['1.2.3.4.5', '0x100000000', '256.0.0.1', '127.0.0.09']) assert.throws(() => new URL(`https://${host}/`), host);
  });

  test('https: is the scheme; http: only with the loopback flag and only to a loopback host', () => {
    assert.equal(reasonOf('https://as.example.com/token'), undefined);
    assert.equal(reasonOf('https://8.8.8.8/token'), undefined);
    assert.equal(reasonOf('https://[2606:4700:4700::1111]/token'), undefined);
    for (const uri of ['http://as.example.com/token', 'http://8.8.8.8/', 'http://127.0.0.1:8080/', 'http://[::1]/', 'http://localhost/']) {
      assert.equal(reasonOf(uri), 'scheme', uri);
    }
    for (const uri of ['ftp://as.example.com/', 'file:///etc/passwd', 'gopher://127.0.0.1/', 'ws://as.example.com/', 'javascript:alert(1)', 'data:,x']) {
      assert.equal(reasonOf(uri, flagged), 'scheme', uri);
    }
    assert.equal(reasonOf('http://127.0.0.1:8080/token', flagged), undefined);
    assert.equal(reasonOf('http://[::1]:8080/token', flagged), undefined);
    assert.equal(reasonOf('http://localhost:8080/token', flagged), undefined);
    assert.equal(reasonOf('http://127.9.8.7/token', flagged), undefined, 'all of 127/8 is loopback');
    assert.equal(reasonOf('http://as.example.com/token', flagged), 'scheme', 'a name over http: even with the flag');
    assert.equal(reasonOf('http://8.8.8.8/token', flagged), 'address', 'a public address over http:');
    assert.equal(reasonOf('http://10.0.0.1/token', flagged), 'address', 'a private address, ever');
    assert.equal(reasonOf('https://127.0.0.1/token', flagged), undefined, 'https: to loopback with the flag');
  });

  test('localhost and names under it are loopback (RFC 6761), refused early without the flag', () => {
    for (const host of ['localhost', 'LOCALHOST', 'localhost.', 'as.localhost', 'a.b.localhost.']) {
      assert.equal(reasonOf(`https://${host}/`), 'address', host);
      assert.equal(reasonOf(`https://${host}/`, flagged), undefined, host);
    }
    assert.equal(reasonOf('https://localhost.example.com/'), undefined, 'a name that only starts with localhost');
    assert.equal(reasonOf('https://notlocalhost/'), undefined);
  });

  test('not a URL, or a URL carrying credentials → invalid; the detail names neither path, query nor credentials', () => {
    assert.equal(reasonOf('/token'), 'invalid');
    assert.equal(reasonOf(''), 'invalid');
    assert.equal(reasonOf('https://'), 'invalid');
    const withCredentials = uriRefusal('https://client:s3cr3t@as.example.com/token', strict);
    assert.equal(withCredentials?.refused, 'invalid');
    assert.ok(!withCredentials?.detail.includes('s3cr3t'));
    for (const uri of ['https://10.0.0.1/token?client_secret=s3cr3t', 'http://as.example.com/s3cr3t', 'ftp://x/s3cr3t']) {
      const refusal = uriRefusal(uri, strict);
      assert.ok(refusal && !refusal.detail.includes('s3cr3t'), uri);
    }
  });

  test('hostRefusal reads the host as undici hands it to a connector (IPv6 without brackets)', () => {
    assert.equal(hostRefusal('https:', '::1', strict)?.refused, 'address');
    assert.equal(hostRefusal('https:', '::ffff:7f00:1', strict)?.refused, 'address');
    assert.equal(hostRefusal('https:', '::1', flagged), undefined);
    assert.equal(hostRefusal('https:', '2606:4700:4700::1111', strict), undefined);
    assert.equal(hostRefusal('http:', '::1', flagged), undefined);
  });

  test('property: a loopback address in any notation — http: or https: — is refused without the flag, allowed with it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0x7f000000, max: 0x7fffffff }),
        fc.constantFrom(...NOTATIONS),
        fc.constantFrom('http', 'https'),
        (n, [name, write], scheme) => {
          const uri = `${scheme}://${write(n)}:8443/token`;
          assert.ok(uriRefusal(uri, strict), `${name}: ${uri}`);
          assert.equal(uriRefusal(uri, flagged), undefined, `${name}: ${uri}`);
        },
      ),
    );
  });

  test('property: a private, link-local, CGNAT, reserved or unspecified address in any notation is refused, flag or not', () => {
    const blocked = fc.oneof(
      fc.integer({ min: 0x0a000000, max: 0x0affffff }),
      fc.integer({ min: 0xac100000, max: 0xac1fffff }),
      fc.integer({ min: 0xc0a80000, max: 0xc0a8ffff }),
      fc.integer({ min: 0xa9fe0000, max: 0xa9feffff }),
      fc.integer({ min: 0x64400000, max: 0x647fffff }),
      fc.integer({ min: 0xf0000000, max: 0xffffffff }),
      fc.integer({ min: 0, max: 0x00ffffff }),
    );
    fc.assert(
      fc.property(blocked, fc.constantFrom(...NOTATIONS), fc.constantFrom('http', 'https'), (n, [name, write], scheme) => {
        const uri = `${scheme}://${write(n)}/token`;
        for (const rule of [strict, flagged]) assert.ok(uriRefusal(uri, rule), `${name}: ${uri}`);
        if (scheme === 'https') assert.equal(uriRefusal(uri, strict)?.refused, 'address', `${name}: ${uri}`);
      }),
    );
  });

  test('property: a public address in any notation is allowed over https:, and normalised to the same address', () => {
    const publicV4 = fc.oneof(
      fc.integer({ min: 0x01000000, max: 0x09ffffff }),
      fc.integer({ min: 0x0b000000, max: 0x63ffffff }),
      fc.integer({ min: 0xc1000000, max: 0xc5ffffff }),
    );
    fc.assert(
      fc.property(publicV4, fc.constantFrom(...NOTATIONS), (n, [name, write]) => {
        const uri = `https://${write(n)}/token`;
        assert.equal(uriRefusal(uri, strict), undefined, `${name}: ${uri}`);
        const host = literalAddress(new URL(uri).hostname) ?? '';
        assert.ok(host === octets(n).join('.') || host === `::ffff:${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`, `${name}: ${uri} → ${host}`);
      }),
    );
  });
});
