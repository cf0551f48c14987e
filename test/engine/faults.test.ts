/**
 * The token engine against an authorization server that misbehaves on cue (./bad-as.ts), and its outbound rules:
 * api.md §8.4–§8.6. Through the real app, on SQLite and on PostgreSQL.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LightMyRequestResponse } from 'fastify';
import { ADMIN_PASSWORD, basic, type Harness } from '../helpers.js';
import { ADMIN, appBody, createApp, createProfile, expectStatus, json, profileBody } from '../oauth-support.js';
import { answers, startBadAuthorizationServer, type BadAuthorizationServer } from './bad-as.js';
import { unique, withBadAs } from './engine-support.js';
import { flip, readColumn, withColumns } from '../tamper-support.js';

const token = (h: Harness, id: number, query = ''): Promise<LightMyRequestResponse> =>
  h.call({ method: 'POST', url: `/api/mgmt/oauthprofiles/${id}/token${query}`, as: ADMIN });
const status = async (h: Harness, id: number) =>
  expectStatus(await h.call({ method: 'GET', url: `/api/mgmt/oauthprofiles/${id}/status`, as: ADMIN }), 200, 'status');
const code = (res: LightMyRequestResponse): number => json(res).error.code;

async function connect(h: Harness, tokenURI: string, refreshToken = unique('RT-')): Promise<{ appId: number; profileId: number; refreshToken: string }> {
  const app = await createApp(h, ADMIN, appBody(unique('app'), 1, { tokenURI, clientSecret: 'client-SECRET-value' }));
  const profile = await createProfile(h, ADMIN, profileBody(unique('p'), app.id, { accessToken: unique('AT-'), refreshToken }));
  return { appId: app.id, profileId: profile.id, refreshToken };
}

describe('token engine against a misbehaving authorization server', () => {
  let h: Harness;
  let as: BadAuthorizationServer;
  withBadAs((harnessed, server) => {
    h = harnessed;
    as = server;
  });

  const accepted = [
    ['no expires_in: the app default (3600 s)', answers.noExpiresIn(), 3600],
    ['expires_in as a string', answers.expiresInString('1800'), 1800],
    ['a form-encoded answer', answers.formEncoded(), 3600],
  ] as const;
  for (const [label, answer, seconds] of accepted) {
    test(`${label} is read`, async () => {
      const c = await connect(h, as.tokenURI);
      as.script(answer);
      const res = expectStatus(await token(h, c.profileId), 200, label);
      const left = (Date.parse(res.expiresAt) - Date.now()) / 1000;
      assert.ok(left > seconds - 30 && left <= seconds, `expires in ${left} s`);
      const sent = as.requests().at(-1)!;
      assert.equal(sent.form.grant_type, 'refresh_token');
      assert.equal(sent.form.refresh_token, c.refreshToken);
      assert.equal(sent.basic?.clientSecret, 'client-SECRET-value', 'client_secret_basic by default');
    });
  }

  test('an answer without a refresh token keeps the stored one, which the next refresh sends again', async () => {
    const c = await connect(h, as.tokenURI);
    as.script(answers.noRefreshToken(), answers.tokens());
    expectStatus(await token(h, c.profileId), 200, 'first');
    expectStatus(await token(h, c.profileId, '?minValidity=3600'), 200, 'second');
    const [first, second] = as.requests().slice(-2);
    assert.equal(first.form.refresh_token, c.refreshToken);
    assert.equal(second.form.refresh_token, c.refreshToken, 'the same refresh token again');
  });

  test('a 200 whose body is invalid_grant: needs_reconsent, 409, no further call', async () => {
    const c = await connect(h, as.tokenURI);
    as.script(answers.errorIn200('invalid_grant', 'token {refresh_token} is revoked'));
    const before = as.requests().length;
    const res = await token(h, c.profileId);
    assert.equal(res.statusCode, 409, res.body);
    assert.equal(code(res), 223009409);
    const s = await status(h, c.profileId);
    assert.equal(s.state, 'needs_reconsent');
    assert.ok(!JSON.stringify(s).includes(c.refreshToken), `the AS's echo of the token is not kept: ${JSON.stringify(s.lastError)}`);
    assert.equal((await token(h, c.profileId)).statusCode, 409);
    assert.equal(as.requests().length - before, 1);
  });

  test('an HTML 502 three times: 3 attempts, then 503 with Retry-After and state retrying; no body kept', async () => {
    const c = await connect(h, as.tokenURI);
    as.script(answers.html502(), answers.html502(), answers.html502());
    const before = as.requests().length;
    const res = await token(h, c.profileId);
    assert.equal(res.statusCode, 503, res.body);
    assert.equal(code(res), 223014503);
    assert.ok(Number(res.headers['retry-after']) >= 1);
    assert.equal(as.requests().length - before, 3);
    const s = await status(h, c.profileId);
    assert.equal(s.state, 'retrying');
    assert.equal(s.failures, 1);
    assert.ok(s.nextRefreshAt !== null);
    assert.ok(!JSON.stringify(s).includes('nginx'), 'the HTML body is not kept');
  });

  test('503 then 200: the retry succeeds within the same request', async () => {
    const c = await connect(h, as.tokenURI);
    as.script(answers.unavailable(), answers.tokens());
    expectStatus(await token(h, c.profileId), 200, 'after one 503');
    assert.equal((await status(h, c.profileId)).state, 'active');
  });

  test('429 with Retry-After: no further call before it, 503 with that Retry-After', async () => {
    const c = await connect(h, as.tokenURI);
    as.script(answers.tooManyRequests(120));
    const before = as.requests().length;
    const res = await token(h, c.profileId);
    assert.equal(res.statusCode, 503, res.body);
    assert.ok(Number(res.headers['retry-after']) >= 100, `retry-after ${res.headers['retry-after']}`);
    assert.equal((await token(h, c.profileId)).statusCode, 503);
    assert.equal(as.requests().length - before, 1, 'no call before Retry-After');
  });

  test('a redirect to another origin is not followed: that listener sees no connection', async () => {
    const other = await startBadAuthorizationServer();
    try {
      const c = await connect(h, as.tokenURI);
      as.script(answers.redirect(other.tokenURI), answers.redirect(other.tokenURI), answers.redirect(other.tokenURI));
      assert.equal((await token(h, c.profileId)).statusCode, 503);
      assert.equal(other.connections(), 0);
    } finally {
      await other.close();
    }
  });

  test('a 70 KiB answer is refused as too large, its body never kept', async () => {
    const c = await connect(h, as.tokenURI);
    as.script(answers.oversize(), answers.oversize(), answers.oversize());
    assert.equal((await token(h, c.profileId)).statusCode, 503);
    assert.equal((await status(h, c.profileId)).lastError.error, 'response_too_large');
  });

  test('invalid_client: the app is in client_error, its profiles answer app_error, until the app is updated', async () => {
    const c = await connect(h, as.tokenURI);
    const sibling = await createProfile(h, ADMIN, profileBody(unique('p'), c.appId, { refreshToken: unique('RT-') }));
    as.script(answers.oauthError(401, 'invalid_client'));
    const res = await token(h, c.profileId);
    assert.equal(res.statusCode, 409, res.body);
    assert.equal(code(res), 223010409);
    const engine = expectStatus(await h.call({ method: 'GET', url: `/api/mgmt/oauthapps/${c.appId}/engine`, as: ADMIN }), 200, 'engine');
    assert.equal(engine.status.state, 'client_error');
    assert.equal((await status(h, sibling.id)).state, 'app_error', 'the sibling profile too');
    const before = as.requests().length;
    assert.equal((await token(h, sibling.id)).statusCode, 409);
    assert.equal(as.requests().length, before, 'no call while the client is refused');
    const app = expectStatus(await h.call({ method: 'GET', url: `/api/mgmt/oauthapps/${c.appId}`, as: ADMIN }), 200, 'app');
    const { id: _id, ...body } = app;
    expectStatus(
      await h.call({ method: 'PUT', url: `/api/mgmt/oauthapps/${c.appId}`, as: ADMIN, payload: { ...body, clientSecret: 'a-new-SECRET' } }),
      200,
      'new secret',
    );
    expectStatus(await token(h, sibling.id), 200, 'refreshes again');
  });

  test('client_secret_post sends the client credentials in the body, not in a Basic header', async () => {
    const c = await connect(h, as.tokenURI);
    expectStatus(
      await h.call({ method: 'PUT', url: `/api/mgmt/oauthapps/${c.appId}/engine`, as: ADMIN, payload: { clientAuth: 'client_secret_post' } }),
      200,
      'engine',
    );
    expectStatus(await token(h, c.profileId), 200, 'token');
    const sent = as.requests().at(-1)!;
    assert.equal(sent.basic, undefined);
    assert.equal(sent.form.client_secret, 'client-SECRET-value');
  });

  test('the token URI moved to another origin: origin_changed, and the refresh token goes nowhere', async () => {
    const other = await startBadAuthorizationServer();
    try {
      const c = await connect(h, as.tokenURI);
      const app = expectStatus(await h.call({ method: 'GET', url: `/api/mgmt/oauthapps/${c.appId}`, as: ADMIN }), 200, 'app');
      const { id: _id, ...body } = app;
      expectStatus(
        await h.call({ method: 'PUT', url: `/api/mgmt/oauthapps/${c.appId}`, as: ADMIN, payload: { ...body, tokenURI: other.tokenURI } }),
        200,
        'move',
      );
      const res = await token(h, c.profileId);
      assert.equal(res.statusCode, 409, res.body);
      assert.equal(code(res), 223011409);
      assert.equal((await status(h, c.profileId)).state, 'origin_changed');
      assert.equal(other.connections(), 0, 'no connection to the new origin');
      // New tokens are pinned to the new origin.
      expectStatus(
        await h.call({
          method: 'PUT',
          url: `/api/mgmt/oauthprofiles/${c.profileId}`,
          as: ADMIN,
          payload: profileBody(unique('p'), c.appId, { refreshToken: unique('RT-') }),
        }),
        200,
        'new tokens',
      );
      expectStatus(await token(h, c.profileId), 200, 'refresh at the new origin');
      assert.equal(other.requests().length, 1);
    } finally {
      await other.close();
    }
  });

  test('engine settings: defaults, a partial PUT resets the rest, bad URIs are 400, others may not manage them', async () => {
    const c = await connect(h, as.tokenURI);
    const url = `/api/mgmt/oauthapps/${c.appId}/engine`;
    const defaults = expectStatus(await h.call({ method: 'GET', url, as: ADMIN }), 200, 'defaults');
    assert.deepEqual(defaults, {
      clientAuth: 'client_secret_basic',
      defaultExpiresIn: 3600,
      refreshMargin: 300,
      proactive: false,
      maxConcurrentRefreshes: 4,
      revocationURI: null,
      issuer: null,
      authorizeParams: {},
      status: { state: 'ok', lastError: null },
    });
    const set = expectStatus(
      await h.call({ method: 'PUT', url, as: ADMIN, payload: { defaultExpiresIn: 600, authorizeParams: { access_type: 'offline' } } }),
      200,
      'put',
    );
    assert.equal(set.defaultExpiresIn, 600);
    const again = expectStatus(await h.call({ method: 'PUT', url, as: ADMIN, payload: { refreshMargin: 10 } }), 200, 'put again');
    assert.equal(again.defaultExpiresIn, 3600, 'a full replace');
    assert.deepEqual(again.authorizeParams, {});
    for (const payload of [
      { revocationURI: 'ftp://x.example/r' },
      { issuer: 'https://user@x.example' },
      { clientAuth: 'none' },
      { authorizeParams: { state: 'x' } },
    ]) {
      const res = await h.call({ method: 'PUT', url, as: ADMIN, payload });
      assert.equal(res.statusCode, 400, `${JSON.stringify(payload)}: ${res.body}`);
    }
    assert.equal((await h.call({ method: 'GET', url, as: 'd2cuser' })).statusCode, 403);
  });

  test('the status list shows the effective user’s profiles, filtered by state', async () => {
    const c = await connect(h, as.tokenURI);
    as.script(answers.errorIn200('invalid_grant'));
    await token(h, c.profileId);
    const all = expectStatus(await h.call({ method: 'GET', url: '/api/mgmt/oauthprofiles/status', as: ADMIN }), 200, 'list');
    assert.ok(all.profiles.some((p: { id: number }) => p.id === c.profileId));
    const dead = expectStatus(await h.call({ method: 'GET', url: '/api/mgmt/oauthprofiles/status?state=needs_reconsent', as: ADMIN }), 200, 'filtered');
    assert.ok(dead.profiles.length >= 1);
    assert.ok(dead.profiles.every((p: { state: string }) => p.state === 'needs_reconsent'));
    assert.ok(dead.profiles.some((p: { id: number }) => p.id === c.profileId));
    assert.equal((await h.call({ method: 'GET', url: '/api/mgmt/oauthprofiles/status?state=bogus', as: ADMIN })).statusCode, 400);
  });
});

describe('token engine: a lease holder that died mid-call', () => {
  let h: Harness;
  let as: BadAuthorizationServer;
  withBadAs((harnessed, server) => {
    h = harnessed;
    as = server;
  });

  /** A holder that claimed the lease and marked its call in flight, then vanished: its lease runs out at once. */
  async function dieMidCall(profileId: number): Promise<void> {
    const s = (await h.store.tokens.status(profileId))!;
    const claim = await h.store.tokens.claim(profileId, s.generation, 'dead-node:1:0', 1);
    assert.equal(claim.claimed, true);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }

  test('the next holder sends the same refresh token once; when it works, the profile is active', async () => {
    const c = await connect(h, as.tokenURI);
    await dieMidCall(c.profileId);
    as.script(answers.tokens());
    expectStatus(await token(h, c.profileId), 200, 'recovered');
    assert.equal(as.requests().at(-1)!.form.refresh_token, c.refreshToken);
    assert.equal((await status(h, c.profileId)).state, 'active');
  });

  test('when the AS refuses it, the rotation was lost: needs_reconsent with rotation_lost, after exactly one call', async () => {
    const c = await connect(h, as.tokenURI);
    await dieMidCall(c.profileId);
    as.script(answers.oauthError(400, 'invalid_grant'));
    const before = as.requests().length;
    const res = await token(h, c.profileId);
    assert.equal(res.statusCode, 409, res.body);
    const s = await status(h, c.profileId);
    assert.equal(s.state, 'needs_reconsent');
    assert.equal(s.lastError.error, 'rotation_lost');
    assert.equal(as.requests().length - before, 1);
  });
});

describe('token engine: a profile whose stored tokens are damaged', () => {
  let h: Harness;
  let as: BadAuthorizationServer;
  withBadAs((harnessed, server) => {
    h = harnessed;
    as = server;
  });

  test('500 secretUnreadable at once, every time: the lease goes back, nothing is sent, nobody waits for it', async () => {
    const c = await connect(h, as.tokenURI);
    const before = as.requests().length;
    const original = await readColumn(h, 'oauth_profiles', 'refresh_token', c.profileId);
    await withColumns(h, 'oauth_profiles', c.profileId, { refresh_token: flip(original, original.length - 1) }, async () => {
      for (let i = 0; i < 2; i++) {
        const started = Date.now();
        const res = await h.app.inject({
          method: 'POST',
          url: `/api/mgmt/oauthprofiles/${c.profileId}/token`,
          headers: { authorization: basic(ADMIN, ADMIN_PASSWORD) },
        });
        assert.equal(res.statusCode, 500, res.body);
        assert.equal(code(res), 223000520);
        assert.ok(Date.now() - started < 5_000, 'answered without waiting for a lease');
      }
      const s = (await h.store.tokens.status(c.profileId))!;
      assert.equal(s.lease, null, 'the lease was given back');
      assert.equal(s.inFlight, null, 'no call is marked in flight');
    });
    assert.equal(as.requests().length, before, 'nothing was sent');
    expectStatus(await token(h, c.profileId), 200, 'repaired: it refreshes normally');
  });
});

describe('token engine: outbound rules without the loopback flag', () => {
  let h: Harness;
  let as: BadAuthorizationServer;
  withBadAs((harnessed, server) => {
    h = harnessed;
    as = server;
  }, false);

  test('an https token URI on a loopback address is refused before connecting: 409, zero connections, the status says why', async () => {
    const port = new URL(as.tokenURI).port;
    const c = await connect(h, `https://127.0.0.1:${port}/token`);
    const res = await token(h, c.profileId);
    assert.equal(res.statusCode, 409, res.body);
    assert.equal(code(res), 223012409);
    assert.equal(as.connections(), 0);
    const s = await status(h, c.profileId);
    assert.equal(s.lastError.error, 'address_refused');
  });
});
