/**
 * Property test of console sessions (api.md §10): whatever a request carries as its Cookie, X-CSRF-Token and Origin
 * headers — garbage, a session id off by one character, a real session's token with another cookie — the answer is
 * never a 5xx, an error is the catalogue's envelope, and a request is admitted only with the real session's cookie
 * (and, for a write, its token and no foreign Origin).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { USER_PASSWORD, harness, type Harness } from '../helpers.js';
import { SESSION_COOKIE, signIn, type Session } from '../console-support.js';
import { withEnoughSuccesses } from '../property-support.js';

/** PROP_RUNS=2000 searches harder than CI does. */
const RUNS = Number(process.env.PROP_RUNS ?? 80);

/** Printable ASCII: what a header value may hold (inject refuses control characters, as Node's parser does). */
const text = (maxLength: number) => fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength });
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Placeholders for the current session's values, filled in at run time (a sign-out may replace the session). */
type Value = { kind: 'valid' } | { kind: 'offByOne'; at: number } | { kind: 'text'; value: string };
const value = (): fc.Arbitrary<Value> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constant({ kind: 'valid' } as const) },
    { weight: 2, arbitrary: fc.nat(42).map((at) => ({ kind: 'offByOne', at }) as const) },
    { weight: 2, arbitrary: text(80).map((v) => ({ kind: 'text', value: v }) as const) },
    { weight: 1, arbitrary: fc.constant({ kind: 'text', value: randomBytes(32).toString('base64url') } as const) },
  );

const ROUTES = [
  { method: 'GET', url: '/api/mgmt/permissions', write: false },
  { method: 'POST', url: '/api/mgmt/datasources', write: true, payload: () => ({ name: `p${randomBytes(4).toString('hex')}`, dataStore: 54 }) },
  { method: 'DELETE', url: '/api/mgmt/datasources/999999', write: true },
  { method: 'GET', url: '/console/session', write: false },
  { method: 'DELETE', url: '/console/session', write: true },
  { method: 'POST', url: '/console/session', write: true, payload: () => ({ userName: `nobody${randomBytes(4).toString('hex')}`, password: 'x' }) },
] as const;

describe('console sessions: any Cookie, X-CSRF-Token and Origin', () => {
  let h: Harness;
  let session: Session;
  before(async () => {
    h = await harness();
    session = await signIn(h.app, 'd2cuser', USER_PASSWORD);
  });
  after(async () => h.close());

  const fill = (v: Value, real: string): string => {
    if (v.kind === 'valid') return real;
    if (v.kind === 'text') return v.value;
    const at = v.at % real.length;
    const other = BASE64URL[(BASE64URL.indexOf(real[at]) + 1) % BASE64URL.length];
    return real.slice(0, at) + other + real.slice(at + 1);
  };

  test('never a 5xx; admitted only with the real cookie, and a write only with its token and no foreign Origin', async () => {
    let admitted = 0;
    const property = fc.asyncProperty(
      fc.constantFrom(...ROUTES),
      fc.option(fc.record({ prefix: fc.option(text(30), { nil: undefined }), cookie: value() }), { nil: undefined }),
      fc.option(value(), { nil: undefined }),
      fc.option(fc.oneof(fc.constant('http://localhost:80'), text(40)), { nil: undefined }),
      async (route, cookie, csrf, origin) => {
        const cookieValue = cookie && fill(cookie.cookie, session.id);
        const token = csrf && fill(csrf, session.csrfToken);
        const headers: Record<string, string> = {};
        if (cookie) headers.cookie = `${cookie.prefix === undefined ? '' : `${cookie.prefix}; `}${SESSION_COOKIE}=${cookieValue}`;
        if (token !== undefined) headers['x-csrf-token'] = token;
        if (origin !== undefined) headers.origin = origin;
        const res = await h.app.inject({ method: route.method, url: route.url, headers, ...('payload' in route ? { payload: route.payload() } : {}) });
        assert.ok(res.statusCode < 500, `${route.method} ${route.url} → ${res.statusCode} ${res.body}`);
        if (res.statusCode >= 400) assert.equal(typeof res.json().error.code, 'number', res.body);
        const real = cookieValue === session.id;
        // A prefix that itself holds `tokenkeep_session=` comes first and is the cookie the server reads.
        const shadowed = cookie?.prefix?.includes(`${SESSION_COOKIE}=`) === true;
        if (route.url === '/console/session' && route.method === 'POST') return;
        const ok = res.statusCode < 400 || res.statusCode === 404;
        if (route.url === '/console/session' && route.method === 'DELETE') {
          if (real && !shadowed && res.statusCode === 204 && token === session.csrfToken) session = await signIn(h.app, 'd2cuser', USER_PASSWORD);
          return;
        }
        if (!ok) return;
        admitted++;
        assert.ok(real && !shadowed, 'admitted with the real cookie only');
        if (route.write) {
          assert.equal(token, session.csrfToken, 'a write only with the session’s token');
          assert.ok(origin === undefined || origin === 'http://localhost:80', 'and no foreign Origin');
        }
      },
    );
    await withEnoughSuccesses(
      'console session property',
      () => admitted,
      () => fc.assert(property, { numRuns: RUNS }),
    );
  });
});
