/**
 * Consent (api.md §9) through the real app against a real authorization server (oidc-provider: PKCE required,
 * offline_access, rotating refresh tokens, RFC 9207 iss) driven by HTTP through its login and consent screens, and the
 * scripted bad AS for the answers oidc-provider never gives. Runs on SQLite and on PostgreSQL.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../src/app.js';
import { FAST_HASH, basic, harness, DEFAULT_PASSWORD, USER_PASSWORD, type Harness } from '../helpers.js';
import { ADMIN, appBody, createApp, createProfile, createRole, createUser, expectStatus, json, profileBody } from '../oauth-support.js';
import { startAuthorizationServer, type AuthorizationServer } from './as-support.js';
import { answers, startBadAuthorizationServer, type BadAuthorizationServer } from './bad-as.js';
import { FAST, unique } from './engine-support.js';
import { onDatabase } from '../tamper-support.js';
import { PUBLIC_URL, REDIRECT_URI, callback, callbackUrl, consentApp, start, started, stateOf } from './consent-support.js';

const USER = 'd2cuser';
const token = (h: Harness, id: number, query = '', as = ADMIN): Promise<LightMyRequestResponse> =>
  h.call({ method: 'POST', url: `/api/mgmt/oauthprofiles/${id}/token${query}`, as });
const status = async (h: Harness, id: number, as = ADMIN) =>
  expectStatus(await h.call({ method: 'GET', url: `/api/mgmt/oauthprofiles/${id}/status`, as }), 200, 'status');
const profile = async (h: Harness, id: number, as = ADMIN) =>
  expectStatus(await h.call({ method: 'GET', url: `/api/mgmt/oauthprofiles/${id}`, as }), 200, 'profile');
const errorCode = (res: LightMyRequestResponse): number => json(res).error.code;

/** The page's error code ("Error code 223016400."), or undefined on a page without one. */
const pageCode = (res: LightMyRequestResponse): number | undefined => {
  const m = /Error code (\d+)\./.exec(res.body);
  return m ? Number(m[1]) : undefined;
};

/** A callback page with this status (and catalogue code, for a refusal). */
function assertPage(res: LightMyRequestResponse, statusCode: number, code?: number): void {
  assert.equal(res.statusCode, statusCode, `callback: expected ${statusCode}, got ${res.statusCode} ${res.body.slice(0, 600)}`);
  assert.match(String(res.headers['content-type']), /^text\/html; charset=utf-8/);
  assert.equal(pageCode(res), code, `the page names code ${code}: ${res.body}`);
}

/** The profile ids of a user's profiles named `name`. */
async function profilesNamed(h: Harness, name: string, as = ADMIN): Promise<number[]> {
  const list = expectStatus(await h.call({ method: 'GET', url: '/api/mgmt/oauthprofiles', as }), 200, 'list').profiles as { id: number; name: string }[];
  return list.filter((p) => p.name === name).map((p) => p.id);
}

/** The profile id a successful callback page names. */
const connectedId = (res: LightMyRequestResponse): number => {
  assertPage(res, 200);
  const m = /\(id (\d+)\)/.exec(res.body);
  assert.ok(m, `the page names the profile: ${res.body}`);
  return Number(m[1]);
};

describe('consent against a real authorization server (oidc-provider)', () => {
  let h: Harness;
  let as: AuthorizationServer;
  let appId: number;

  before(async () => {
    as = await startAuthorizationServer({ accessTokenTTL: 600, redirectUris: [REDIRECT_URI] });
    h = await harness({ allowLoopbackHttpUris: true, engine: FAST, publicUrl: PUBLIC_URL, outbox: { intervalMs: 20 } });
    // oidc-provider gives a refresh token for offline_access only with prompt=consent: the app's authorizeParams say so.
    appId = await consentApp(h, as, { issuer: as.issuer, authorizeParams: { prompt: 'consent' } });
  });
  after(async () => {
    await h?.close();
    await as?.close();
  });

  /** Start a new profile, go through the AS's login and consent, and answer the callback. */
  async function connect(name = unique('p_'), by = ADMIN, user?: string): Promise<{ name: string; res: LightMyRequestResponse }> {
    const url = started(await start(h, { oauthAppId: appId, name, description: 'by consent' }, by, user));
    const back = await as.authorize(url.href);
    return { name, res: await callback(h, back) };
  }

  test('the authorization URL carries every parameter, PKCE S256 and the app’s authorizeParams; the state lives 10 minutes', async () => {
    const res = await start(h, { oauthAppId: appId, name: unique('p_') });
    const body = expectStatus(res, 200, 'start');
    assert.deepEqual(Object.keys(body).sort(), ['authorizationUrl', 'expiresAt']);
    assert.equal(body.expiresAt, new Date(h.clock.now() + 600_000).toISOString(), 'by the app clock');
    const url = new URL(body.authorizationUrl);
    assert.equal(`${url.origin}${url.pathname}`, as.authorizeURI);
    const p = url.searchParams;
    assert.equal(p.get('response_type'), 'code');
    assert.equal(p.get('client_id'), as.client.clientId);
    assert.equal(p.get('redirect_uri'), REDIRECT_URI);
    assert.equal(p.get('scope'), 'openid offline_access');
    assert.equal(p.get('code_challenge_method'), 'S256');
    assert.match(p.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/, 'a SHA-256 in base64url');
    assert.equal(p.get('prompt'), 'consent');
    const state = stateOf(url);
    assert.ok(Buffer.from(state, 'base64url').length >= 16, 'at least 128 bits');
    // Stored as its SHA-256 only: no column of any consent state holds the state or the challenge's verifier.
    const rows = await onDatabase(h, (q) => q('SELECT * FROM consent_states', []));
    const digest = createHash('sha256').update(state).digest('hex');
    assert.equal(rows.filter((r) => r.state_digest === digest).length, 1, 'found by its digest');
    for (const row of rows) for (const v of Object.values(row)) assert.ok(!String(v).includes(state) && !Buffer.from(String(v)).includes(state));
    const other = stateOf(started(await start(h, { oauthAppId: appId, name: unique('p_') })));
    assert.notEqual(state, other);
    assert.notEqual(
      p.get('code_challenge'),
      new URL((await start(h, { oauthAppId: appId, name: unique('p_') })).json().authorizationUrl).searchParams.get('code_challenge'),
    );
  });

  test('the whole flow: a new profile with working tokens, owned by the user and refreshed by the engine', async () => {
    const before = as.tokenCalls();
    const { name, res } = await connect();
    const id = connectedId(res);
    assert.match(res.body, new RegExp(`The new OAuth profile ${name} \\(id ${id}\\) is connected`));
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers['referrer-policy'], 'no-referrer');
    assert.equal(res.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
    assert.equal(as.tokenCalls() - before, 1, 'one code exchange');
    const exchange = as.tokenRequests().at(-1)!;
    assert.equal(exchange.grantType, 'authorization_code');
    assert.equal(exchange.status, 200);

    const p = await profile(h, id);
    assert.equal(p.name, name);
    assert.equal(p.oauthAppId, appId);
    assert.equal(p.description, 'by consent');
    assert.equal(p.accessToken, exchange.issuedAccessToken);
    assert.equal(p.refreshToken, exchange.issuedRefreshToken);
    assert.equal(await as.isActive(p.refreshToken), true);
    const s = await status(h, id);
    assert.equal(s.state, 'active');
    assert.equal(s.generation, 1);
    assert.equal((await h.store.tokens.status(id))?.tokenOrigin, new URL(as.tokenURI).origin, 'pinned to the token URI’s origin');
    const expiresAt = Date.parse(s.expiresAt);
    assert.ok(expiresAt > Date.now() + 590_000 && expiresAt <= Date.now() + 601_000, `the expiry the AS gave: ${s.expiresAt}`);

    // Valid for 60 s more: returned as stored, no call.
    const calls = as.tokenCalls();
    assert.equal(expectStatus(await token(h, id), 200, 'token').accessToken, p.accessToken);
    assert.equal(as.tokenCalls(), calls, 'a valid token needs no call');
    // Not valid for an hour: the engine refreshes it with the consented refresh token.
    const refreshed = expectStatus(await token(h, id, '?minValidity=3600'), 200, 'refresh');
    const last = as.tokenRequests().at(-1)!;
    assert.equal(last.grantType, 'refresh_token');
    assert.equal(last.presentedRefreshToken, p.refreshToken);
    assert.equal(refreshed.accessToken, last.issuedAccessToken);
    assert.equal((await status(h, id)).generation, 2);
  });

  test('on behalf of a user: the user owns the profile, the caller created it; both reach it', async () => {
    const { res } = await connect(unique('p_'), ADMIN, USER);
    const id = connectedId(res);
    assert.equal((await profile(h, id, USER)).id, id, 'the owner reaches it');
    assert.equal((await profile(h, id, ADMIN)).id, id, 'the creator reaches it');
    const owner = (await h.store.tokens.status(id))!;
    assert.equal(owner.ownerId, (await h.store.users.byName(USER))!.id);
    assert.equal(owner.creatorId, (await h.store.users.byName(ADMIN))!.id);
  });

  test('re-consent into an existing profile after the grant was revoked: needs_reconsent → consent → active, same profile', async () => {
    const { res } = await connect();
    const id = connectedId(res);
    const before = await profile(h, id);
    const beforeStatus = await status(h, id);
    await as.revokeGrant(before.refreshToken);
    const dead = await token(h, id, '?minValidity=3600');
    assert.equal(dead.statusCode, 409, dead.body);
    assert.equal(errorCode(dead), 223009409);
    assert.equal((await status(h, id)).state, 'needs_reconsent');

    const url = started(await start(h, { profileId: id }));
    const again = await callback(h, await as.authorize(url.href));
    assert.equal(connectedId(again), id);
    assert.match(again.body, /is connected again/);
    const after = await profile(h, id);
    assert.equal(after.name, before.name, 'name kept');
    assert.equal(after.description, before.description, 'description kept');
    assert.notEqual(after.refreshToken, before.refreshToken);
    const s = await status(h, id);
    assert.equal(s.state, 'active');
    assert.equal(s.generation, beforeStatus.generation + 1);
    assert.equal(s.lastError, null);
    assert.ok(s.expiresAt !== null, 'the expiry is known');
    expectStatus(await token(h, id, '?minValidity=3600'), 200, 'the engine refreshes the new grant');
    assert.equal((await status(h, id)).state, 'active');
  });

  test('returnTo: a 303 to the path with the outcome in its query, connected or refused', async () => {
    const url = started(await start(h, { oauthAppId: appId, name: unique('p_'), returnTo: '/console/profiles?tab=new' }));
    const back = await as.authorize(url.href);
    const res = await callback(h, back);
    assert.equal(res.statusCode, 303, res.body);
    const location = String(res.headers.location);
    const m = /^\/console\/profiles\?tab=new&consent=connected&profileId=(\d+)$/.exec(location);
    assert.ok(m, location);
    assert.equal((await profile(h, Number(m[1]))).oauthAppId, appId);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers['referrer-policy'], 'no-referrer');
    // The same callback again: refused, still sent back (the state knew the returnTo only until it was used).
    const replay = await callback(h, back);
    assertPage(replay, 400, 223016400);

    const denied = started(await start(h, { oauthAppId: appId, name: unique('p_'), returnTo: '/console/' }));
    const deniedRes = await callback(h, await as.authorize(denied.href, { decision: 'deny' }));
    assert.equal(deniedRes.statusCode, 303);
    assert.equal(deniedRes.headers.location, '/console/?consent=error&error=223019403');
  });

  test('a replayed callback is refused; the code is exchanged once and one profile exists', async () => {
    const name = unique('p_');
    const url = started(await start(h, { oauthAppId: appId, name }));
    const back = await as.authorize(url.href);
    const before = as.tokenCalls();
    connectedId(await callback(h, back));
    const replay = await callback(h, back);
    assertPage(replay, 400, 223016400);
    assert.match(replay.body, /unknown or was already used/);
    assert.equal(as.tokenCalls() - before, 1, 'no second exchange');
    assert.equal((await profilesNamed(h, name)).length, 1);
  });

  test('an expired state (the app clock 10 minutes on) is refused and consumed; nothing is exchanged', async () => {
    const name = unique('p_');
    const url = started(await start(h, { oauthAppId: appId, name }));
    const back = await as.authorize(url.href);
    h.clock.advance(600);
    const before = as.tokenCalls();
    const res = await callback(h, back);
    assertPage(res, 400, 223016400);
    assert.match(res.body, /expired/);
    assert.equal(as.tokenCalls(), before);
    assert.deepEqual(await profilesNamed(h, name), []);
    assert.match((await callback(h, back)).body, /unknown or was already used/, 'consumed');
  });

  test('a state just inside its 10 minutes still completes', async () => {
    const url = started(await start(h, { oauthAppId: appId, name: unique('p_') }));
    const back = await as.authorize(url.href);
    h.clock.advance(599);
    connectedId(await callback(h, back));
  });

  test('completed signed in as another user: refused (403) and consumed; as the starter or the user it is for: connected', async () => {
    const name = unique('p_');
    const url = started(await start(h, { oauthAppId: appId, name }));
    const back = await as.authorize(url.href);
    const res = await callback(h, back, { authorization: basic(USER, USER_PASSWORD) });
    assertPage(res, 403, 223018403);
    assert.deepEqual(await profilesNamed(h, name), []);
    assert.match((await callback(h, back)).body, /unknown or was already used/, 'consumed');

    // Started by the administrator for d2cuser: either of them may complete it signed in.
    const forUser = started(await start(h, { oauthAppId: appId, name: unique('p_') }, ADMIN, USER));
    connectedId(await callback(h, await as.authorize(forUser.href), { authorization: basic(USER, USER_PASSWORD) }));
    const byAdmin = started(await start(h, { oauthAppId: appId, name: unique('p_') }));
    connectedId(await callback(h, await as.authorize(byAdmin.href), { authorization: basic(ADMIN, 'Admin-Passw0rd') }));
    // Wrong credentials are refused as anywhere (401), before the state is looked at: it stays usable.
    const kept = started(await start(h, { oauthAppId: appId, name: unique('p_') }));
    const keptBack = await as.authorize(kept.href);
    assertPage(await callback(h, keptBack, { authorization: basic(ADMIN, 'wrong-Passw0rd') }), 401, 223000401);
    connectedId(await callback(h, keptBack));
  });

  test('a state started on one node completes on another sharing the database', async () => {
    const second = await buildApp({ store: h.store, hashParams: FAST_HASH, clock: h.clock.now, allowLoopbackHttpUris: true, publicUrl: PUBLIC_URL });
    try {
      const name = unique('p_');
      const url = started(await start(h, { oauthAppId: appId, name }));
      const back = await as.authorize(url.href);
      const res = await second.inject({ method: 'GET', url: `${back.pathname}${back.search}` });
      const id = connectedId(res);
      assert.equal((await profile(h, id)).name, name, 'the first node reads what the second stored');
      assertPage(await callback(h, back), 400, 223016400);
    } finally {
      await second.close();
    }
  });

  test('two concurrent callbacks with one state: exactly one wins, one code exchange, one profile', async () => {
    const name = unique('p_');
    const url = started(await start(h, { oauthAppId: appId, name }));
    const back = await as.authorize(url.href);
    const before = as.tokenCalls();
    const results = await Promise.all([callback(h, back), callback(h, back), callback(h, back)]);
    assert.deepEqual(results.map((r) => r.statusCode).sort(), [200, 400, 400]);
    assert.equal(as.tokenCalls() - before, 1);
    assert.equal((await profilesNamed(h, name)).length, 1);
  });

  test('iss missing or wrong when the app names its issuer: refused, consumed, nothing exchanged', async () => {
    for (const change of [(u: URL) => u.searchParams.delete('iss'), (u: URL) => u.searchParams.set('iss', 'http://127.0.0.1:1/evil')]) {
      const name = unique('p_');
      const url = started(await start(h, { oauthAppId: appId, name }));
      const back = await as.authorize(url.href);
      assert.equal(back.searchParams.get('iss'), as.issuer, 'oidc-provider sends iss (RFC 9207)');
      change(back);
      const before = as.tokenCalls();
      assertPage(await callback(h, back), 400, 223017400);
      assert.equal(as.tokenCalls(), before);
      assert.deepEqual(await profilesNamed(h, name), []);
      back.searchParams.set('iss', as.issuer);
      assert.match((await callback(h, back)).body, /unknown or was already used/, 'consumed');
    }
  });

  test('error=access_denied from the AS: consumed, nothing changed', async () => {
    const name = unique('p_');
    const url = started(await start(h, { oauthAppId: appId, name }));
    const back = await as.authorize(url.href, { decision: 'deny' });
    assert.equal(back.searchParams.get('error'), 'access_denied');
    const before = as.tokenCalls();
    const res = await callback(h, back);
    assertPage(res, 403, 223019403);
    assert.match(res.body, /access_denied/);
    assert.equal(as.tokenCalls(), before);
    assert.deepEqual(await profilesNamed(h, name), []);
    assert.match((await callback(h, back)).body, /unknown or was already used/);
  });

  test('a name taken while the user consented: 409 explained on the page, consumed, the other profile untouched', async () => {
    const name = unique('p_');
    const url = started(await start(h, { oauthAppId: appId, name }));
    const back = await as.authorize(url.href);
    const other = await createProfile(h, ADMIN, profileBody(name, appId));
    const res = await callback(h, back);
    assertPage(res, 409, 223006409);
    assert.match(res.body, /A profile of that name already exists/);
    assert.match(res.body, new RegExp(`The name is already in use: OAuth profile ${name}`));
    assert.deepEqual(await profilesNamed(h, name), [other.id]);
    assert.equal((await profile(h, other.id)).refreshToken, profileBody(name, appId).refreshToken);
    assert.match((await callback(h, back)).body, /unknown or was already used/);
  });

  test('a name taken while the user consented, with a revocation URI: the tokens just obtained are revoked at the AS', async () => {
    const revoking = await consentApp(h, as, { issuer: as.issuer, authorizeParams: { prompt: 'consent' }, revocationURI: as.revocationURI });
    const name = unique('p_');
    const url = started(await start(h, { oauthAppId: revoking, name }));
    const back = await as.authorize(url.href);
    await createProfile(h, ADMIN, profileBody(name, revoking));
    assertPage(await callback(h, back), 409, 223006409);
    const issued = as
      .tokenRequests()
      .filter((r) => r.grantType === 'authorization_code')
      .at(-1)?.issuedRefreshToken;
    assert.ok(issued, 'the code was exchanged for a refresh token');
    for (let i = 0; (await as.isActive(issued)) && i < 200; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await as.isActive(issued), false, 'the unstored grant was revoked');
  });

  test('a re-consent whose profile was deleted meanwhile: a clear 404, nothing created', async () => {
    const { res } = await connect();
    const id = connectedId(res);
    const url = started(await start(h, { profileId: id }));
    const back = await as.authorize(url.href);
    expectStatus(await h.call({ method: 'DELETE', url: `/api/mgmt/oauthprofiles/${id}`, as: ADMIN }), 204);
    const gone = await callback(h, back);
    assertPage(gone, 404, 222207710);
    assert.match(gone.body, /The profile no longer exists/);
  });

  test('a HEAD of the callback (a link checker) does not consume the state', async () => {
    const url = started(await start(h, { oauthAppId: appId, name: unique('p_') }));
    const back = await as.authorize(url.href);
    const head = await h.app.inject({ method: 'HEAD', url: `${back.pathname}${back.search}` });
    assert.equal(head.statusCode, 405);
    connectedId(await callback(h, back));
  });
});

describe('consent: what is checked before any URL is made', () => {
  let h: Harness;
  let appId: number;
  let otherTenantApp: number;
  const limited = unique('creator');

  before(async () => {
    h = await harness({ allowLoopbackHttpUris: true, engine: FAST, publicUrl: PUBLIC_URL });
    appId = await consentApp(h, { tokenURI: 'https://as.example/token' }, { authorizeParams: { access_type: 'offline', prompt: 'consent' } });
    const tenant = expectStatus(
      await h.call({ method: 'POST', url: '/api/admin/tenants', as: ADMIN, payload: { name: unique('T '), parentTenant: 1 } }),
      201,
    ).id;
    otherTenantApp = (await createApp(h, ADMIN, appBody(unique('tenant app '), tenant))).id;
    // A user who may view and create profiles, but not modify them (no 3).
    const role = await createRole(h, 1, unique('role '), [1, 2, 11]);
    await createUser(h, limited, 1, [role]);
  });
  after(async () => h?.close());

  const code = (res: LightMyRequestResponse, status: number, c: number, message?: RegExp) => {
    assert.equal(res.statusCode, status, res.body);
    assert.equal(errorCode(res), c);
    if (message) assert.match(json(res).error.message.value, message);
  };

  test('the app’s authorizeParams (Google: access_type=offline, prompt=consent) are in the URL', async () => {
    const url = started(await start(h, { oauthAppId: appId, name: unique('p_') }));
    assert.equal(url.searchParams.get('access_type'), 'offline');
    assert.equal(url.searchParams.get('prompt'), 'consent');
    assert.equal(url.searchParams.get('scope'), 'openid offline_access');
  });

  test('exactly one of the two shapes, and each complete', async () => {
    code(await start(h, { oauthAppId: appId, name: unique('p_'), profileId: 1 }), 400, 222207007, /profileId/);
    code(await start(h, { profileId: 1, name: unique('p_') }), 400, 222207007, /profileId/);
    code(await start(h, { profileId: 1, description: 'x' }), 400, 222207007, /profileId/);
    code(await start(h, {}), 400, 222207007, /oauthAppId: required/);
    code(await start(h, { name: unique('p_') }), 400, 222207007, /oauthAppId: required/);
    code(await start(h, { oauthAppId: appId }), 400, 222207007, /name: required/);
    code(await start(h, { oauthAppId: '1', name: unique('p_') }), 400, 222207007);
  });

  test('name rules, app usable, profile reachable, a name in use', async () => {
    code(await start(h, { oauthAppId: appId, name: 'has space' }), 400, 222207007, /name/);
    code(await start(h, { oauthAppId: appId, name: 'x'.repeat(129) }), 400, 222207007, /name/);
    code(await start(h, { oauthAppId: 1_999_999_999, name: unique('p_') }), 400, 222207711);
    code(await start(h, { oauthAppId: otherTenantApp, name: unique('p_') }, USER), 400, 222207711);
    const mine = await createProfile(h, ADMIN, profileBody(unique('p_'), appId));
    code(await start(h, { profileId: mine.id }, USER), 404, 222207710);
    code(await start(h, { profileId: 1_999_999_999 }), 404, 222207710);
    const taken = await createProfile(h, USER, profileBody(unique('Taken_'), appId));
    const name = json(await h.call({ method: 'GET', url: `/api/mgmt/oauthprofiles/${taken.id}`, as: USER })).name as string;
    code(await start(h, { oauthAppId: appId, name: name.toLowerCase() }, USER), 409, 223006409);
    // Another user may use the name.
    started(await start(h, { oauthAppId: appId, name }, ADMIN));
  });

  test('permissions: 11 + 1 for a new profile, 11 + 3 for new tokens; ?user= as everywhere', async () => {
    const as: [string, string] = [limited, DEFAULT_PASSWORD];
    started(await start(h, { oauthAppId: appId, name: unique('p_') }, as));
    const own = await createProfile(h, as, profileBody(unique('p_'), appId));
    code(await start(h, { profileId: own.id }, as), 403, 222208103);
    code(await start(h, { oauthAppId: appId, name: unique('p_') }, USER, ADMIN), 403, 222208103);
    code(await start(h, { oauthAppId: appId, name: unique('p_') }, ADMIN, 'nobody-here'), 404, 223001404);
    code(await start(h, { oauthAppId: appId, name: unique('p_') }, [ADMIN, 'wrong']), 401, 223000401);
  });

  test('returnTo must be a path on this server: off-site, scheme, //, backslash and control characters are refused', async () => {
    for (const bad of [
      '//evil.example',
      '//evil.example/path',
      'https://evil.example',
      'https://evil.example/console',
      'javascript:alert(1)',
      '/\\evil.example',
      '\\\\evil.example',
      '/console//evil',
      '/ok/\t/evil',
      '/ok\n',
      'console/x',
      '/console#frag',
      '/console/é',
      '/console/ x',
      `/${'a'.repeat(2048)}`,
    ]) {
      code(await start(h, { oauthAppId: appId, name: unique('p_'), returnTo: bad }), 400, 222207007, /returnTo/);
    }
    for (const good of ['/', '/console/', '/console/profiles?tab=new&x=%2F', "/a/b;c=d/e-f_g.h~i!$&'()*+,=:@"]) {
      started(await start(h, { oauthAppId: appId, name: unique('p_'), returnTo: good }));
    }
  });

  test('without TOKENKEEP_PUBLIC_URL, starting is a 400 naming it, and the callback a page saying so', async () => {
    const off = await harness({ allowLoopbackHttpUris: true });
    try {
      const res = await start(off, { oauthAppId: 1, name: unique('p_') });
      code(res, 400, 223015400, /TOKENKEEP_PUBLIC_URL/);
      const page = await callback(off, callbackUrl({ state: 'x'.repeat(43), code: 'c' }));
      assertPage(page, 400, 223015400);
      assert.match(page.body, /TOKENKEEP_PUBLIC_URL/);
    } finally {
      await off.close();
    }
  });
});

describe('consent against a scripted authorization server', () => {
  let h: Harness;
  let bad: BadAuthorizationServer;
  let appId: number;

  before(async () => {
    bad = await startBadAuthorizationServer();
    h = await harness({ allowLoopbackHttpUris: true, engine: FAST, publicUrl: PUBLIC_URL });
    appId = await consentApp(h, bad, { clientAuth: 'client_secret_post' });
  });
  after(async () => {
    await h?.close();
    await bad?.close();
  });

  test('the exchange: authorization_code, the code, the redirect URI and the verifier whose S256 the URL carried; client_secret_post', async () => {
    const url = started(await start(h, { oauthAppId: appId, name: unique('p_') }));
    bad.script(answers.tokens({ expiresIn: 1234 }));
    const sent = Date.now();
    const id = connectedId(await callback(h, callbackUrl({ state: stateOf(url), code: 'the-code-0123' })));
    const request = bad.requests().at(-1)!;
    assert.equal(request.path, '/token');
    assert.equal(request.form.grant_type, 'authorization_code');
    assert.equal(request.form.code, 'the-code-0123');
    assert.equal(request.form.redirect_uri, REDIRECT_URI);
    assert.equal(request.form.client_id, 'consent-client');
    assert.equal(request.form.client_secret, 'consent-client-secret-0123456789');
    const verifier = request.form.code_verifier;
    assert.match(verifier, /^[A-Za-z0-9_-]{43,128}$/, 'RFC 7636 verifier');
    assert.equal(createHash('sha256').update(verifier).digest('base64url'), url.searchParams.get('code_challenge'));
    const s = await status(h, id);
    const expiresAt = Date.parse(s.expiresAt);
    assert.ok(expiresAt >= sent + 1_234_000 - 5 && expiresAt <= Date.now() + 1_234_000, s.expiresAt);
    const issued = bad.issued().at(-1)!;
    assert.equal((await profile(h, id)).refreshToken, issued.refreshToken);
  });

  test('an answer without refresh_token stores nothing, and the page says why', async () => {
    const name = unique('p_');
    const url = started(await start(h, { oauthAppId: appId, name }));
    bad.script(answers.noRefreshToken());
    const res = await callback(h, callbackUrl({ state: stateOf(url), code: 'c1' }));
    assertPage(res, 502, 223021502);
    assert.match(res.body, /no refresh token/);
    assert.match(res.body, /access_type=offline/);
    assert.deepEqual(await profilesNamed(h, name), []);
  });

  test('a refused exchange (invalid_grant) or an unreadable answer changes nothing; the page names the error, never the code', async () => {
    for (const answer of [answers.oauthError(400, 'invalid_grant', 'the code {refresh_token} expired'), answers.html502()]) {
      const name = unique('p_');
      const url = started(await start(h, { oauthAppId: appId, name }));
      bad.script(answer);
      const code = `secret-code-${unique('')}`;
      const res = await callback(h, callbackUrl({ state: stateOf(url), code }));
      assertPage(res, 502, 223020502);
      assert.ok(!res.body.includes(code), 'the code is not shown');
      assert.ok(!res.body.includes(bad.requests().at(-1)!.form.code_verifier), 'the verifier is not shown');
      assert.deepEqual(await profilesNamed(h, name), []);
    }
  });

  test('a callback without a code, or with a parameter twice, or no state: refused', async () => {
    const url = started(await start(h, { oauthAppId: appId, name: unique('p_') }));
    assertPage(await callback(h, callbackUrl({ state: stateOf(url) })), 400, 223016400);
    assertPage(await callback(h, `/hdpui/oauth2callback?state=${stateOf(url)}&state=${stateOf(url)}&code=x`), 400, 223016400);
    assertPage(await callback(h, '/hdpui/oauth2callback?code=x'), 400, 223016400);
    assertPage(await callback(h, '/hdpui/oauth2callback'), 400, 223016400);
  });

  test('an error other than access_denied is a 502 naming it; a strange one is not repeated', async () => {
    const url = started(await start(h, { oauthAppId: appId, name: unique('p_') }));
    const res = await callback(h, callbackUrl({ state: stateOf(url), error: 'temporarily_unavailable', error_description: '<b>down</b>' }));
    assertPage(res, 502, 223020502);
    assert.match(res.body, /temporarily_unavailable/);
    assert.ok(!res.body.includes('down'), 'the description of the query is not shown');
    const odd = started(await start(h, { oauthAppId: appId, name: unique('p_') }));
    const oddRes = await callback(h, callbackUrl({ state: stateOf(odd), error: '<script>x</script>' }));
    assertPage(oddRes, 502, 223020502);
    assert.ok(!oddRes.body.includes('script'), oddRes.body);
  });
});
