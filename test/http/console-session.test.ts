/**
 * Console sessions (api.md §10) through the real app, on SQLite or PostgreSQL (TOKENKEEP_TEST_BACKEND): signing in with
 * the same authenticator as Basic auth, the cookie's attributes, the cookie on /api routes with its Origin and CSRF
 * rules, signing out, the timeouts on the harness's clock, what ends a session, and a session used through a second
 * app on the same database.
 */
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../src/app.js';
import { hashPassword } from '../../src/crypto/passwords.js';
import { integrityRules } from '../../src/domain/integrity.js';
import type { Store } from '../../src/domain/ports/index.js';
import { PostgresStore } from '../../src/storage/postgres/store.js';
import { SqliteStore } from '../../src/storage/sqlite/store.js';
import { ADMIN_PASSWORD, DEFAULT_PASSWORD, FAST_HASH, USER_PASSWORD, basic, harness, sqliteStoreOf, type Harness } from '../helpers.js';
import { SESSION_COOKIE, setCookies, sessionOf, signIn, signInRequest, withSession, type Session } from '../console-support.js';
import { selfSignedCertificate } from '../tls-support.js';

const BASIC_CHALLENGE = 'Basic realm="tokenkeep", charset="UTF-8"';
const SESSION_CHALLENGE = `Cookie realm="tokenkeep", form-action="/console/session", cookie-name="${SESSION_COOKIE}"`;
const rnd = (tag: string): string => `${tag}${randomBytes(5).toString('hex')}`;
const PERMISSIONS = { method: 'GET' as const, url: '/api/mgmt/permissions' };
/** A write d2cuser may make: a new data source. */
const write = () => ({ method: 'POST' as const, url: '/api/mgmt/datasources', payload: { name: rnd('ds '), dataStore: 54 } });

function assertError(res: LightMyRequestResponse, status: number, code: number, why: string): void {
  assert.equal(res.statusCode, status, `${why}: ${res.body}`);
  assert.equal(res.json().error.code, code, why);
}

/** A 401 to a console request: the envelope, the challenge to the sign-in form (never Basic: no browser dialog). */
function assertSessionRefused(res: LightMyRequestResponse, why: string): void {
  assertError(res, 401, 223000401, why);
  assert.equal(res.headers['www-authenticate'], SESSION_CHALLENGE, `${why}: challenge`);
}

async function createUser(h: Harness, userName = rnd('console_'), tenant?: { id: number; role: number }): Promise<number> {
  const res = await h.call({
    method: 'POST',
    url: '/api/admin/users',
    as: 'd2cadmin',
    payload: {
      userName,
      ...(tenant ? { tenantId: tenant.id } : {}),
      statusInfo: { status: 1 },
      passwordInfo: { password: DEFAULT_PASSWORD },
      permissions: { roles: [tenant?.role ?? 2] },
    },
  });
  assert.equal(res.statusCode, 201, res.body);
  return res.json().id;
}

const admitted = async (h: Harness, session: Session): Promise<boolean> => {
  const res = await h.call({ ...PERMISSIONS, headers: withSession(session, false) });
  if (res.statusCode === 401) assertSessionRefused(res, 'a refused session');
  else assert.equal(res.statusCode, 200, res.body);
  return res.statusCode === 200;
};

describe('signing in', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(async () => h.close());

  test('the right password: 200 with the stored user name and a CSRF token, and the session cookie with its attributes', async () => {
    const res = await h.call(signInRequest('D2CUSER', USER_PASSWORD));
    const session = sessionOf(res);
    assert.deepEqual(Object.keys(res.json()).sort(), ['csrfToken', 'userName']);
    assert.equal(res.json().userName, 'd2cuser', 'the name as stored');
    assert.match(session.id, /^[A-Za-z0-9_-]{43}$/, '256 random bits, base64url');
    assert.match(session.csrfToken, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(session.csrfToken, session.id);
    const attributes = session.setCookie
      .split(';')
      .slice(1)
      .map((a) => a.trim().toLowerCase());
    assert.deepEqual(attributes.sort(), ['httponly', 'path=/', 'samesite=strict'], 'HttpOnly, SameSite=Strict, Path=/; no Secure on plain HTTP, no expiry');
    assert.equal(res.headers['cache-control'], 'no-store');
    const again = sessionOf(await h.call(signInRequest('d2cuser', USER_PASSWORD)));
    assert.notEqual(again.id, session.id, 'every sign-in is a new session');
    assert.notEqual(again.csrfToken, session.csrfToken);
  });

  test('the session is stored as the SHA-256 of its id only: neither the id nor the CSRF token is in any column', async () => {
    const session = await signIn(h.app, 'd2cuser', USER_PASSWORD);
    const digest = createHash('sha256').update(session.id).digest('hex');
    assert.equal((await h.store.consoleSessions.find(digest))?.userName, 'd2cuser');
    const rows =
      h.backend === 'sqlite'
        ? sqliteStoreOf(h).db.connection.prepare('SELECT * FROM console_sessions').all()
        : (await (h.store as PostgresStore).db.pool.query('SELECT * FROM console_sessions')).rows;
    const text = JSON.stringify(rows);
    assert.ok(text.includes(digest));
    assert.ok(!text.includes(session.id) && !text.includes(session.csrfToken));
  });

  test('a wrong password, an unknown user, an inactive user: the same 401 as Basic auth, and no cookie', async () => {
    const inactive = rnd('inactive_');
    const id = await createUser(h, inactive);
    assert.equal((await h.call({ method: 'PUT', url: `/api/admin/users/${id}/statusinfo`, as: 'd2cadmin', payload: { status: 0 } })).statusCode, 200);
    const basicRefusal = await h.call({ ...PERMISSIONS, as: ['d2cuser', 'Wrong-Passw0rd'] });
    for (const [name, password] of [
      ['d2cuser', 'Wrong-Passw0rd'],
      [rnd('nobody_'), 'Wrong-Passw0rd'],
      [inactive, DEFAULT_PASSWORD],
      ['', ''],
    ]) {
      const res = await h.call(signInRequest(name, password));
      assertSessionRefused(res, `${name || 'empty'}`);
      assert.equal(res.body, basicRefusal.body, 'the same envelope as a Basic failure');
      assert.deepEqual(setCookies(res), [], 'no cookie');
    }
  });

  test('the body: exactly the two strings, JSON, small — else the catalogue’s 400, 415 or 413, and no cookie', async () => {
    const cases: [string, object, number, number][] = [
      ['an unknown field', { payload: { userName: 'd2cuser', password: USER_PASSWORD, remember: true } }, 400, 222207007],
      ['a number for the name', { payload: { userName: 7, password: USER_PASSWORD } }, 400, 222207007],
      ['no password', { payload: { userName: 'd2cuser' } }, 400, 222207007],
      ['not an object', { payload: '[]', headers: { 'content-type': 'application/json' } }, 400, 222207007],
      [
        'a form post',
        { payload: `userName=d2cuser&password=${USER_PASSWORD}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } },
        415,
        223000415,
      ],
      ['text/plain', { payload: JSON.stringify({ userName: 'd2cuser', password: USER_PASSWORD }), headers: { 'content-type': 'text/plain' } }, 415, 223000415],
      ['a 5 KiB body', { payload: { userName: 'd2cuser', password: 'x'.repeat(5000) } }, 413, 223000413],
    ];
    for (const [what, opts, status, code] of cases) {
      const res = await h.call({ method: 'POST', url: '/console/session', ...opts });
      assertError(res, status, code, what);
      assert.deepEqual(setCookies(res), [], `${what}: no cookie`);
    }
    const big = await h.call({ method: 'POST', url: '/console/session', payload: { userName: 'd2cuser', password: 'x'.repeat(5000) } });
    assert.match(big.json().error.message.value, /4096 bytes/, 'the message names the sign-in’s own limit');
  });

  test('a sign-in with another site’s Origin is refused before the password is looked at; this server’s is accepted', async () => {
    const foreign = await h.call(signInRequest('d2cuser', USER_PASSWORD, { origin: 'https://evil.example' }));
    assertError(foreign, 403, 223023403, 'foreign origin');
    assert.deepEqual(setCookies(foreign), []);
    sessionOf(await h.call(signInRequest('d2cuser', USER_PASSWORD, { origin: 'http://127.0.0.1:8080', host: '127.0.0.1:8080' })));
  });

  test('a new sign-in from a browser that holds a session ends that session', async () => {
    const first = await signIn(h.app, 'd2cuser', USER_PASSWORD);
    const second = sessionOf(await h.call({ ...signInRequest('d2cuser', USER_PASSWORD), headers: withSession(first, false) }));
    assert.equal(await admitted(h, first), false);
    assert.equal(await admitted(h, second), true);
  });

  test('a password stored at weaker parameters is upgraded at sign-in, and the session holds on to the new hash', async () => {
    const userName = rnd('weak_');
    const id = await createUser(h, userName);
    const weak = await hashPassword(DEFAULT_PASSWORD, { ...FAST_HASH, logN: FAST_HASH.logN - 1 });
    await h.store.logins.upgradePasswordHash(id, (await h.store.users.get(id))!.passwordHash, weak);
    const session = await signIn(h.app, userName, DEFAULT_PASSWORD);
    assert.notEqual((await h.store.users.get(id))!.passwordHash, weak, 'upgraded');
    assert.equal(await admitted(h, session), true);
  });
});

describe('lockout and limits are Basic auth’s', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
  });
  afterEach(async () => h.close());

  test('three wrong passwords at the sign-in lock the account for Basic auth', async () => {
    for (let i = 0; i < 3; i++) assertSessionRefused(await h.call(signInRequest('d2cuser', 'Wrong-Passw0rd')), `failure ${i + 1}`);
    assert.equal((await h.call({ ...PERMISSIONS, as: 'd2cuser' })).statusCode, 401, 'locked for Basic');
  });

  test('two wrong Basic passwords and one wrong sign-in lock the account for the sign-in', async () => {
    for (let i = 0; i < 2; i++) assert.equal((await h.call({ ...PERMISSIONS, as: ['d2cuser', 'Wrong-Passw0rd'] })).statusCode, 401);
    assertSessionRefused(await h.call(signInRequest('d2cuser', 'Wrong-Passw0rd')), 'third failure');
    const locked = await h.call(signInRequest('d2cuser', USER_PASSWORD));
    assertSessionRefused(locked, 'the right password while locked');
    assert.deepEqual(setCookies(locked), []);
    h.clock.advance(1801);
    sessionOf(await h.call(signInRequest('d2cuser', USER_PASSWORD)));
  });

  test('failed sign-ins count toward the per-address limit of Basic auth', async () => {
    await h.close();
    h = await harness({ failuresPerAddress: 3 });
    for (let i = 0; i < 3; i++) assertSessionRefused(await h.call(signInRequest(rnd('nobody_'), 'Wrong-Passw0rd')), `failure ${i + 1}`);
    assertError(await h.call({ ...PERMISSIONS, as: [rnd('nobody_'), 'Wrong-Passw0rd'] }), 429, 223000429, 'Basic from the same address');
    assertError(await h.call(signInRequest(rnd('nobody_'), 'Wrong-Passw0rd')), 429, 223000429, 'the sign-in too');
  });
});

describe('the cookie on /api routes', () => {
  let h: Harness;
  let user: Session;
  let admin: Session;
  before(async () => {
    h = await harness();
    user = await signIn(h.app, 'd2cuser', USER_PASSWORD);
    admin = await signIn(h.app, 'd2cadmin', ADMIN_PASSWORD);
  });
  after(async () => h.close());

  test('a GET needs only the cookie; GET /console/session tells the user and the same CSRF token again', async () => {
    const res = await h.call({ ...PERMISSIONS, headers: withSession(user, false) });
    assert.equal(res.statusCode, 200, res.body);
    assert.ok(!res.json().permissions.some((p: { id: number }) => p.id === 12), 'd2cuser’s permissions');
    const again = await h.call({ method: 'GET', url: '/console/session', headers: withSession(user, false) });
    assert.equal(again.statusCode, 200, again.body);
    assert.deepEqual(again.json(), { userName: 'd2cuser', csrfToken: user.csrfToken });
    assert.deepEqual(setCookies(again), [], 'the cookie is not set again');
    // A GET with another site's Origin reads nothing it could not read anyway: no Origin rule for reads (api.md §10).
    assert.equal((await h.call({ ...PERMISSIONS, headers: { ...withSession(user, false), origin: 'https://evil.example' } })).statusCode, 200);
  });

  test('a write: refused without the token, with a wrong one, with another session’s, or from another origin; done with its own', async () => {
    const other = await signIn(h.app, 'd2cuser', USER_PASSWORD);
    const cookie = withSession(user, false);
    assertError(await h.call({ ...write(), headers: cookie }), 403, 223022403, 'no token');
    // The last character changed to another one (appending a fixed 'A' left the token as it was whenever it ended in 'A').
    const wrong = `${user.csrfToken.slice(0, -1)}${user.csrfToken.endsWith('A') ? 'E' : 'A'}`;
    assert.notEqual(wrong, user.csrfToken);
    assertError(await h.call({ ...write(), headers: { ...cookie, 'x-csrf-token': wrong } }), 403, 223022403, 'wrong token');
    assertError(await h.call({ ...write(), headers: { ...cookie, 'x-csrf-token': other.csrfToken } }), 403, 223022403, 'another session’s token');
    assertError(await h.call({ ...write(), headers: { ...cookie, 'x-csrf-token': user.id } }), 403, 223022403, 'the session id as the token');
    const foreign = { ...withSession(user), origin: 'https://evil.example' };
    assertError(await h.call({ ...write(), headers: foreign }), 403, 223023403, 'another origin');
    assertError(await h.call({ ...write(), headers: { ...withSession(user), origin: 'null' } }), 403, 223023403, 'an opaque origin');
    assertError(
      await h.call({ ...write(), headers: { ...withSession(user), origin: 'https://127.0.0.1:8080', host: '127.0.0.1:8080' } }),
      403,
      223023403,
      'another scheme',
    );
    for (const method of ['PUT', 'DELETE'] as const) {
      assertError(await h.call({ method, url: '/api/mgmt/datasources/1', headers: cookie }), 403, 223022403, `${method} without the token`);
    }
    assert.equal((await h.call({ ...write(), headers: withSession(user) })).statusCode, 201, 'the token, no Origin');
    const own = { ...withSession(user), origin: 'http://127.0.0.1:8080', host: '127.0.0.1:8080' };
    assert.equal((await h.call({ ...write(), headers: own })).statusCode, 201, 'the token and this server’s origin');
  });

  test('the checks come before the body is read, and before `?user=` is looked at', async () => {
    const res = await h.call({
      method: 'POST',
      url: `/api/mgmt/oauthprofiles?user=${rnd('ghost')}`,
      headers: { ...withSession(admin, false), 'content-type': 'application/json' },
      payload: '{',
    });
    assertError(res, 403, 223022403, 'no token: 403, not the 404 of the user nor the 400 of the body');
  });

  test('`?user=` works as with Basic auth', async () => {
    const forUser = await h.call({ method: 'GET', url: '/api/mgmt/oauthprofiles?user=d2cuser', headers: withSession(admin, false) });
    assert.equal(forUser.statusCode, 200, forUser.body);
    const viaBasic = await h.call({ method: 'GET', url: '/api/mgmt/oauthprofiles?user=d2cuser', as: 'd2cadmin' });
    assert.equal(forUser.body, viaBasic.body);
    assertError(
      await h.call({ method: 'GET', url: '/api/mgmt/oauthprofiles?user=d2cadmin', headers: withSession(user, false) }),
      403,
      222208103,
      'd2cuser for d2cadmin',
    );
    const created = await h.call({
      method: 'POST',
      url: '/api/mgmt/datasources?user=d2cuser',
      headers: withSession(admin),
      payload: { name: rnd('obo '), dataStore: 54 },
    });
    assert.equal(created.statusCode, 201, created.body);
    const mine = await h.call({ method: 'GET', url: `/api/mgmt/datasources/${created.json().id}`, headers: withSession(user, false) });
    assert.equal(mine.statusCode, 200, 'the data source is d2cuser’s');
  });

  test('Basic wins over a cookie beside it: its user, no CSRF token needed; wrong Basic credentials are a 401 whatever the cookie', async () => {
    const both = await h.call({ ...PERMISSIONS, headers: { ...withSession(user, false), authorization: basic('d2cadmin', ADMIN_PASSWORD) } });
    assert.ok(
      both.json().permissions.some((p: { id: number }) => p.id === 12),
      'd2cadmin’s permissions',
    );
    const res = await h.call({
      ...write(),
      headers: { ...withSession(user, false), authorization: basic('d2cadmin', ADMIN_PASSWORD), origin: 'https://evil.example' },
    });
    assert.equal(res.statusCode, 201, 'a Basic request is unaffected by the console’s rules');
    const wrong = await h.call({ ...PERMISSIONS, headers: { ...withSession(user, false), authorization: basic('d2cuser', 'Wrong-Passw0rd') } });
    assert.equal(wrong.statusCode, 401);
    assert.equal(wrong.headers['www-authenticate'], BASIC_CHALLENGE);
  });

  test('no cookie: the Basic challenge as before; a cookie that names no session: the session challenge (no browser dialog)', async () => {
    const none = await h.call(PERMISSIONS);
    assert.equal(none.statusCode, 401);
    assert.equal(none.headers['www-authenticate'], BASIC_CHALLENGE);
    assertSessionRefused(await h.call({ ...PERMISSIONS, headers: { cookie: `${SESSION_COOKIE}=${randomBytes(32).toString('base64url')}` } }), 'unknown');
    assertSessionRefused(await h.call({ ...PERMISSIONS, headers: { cookie: `${SESSION_COOKIE}=x` } }), 'malformed');
    const other = await h.call({ ...PERMISSIONS, headers: { cookie: 'theme=dark' } });
    assert.equal(other.headers['www-authenticate'], BASIC_CHALLENGE, 'another cookie is not a session');
  });
});

describe('signing out', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(async () => h.close());

  test('DELETE /console/session with the token: 204, the cookie cleared, the session refused from then on', async () => {
    const session = await signIn(h.app, 'd2cuser', USER_PASSWORD);
    const res = await h.call({ method: 'DELETE', url: '/console/session', headers: withSession(session) });
    assert.equal(res.statusCode, 204, res.body);
    const cleared = setCookies(res);
    assert.equal(cleared.length, 1);
    assert.match(cleared[0], new RegExp(`^${SESSION_COOKIE}=;`));
    assert.match(cleared[0], /Max-Age=0/);
    assert.match(cleared[0], /HttpOnly/);
    assert.match(cleared[0], /SameSite=Strict/);
    assert.equal(await admitted(h, session), false);
    assertSessionRefused(await h.call({ method: 'GET', url: '/console/session', headers: withSession(session, false) }), 'GET /console/session');
    assertSessionRefused(await h.call({ ...write(), headers: withSession(session) }), 'a write with the old token');
  });

  test('a live session is not ended without its token; without a session the answer is 204 anyway', async () => {
    const session = await signIn(h.app, 'd2cuser', USER_PASSWORD);
    assertError(await h.call({ method: 'DELETE', url: '/console/session', headers: withSession(session, false) }), 403, 223022403, 'no token');
    const foreign = { ...withSession(session), origin: 'https://evil.example' };
    assertError(await h.call({ method: 'DELETE', url: '/console/session', headers: foreign }), 403, 223023403, 'another origin');
    assert.equal(await admitted(h, session), true, 'still signed in');
    assert.equal((await h.call({ method: 'DELETE', url: '/console/session' })).statusCode, 204);
    assert.equal((await h.call({ method: 'DELETE', url: '/console/session', headers: { cookie: `${SESSION_COOKIE}=garbage` } })).statusCode, 204);
  });

  test('GET /console/session without a session: 401 with the session challenge, and a stale cookie is cleared', async () => {
    assertSessionRefused(await h.call({ method: 'GET', url: '/console/session' }), 'no cookie');
    const stale = await h.call({ method: 'GET', url: '/console/session', headers: { cookie: `${SESSION_COOKIE}=${randomBytes(32).toString('base64url')}` } });
    assertSessionRefused(stale, 'stale cookie');
    assert.match(setCookies(stale)[0] ?? '', new RegExp(`^${SESSION_COOKIE}=;.*Max-Age=0`));
  });
});

describe('timeouts: 30 minutes idle, 12 hours in all', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(async () => h.close());

  const lastSeen = async (session: Session): Promise<number | undefined> =>
    (await h.store.consoleSessions.find(createHash('sha256').update(session.id).digest('hex')))?.lastSeenAt;

  test('a session used within 30 minutes stays; one idle for 30 minutes is ended', async () => {
    const session = await signIn(h.app, 'd2cuser', USER_PASSWORD);
    h.clock.advance(29 * 60);
    assert.equal(await admitted(h, session), true);
    h.clock.advance(29 * 60);
    assert.equal(await admitted(h, session), true, 'the use above restarted the idle time');
    h.clock.advance(30 * 60);
    assert.equal(await admitted(h, session), false, 'idle for 30 minutes');
    assert.equal(await lastSeen(session), undefined, 'and deleted');
  });

  test('the last use is written at most once a minute', async () => {
    const session = await signIn(h.app, 'd2cuser', USER_PASSWORD);
    const created = await lastSeen(session);
    h.clock.advance(59);
    assert.equal(await admitted(h, session), true);
    assert.equal(await lastSeen(session), created, 'a use 59 s later writes nothing');
    h.clock.advance(1);
    assert.equal(await admitted(h, session), true);
    assert.equal(await lastSeen(session), h.clock.ms, 'a use a minute later is recorded');
  });

  test('a session in constant use ends 12 hours after its sign-in', async () => {
    const session = await signIn(h.app, 'd2cuser', USER_PASSWORD);
    for (let minutes = 20; minutes < 12 * 60; minutes += 20) {
      h.clock.advance(20 * 60);
      assert.equal(await admitted(h, session), true, `after ${minutes} minutes`);
    }
    h.clock.advance(20 * 60);
    assert.equal(await admitted(h, session), false, 'at 12 hours');
    assertSessionRefused(await h.call({ method: 'GET', url: '/console/session', headers: withSession(session, false) }), 'GET /console/session');
  });

  test('each sign-in deletes sessions idle past the timeout', async () => {
    const idle = [await signIn(h.app, 'd2cuser', USER_PASSWORD), await signIn(h.app, 'd2cadmin', ADMIN_PASSWORD)];
    h.clock.advance(30 * 60);
    assert.ok((await lastSeen(idle[0])) !== undefined, 'still stored before the next sign-in');
    await signIn(h.app, 'd2cuser', USER_PASSWORD);
    for (const s of idle) assert.equal(await lastSeen(s), undefined);
  });
});

describe('what ends a session', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(async () => h.close());

  /**
   * A new user with two sessions: `session` is presented while the change holds, `unseen` only after it is undone —
   * a session presented while it fails the checks is deleted then, so only `unseen` shows that the change itself
   * ended it.
   */
  const signedInUser = async (): Promise<{ id: number; name: string; session: Session; unseen: Session }> => {
    const name = rnd('ended_');
    const id = await createUser(h, name);
    return { id, name, session: await signIn(h.app, name, DEFAULT_PASSWORD), unseen: await signIn(h.app, name, DEFAULT_PASSWORD) };
  };
  const statusinfo = async (id: number, payload: object): Promise<void> => {
    const res = await h.call({ method: 'PUT', url: `/api/admin/users/${id}/statusinfo`, as: 'd2cadmin', payload });
    assert.equal(res.statusCode, 200, res.body);
  };

  test('a new password (by an administrator), even the same one again', async () => {
    const { id, session } = await signedInUser();
    const res = await h.call({ method: 'PUT', url: `/api/admin/users/${id}/passwordinfo`, as: 'd2cadmin', payload: { password: DEFAULT_PASSWORD } });
    assert.equal(res.statusCode, 204, res.body);
    assert.equal(await admitted(h, session), false);
  });

  test('a new password written past the domain (as the CLI’s reset): the stored digest no longer matches', async () => {
    const { id, session } = await signedInUser();
    const user = (await h.store.users.get(id))!;
    await h.store.logins.upgradePasswordHash(id, user.passwordHash, await hashPassword(DEFAULT_PASSWORD, FAST_HASH));
    assert.equal(await admitted(h, session), false);
  });

  test('a deactivation, and a reactivation does not bring it back', async () => {
    const { id, session, unseen } = await signedInUser();
    await statusinfo(id, { status: 0 });
    assert.equal(await admitted(h, session), false);
    await statusinfo(id, { status: 1 });
    assert.equal(await admitted(h, unseen), false, 'ended by the deactivation');
  });

  test('a lock by an administrator, and the unlock does not bring it back', async () => {
    const { id, session, unseen } = await signedInUser();
    await statusinfo(id, { status: 1, accountLocked: true });
    assert.equal(await admitted(h, session), false);
    await statusinfo(id, { status: 1, accountLocked: false });
    assert.equal(await admitted(h, unseen), false, 'ended by the lock');
  });

  test('a lock by three failed logins, and the unlock does not bring it back', async () => {
    const { id, name, session, unseen } = await signedInUser();
    for (let i = 0; i < 3; i++) assert.equal((await h.call({ ...PERMISSIONS, as: [name, 'Wrong-Passw0rd'] })).statusCode, 401);
    assert.equal(await admitted(h, session), false);
    await statusinfo(id, { status: 1, accountLocked: false });
    assert.equal(await admitted(h, unseen), false, 'ended by the lock');
  });

  test('a deactivation written past the domain: refused while it holds', async () => {
    const { id, name, session } = await signedInUser();
    const res = await h.store.users.update(id, { userName: name, status: 0, roles: [2], permissions: [] });
    assert.equal((res as { status?: number }).status, 0);
    assert.equal(await admitted(h, session), false);
  });

  test('a lock written past the domain that has run out since: the lock’s time is after the sign-in', async () => {
    const { id, session } = await signedInUser();
    h.clock.advance(1);
    assert.equal(await h.store.users.setLock(id, { lockedAt: h.clock.ms, lockedUntil: h.clock.ms + 1000 }), undefined);
    h.clock.advance(2);
    assert.equal(await admitted(h, session), false);
  });

  test('a deleted user', async () => {
    const { id, session } = await signedInUser();
    assert.equal((await h.call({ method: 'DELETE', url: `/api/admin/users/${id}`, as: 'd2cadmin' })).statusCode, 204);
    assert.equal(await admitted(h, session), false);
  });

  test('a deactivated tenant, and its reactivation does not bring it back', async () => {
    const name = rnd('Tenant ');
    const created = await h.call({ method: 'POST', url: '/api/admin/tenants', as: 'd2cadmin', payload: { name, importedRoles: [2] } });
    assert.equal(created.statusCode, 201, created.body);
    const tenant = { id: created.json().id as number, role: created.json().roles[0] as number };
    const userName = rnd('member_');
    await createUser(h, userName, tenant);
    const session = await signIn(h.app, userName, DEFAULT_PASSWORD);
    const unseen = await signIn(h.app, userName, DEFAULT_PASSWORD);
    assert.equal(await admitted(h, session), true);
    const setStatus = async (status: number) => {
      const res = await h.call({ method: 'PUT', url: `/api/admin/tenants/${tenant.id}`, as: 'd2cadmin', payload: { name, status } });
      assert.equal(res.statusCode, 200, res.body);
    };
    await setStatus(0);
    assert.equal(await admitted(h, session), false, 'an inactive tenant');
    await setStatus(1);
    assert.equal(await admitted(h, unseen), false, 'ended by the deactivation');
  });

  test('a renamed user keeps its session, under its new name', async () => {
    const { id, session } = await signedInUser();
    const renamed = rnd('renamed_');
    const res = await h.call({
      method: 'PUT',
      url: `/api/admin/users/${id}`,
      as: 'd2cadmin',
      payload: { userName: renamed, statusInfo: { status: 1 }, permissions: { roles: [2] } },
    });
    assert.equal(res.statusCode, 200, res.body);
    const again = await h.call({ method: 'GET', url: '/console/session', headers: withSession(session, false) });
    assert.equal(again.json().userName, renamed);
  });
});

describe('a session is valid on every node', () => {
  let h: Harness;
  let second: { app: FastifyInstance; store: Store };
  before(async () => {
    h = await harness();
    const store =
      h.backend === 'sqlite'
        ? new SqliteStore(sqliteStoreOf(h).db.file, integrityRules)
        : new PostgresStore((h.store as PostgresStore).db.url, integrityRules, { max: 2 });
    second = { store, app: await buildApp({ store, hashParams: FAST_HASH, clock: h.clock.now }) };
  });
  after(async () => {
    await second.app.close();
    await second.store.close();
    await h.close();
  });

  test('signed in on one app, used and signed out on another app on the same database', async () => {
    const session = await signIn(h.app, 'd2cuser', USER_PASSWORD);
    const there = await second.app.inject({ ...PERMISSIONS, headers: withSession(session, false) });
    assert.equal(there.statusCode, 200, there.body);
    const recovered = await second.app.inject({ method: 'GET', url: '/console/session', headers: withSession(session, false) });
    assert.deepEqual(recovered.json(), { userName: 'd2cuser', csrfToken: session.csrfToken }, 'the same CSRF token on every node');
    assertError(await second.app.inject({ method: 'DELETE', url: '/console/session', headers: withSession(session, false) }), 403, 223022403, 'no token');
    assert.equal((await second.app.inject({ method: 'DELETE', url: '/console/session', headers: withSession(session) })).statusCode, 204);
    assert.equal(await admitted(h, session), false, 'ended on the first app too');
  });

  test('locked through one app, ended on the other (and unlocked: still ended)', async () => {
    const name = rnd('nodes_');
    const id = await createUser(h, name);
    const session = await signIn(second.app, name, DEFAULT_PASSWORD);
    for (let i = 0; i < 3; i++) assert.equal((await h.call({ ...PERMISSIONS, as: [name, 'Wrong-Passw0rd'] })).statusCode, 401);
    const unlock = await h.call({ method: 'PUT', url: `/api/admin/users/${id}/statusinfo`, as: 'd2cadmin', payload: { status: 1, accountLocked: false } });
    assert.equal(unlock.statusCode, 200, unlock.body);
    assert.equal((await second.app.inject({ ...PERMISSIONS, headers: withSession(session, false) })).statusCode, 401, 'ended, not only refused while locked');
  });
});

describe('under TLS', () => {
  let dir: string;
  let h: Harness;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tokenkeep-console-tls-'));
    const { cert, key } = selfSignedCertificate(dir);
    h = await harness({ https: { cert: readFileSync(cert), key: readFileSync(key) } });
  });
  after(async () => {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the cookie is Secure, and this server’s origin is https', async () => {
    const session = sessionOf(await h.call(signInRequest('d2cuser', USER_PASSWORD)));
    assert.match(session.setCookie, /; Secure(;|$)/);
    const headers = { ...withSession(session), host: '127.0.0.1:8443' };
    assertError(await h.call({ ...write(), headers: { ...headers, origin: 'http://127.0.0.1:8443' } }), 403, 223023403, 'http origin');
    assert.equal((await h.call({ ...write(), headers: { ...headers, origin: 'https://127.0.0.1:8443' } })).statusCode, 201);
  });
});

describe('behind a proxy: TOKENKEEP_PUBLIC_URL is the origin', () => {
  let h: Harness;
  before(async () => {
    h = await harness({ publicUrl: 'https://tokenkeep.example' });
  });
  after(async () => h.close());

  test('the cookie is Secure for an https public URL; only that origin may write, whatever Host says', async () => {
    const session = sessionOf(await h.call(signInRequest('d2cuser', USER_PASSWORD)));
    assert.match(session.setCookie, /; Secure(;|$)/);
    const headers = { ...withSession(session), host: '10.0.0.7:8080' };
    assertError(await h.call({ ...write(), headers: { ...headers, origin: 'http://10.0.0.7:8080' } }), 403, 223023403, 'the request’s own Host');
    assert.equal((await h.call({ ...write(), headers: { ...headers, origin: 'https://tokenkeep.example' } })).statusCode, 201);
  });
});
