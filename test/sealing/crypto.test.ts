/**
 * The sealing primitives, in-process: the master key (key-check value, wrapping of data keys) and the key ring's sealed
 * values (layout, fresh nonces, binding to table, row, column and version). What they give a database — confidentiality,
 * integrity and move-integrity of every sealed column, rotation — is proved on both backends in ./sealing.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { KEY_BYTES, MasterKey } from '../../src/crypto/master-key.js';
import { KeyRing, SealedValueUnreadable } from '../../src/sealing/key-ring.js';
import { flip } from '../tamper-support.js';

// ---- primitives ------------------------------------------------------------------------------------------------

describe('MasterKey', () => {
  test('only a 32-byte key is accepted', () => {
    assert.equal(KEY_BYTES, 32);
    assert.throws(() => new MasterKey(randomBytes(16)));
    assert.throws(() => new MasterKey(randomBytes(33)));
    assert.throws(() => new MasterKey(Buffer.alloc(0)));
    assert.equal(MasterKey.generate().length, 32);
    assert.notDeepEqual(MasterKey.generate(), MasterKey.generate());
  });

  test('the key-check value verifies with its own key only, and not once tampered', () => {
    const key = MasterKey.generate();
    const master = new MasterKey(key);
    const check = master.checkValue();
    assert.ok(master.verify(check));
    assert.ok(new MasterKey(Buffer.from(key)).verify(check), 'the same key bytes verify');
    assert.ok(!new MasterKey(MasterKey.generate()).verify(check), 'a wrong key fails verify');
    const other = Buffer.from(key);
    other[31] ^= 0x80;
    assert.ok(!new MasterKey(other).verify(check), 'a key one bit off fails verify');
    for (const at of [0, 11, 12, check.length - 1]) assert.ok(!master.verify(flip(check, at)), `flipped byte ${at} fails verify`);
    assert.ok(!master.verify(check.subarray(0, 20)), 'a truncated check value fails');
    assert.ok(!master.verify(Buffer.alloc(0)), 'an empty check value fails');
    assert.notDeepEqual(master.checkValue(), check, 'each check value has a fresh nonce');
  });

  test('a wrapped data key unwraps with its master and version only', () => {
    const master = new MasterKey(MasterKey.generate());
    const dataKey = MasterKey.generate();
    const wrapped = master.wrap(3, dataKey);
    assert.ok(!wrapped.includes(dataKey), 'the wrapped form does not contain the key');
    assert.deepEqual(master.unwrap(3, wrapped), dataKey);
    assert.throws(() => new MasterKey(MasterKey.generate()).unwrap(3, wrapped), /does not open/, 'unwrap with a wrong master fails');
    assert.throws(() => master.unwrap(4, wrapped), /does not open/, 'a wrapped key is bound to its version');
    assert.throws(() => master.unwrap(3, flip(wrapped, wrapped.length - 1)), /does not open/);
    assert.throws(() => master.unwrap(3, flip(wrapped, 15)), /does not open/);
    assert.notDeepEqual(master.wrap(3, dataKey), wrapped, 'each wrap has a fresh nonce');
  });
});

describe('KeyRing', () => {
  const ctx = { table: 'oauth_profiles', rowId: 7, column: 'refresh_token' };

  test('seal and open round-trip, with the documented layout', () => {
    const ring = new KeyRing();
    ring.set(1, MasterKey.generate());
    const plaintext = 'refresh-ü-🔑-token';
    const sealed = ring.seal(plaintext, ctx);
    assert.equal(sealed[0], 0x01, 'format byte');
    assert.equal(sealed.readUInt32BE(1), 1, 'key version');
    assert.equal(sealed.length, 1 + 4 + 12 + Buffer.byteLength(plaintext) + 16);
    assert.ok(!sealed.includes(Buffer.from(plaintext)));
    assert.equal(ring.open(sealed, ctx), plaintext);
    assert.equal(ring.open(ring.seal('', ctx), ctx), '', 'the empty string seals too');
  });

  test('the same plaintext sealed twice gives different ciphertexts', () => {
    const ring = new KeyRing();
    ring.set(1, MasterKey.generate());
    const a = ring.seal('same', ctx);
    const b = ring.seal('same', ctx);
    assert.notDeepEqual(a, b);
    assert.notDeepEqual(a.subarray(5, 17), b.subarray(5, 17), 'fresh nonces');
  });

  test('nonces never repeat, across the blocks they are drawn from the CSPRNG in', () => {
    const ring = new KeyRing();
    ring.set(1, MasterKey.generate());
    const sealed = Array.from({ length: 3000 }, (_, i) => ring.seal(`t${i}`, ctx));
    const nonces = new Set(sealed.map((s) => s.subarray(5, 17).toString('hex')));
    assert.equal(nonces.size, sealed.length);
    // Each one is its own copy: later draws do not change the nonce stored in an earlier value.
    sealed.forEach((s, i) => assert.equal(ring.open(s, ctx), `t${i}`));
  });

  test('a sealed value is bound to its table, row, column and version', () => {
    const ring = new KeyRing();
    ring.set(1, MasterKey.generate());
    const sealed = ring.seal('bound', ctx);
    for (const other of [
      { ...ctx, table: 'oauth_apps' },
      { ...ctx, rowId: 8 },
      { ...ctx, column: 'access_token' },
    ]) {
      assert.throws(
        () => ring.open(sealed, other),
        (err: unknown) => err instanceof SealedValueUnreadable && /integrity check failed/.test(err.message),
      );
    }
    // The version in the header is authenticated: relabelling a value as another version fails even with that key.
    const ring2 = new KeyRing();
    const key = MasterKey.generate();
    ring2.set(1, key);
    ring2.set(2, key);
    const v2 = ring2.seal('bound', ctx);
    const relabelled = Buffer.from(v2);
    relabelled.writeUInt32BE(1, 1);
    assert.throws(() => ring2.open(relabelled, ctx), SealedValueUnreadable);
  });

  test('every flipped byte, truncation or foreign value fails with a SealedValueUnreadable naming the place, not the value', () => {
    const ring = new KeyRing();
    ring.set(1, MasterKey.generate());
    const sealed = ring.seal('do-not-show-me', ctx);
    for (let at = 0; at < sealed.length; at++) {
      assert.throws(
        () => ring.open(flip(sealed, at), ctx),
        (err: unknown) => {
          assert.ok(err instanceof SealedValueUnreadable, `byte ${at}: ${String(err)}`);
          assert.match(err.message, /oauth_profiles\.refresh_token of row 7/);
          assert.ok(!err.message.includes('do-not-show-me'));
          return true;
        },
      );
    }
    assert.throws(() => ring.open(sealed.subarray(0, sealed.length - 1), ctx), SealedValueUnreadable);
    assert.throws(() => ring.open(sealed.subarray(0, 20), ctx), SealedValueUnreadable);
    assert.throws(() => ring.open(Buffer.from('plain text, not sealed'), ctx), SealedValueUnreadable);
    assert.throws(() => ring.open(Buffer.alloc(0), ctx), SealedValueUnreadable);
  });

  test('versionOf reads the header; anything not sealed has no version', () => {
    const ring = new KeyRing();
    ring.set(1, MasterKey.generate());
    ring.set(258, MasterKey.generate());
    assert.equal(ring.activeVersion, 258, 'the highest version is active');
    const sealed = ring.seal('x', ctx);
    assert.equal(KeyRing.versionOf(sealed), 258);
    assert.equal(KeyRing.versionOf(Buffer.alloc(0)), undefined);
    assert.equal(KeyRing.versionOf(sealed.subarray(0, 32)), undefined, 'shorter than header + tag');
    assert.equal(KeyRing.versionOf(Buffer.concat([Buffer.of(0x02), sealed.subarray(1)])), undefined, 'unknown format');
    assert.equal(KeyRing.versionOf(Buffer.from('a plain text value that is long enough')), undefined);
  });

  test('values of a version not in the ring fail; retain forgets retired versions and lowers the active one', () => {
    const ring = new KeyRing();
    ring.set(1, MasterKey.generate());
    const v1 = ring.seal('one', ctx);
    ring.set(2, MasterKey.generate());
    const v2 = ring.seal('two', ctx);
    assert.equal(KeyRing.versionOf(v1), 1);
    assert.equal(KeyRing.versionOf(v2), 2);
    assert.equal(ring.open(v1, ctx), 'one', 'older versions still open');
    ring.retain([2]);
    assert.ok(!ring.has(1));
    assert.throws(() => ring.open(v1, ctx), /key version 1 is not in the key ring/);
    assert.equal(ring.open(v2, ctx), 'two');
    ring.retain([]);
    assert.equal(ring.activeVersion, 0);
    assert.throws(() => ring.seal('x', ctx), /empty/);
    // A ring with another key of the same version number cannot open it either.
    const stranger = new KeyRing();
    stranger.set(2, MasterKey.generate());
    assert.throws(() => stranger.open(v2, ctx), SealedValueUnreadable);
  });
});
