/**
 * No secret in the logs, even at level trace: a full workload (applications, profiles, data sources, users,
 * failed logins, on-behalf requests, error requests carrying secrets in bad bodies, a damaged row) against the app
 * with the logger configured as src/server.ts configures it, writing to a capture stream; then the real process at
 * TOKENKEEP_LOG_LEVEL=trace. Every captured line is searched for every token, client secret, option value,
 * password and base64 Authorization value used.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { redactPaths } from '../../src/app.js';
import { harness, ADMIN_PASSWORD, USER_PASSWORD, type Harness } from '../helpers.js';
import { api, ensureBuilt, killAll, startServer, type Running } from '../process-support.js';
import { answers, startBadAuthorizationServer, type BadAuthorizationServer } from '../engine/bad-as.js';
import { SESSION_COOKIE, sessionOf, signInRequest, withSession } from '../console-support.js';

const rnd = (tag: string): string => `${tag}${randomBytes(10).toString('hex')}`;
const b64 = (user: string, password: string): string => Buffer.from(`${user}:${password}`, 'utf8').toString('base64');

/** Everything a test sends that must never be logged, with the Authorization values derived from it. */
class Secrets {
  readonly values = new Set<string>();
  add<T extends string>(s: T): T {
    this.values.add(s);
    return s;
  }
  auth(user: string, password: string): string {
    this.add(password);
    const encoded = this.add(b64(user, password));
    return `Basic ${encoded}`;
  }
  assertAbsent(text: string, where: string): void {
    for (const s of this.values) {
      const at = text.indexOf(s);
      assert.ok(at < 0, `${where} contains the secret ${JSON.stringify(s.slice(0, 12))}…: ${text.slice(Math.max(0, at - 300), at + 100)}`);
    }
  }
}

function capture(): { stream: Writable; lines(): string[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l !== ''),
  };
}

describe('logs at level trace (in-process)', () => {
  let h: Harness;
  const log = capture();
  const secrets = new Secrets();
  before(async () => {
    h = await harness({ logger: { level: 'trace', stream: log.stream, redact: { paths: redactPaths, censor: '[redacted]' } } });
  });
  after(async () => {
    await h.close();
  });

  test('a full workload logs requests but no secret', async () => {
    const ADMIN = secrets.auth('d2cadmin', ADMIN_PASSWORD);
    const USER = secrets.auth('d2cuser', USER_PASSWORD);
    const statuses = new Map<number, number>();
    const send = async (opts: InjectOptions & { auth?: string }): Promise<LightMyRequestResponse> => {
      const { auth, ...rest } = opts;
      const res = await h.app.inject({ ...rest, headers: { ...(rest.headers ?? {}), ...(auth ? { authorization: auth } : {}) } });
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      return res;
    };
    const ok = async (opts: InjectOptions & { auth?: string }, status: number): Promise<any> => {
      const res = await send(opts);
      assert.equal(res.statusCode, status, `${opts.method} ${opts.url}: ${res.body.slice(0, 300)}`);
      return res.body === '' ? undefined : JSON.parse(res.body);
    };

    // Users: created with passwords, password changed, logging in, failing to log in.
    const userName = rnd('leaky_');
    const userPw = secrets.add(`Pw-${rnd('')}-Aa1`);
    const user = await ok(
      {
        method: 'POST',
        url: '/api/admin/users',
        auth: ADMIN,
        payload: { userName, statusInfo: { status: 1 }, passwordInfo: { password: userPw }, permissions: { roles: [2] } },
      },
      201,
    );
    await ok({ method: 'GET', url: '/api/mgmt/permissions', auth: secrets.auth(userName, userPw) }, 200);
    const newPw = secrets.add(`Pw-${rnd('')}-Bb2`);
    await ok({ method: 'PUT', url: `/api/admin/users/${user.id}/passwordinfo`, auth: ADMIN, payload: { password: newPw } }, 204);
    await ok({ method: 'GET', url: '/api/mgmt/permissions', auth: secrets.auth(userName, newPw) }, 200);
    await ok({ method: 'GET', url: '/api/mgmt/permissions', auth: secrets.auth(userName, userPw) }, 401); // the old one
    await ok({ method: 'GET', url: '/api/mgmt/permissions', auth: secrets.auth('d2cadmin', secrets.add(`Wrong-${rnd('')}-9`)) }, 401);
    await ok({ method: 'GET', url: '/api/mgmt/permissions', auth: secrets.auth(rnd('nobody_'), secrets.add(`Nobody-${rnd('')}-9`)) }, 401);
    await ok({ method: 'GET', url: '/api/mgmt/permissions', headers: { authorization: secrets.add(`Bearer ${rnd('BEARERTOKEN')}`) } }, 401);
    await ok({ method: 'GET', url: '/api/mgmt/permissions', headers: { authorization: `Basic ${secrets.add(rnd('NOTBASE64'))}!!` } }, 401);
    const weak = secrets.add(rnd('weak'));
    await ok(
      {
        method: 'POST',
        url: '/api/admin/users',
        auth: ADMIN,
        payload: { userName: rnd('weak_'), statusInfo: { status: 1 }, passwordInfo: { password: weak }, permissions: { roles: [2] } },
      },
      400,
    );
    await ok({ method: 'PUT', url: `/api/admin/users/${user.id}/passwordinfo`, auth: ADMIN, payload: { password: secrets.add(`${userName}-Aa1!`) } }, 400);

    // Applications.
    const appSecret = secrets.add(rnd('CLIENTSECRET'));
    const app = await ok(
      {
        method: 'POST',
        url: '/api/mgmt/oauthapps',
        auth: ADMIN,
        payload: {
          name: 'leak app',
          dataStore: 54,
          tenantId: 1,
          clientId: 'leak-client',
          clientSecret: appSecret,
          authorizeURI: 'https://accounts.example.com/auth',
          tokenURI: 'https://oauth2.example.com/token',
        },
      },
      201,
    );
    await ok({ method: 'GET', url: `/api/mgmt/oauthapps/${app.id}`, auth: ADMIN }, 200);
    const appSecret2 = secrets.add(rnd('CLIENTSECRET'));
    await ok(
      {
        method: 'PUT',
        url: `/api/mgmt/oauthapps/${app.id}`,
        auth: ADMIN,
        payload: {
          name: 'leak app',
          dataStore: 54,
          tenantId: 1,
          clientId: 'leak-client',
          clientSecret: appSecret2,
          authorizeURI: 'https://accounts.example.com/auth',
          tokenURI: 'https://oauth2.example.com/token',
        },
      },
      200,
    );
    const doomed = await ok(
      {
        method: 'POST',
        url: '/api/mgmt/oauthapps',
        auth: ADMIN,
        payload: {
          name: 'doomed app',
          dataStore: 54,
          tenantId: 1,
          clientId: 'doomed',
          clientSecret: secrets.add(rnd('CLIENTSECRET')),
          authorizeURI: 'https://accounts.example.com/auth',
          tokenURI: 'https://oauth2.example.com/token',
        },
      },
      201,
    );
    await ok({ method: 'DELETE', url: `/api/mgmt/oauthapps/${doomed.id}`, auth: ADMIN }, 204);

    // Profiles: own, on behalf of another user, replaced, deleted.
    const profile = await ok(
      {
        method: 'POST',
        url: '/api/mgmt/oauthprofiles',
        auth: USER,
        payload: {
          name: 'leak_profile',
          oauthAppId: app.id,
          accessToken: secrets.add(rnd('ACCESS')),
          refreshToken: secrets.add(rnd('REFRESH')),
        },
      },
      201,
    );
    await ok({ method: 'GET', url: `/api/mgmt/oauthprofiles/${profile.id}`, auth: USER }, 200);
    await ok(
      {
        method: 'PUT',
        url: `/api/mgmt/oauthprofiles/${profile.id}`,
        auth: USER,
        payload: {
          name: 'leak_profile',
          oauthAppId: app.id,
          accessToken: secrets.add(rnd('ACCESS')),
          refreshToken: secrets.add(rnd('REFRESH')),
        },
      },
      200,
    );
    const onBehalf = await ok(
      {
        method: 'POST',
        url: '/api/mgmt/oauthprofiles?user=d2cuser',
        auth: ADMIN,
        payload: {
          name: 'obo_profile',
          oauthAppId: app.id,
          accessToken: secrets.add(rnd('OBOACCESS')),
          refreshToken: secrets.add(rnd('OBOREFRESH')),
        },
      },
      201,
    );
    await ok({ method: 'GET', url: `/api/mgmt/oauthprofiles/${onBehalf.id}?user=d2cuser`, auth: ADMIN }, 200);
    await ok(
      {
        method: 'PUT',
        url: `/api/mgmt/oauthprofiles/${onBehalf.id}?user=d2cuser`,
        auth: ADMIN,
        payload: {
          name: 'obo_profile',
          oauthAppId: app.id,
          refreshToken: secrets.add(rnd('OBOREFRESH')),
        },
      },
      200,
    );
    await ok({ method: 'GET', url: `/api/mgmt/oauthprofiles?user=${userName}`, auth: ADMIN }, 200);
    await ok({ method: 'GET', url: `/api/mgmt/oauthprofiles/${onBehalf.id}?user=${rnd('ghost')}`, auth: ADMIN }, 404);
    await ok({ method: 'GET', url: '/api/mgmt/oauthprofiles?user=d2cadmin', auth: USER }, 403);

    // Data sources with secret options.
    const ds = await ok(
      {
        method: 'POST',
        url: '/api/mgmt/datasources',
        auth: USER,
        payload: {
          name: 'leak ds',
          dataStore: 54,
          options: { OAuthProfileId: String(profile.id), Password: secrets.add(rnd('OPTPASSWORD')), ServerName: secrets.add(rnd('optserver')) },
        },
      },
      201,
    );
    await ok({ method: 'GET', url: `/api/mgmt/datasources/${ds.id}`, auth: USER }, 200);
    await ok(
      {
        method: 'PUT',
        url: `/api/mgmt/datasources/${ds.id}`,
        auth: USER,
        payload: { name: 'leak ds', options: { Password: secrets.add(rnd('OPTPASSWORD')) } },
      },
      200,
    );
    await ok({ method: 'GET', url: `/api/mgmt/oauthprofiles/${profile.id}/stats`, auth: USER }, 200);
    await ok({ method: 'DELETE', url: `/api/mgmt/datasources/${ds.id}`, auth: USER }, 204);

    // Error requests carrying secrets in their bodies.
    const json = { 'content-type': 'application/json' };
    await ok(
      {
        method: 'POST',
        url: '/api/mgmt/oauthprofiles',
        auth: USER,
        headers: json,
        payload: `{"name":"x","oauthAppId":${app.id},"refreshToken":"${secrets.add(rnd('BROKENJSON'))}"`,
      },
      400,
    );
    await ok(
      {
        method: 'POST',
        url: '/api/mgmt/oauthprofiles',
        auth: USER,
        headers: json,
        payload: `{"name":"x","oauthAppId":${app.id},"refreshToken":${secrets.add(rnd('UNQUOTED'))}}`,
      },
      400,
    );
    await ok(
      {
        method: 'POST',
        url: '/api/mgmt/oauthprofiles',
        auth: USER,
        payload: { name: 'bad name!', oauthAppId: app.id, refreshToken: secrets.add(rnd('BADNAME')) },
      },
      400,
    );
    await ok(
      {
        method: 'POST',
        url: '/api/mgmt/oauthprofiles',
        auth: USER,
        payload: { name: 'x', oauthAppId: app.id, refreshToken: 42, accessToken: secrets.add(rnd('WRONGTYPE')) },
      },
      400,
    );
    await ok(
      {
        method: 'POST',
        url: '/api/mgmt/oauthprofiles',
        auth: USER,
        payload: { name: 'x', oauthAppId: secrets.add(rnd('APPIDSECRET')), refreshToken: secrets.add(rnd('BADAPP')) },
      },
      400,
    );
    await ok(
      { method: 'POST', url: '/api/mgmt/oauthprofiles', auth: USER, payload: { name: 'x', oauthAppId: 999999, refreshToken: secrets.add(rnd('NOAPP')) } },
      400,
    );
    await ok(
      {
        method: 'POST',
        url: '/api/mgmt/oauthprofiles',
        auth: USER,
        payload: { name: 'x', oauthAppId: app.id, refreshToken: 'r', [secrets.add(rnd('EXTRAKEY'))]: secrets.add(rnd('EXTRAVALUE')) },
      },
      201,
    );
    await ok(
      { method: 'POST', url: '/api/mgmt/oauthprofiles', auth: USER, headers: { 'content-type': 'text/plain' }, payload: secrets.add(rnd('TEXTPLAIN')) },
      415,
    );
    await ok(
      {
        method: 'POST',
        url: '/api/mgmt/oauthprofiles',
        auth: USER,
        headers: json,
        payload: JSON.stringify({ name: 'big', oauthAppId: app.id, refreshToken: `${secrets.add(rnd('TOOBIG'))}${'x'.repeat(70 * 1024)}` }),
      },
      413,
    );
    await ok(
      {
        method: 'POST',
        url: '/api/mgmt/datasources',
        auth: USER,
        payload: { name: 'bad ds', dataStore: 54, options: { OAuthProfileId: secrets.add(rnd('NOTANID')), Password: secrets.add(rnd('OPTPASSWORD')) } },
      },
      400,
    );
    await ok(
      {
        method: 'POST',
        url: '/api/mgmt/oauthapps',
        auth: ADMIN,
        payload: {
          name: 'bad app',
          dataStore: 54,
          tenantId: 1,
          clientId: 'c',
          clientSecret: secrets.add(rnd('CLIENTSECRET')),
          authorizeURI: 'http://insecure.example.com/auth',
          tokenURI: 'https://oauth2.example.com/token',
        },
      },
      400,
    );
    await ok(
      {
        method: 'PUT',
        url: `/api/mgmt/oauthprofiles/${profile.id}`,
        auth: USER,
        payload: { id: profile.id + 1, name: 'leak_profile', oauthAppId: app.id, refreshToken: secrets.add(rnd('IDMISMATCH')) },
      },
      400,
    );
    // Credentials that fail while the body carries secrets.
    await ok(
      {
        method: 'POST',
        url: '/api/mgmt/oauthprofiles',
        auth: secrets.auth('d2cuser', secrets.add(`Bad-${rnd('')}-9`)),
        payload: { name: 'x', oauthAppId: app.id, refreshToken: secrets.add(rnd('UNAUTH')) },
      },
      401,
    );

    // A damaged row answers 500 (and is logged as an error) without a secret.
    const damagedSecret = secrets.add(rnd('DAMAGED'));
    const damaged = await ok(
      { method: 'POST', url: '/api/mgmt/oauthprofiles', auth: USER, payload: { name: 'damaged', oauthAppId: app.id, refreshToken: damagedSecret } },
      201,
    );
    const raw = new Database(join(h.dir, 'tokenkeep.db'));
    try {
      const v = (raw.prepare('SELECT refresh_token AS v FROM oauth_profiles WHERE id = ?').get(damaged.id) as { v: Buffer }).v;
      v[v.length - 1] ^= 1;
      raw.prepare('UPDATE oauth_profiles SET refresh_token = ? WHERE id = ?').run(v, damaged.id);
    } finally {
      raw.close();
    }
    await ok({ method: 'GET', url: `/api/mgmt/oauthprofiles/${damaged.id}`, auth: USER }, 500);
    await ok({ method: 'DELETE', url: `/api/mgmt/oauthprofiles/${profile.id}`, auth: USER }, 204);
    await ok({ method: 'DELETE', url: `/api/admin/users/${user.id}`, auth: ADMIN }, 204);

    // Console sessions (api.md §10): signed in, used with the cookie and the CSRF token (also wrongly), signed out.
    const session = sessionOf(await send(signInRequest('d2cuser', USER_PASSWORD)));
    secrets.add(session.id);
    secrets.add(session.csrfToken);
    await ok({ method: 'GET', url: '/api/mgmt/permissions', headers: withSession(session, false) }, 200);
    await ok({ method: 'GET', url: '/console/session', headers: withSession(session, false) }, 200);
    const dsBody = { name: 'console ds', dataStore: 54, options: { Password: secrets.add(rnd('CONSOLEOPT')) } };
    await ok({ method: 'POST', url: '/api/mgmt/datasources', headers: withSession(session), payload: dsBody }, 201);
    await ok({ method: 'POST', url: '/api/mgmt/datasources', headers: withSession(session, false), payload: dsBody }, 403);
    const wrongCsrf = { ...withSession(session, false), 'x-csrf-token': secrets.add(rnd('WRONGCSRF')) };
    await ok({ method: 'POST', url: '/api/mgmt/datasources', headers: wrongCsrf, payload: dsBody }, 403);
    await ok(
      { method: 'GET', url: '/api/mgmt/permissions', headers: { cookie: `${SESSION_COOKIE}=${secrets.add(randomBytes(32).toString('base64url'))}` } },
      401,
    );
    await ok(signInRequest('d2cuser', secrets.add(`Bad-${rnd('')}-9`)), 401);
    await ok({ method: 'POST', url: '/console/session', payload: { userName: 'd2cuser', password: secrets.add(rnd('EXTRAFIELD')), extra: 1 } }, 400);
    await ok({ method: 'DELETE', url: '/console/session', headers: withSession(session) }, 204);
    await ok({ method: 'GET', url: '/api/mgmt/permissions', headers: withSession(session, false) }, 401);

    const lines = log.lines();
    // The capture works and sees the workload: every request is logged, at info and below, as JSON.
    assert.ok(lines.length >= [...statuses.values()].reduce((a, b) => a + b, 0), `${lines.length} log lines`);
    const parsed = lines.map((l) => JSON.parse(l) as { level: number; msg: string; path?: string });
    assert.ok(parsed.some((l) => l.msg === 'request' && l.path === `/api/mgmt/oauthprofiles/${profile.id}`));
    assert.ok(
      parsed.some((l) => l.level >= 50),
      'the 500 was logged as an error',
    );
    assert.ok(statuses.get(500) === 1 && (statuses.get(401) ?? 0) >= 6 && (statuses.get(400) ?? 0) >= 10);
    assert.ok(secrets.values.size >= 40);
    for (const [i, line] of lines.entries()) secrets.assertAbsent(line, `log line ${i}`);
    assert.ok(!lines.join('\n').toLowerCase().includes('"authorization"') || lines.join('\n').includes('[redacted]'), 'no Authorization header is logged');
  });
});

describe('logs at level trace (real process)', { timeout: 300_000 }, () => {
  let dir: string;
  let server: Running | undefined;
  before(() => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'tokenkeep-leak-'));
  });
  after(() => {
    server?.kill();
    killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  test('stdout and stderr hold no secret after a small workload', async () => {
    const secrets = new Secrets();
    const adminPw = secrets.add(`Adm-${rnd('')}-1A`);
    const userPw = secrets.add(`Usr-${rnd('')}-1A`);
    server = await startServer({
      TOKENKEEP_DB: join(dir, 'tk.db'),
      TOKENKEEP_ADMIN_PASSWORD: adminPw,
      TOKENKEEP_USER_PASSWORD: userPw,
      TOKENKEEP_LOG_LEVEL: 'trace',
    });
    const ADMIN = secrets.auth('d2cadmin', adminPw);
    const USER = secrets.auth('d2cuser', userPw);
    const base = server.base;

    const app = await api(base, 'POST', '/api/mgmt/oauthapps', ADMIN, {
      name: 'leak app',
      dataStore: 54,
      tenantId: 1,
      clientId: 'cid',
      clientSecret: secrets.add(rnd('CLIENTSECRET')),
      authorizeURI: 'https://accounts.example.com/auth',
      tokenURI: 'https://oauth2.example.com/token',
    });
    assert.equal(app.status, 201, app.text);
    const profile = await api(base, 'POST', '/api/mgmt/oauthprofiles', USER, {
      name: 'p',
      oauthAppId: app.body.id,
      accessToken: secrets.add(rnd('ACCESS')),
      refreshToken: secrets.add(rnd('REFRESH')),
    });
    assert.equal(profile.status, 201, profile.text);
    const put = await api(base, 'PUT', `/api/mgmt/oauthprofiles/${profile.body.id}?user=d2cuser`, ADMIN, {
      name: 'p',
      oauthAppId: app.body.id,
      accessToken: secrets.add(rnd('ACCESS')),
      refreshToken: secrets.add(rnd('REFRESH')),
    });
    assert.equal(put.status, 200, put.text);
    assert.equal((await api(base, 'GET', `/api/mgmt/oauthprofiles/${profile.body.id}`, USER)).status, 200);
    const ds = await api(base, 'POST', '/api/mgmt/datasources', USER, { name: 'd', dataStore: 54, options: { Password: secrets.add(rnd('OPTPASSWORD')) } });
    assert.equal(ds.status, 201, ds.text);
    const created = await api(base, 'POST', '/api/admin/users', ADMIN, {
      userName: 'leaker',
      statusInfo: { status: 1 },
      passwordInfo: { password: secrets.add(`Lk-${rnd('')}-1A`) },
      permissions: { roles: [2] },
    });
    assert.equal(created.status, 201, created.text);
    assert.equal((await api(base, 'GET', '/api/mgmt/permissions', secrets.auth('d2cuser', secrets.add(`Bad-${rnd('')}-1A`)))).status, 401);
    const broken = await fetch(`${base}/api/mgmt/oauthprofiles`, {
      method: 'POST',
      headers: { authorization: USER, 'content-type': 'application/json' },
      body: `{"refreshToken":"${secrets.add(rnd('BROKENJSON'))}"`,
      signal: AbortSignal.timeout(30_000),
    });
    assert.equal(broken.status, 400);
    await broken.arrayBuffer();
    const invalid = await api(base, 'POST', '/api/mgmt/oauthprofiles', USER, {
      name: 'bad name',
      oauthAppId: app.body.id,
      refreshToken: secrets.add(rnd('INVALID')),
    });
    assert.equal(invalid.status, 400);

    // A console session: its id and CSRF token are secrets too.
    const signedIn = await fetch(`${base}/console/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userName: 'd2cuser', password: userPw }),
      signal: AbortSignal.timeout(30_000),
    });
    assert.equal(signedIn.status, 200);
    const csrfToken = secrets.add(((await signedIn.json()) as { csrfToken: string }).csrfToken);
    const cookie = secrets.add(signedIn.headers.getSetCookie()[0].split(';')[0]);
    secrets.add(cookie.slice(SESSION_COOKIE.length + 1));
    const consoleWrite = await fetch(`${base}/api/mgmt/datasources`, {
      method: 'POST',
      headers: { cookie, 'x-csrf-token': csrfToken, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'console', dataStore: 54 }),
      signal: AbortSignal.timeout(30_000),
    });
    assert.equal(consoleWrite.status, 201, await consoleWrite.text());
    const signedOut = await fetch(`${base}/console/session`, {
      method: 'DELETE',
      headers: { cookie, 'x-csrf-token': csrfToken },
      signal: AbortSignal.timeout(30_000),
    });
    assert.equal(signedOut.status, 204);

    const stopped = await server.stop();
    assert.deepEqual(stopped, { code: 0, signal: null });
    const output = server.output();
    // The master key generated on this first start is a secret too.
    secrets.add(readFileSync(join(dir, 'master.key'), 'utf8').trim());
    assert.match(output, /\/api\/mgmt\/oauthprofiles/, 'requests are logged');
    assert.match(output, /"msg":"request"/, 'each request is logged');
    assert.match(output, /"status":200/);
    const lines = output.split('\n');
    for (const [i, line] of lines.entries()) secrets.assertAbsent(line, `output line ${i}`);
  });
});

describe('token engine: no token or secret in logs, errors or statuses, even when the AS echoes them', () => {
  let h: Harness;
  let as: BadAuthorizationServer;
  const log = capture();
  const secrets = new Secrets();
  before(async () => {
    as = await startBadAuthorizationServer();
    h = await harness({
      logger: { level: 'trace', stream: log.stream, redact: { paths: redactPaths, censor: '[redacted]' } },
      allowLoopbackHttpUris: true,
      engine: { backoff: { baseMs: 5, capMs: 20, maxAttempts: 3 } },
    });
  });
  after(async () => {
    await h.close();
    await as.close();
  });

  test('refreshes that fail, succeed and die leave no secret anywhere', async () => {
    const admin = secrets.auth('d2cadmin', ADMIN_PASSWORD);
    const send = (opts: InjectOptions) => h.app.inject({ ...opts, headers: { ...(opts.headers ?? {}), authorization: admin } });
    const clientSecret = secrets.add(rnd('CS'));
    const refreshToken = secrets.add(rnd('RT'));
    const accessToken = secrets.add(rnd('AT'));
    const app = await send({
      method: 'POST',
      url: '/api/mgmt/oauthapps',
      payload: { name: rnd('a'), dataStore: 54, clientId: 'client', clientSecret, authorizeURI: as.origin + '/auth', tokenURI: as.tokenURI },
    });
    assert.equal(app.statusCode, 201, app.body);
    const profile = await send({
      method: 'POST',
      url: '/api/mgmt/oauthprofiles',
      payload: { name: rnd('p'), oauthAppId: JSON.parse(app.body).id, accessToken, refreshToken },
    });
    assert.equal(profile.statusCode, 201, profile.body);
    const id = JSON.parse(profile.body).id as number;
    const echo = 'the token {refresh_token} of client {client_secret} is malformed';
    as.script(
      answers.oauthError(400, 'invalid_request', echo),
      answers.oauthError(500, 'server_error', echo),
      answers.oauthError(400, 'invalid_request', echo),
    );
    const bodies: string[] = [];
    const failed = await send({ method: 'POST', url: `/api/mgmt/oauthprofiles/${id}/token` });
    assert.equal(failed.statusCode, 503, failed.body);
    bodies.push(failed.body);
    const status = await send({ method: 'GET', url: `/api/mgmt/oauthprofiles/${id}/status` });
    bodies.push(status.body);
    assert.equal(JSON.parse(status.body).lastError.error, 'invalid_request', 'the AS error is kept, its echo of the secrets is not');
    // After the pause the status names, a refresh that succeeds, then one the AS refuses with an echo.
    await h.store.tokens.recordFailure(id, JSON.parse(status.body).generation, 'nobody', {
      state: 'retrying',
      failures: 0,
      lastError: { error: 'x', description: null, httpStatus: null, at: new Date().toISOString() },
      nextRefreshAt: null,
      finished: true,
    });
    await h.store.tokens.mark(id, JSON.parse(status.body).generation, 'active', null);
    as.script(answers.tokens(), answers.errorIn200('invalid_grant', echo));
    const refreshed = await send({ method: 'POST', url: `/api/mgmt/oauthprofiles/${id}/token` });
    bodies.push(refreshed.body);
    for (const issued of as.issued()) {
      secrets.add(issued.accessToken);
      if (issued.refreshToken) secrets.add(issued.refreshToken);
    }
    const dead = await send({ method: 'POST', url: `/api/mgmt/oauthprofiles/${id}/token?minValidity=3600` });
    assert.equal(dead.statusCode, 409, dead.body);
    bodies.push(dead.body, (await send({ method: 'GET', url: `/api/mgmt/oauthprofiles/${id}/status` })).body);
    bodies.push((await send({ method: 'GET', url: '/api/mgmt/oauthprofiles/status' })).body);
    const lines = log.lines();
    assert.ok(
      lines.some((l) => l.includes('token refresh failed')),
      'the failures are logged',
    );
    assert.ok(
      lines.some((l) => l.includes('token refreshed')),
      'the success is logged',
    );
    for (const [i, line] of lines.entries()) secrets.assertAbsent(line, `log line ${i}`);
    for (const [i, body] of bodies.entries()) secrets.assertAbsent(body.replace(JSON.parse(refreshed.body).accessToken ?? '\u0000', ''), `answer ${i}`);
  });
});

describe('consent: no state, code, verifier or token in logs or pages', () => {
  let h: Harness;
  let as: BadAuthorizationServer;
  const log = capture();
  const secrets = new Secrets();
  before(async () => {
    as = await startBadAuthorizationServer();
    h = await harness({
      logger: { level: 'trace', stream: log.stream, redact: { paths: redactPaths, censor: '[redacted]' } },
      allowLoopbackHttpUris: true,
      publicUrl: 'http://127.0.0.1:7777',
    });
  });
  after(async () => {
    await h.close();
    await as.close();
  });

  test('connected, refused by the AS with an echo of the code, replayed and denied consents leave no secret anywhere', async () => {
    const admin = secrets.auth('d2cadmin', ADMIN_PASSWORD);
    const send = (opts: InjectOptions) => h.app.inject({ ...opts, headers: { ...(opts.headers ?? {}), authorization: admin } });
    const clientSecret = secrets.add(rnd('CS'));
    const app = await send({
      method: 'POST',
      url: '/api/mgmt/oauthapps',
      payload: { name: rnd('a'), dataStore: 54, clientId: 'client', clientSecret, authorizeURI: `${as.origin}/auth`, tokenURI: as.tokenURI },
    });
    assert.equal(app.statusCode, 201, app.body);
    const appId = JSON.parse(app.body).id as number;
    const bodies: string[] = [];
    /** Starts a consent; its state is a secret from now on. */
    const begin = async (): Promise<string> => {
      const res = await send({ method: 'POST', url: '/api/mgmt/oauthprofiles/authorize', payload: { oauthAppId: appId, name: rnd('c_') } });
      assert.equal(res.statusCode, 200, res.body);
      return secrets.add(new URL(JSON.parse(res.body).authorizationUrl).searchParams.get('state')!);
    };
    const back = async (query: Record<string, string>, status: number): Promise<void> => {
      const res = await h.app.inject({ method: 'GET', url: `/hdpui/oauth2callback?${new URLSearchParams(query).toString()}` });
      assert.equal(res.statusCode, status, res.body);
      bodies.push(res.body);
    };

    const state = await begin();
    const code = secrets.add(rnd('CODE'));
    await back({ state, code }, 200);
    await back({ state, code }, 400); // replayed
    const refusedCode = secrets.add(rnd('CODE'));
    as.script(answers.oauthError(400, 'invalid_grant', `the code ${refusedCode} of client {client_secret} expired`));
    await back({ state: await begin(), code: refusedCode }, 502);
    await back({ state: await begin(), error: 'access_denied' }, 403);
    for (const request of as.requests()) if (request.form.code_verifier) secrets.add(request.form.code_verifier);
    for (const issued of as.issued()) {
      secrets.add(issued.accessToken);
      if (issued.refreshToken) secrets.add(issued.refreshToken);
    }
    assert.equal(as.requests().length, 2, 'two code exchanges');
    const lines = log.lines();
    assert.ok(
      lines.some((l) => l.includes('consent completed')),
      'the success is logged',
    );
    assert.ok(
      lines.some((l) => l.includes('consent not completed') && l.includes('consentAsError')),
      'the refusal is logged',
    );
    assert.ok(secrets.values.size >= 10);
    for (const [i, line] of lines.entries()) secrets.assertAbsent(line, `log line ${i}`);
    for (const [i, body] of bodies.entries()) secrets.assertAbsent(body, `page ${i}`);
  });
});
