/**
 * The address policy (src/outbound/address-policy.ts) as properties over random addresses: every address of every
 * blocked class of §8.5 — and every IPv4-mapped, IPv4-compatible, NAT64, IPv4-translated, 6to4 and Teredo form of
 * any IPv4 address — is never public, in every textual notation; loopback passes only with the flag; random public
 * unicast addresses are public. "Public" is checked against an oracle written here from IANA's special-purpose
 * address registries, not against ipaddr.js, so the two lists must agree over the whole address space.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { addressRefusal, classifyAddress } from '../../src/outbound/address-policy.js';

// ---- addresses as numbers, and their notations --------------------------------------------------------------------

const v4Text = (n: number): string => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
const v4Number = (text: string): number => text.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);

const groups = (n: bigint): number[] => Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(112 - 16 * i)) & 0xffffn));
/** The eight groups in full (`0:0:0:0:0:0:7f00:1`). */
const v6Full = (n: bigint): string =>
  groups(n)
    .map((g) => g.toString(16))
    .join(':');
/** Zero-padded and upper-case (`0000:…:7F00:0001`). */
const v6Padded = (n: bigint): string =>
  groups(n)
    .map((g) => g.toString(16).padStart(4, '0').toUpperCase())
    .join(':');
/** The last 32 bits as a dotted quad (`0:0:0:0:0:ffff:127.0.0.1`). */
const v6Mixed = (n: bigint): string =>
  `${groups(n)
    .slice(0, 6)
    .map((g) => g.toString(16))
    .join(':')}:${v4Text(Number(n & 0xffffffffn))}`;
/** The compressed form WHATWG URL writes (`::ffff:7f00:1`), as a socket would report it. */
const v6Compressed = (n: bigint): string => new URL(`http://[${v6Full(n)}]/`).hostname.slice(1, -1);
/** The first 96 bits compressed, the last 32 as a dotted quad (`::127.0.0.1`), the notation ipaddr.js misreads as IPv4-mapped. */
const v6CompressedMixed = (n: bigint): string => {
  const head = groups(n)
    .slice(0, 6)
    .map((g) => g.toString(16));
  let best = -1;
  let length = 0;
  for (let i = 0; i < 6;) {
    let j = i;
    while (j < 6 && head[j] === '0') j++;
    if (j - i >= 2 && j - i > length) [best, length] = [i, j - i];
    i = j > i ? j : i + 1;
  }
  const prefix = best < 0 ? `${head.join(':')}:` : `${head.slice(0, best).join(':')}::${head.slice(best + length).join(':')}${best + length < 6 ? ':' : ''}`;
  return `${prefix}${v4Text(Number(n & 0xffffffffn))}`;
};
const V6_NOTATIONS = [v6Full, v6Padded, v6Mixed, v6Compressed, v6CompressedMixed];

const v6Number = (text: string): bigint => {
  const full = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  const [head, tail] = full.includes('::') ? full.split('::') : [full, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const all = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return all.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
};

// ---- CIDR blocks and the oracle ------------------------------------------------------------------------------------

interface Block4 {
  name: string;
  cidr: string;
}
const inV4 = (n: number, cidr: string): boolean => {
  const [base, bits] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  return Math.floor(n / size) === Math.floor(v4Number(base) / size);
};
const inV6 = (n: bigint, cidr: string): boolean => {
  const [base, bits] = cidr.split('/');
  const shift = BigInt(128 - Number(bits));
  return n >> shift === v6Number(base) >> shift;
};

/** §8.5's blocked IPv4 classes, as the issue lists them (loopback first: the flag may allow it). */
const BLOCKED_V4: Block4[] = [
  { name: 'loopback', cidr: '127.0.0.0/8' },
  { name: 'private', cidr: '10.0.0.0/8' },
  { name: 'private', cidr: '172.16.0.0/12' },
  { name: 'private', cidr: '192.168.0.0/16' },
  { name: 'link-local (cloud metadata)', cidr: '169.254.0.0/16' },
  { name: 'CGNAT', cidr: '100.64.0.0/10' },
  { name: 'multicast', cidr: '224.0.0.0/4' },
  { name: 'unspecified / this network', cidr: '0.0.0.0/8' },
  { name: 'documentation', cidr: '192.0.2.0/24' },
  { name: 'documentation', cidr: '198.51.100.0/24' },
  { name: 'documentation', cidr: '203.0.113.0/24' },
  { name: 'reserved', cidr: '240.0.0.0/4' },
  { name: 'benchmarking', cidr: '198.18.0.0/15' },
  { name: 'broadcast', cidr: '255.255.255.255/32' },
  { name: 'IETF protocol assignments', cidr: '192.0.0.0/24' },
];
/** The rest of IANA's IPv4 special-purpose registry: not public either (AS112, AMT, the 6to4 relay anycast). */
const ORACLE_V4 = [...BLOCKED_V4.map((b) => b.cidr), '192.31.196.0/24', '192.52.193.0/24', '192.88.99.0/24', '192.175.48.0/24'];
const publicV4 = (n: number): boolean => !ORACLE_V4.some((c) => inV4(n, c));

/** §8.5's blocked IPv6 classes, with the carriers of IPv4 addresses. */
const BLOCKED_V6: Block4[] = [
  { name: 'loopback', cidr: '::1/128' },
  { name: 'unspecified', cidr: '::/128' },
  { name: 'unique-local', cidr: 'fc00::/7' },
  { name: 'link-local', cidr: 'fe80::/10' },
  { name: 'site-local (deprecated)', cidr: 'fec0::/10' },
  { name: 'multicast', cidr: 'ff00::/8' },
  { name: 'documentation', cidr: '2001:db8::/32' },
  { name: 'documentation', cidr: '3fff::/20' },
  { name: 'NAT64', cidr: '64:ff9b::/96' },
  { name: 'NAT64 (local use)', cidr: '64:ff9b:1::/48' },
  { name: 'IPv4-compatible', cidr: '::/96' },
  { name: 'IPv4-translated', cidr: '::ffff:0:0:0/96' },
  { name: '6to4', cidr: '2002::/16' },
  { name: 'Teredo', cidr: '2001::/32' },
  { name: 'benchmarking', cidr: '2001:2::/48' },
  { name: 'ORCHIDv2', cidr: '2001:20::/28' },
  { name: 'discard', cidr: '100::/64' },
];
/** Public IPv6: inside 2000::/3 (IANA's global unicast) and outside its special-purpose blocks. */
const ORACLE_V6_INSIDE_GLOBAL = ['2001::/23', '2001:db8::/32', '2002::/16', '2620:4f:8000::/48', '3fff::/20'];
const publicV6 = (n: bigint): boolean => inV6(n, '2000::/3') && !ORACLE_V6_INSIDE_GLOBAL.some((c) => inV6(n, c));

// ---- generators ----------------------------------------------------------------------------------------------------

const inBlock4 = (cidr: string): fc.Arbitrary<number> => {
  const [base, bits] = cidr.split('/');
  return fc.integer({ min: 0, max: 2 ** (32 - Number(bits)) - 1 }).map((offset) => v4Number(base) + offset);
};
const inBlock6 = (cidr: string): fc.Arbitrary<bigint> => {
  const [base, bits] = cidr.split('/');
  const size = 1n << BigInt(128 - Number(bits));
  return fc.bigInt({ min: 0n, max: size - 1n }).map((offset) => v6Number(base) + offset);
};
const anyV4 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const anyV6 = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n });
const MAPPED = 0xffff00000000n;

/** Every way an IPv6 address can carry an IPv4 address other than IPv4-mapped; none of them is ever allowed. */
const carriers: [string, (v4: number) => bigint][] = [
  ['IPv4-compatible ::a.b.c.d', (v4) => BigInt(v4)],
  ['NAT64 64:ff9b::a.b.c.d', (v4) => v6Number('64:ff9b::') + BigInt(v4)],
  ['NAT64 local 64:ff9b:1::a.b.c.d', (v4) => v6Number('64:ff9b:1::') + BigInt(v4)],
  ['IPv4-translated ::ffff:0:a.b.c.d', (v4) => v6Number('::ffff:0:0:0') + BigInt(v4)],
  ['6to4 2002:a.b.c.d::/48', (v4) => v6Number('2002::') + (BigInt(v4) << 80n)],
  ['Teredo 2001:0:a.b.c.d::', (v4) => v6Number('2001::') + (BigInt(v4) << 64n)],
];

const strict = { allowLoopback: false };
const flagged = { allowLoopback: true };

describe('address policy', () => {
  test('examples from the issue: forms of loopback that block-lists miss are not public', () => {
    for (const text of ['::ffff:7f00:1', '::ffff:127.0.0.1', '::127.0.0.1', '::7f00:1', '64:ff9b::7f00:1', '64:ff9b::127.0.0.1', '0.0.0.0', '::']) {
      assert.notEqual(classifyAddress(text).kind, 'public', text);
      assert.ok(addressRefusal(text, strict), text);
    }
    assert.deepEqual(classifyAddress('::ffff:7f00:1'), { kind: 'loopback' });
    assert.deepEqual(classifyAddress('::127.0.0.1'), { kind: 'blocked', range: 'ipv4Compatible' }, 'not read as IPv4-mapped');
    assert.deepEqual(classifyAddress('169.254.169.254'), { kind: 'blocked', range: 'linkLocal' });
    assert.deepEqual(classifyAddress('::ffff:169.254.169.254'), { kind: 'blocked', range: 'ipv4Mapped linkLocal' });
    assert.deepEqual(classifyAddress('fd00:ec2::254'), { kind: 'blocked', range: 'uniqueLocal' });
    assert.deepEqual(classifyAddress('8.8.8.8'), { kind: 'public' });
    assert.deepEqual(classifyAddress('2606:4700:4700::1111'), { kind: 'public' });
    assert.deepEqual(classifyAddress('::ffff:8.8.8.8'), { kind: 'public' });
  });

  test('notations other than a socket’s or a URL’s are not addresses (a caller must normalise first)', () => {
    for (const text of ['2130706433', '0x7f.1', '0177.0.0.1', '127.1', '[::1]', 'fe80::1%eth0', 'localhost', '', ' 8.8.8.8', '8.8.8.8 ']) {
      assert.deepEqual(classifyAddress(text), { kind: 'blocked', range: 'notAnAddress' }, JSON.stringify(text));
    }
  });

  test('refusals name the address and its class, and say when the flag would allow it', () => {
    assert.match(addressRefusal('10.1.2.3', strict)?.detail ?? '', /10\.1\.2\.3 is not public \(private\)/);
    assert.match(addressRefusal('127.0.0.1', strict)?.detail ?? '', /TOKENKEEP_ALLOW_LOOPBACK_HTTP_URIS=1/);
    assert.match(addressRefusal('8.8.8.8', { allowLoopback: true, loopbackOnly: true })?.detail ?? '', /loopback only.*public/);
    assert.equal(addressRefusal('127.0.0.1', { allowLoopback: true, loopbackOnly: true }), undefined);
    assert.ok(addressRefusal('127.0.0.1', { allowLoopback: false, loopbackOnly: true }));
  });

  for (const block of BLOCKED_V4) {
    test(`IPv4 ${block.name} ${block.cidr}: never public, nor its IPv4-mapped form, in any notation`, () => {
      const loopback = block.name === 'loopback';
      fc.assert(
        fc.property(inBlock4(block.cidr), fc.constantFrom(...V6_NOTATIONS), (n, notation) => {
          for (const text of [v4Text(n), notation(MAPPED + BigInt(n))]) {
            const found = classifyAddress(text);
            assert.equal(found.kind, loopback ? 'loopback' : 'blocked', text);
            assert.ok(addressRefusal(text, strict), text);
            assert.equal(addressRefusal(text, flagged) === undefined, loopback, `${text} with loopback allowed`);
            assert.equal(addressRefusal(text, { allowLoopback: true, loopbackOnly: true }) === undefined, loopback, `${text} over http:`);
          }
        }),
      );
    });
  }

  test('169.254.169.254 (cloud metadata) is refused in every form, with or without the flag', () => {
    const n = v4Number('169.254.169.254');
    const forms = [v4Text(n), ...V6_NOTATIONS.map((f) => f(MAPPED + BigInt(n))), ...carriers.map(([, wrap]) => v6Compressed(wrap(n)))];
    for (const text of forms) {
      assert.ok(addressRefusal(text, strict), text);
      assert.ok(addressRefusal(text, flagged), text);
    }
  });

  for (const block of BLOCKED_V6) {
    test(`IPv6 ${block.name} ${block.cidr}: never public, in any notation`, () => {
      fc.assert(
        fc.property(inBlock6(block.cidr), fc.constantFrom(...V6_NOTATIONS), (n, notation) => {
          const text = notation(n);
          assert.notEqual(classifyAddress(text).kind, 'public', text);
          assert.ok(addressRefusal(text, strict), text);
          // ::1 is the one IPv6 loopback address (::/96 holds it too).
          assert.equal(addressRefusal(text, flagged) === undefined, n === 1n, `${text} with loopback allowed`);
        }),
      );
    });
  }

  for (const [name, wrap] of carriers) {
    test(`${name}: never allowed, whatever IPv4 address it carries (public ones too), in any notation`, () => {
      fc.assert(
        // ::0.0.0.1 is ::1, the IPv6 loopback address, not an IPv4-compatible one (tested above).
        fc.property(
          anyV4.filter((v4) => wrap(v4) !== 1n),
          fc.constantFrom(...V6_NOTATIONS),
          (v4, notation) => {
            const text = notation(wrap(v4));
            assert.equal(classifyAddress(text).kind, 'blocked', text);
            assert.ok(addressRefusal(text, flagged), `${text} with loopback allowed`);
          },
        ),
      );
    });
  }

  test('random public IPv4 addresses are public, and so are their IPv4-mapped forms', () => {
    fc.assert(
      fc.property(anyV4.filter(publicV4), fc.constantFrom(...V6_NOTATIONS), (n, notation) => {
        for (const text of [v4Text(n), notation(MAPPED + BigInt(n))]) {
          assert.deepEqual(classifyAddress(text), { kind: 'public' }, text);
          assert.equal(addressRefusal(text, strict), undefined, text);
          assert.ok(addressRefusal(text, { allowLoopback: true, loopbackOnly: true }), `${text} over http:`);
        }
      }),
    );
  });

  test('random public IPv6 addresses (global unicast outside the special blocks) are public', () => {
    fc.assert(
      fc.property(inBlock6('2000::/3').filter(publicV6), fc.constantFrom(...V6_NOTATIONS), (n, notation) => {
        const text = notation(n);
        assert.deepEqual(classifyAddress(text), { kind: 'public' }, text);
        assert.equal(addressRefusal(text, strict), undefined, text);
      }),
    );
  });

  test('over the whole IPv4 space, public exactly when the IANA oracle says so; loopback exactly 127/8', () => {
    fc.assert(
      fc.property(anyV4, (n) => {
        const found = classifyAddress(v4Text(n));
        assert.equal(found.kind === 'public', publicV4(n), v4Text(n));
        assert.equal(found.kind === 'loopback', inV4(n, '127.0.0.0/8'), v4Text(n));
      }),
      { numRuns: 2_000 },
    );
  });

  test('over the whole IPv6 space, public exactly when the IANA oracle says so (IPv4-mapped: as its IPv4 address)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          anyV6,
          anyV4.map((v4) => MAPPED + BigInt(v4)),
          inBlock6('2000::/3'),
        ),
        fc.constantFrom(...V6_NOTATIONS),
        (n, notation) => {
          const text = notation(n);
          const mapped = inV6(n, '::ffff:0:0/96');
          const expected = mapped ? publicV4(Number(n & 0xffffffffn)) : publicV6(n);
          assert.equal(classifyAddress(text).kind === 'public', expected, text);
        },
      ),
      { numRuns: 2_000 },
    );
  });
});
