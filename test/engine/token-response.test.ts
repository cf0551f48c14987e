/**
 * The tolerant reader of token-endpoint answers (src/engine/token-response.ts): one table row per shape a misbehaving
 * AS sends (issue 13's list, the cases about reading), the strict refusals, and property tests — it never throws, and
 * a JSON or form body built from valid fields reads back as the same tokens.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_BODY_BYTES, MAX_EXPIRES_IN, readTokenResponse, type TokenAnswer, type TokenResponse } from '../../src/engine/token-response.js';
import { MAX_RETRY_AFTER_MS } from '../../src/engine/retry-after.js';

const SENT = Date.UTC(2026, 0, 2, 10, 0, 0);
const DEFAULT = 1800;
const JSON_CT = { 'content-type': 'application/json' };
const FORM_CT = { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' };

function read(status: number, headers: TokenAnswer['headers'], body: string | Buffer, extra: Partial<TokenAnswer> = {}): TokenResponse {
  return readTokenResponse({ status, headers, body: typeof body === 'string' ? Buffer.from(body) : body, sentAt: SENT, defaultExpiresIn: DEFAULT, ...extra });
}

const json = (v: unknown): string => JSON.stringify(v);

describe('token-response reader: the misbehaving AS of issue 13', () => {
  test('no expires_in → the app default counts from when the request was sent', () => {
    assert.deepEqual(read(200, JSON_CT, json({ access_token: 'at-1', token_type: 'Bearer', refresh_token: 'rt-2' })), {
      kind: 'tokens',
      accessToken: 'at-1',
      tokenType: 'Bearer',
      expiresAt: SENT + DEFAULT * 1000,
      refreshToken: 'rt-2',
      httpStatus: 200,
    });
  });

  test('expires_in as a numeric string is read as seconds', () => {
    const r = read(200, JSON_CT, json({ access_token: 'at-1', token_type: 'Bearer', expires_in: '3600' }));
    assert.equal(r.kind === 'tokens' && r.expiresAt, SENT + 3_600_000);
    const padded = read(200, JSON_CT, json({ access_token: 'at-1', token_type: 'Bearer', expires_in: ' 7200 ' }));
    assert.equal(padded.kind === 'tokens' && padded.expiresAt, SENT + 7_200_000);
  });

  test("form-encoded (GitHub's classic answer), lower-case bearer, a comma-separated scope, no refresh token", () => {
    assert.deepEqual(read(200, FORM_CT, 'access_token=gho_16C7e42F292c6912E7710c838347Ae178B4a&scope=repo%2Cgist&token_type=bearer'), {
      kind: 'tokens',
      accessToken: 'gho_16C7e42F292c6912E7710c838347Ae178B4a',
      tokenType: 'Bearer',
      expiresAt: SENT + DEFAULT * 1000,
      refreshToken: undefined,
      scope: 'repo,gist',
      httpStatus: 200,
    });
  });

  test('form-encoded GitHub App refresh answer: expires_in as a string, a rotated refresh token', () => {
    const r = read(200, FORM_CT, 'access_token=ghu_abc&expires_in=28800&refresh_token=ghr_def&refresh_token_expires_in=15811200&scope=&token_type=bearer');
    assert.deepEqual(r, {
      kind: 'tokens',
      accessToken: 'ghu_abc',
      tokenType: 'Bearer',
      expiresAt: SENT + 28_800_000,
      refreshToken: 'ghr_def',
      httpStatus: 200,
    });
  });

  test('a 200 whose body carries error is an error — JSON and form alike', () => {
    assert.deepEqual(read(200, JSON_CT, json({ error: 'invalid_grant', error_description: 'Token has been expired or revoked.' })), {
      kind: 'error',
      error: 'invalid_grant',
      description: 'Token has been expired or revoked.',
      httpStatus: 200,
    });
    assert.deepEqual(
      read(200, FORM_CT, 'error=bad_refresh_token&error_description=The+refresh+token+passed+is+incorrect+or+expired.&error_uri=https%3A%2F%2Fdocs.github.com'),
      { kind: 'error', error: 'bad_refresh_token', description: 'The refresh token passed is incorrect or expired.', httpStatus: 200 },
    );
    // error wins even when tokens come with it
    const both = read(200, JSON_CT, json({ access_token: 'at', error: 'server_error' }));
    assert.equal(both.kind, 'error');
  });

  test('HTML 502 from a proxy is unreadable, with its status and no piece of its body', () => {
    const r = read(502, { 'content-type': 'text/html' }, '<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>');
    assert.deepEqual(r, { kind: 'unreadable', httpStatus: 502, reason: 'html' });
  });

  test('the same access token again is read as tokens, its expiry counted from the new call', () => {
    const body = json({ access_token: 'same-at', token_type: 'Bearer', expires_in: 600 });
    const first = read(200, JSON_CT, body);
    const again = read(200, JSON_CT, body, { sentAt: SENT + 500_000 });
    assert.ok(first.kind === 'tokens' && again.kind === 'tokens');
    assert.equal(again.accessToken, first.accessToken);
    assert.equal(again.expiresAt, SENT + 500_000 + 600_000);
  });

  test('no refresh token, or a null or empty one → undefined: the stored refresh token is kept', () => {
    for (const extra of [{}, { refresh_token: null }, { refresh_token: '' }]) {
      const r = read(200, JSON_CT, json({ access_token: 'at', token_type: 'Bearer', expires_in: 60, ...extra }));
      assert.ok(r.kind === 'tokens', JSON.stringify(extra));
      assert.ok('refreshToken' in r && r.refreshToken === undefined, JSON.stringify(extra));
    }
  });
});

describe('token-response reader: content types', () => {
  const tokens = json({ access_token: 'at', token_type: 'Bearer', expires_in: 60 });
  const expected = { kind: 'tokens', accessToken: 'at', tokenType: 'Bearer', expiresAt: SENT + 60_000, refreshToken: undefined, httpStatus: 200 };

  test('JSON under any Content-Type, with a charset, with none, with a byte-order mark, with white space around', () => {
    for (const ct of [
      'application/json',
      'application/json; charset=UTF-8',
      'APPLICATION/JSON;charset=utf-8',
      'text/html',
      'text/plain',
      'application/x-www-form-urlencoded',
      undefined,
    ]) {
      const headers = ct === undefined ? {} : { 'Content-Type': ct };
      assert.deepEqual(read(200, headers, tokens), expected, String(ct));
    }
    assert.deepEqual(read(200, JSON_CT, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`\n  ${tokens}\r\n`)])), expected);
  });

  test('form under a lying Content-Type is read when the whole body has the form shape; prose is not', () => {
    const form = 'access_token=at&token_type=bearer&expires_in=60';
    assert.deepEqual(read(200, { 'content-type': 'text/plain' }, form), expected);
    assert.deepEqual(read(200, { 'content-type': 'application/json' }, form), expected);
    assert.deepEqual(read(200, { 'content-type': 'text/plain' }, 'Service temporarily unavailable, try again=later'), {
      kind: 'unreadable',
      httpStatus: 200,
      reason: 'not-json-or-form',
    });
  });

  test('a header given as an array (undici with repeated headers) uses the first value', () => {
    assert.deepEqual(read(200, { 'content-type': ['application/x-www-form-urlencoded', 'text/html'] }, 'access_token=at&expires_in=60'), expected);
  });
});

describe('token-response reader: fields', () => {
  const base = { access_token: 'at', token_type: 'Bearer' };
  const expiresAt = (extra: Record<string, unknown>): number | false => {
    const r = read(200, JSON_CT, json({ ...base, ...extra }));
    return r.kind === 'tokens' && r.expiresAt;
  };

  test('expires_in that is no lifetime falls back to the default: negative, zero, NaN text, words, absurd, wrong type', () => {
    for (const v of [-1, 0, '-5', 'NaN', 'soon', '1e3', '0x10', MAX_EXPIRES_IN + 1, 1.7e12, true, {}, [60], null]) {
      assert.equal(expiresAt({ expires_in: v }), SENT + DEFAULT * 1000, `expires_in ${JSON.stringify(v)}`);
    }
  });

  test('expires_in at the bounds and with a fraction (floored)', () => {
    assert.equal(expiresAt({ expires_in: 1 }), SENT + 1000);
    assert.equal(expiresAt({ expires_in: MAX_EXPIRES_IN }), SENT + MAX_EXPIRES_IN * 1000);
    assert.equal(expiresAt({ expires_in: 59.9 }), SENT + 59_000);
    assert.equal(expiresAt({ expires_in: '3599.5' }), SENT + 3_599_000);
  });

  test("Facebook's legacy `expires` is read when expires_in is absent, not when it is present", () => {
    const r = read(200, { 'content-type': 'text/plain' }, 'access_token=at&expires=5183999');
    assert.equal(r.kind === 'tokens' && r.expiresAt, SENT + 5_183_999_000);
    assert.equal(expiresAt({ expires: 100, expires_in: 200 }), SENT + 200_000);
  });

  test('a broken defaultExpiresIn does not make expiresAt NaN (the spec default of 3600 s is used)', () => {
    const r = read(200, JSON_CT, json(base), { defaultExpiresIn: Number.NaN });
    assert.equal(r.kind === 'tokens' && r.expiresAt, SENT + 3_600_000);
  });

  test('token_type: case-insensitive Bearer, missing or malformed → Bearer, another type as sent', () => {
    const type = (v: unknown): string | false => {
      const r = read(200, JSON_CT, json({ access_token: 'at', ...(v === undefined ? {} : { token_type: v }) }));
      return r.kind === 'tokens' && r.tokenType;
    };
    assert.equal(type('bearer'), 'Bearer');
    assert.equal(type('BEARER'), 'Bearer');
    assert.equal(type(' Bearer '), 'Bearer');
    assert.equal(type(undefined), 'Bearer');
    assert.equal(type(''), 'Bearer');
    assert.equal(type(42), 'Bearer');
    assert.equal(type('bear\ner'), 'Bearer');
    assert.equal(type('DPoP'), 'DPoP');
  });

  test('scope: a string, an array of strings joined; other types ignored', () => {
    const scope = (v: unknown): string | undefined | false => {
      const r = read(200, JSON_CT, json({ ...base, scope: v }));
      return r.kind === 'tokens' && r.scope;
    };
    assert.equal(scope('openid offline_access'), 'openid offline_access');
    assert.equal(scope(['a', 'b']), 'a b');
    assert.equal(scope(42), undefined);
    assert.equal(scope(''), undefined);
    assert.equal(scope(['a', 1]), undefined);
  });

  test('tokens must be strings of visible ASCII; a number, an object or a control character is unreadable', () => {
    const reason = (body: Record<string, unknown>): string => {
      const r = read(200, JSON_CT, json(body));
      return r.kind === 'unreadable' ? r.reason : r.kind;
    };
    assert.equal(reason({ token_type: 'Bearer' }), 'no-access-token');
    assert.equal(reason({ access_token: '' }), 'no-access-token');
    assert.equal(reason({ access_token: null }), 'no-access-token');
    // A 20-digit token sent as a JSON number has already lost digits once parsed: refused, not stringified.
    const big = read(200, JSON_CT, '{"access_token": 12345678901234567890}');
    assert.equal(big.kind === 'unreadable' && big.reason, 'bad-access-token');
    assert.equal(reason({ access_token: { value: 'x' } }), 'bad-access-token');
    assert.equal(reason({ access_token: 'a\r\nSet-Cookie: x' }), 'bad-access-token');
    assert.equal(reason({ access_token: 'tökén' }), 'bad-access-token');
    assert.equal(reason({ access_token: 'at', refresh_token: 98765 }), 'bad-refresh-token');
    assert.equal(reason({ access_token: 'at', refresh_token: 'r\u0000t' }), 'bad-refresh-token');
    assert.equal(reason({ access_token: 'at', error: { code: 1 } }), 'error-not-a-string');
  });

  test('an error field of white space only is no error', () => {
    assert.equal(read(200, JSON_CT, json({ ...base, error: '  ' })).kind, 'tokens');
  });

  test('a form body naming a field twice is no answer', () => {
    assert.deepEqual(read(200, FORM_CT, 'access_token=a&access_token=b'), { kind: 'unreadable', httpStatus: 200, reason: 'duplicate-field' });
    assert.deepEqual(read(200, FORM_CT, 'access_token=a&refresh_token=x&refresh_token=y'), { kind: 'unreadable', httpStatus: 200, reason: 'duplicate-field' });
  });

  test('own fields only: a __proto__ key gives nothing, nor does a prototype polluted elsewhere in the process', () => {
    assert.deepEqual(read(200, JSON_CT, '{"__proto__": {"access_token": "polluted"}}'), { kind: 'unreadable', httpStatus: 200, reason: 'no-access-token' });
    Object.defineProperty(Object.prototype, 'refresh_token', { value: 'polluted', configurable: true, writable: true });
    try {
      const r = read(200, JSON_CT, json(base));
      assert.ok(r.kind === 'tokens' && r.refreshToken === undefined);
    } finally {
      delete (Object.prototype as Record<string, unknown>).refresh_token;
    }
  });
});

describe('token-response reader: errors and unreadable answers', () => {
  test('a 400 with an RFC 6749 error body', () => {
    assert.deepEqual(read(400, JSON_CT, json({ error: 'invalid_client', error_description: 'client authentication failed' })), {
      kind: 'error',
      error: 'invalid_client',
      description: 'client authentication failed',
      httpStatus: 400,
    });
  });

  test('the description never holds the refresh token sent, nor an opaque string; it is cut to 200 characters', () => {
    const rt = 'rt-Secret-Value-1';
    const r = read(
      400,
      JSON_CT,
      json({ error: 'invalid_grant', error_description: `grant ${rt} revoked; other eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig ${'and more '.repeat(40)}` }),
      {
        secrets: [rt],
      },
    );
    assert.ok(r.kind === 'error');
    assert.ok(!r.description.includes(rt));
    assert.ok(r.description.startsWith('grant [redacted] revoked; other [redacted] '), r.description);
    assert.equal(r.description.length, 200);
  });

  test('a description that is not a string is dropped', () => {
    const r = read(400, JSON_CT, json({ error: 'invalid_request', error_description: { lang: 'en' } }));
    assert.deepEqual(r, { kind: 'error', error: 'invalid_request', description: '', httpStatus: 400 });
  });

  test('any non-2xx status without an error code is unreadable, whatever the body', () => {
    assert.deepEqual(read(401, { 'www-authenticate': 'Basic' }, ''), { kind: 'unreadable', httpStatus: 401, reason: 'empty' });
    assert.deepEqual(read(503, JSON_CT, json({ message: 'down' })), { kind: 'unreadable', httpStatus: 503, reason: 'status-without-error' });
    assert.deepEqual(read(302, { location: 'https://elsewhere.example/' }, ''), { kind: 'unreadable', httpStatus: 302, reason: 'empty' });
    assert.deepEqual(read(500, JSON_CT, json({ access_token: 'at' })), { kind: 'unreadable', httpStatus: 500, reason: 'status-without-error' });
  });

  test('JSON that is broken or not an object', () => {
    assert.deepEqual(read(200, JSON_CT, '{"access_token": "at",'), { kind: 'unreadable', httpStatus: 200, reason: 'invalid-json' });
    assert.deepEqual(read(200, JSON_CT, '[{"access_token": "at"}]'), { kind: 'unreadable', httpStatus: 200, reason: 'not-an-object' });
    assert.deepEqual(read(200, JSON_CT, 'null'), { kind: 'unreadable', httpStatus: 200, reason: 'not-an-object' });
    assert.deepEqual(read(200, JSON_CT, 'nonsense'), { kind: 'unreadable', httpStatus: 200, reason: 'invalid-json' });
  });

  test('a body over 64 KiB is refused by the reader too', () => {
    const big = Buffer.from(json({ access_token: 'at', pad: 'x'.repeat(MAX_BODY_BYTES) }));
    assert.deepEqual(read(200, JSON_CT, big), { kind: 'unreadable', httpStatus: 200, reason: 'oversize' });
  });

  test('429 with Retry-After in seconds; 503 with an HTTP-date measured against the answer’s own Date', () => {
    assert.deepEqual(read(429, { 'retry-after': '30' }, 'slow down'), {
      kind: 'unreadable',
      httpStatus: 429,
      reason: 'not-json-or-form',
      retryAfterMs: 30_000,
    });
    const r = read(
      503,
      { ...JSON_CT, 'Retry-After': 'Fri, 02 Jan 2026 10:02:00 GMT', date: 'Fri, 02 Jan 2026 10:00:30 GMT' },
      json({ error: 'temporarily_unavailable' }),
      { receivedAt: SENT + 5_000 },
    );
    assert.deepEqual(r, { kind: 'error', error: 'temporarily_unavailable', description: '', httpStatus: 503, retryAfterMs: 90_000 });
  });
});

const VSCHAR_TEXT = (min: number, max: number) =>
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: min, maxLength: max });

describe('token-response reader: properties', () => {
  test('never throws, for any bytes, status and headers, and always answers one of its three shapes', () => {
    const fieldName = fc.constantFrom(
      'access_token',
      'token_type',
      'expires_in',
      'expires',
      'refresh_token',
      'scope',
      'error',
      'error_description',
      '__proto__',
      'x',
    );
    const body = fc.oneof(
      fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)),
      fc.string({ unit: 'binary', maxLength: 200 }).map((s) => Buffer.from(s)),
      fc.dictionary(fieldName, fc.jsonValue({ maxDepth: 2 })).map((o) => Buffer.from(JSON.stringify(o))),
      fc
        .array(fc.tuple(fieldName, fc.string({ unit: 'binary', maxLength: 40 })), { maxLength: 6 })
        .map((pairs) => Buffer.from(new URLSearchParams(pairs).toString())),
      fc.record({ access_token: VSCHAR_TEXT(1, 20), expires_in: fc.oneof(fc.integer(), fc.string()) }).map((o) => Buffer.from(JSON.stringify(o))),
      fc.constant(Buffer.alloc(MAX_BODY_BYTES + 1, 0x7b)),
    );
    const headerValue = fc.oneof(
      fc.constantFrom(
        'application/json',
        'application/json; charset=utf-8',
        'application/x-www-form-urlencoded',
        'text/html',
        '120',
        'Fri, 02 Jan 2026 10:02:00 GMT',
      ),
      fc.string({ unit: 'binary', maxLength: 40 }),
    );
    const headers = fc.dictionary(
      fc.oneof(fc.constantFrom('content-type', 'Content-Type', 'retry-after', 'Retry-After', 'date', '__proto__'), fc.string({ maxLength: 10 })),
      fc.oneof(headerValue, fc.array(headerValue, { maxLength: 3 }), fc.constant(undefined)),
    );
    const status = fc.oneof(fc.integer({ min: 100, max: 599 }), fc.constantFrom(200, 200, 400, 429, 503), fc.integer(), fc.double());
    const time = fc.oneof(fc.integer({ min: 0, max: 4_000_000_000_000 }), fc.double());
    const seen = new Set<string>();
    fc.assert(
      fc.property(body, status, headers, time, fc.oneof(fc.integer({ min: 1, max: 100_000 }), fc.double()), (b, s, h, t, d) => {
        const r = readTokenResponse({ status: s, headers: h, body: b, sentAt: t, defaultExpiresIn: d, secrets: ['secret-rt'] });
        seen.add(r.kind);
        assert.ok(['tokens', 'error', 'unreadable'].includes(r.kind));
        if (r.kind === 'tokens') assert.match(r.accessToken, /^[\x20-\x7e]+$/);
        if (r.kind === 'error') assert.ok(r.description.length <= 200 && r.error.length <= 200);
        if (r.kind !== 'tokens' && r.retryAfterMs !== undefined) assert.ok(r.retryAfterMs >= 0 && r.retryAfterMs <= MAX_RETRY_AFTER_MS);
      }),
      { numRuns: 2000 },
    );
    // The generators must reach every shape, or the property would check less than it claims.
    assert.deepEqual([...seen].sort(), ['error', 'tokens', 'unreadable']);
  });

  test('a JSON or form body built from valid fields reads back as the same tokens', () => {
    const fields = fc.record(
      {
        access_token: VSCHAR_TEXT(1, 60),
        token_type: fc.constantFrom('Bearer', 'bearer', 'BEARER', 'DPoP', 'N_A'),
        expires_in: fc.integer({ min: 1, max: MAX_EXPIRES_IN }),
        refresh_token: VSCHAR_TEXT(1, 60),
        scope: fc.array(fc.stringMatching(/^[a-z:/._-]{1,12}$/), { minLength: 1, maxLength: 4 }).map((w) => w.join(' ')),
        id_token: fc.string({ maxLength: 20 }),
      },
      { requiredKeys: ['access_token'] },
    );
    const shape = fc.record({
      encoding: fc.constantFrom('json', 'form'),
      expiresAsString: fc.boolean(),
      contentType: fc.constantFrom(true, false),
    });
    fc.assert(
      fc.property(fields, shape, fc.integer({ min: 0, max: 4_000_000_000_000 }), fc.integer({ min: 1, max: 86_400 }), (f, sh, sentAt, def) => {
        const wire: Record<string, string | number> = { ...f };
        if (f.expires_in !== undefined && sh.expiresAsString) wire.expires_in = String(f.expires_in);
        const form = sh.encoding === 'form';
        const body = form ? new URLSearchParams(Object.entries(wire).map(([k, v]) => [k, String(v)])).toString() : JSON.stringify(wire);
        const headers = sh.contentType ? { 'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json; charset=utf-8' } : {};
        const r = readTokenResponse({ status: 200, headers, body: Buffer.from(body), sentAt, defaultExpiresIn: def });
        const expected: TokenResponse = {
          kind: 'tokens',
          accessToken: f.access_token,
          tokenType: f.token_type === undefined || f.token_type.toLowerCase() === 'bearer' ? 'Bearer' : f.token_type,
          expiresAt: sentAt + (f.expires_in ?? def) * 1000,
          refreshToken: f.refresh_token,
          ...(f.scope === undefined ? {} : { scope: f.scope }),
          httpStatus: 200,
        };
        assert.deepEqual(r, expected);
      }),
      { numRuns: 500 },
    );
  });
});
