/**
 * The scrubbing rule for what an AS writes into lastError (src/engine/scrub.ts): what it removes, and — so that a
 * scrubber which returned '' every time could not pass — what it keeps.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cut, scrub } from '../../src/engine/scrub.js';

describe('scrub', () => {
  test('prose from real providers survives unchanged', () => {
    for (const text of [
      'Token has been expired or revoked.',
      'The refresh token passed is incorrect or expired.',
      'AADSTS700082: The refresh token has expired due to inactivity.',
      'grant request is invalid',
      'Bad Request',
    ]) {
      assert.equal(scrub(text, ['rt-xyz-123']), text);
    }
  });

  test('a known secret goes, raw, percent-encoded and form-encoded', () => {
    const rt = 'a b/c+d=é';
    assert.equal(
      scrub(`raw ${rt} pct ${encodeURIComponent(rt)} form ${new URLSearchParams({ s: rt }).toString().slice(2)}`, [rt]),
      'raw [redacted] pct [redacted] form [redacted]',
    );
  });

  test('a secret inside a longer one leaves no piece of the longer one', () => {
    assert.equal(scrub('x LONGsecretTAIL y', ['secret', 'LONGsecretTAIL']), 'x [redacted] y');
  });

  test('opaque strings go: JWTs, long hex and base64url, token-like runs of 16+ with digits and letters', () => {
    assert.equal(scrub('jwt eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl end'), 'jwt [redacted] end');
    assert.equal(scrub('token ghr_1B4a2e77838347a7E420ce178F2E7c6912E169246c34E1ccbF66C46812d16D5B1A9Dc86A1498 end'), 'token [redacted] end');
    assert.equal(scrub('id 0b5d5a2c-3e4f-4a5b-9c8d-7e6f5a4b3c2d end'), 'id [redacted] end');
    assert.equal(scrub('short ya29 ok'), 'short ya29 ok');
    assert.equal(scrub('onlyletterswithoutdigits ok'), 'onlyletterswithoutdigits ok', '24 letters, no digit: a word, kept');
    assert.equal(scrub(`${'abcdEFGH'.repeat(4)} long`), '[redacted] long', '32 letters in mixed case: opaque');
    assert.equal(scrub('invalid_request_object_signing_alg_values'), 'invalid_request_object_signing_alg_values', 'a long snake_case code is kept');
  });

  test('control characters, line breaks and bidi overrides become single spaces; lone surrogates U+FFFD', () => {
    assert.equal(scrub('line1\r\n\tline2\u0000\u2028x\u202ey'), 'line1 line2 x y');
    assert.equal(scrub('a\ud800b'), 'a\ufffdb');
  });

  test('joining lines cannot spell a secret', () => {
    assert.equal(scrub('top se\ncret', ['se cret']), 'top [redacted]');
  });

  test('cut to 200 UTF-16 units, never inside a surrogate pair', () => {
    assert.equal(scrub('word '.repeat(100)).length, 200);
    const emoji = `${'a'.repeat(199)}😀`;
    assert.equal(cut(emoji), 'a'.repeat(199));
    assert.equal(cut('😀'.repeat(150)).length, 200);
  });

  test('a secret the marker itself spells withholds the whole text', () => {
    assert.equal(scrub('secret e here', ['e']), '');
    assert.equal(scrub('nothing to hide', ['']), 'nothing to hide', 'an empty secret is ignored');
  });
});
