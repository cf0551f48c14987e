/**
 * What the engine does after a call (src/engine/classify.ts): one row per action of §8.4, the order of the rules where
 * status and code disagree, and the lastError of §8.1 — a property test that it never holds a secret nor exceeds 200
 * characters, fed through the reader as the engine will feed it.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { classify, lastError, RATE_LIMIT_DEFAULT_MS, type CallOutcome, type Verdict } from '../../src/engine/classify.js';
import { readTokenResponse } from '../../src/engine/token-response.js';

const AT = Date.UTC(2026, 0, 2, 10, 0, 0);
const AT_ISO = '2026-01-02T10:00:00.000Z';
const ctx = { at: AT, secrets: ['rt-secret-1', 'client-secret-2'] };

const asError = (httpStatus: number, error: string, description = '', retryAfterMs?: number): CallOutcome => ({
  kind: 'error',
  error,
  description,
  httpStatus,
  ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
});
const action = (o: CallOutcome): Verdict['action'] => classify(o, ctx).action;

describe('classify: the actions of §8.4', () => {
  test('tokens → success, carrying them unchanged', () => {
    const tokens = { kind: 'tokens', accessToken: 'a', tokenType: 'Bearer', expiresAt: 1, refreshToken: undefined, httpStatus: 200 } as const;
    assert.deepEqual(classify(tokens, ctx), { action: 'success', tokens });
  });

  test('invalid_grant → reconsent, from a 400 and from a 200 with an error body; any case', () => {
    assert.deepEqual(classify(asError(400, 'invalid_grant', 'Token has been expired or revoked.'), ctx), {
      action: 'reconsent',
      lastError: { error: 'invalid_grant', description: 'Token has been expired or revoked.', httpStatus: 400, at: AT_ISO },
    });
    assert.equal(action(asError(200, 'invalid_grant')), 'reconsent');
    assert.equal(action(asError(400, 'INVALID_GRANT')), 'reconsent');
    assert.equal(action(asError(200, 'bad_refresh_token')), 'reconsent', "GitHub's name for it");
  });

  test('invalid_client, unauthorized_client → clientError (401 and 400 alike)', () => {
    assert.equal(action(asError(401, 'invalid_client')), 'clientError');
    assert.equal(action(asError(400, 'unauthorized_client')), 'clientError');
    assert.equal(action(asError(200, 'incorrect_client_credentials')), 'clientError', "GitHub's name for it");
  });

  test('429 → rateLimited with its Retry-After, or the default when it named none; whatever the body says', () => {
    assert.deepEqual(classify({ kind: 'unreadable', httpStatus: 429, reason: 'html', retryAfterMs: 30_000 }, ctx), {
      action: 'rateLimited',
      retryAfterMs: 30_000,
      lastError: { error: 'rate_limited', description: 'the token endpoint asked to wait (HTTP 429)', httpStatus: 429, at: AT_ISO },
    });
    const noHeader = classify({ kind: 'unreadable', httpStatus: 429, reason: 'empty' }, ctx);
    assert.ok(noHeader.action === 'rateLimited' && noHeader.retryAfterMs === RATE_LIMIT_DEFAULT_MS);
    const withCode = classify(asError(429, 'invalid_grant', '', 5_000), ctx);
    assert.ok(withCode.action === 'rateLimited' && withCode.retryAfterMs === 5_000 && withCode.lastError.error === 'invalid_grant');
  });

  test('5xx → transient, keeping a Retry-After; even an invalid_grant in a 5xx body does not kill the grant', () => {
    assert.deepEqual(classify({ kind: 'unreadable', httpStatus: 502, reason: 'html' }, ctx), {
      action: 'transient',
      lastError: {
        error: 'invalid_response',
        description: "the token endpoint's answer (HTTP 502) could not be read: the body is HTML",
        httpStatus: 502,
        at: AT_ISO,
      },
    });
    const r = classify(asError(503, 'temporarily_unavailable', '', 10_000), ctx);
    assert.ok(r.action === 'transient' && r.retryAfterMs === 10_000);
    assert.equal(action(asError(500, 'invalid_grant')), 'transient');
    assert.equal(action(asError(503, 'invalid_client')), 'transient');
  });

  test('other AS errors and unreadable 2xx/4xx answers → transient', () => {
    for (const code of ['invalid_request', 'invalid_scope', 'unsupported_grant_type', 'temporarily_unavailable', 'server_error', '']) {
      assert.equal(action(asError(400, code)), 'transient', code);
    }
    assert.equal(action({ kind: 'unreadable', httpStatus: 200, reason: 'no-access-token' }), 'transient');
    assert.equal(action({ kind: 'unreadable', httpStatus: 401, reason: 'empty' }), 'transient');
  });

  test('no answer: network, timeout, oversize → transient with a code of ours and no status; refused → refused', () => {
    assert.deepEqual(classify({ kind: 'timeout' }, ctx), {
      action: 'transient',
      lastError: { error: 'timeout', description: 'the token endpoint did not answer in time', httpStatus: null, at: AT_ISO },
    });
    assert.equal(classify({ kind: 'network' }, ctx).action, 'transient');
    assert.equal(classify({ kind: 'tooLarge' }, ctx).action, 'transient');
    assert.deepEqual(classify({ kind: 'refused', detail: 'loopback address 127.0.0.1' }, ctx), {
      action: 'refused',
      lastError: {
        error: 'address_refused',
        description: "the token endpoint's address is not allowed: loopback address 127.0.0.1",
        httpStatus: null,
        at: AT_ISO,
      },
    });
  });

  test('lastError scrubs the secrets of the call from the code and the description', () => {
    const le = lastError({ error: 'bad rt-secret-1', description: 'client client-secret-2 refused for rt-secret-1', httpStatus: 400 }, AT, ctx.secrets);
    assert.deepEqual(le, { error: 'bad [redacted]', description: 'client [redacted] refused for [redacted]', httpStatus: 400, at: AT_ISO });
  });
});

describe('classify: lastError property', () => {
  // Secrets of every kind: token-like, prose-like, unicode, with characters that encodings change.
  const secret = fc.oneof(
    fc.stringMatching(/^[A-Za-z0-9._~+/=-]{8,48}$/),
    fc.string({ minLength: 1, maxLength: 12 }),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }),
    fc.constantFrom('a b', 'x%y', 'red', 'e'),
  );
  const prose = fc.constantFrom('Token has been expired or revoked.', ' grant ', '\n', 'refresh token ', 'é ', '+', '%');

  test('a description in lastError never contains a given secret nor exceeds 200 characters', () => {
    let nonEmpty = 0;
    fc.assert(
      fc.property(
        fc.array(secret, { minLength: 1, maxLength: 3 }),
        fc.array(fc.oneof(prose, fc.string({ unit: 'binary', maxLength: 30 }), fc.nat({ max: 5 }), fc.nat({ max: 5 })), { maxLength: 40 }),
        fc.constantFrom('json', 'form', 'direct'),
        fc.boolean(),
        fc.integer({ min: 200, max: 599 }),
        (secrets, parts, via, readerKnows, status) => {
          // A number in parts places a secret there, in one of its spellings; the rest is prose and noise.
          const spell = [(s: string) => s, encodeURIComponent, (s: string) => s.split('').join('\n')];
          const text = parts.map((p) => (typeof p === 'number' ? spell[p % 3](secrets[p % secrets.length]) : p)).join('');
          const code = parts.some((p) => p === 0) ? `invalid_${secrets[0]}` : 'invalid_grant';
          let le;
          if (via === 'direct') {
            le = lastError({ error: code, description: text, httpStatus: status }, AT, secrets);
          } else {
            const body =
              via === 'json'
                ? JSON.stringify({ error: code, error_description: text })
                : new URLSearchParams({ error: code, error_description: text }).toString();
            const read = readTokenResponse({
              status,
              headers: {},
              body: Buffer.from(body),
              sentAt: AT,
              defaultExpiresIn: 3600,
              secrets: readerKnows ? secrets : [],
            });
            assert.equal(read.kind, 'error');
            const verdict = classify(read, { at: AT, secrets });
            assert.ok(verdict.action !== 'success');
            le = verdict.lastError;
          }
          for (const s of secrets) {
            assert.ok(!le.description.includes(s), `description ${JSON.stringify(le.description)} holds ${JSON.stringify(s)}`);
            assert.ok(!le.error.includes(s), `error ${JSON.stringify(le.error)} holds ${JSON.stringify(s)}`);
          }
          assert.ok(le.description.length <= 200 && le.error.length <= 200);
          if (le.description.length > 0) nonEmpty += 1;
        },
      ),
      { numRuns: 1000 },
    );
    // A scrubber that always answered '' would pass the checks above; this one keeps text.
    assert.ok(nonEmpty > 300, `only ${nonEmpty} of 1000 descriptions kept any text`);
  });
});
