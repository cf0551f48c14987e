/**
 * The token engine against a real authorization server (oidc-provider, rotating refresh tokens) and a misbehaving
 * one on loopback, through the real app: api.md §8.1–§8.6. Runs on SQLite and on PostgreSQL.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LightMyRequestResponse } from 'fastify';
import { harness, type Harness } from '../helpers.js';
import { ADMIN, appBody, createApp, createProfile, expectStatus, json, profileBody } from '../oauth-support.js';
import { startAuthorizationServer, type AuthorizationServer } from './as-support.js';
import { FAST, unique } from './engine-support.js';

const token = (h: Harness, id: number, query = '', as = ADMIN): Promise<LightMyRequestResponse> =>
  h.app.inject({ method: 'POST', url: `/api/mgmt/oauthprofiles/${id}/token${query}`, headers: { authorization: basicOf(as) } });
const basicOf = (as: string) => `Basic ${Buffer.from(`${as}:${as === ADMIN ? 'Admin-Passw0rd' : 'User-Passw0rd'}`).toString('base64')}`;
const status = async (h: Harness, id: number) =>
  expectStatus(await h.call({ method: 'GET', url: `/api/mgmt/oauthprofiles/${id}/status`, as: ADMIN }), 200, 'status');
const errorCode = (res: LightMyRequestResponse): number => json(res).error.code;

/** An app for the AS and a profile holding tokens obtained through its real login and consent screens. */
async function connect(h: Harness, as: AuthorizationServer): Promise<{ appId: number; profileId: number; refreshToken: string; accessToken: string }> {
  const app = await createApp(
    h,
    ADMIN,
    appBody(unique('app'), 1, { tokenURI: as.tokenURI, authorizeURI: as.authorizeURI, clientId: as.client.clientId, clientSecret: as.client.clientSecret }),
  );
  const tokens = await as.obtainTokens();
  assert.ok(tokens.refreshToken, 'the AS issued a refresh token');
  const profile = await createProfile(h, ADMIN, profileBody(unique('p'), app.id, { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken }));
  return { appId: app.id, profileId: profile.id, refreshToken: tokens.refreshToken, accessToken: tokens.accessToken };
}

describe('token engine with a rotating authorization server', () => {
  let h: Harness;
  let as: AuthorizationServer;
  before(async () => {
    as = await startAuthorizationServer({ accessTokenTTL: 600 });
    h = await harness({ allowLoopbackHttpUris: true, engine: FAST, outbox: { intervalMs: 20 } });
  });
  after(async () => {
    await h?.close();
    await as?.close();
  });

  test('a stored token of unknown expiry is refreshed once; a valid one is returned without a call', async () => {
    const c = await connect(h, as);
    const before = as.refreshCalls();
    const first = expectStatus(await token(h, c.profileId), 200, 'first token');
    assert.equal(as.refreshCalls() - before, 1, 'one refresh');
    assert.notEqual(first.accessToken, c.accessToken, 'a new access token');
    assert.equal(first.tokenType, 'Bearer');
    const expiresAt = Date.parse(first.expiresAt);
    assert.ok(expiresAt > Date.now() + 590_000 && expiresAt <= Date.now() + 601_000, `expiresAt ${first.expiresAt}`);
    const again = expectStatus(await token(h, c.profileId), 200, 'second token');
    assert.equal(again.accessToken, first.accessToken);
    assert.equal(as.refreshCalls() - before, 1, 'no call for a valid token');
    const s = await status(h, c.profileId);
    assert.equal(s.state, 'active');
    assert.equal(s.generation, 2);
    assert.equal(s.failures, 0);
    const stored = expectStatus(await h.call({ method: 'GET', url: `/api/mgmt/oauthprofiles/${c.profileId}`, as: ADMIN }), 200, 'profile');
    assert.equal(stored.accessToken, first.accessToken);
    assert.notEqual(stored.refreshToken, c.refreshToken, 'the rotated refresh token is stored');
    assert.equal(await as.isActive(c.refreshToken), false, 'the old refresh token is gone at the AS');
  });

  test('100 concurrent requests for an expiring token: one call to the AS, one token for all, and the chain goes on', async () => {
    const c = await connect(h, as);
    const before = as.refreshCalls();
    const all = await Promise.all(Array.from({ length: 100 }, () => token(h, c.profileId, '?minValidity=3600')));
    const tokens = new Set(all.map((r) => expectStatus(r, 200, 'concurrent token').accessToken));
    assert.equal(as.refreshCalls() - before, 1, 'exactly one refresh call');
    assert.equal(tokens.size, 1, 'every caller got the same token');
    const next = expectStatus(await token(h, c.profileId, '?minValidity=3600'), 200, 'the next refresh');
    assert.equal(as.refreshCalls() - before, 2);
    assert.notEqual(next.accessToken, [...tokens][0]);
    const errors = as.tokenRequests().filter((r) => r.error !== undefined);
    assert.deepEqual(errors, [], 'no invalid_grant anywhere');
  });

  test('a forced refresh within 10 s of the last is 429 with Retry-After', async () => {
    const c = await connect(h, as);
    expectStatus(await token(h, c.profileId), 200, 'refresh');
    const res = await token(h, c.profileId, '?force=true');
    assert.equal(res.statusCode, 429, res.body);
    assert.equal(errorCode(res), 223013429);
    assert.ok(Number(res.headers['retry-after']) >= 1);
  });

  test('a grant revoked at the AS: needs_reconsent, 409, and no further call until new tokens arrive', async () => {
    const c = await connect(h, as);
    await as.revokeGrant(c.refreshToken);
    const before = as.refreshCalls();
    const res = await token(h, c.profileId);
    assert.equal(res.statusCode, 409, res.body);
    assert.equal(errorCode(res), 223009409);
    assert.match(json(res).error.message.value, /invalid_grant/);
    const s = await status(h, c.profileId);
    assert.equal(s.state, 'needs_reconsent');
    assert.equal(s.lastError.error, 'invalid_grant');
    assert.ok(!JSON.stringify(s).includes(c.refreshToken), 'no token in the status');
    assert.equal(as.refreshCalls() - before, 1);
    assert.equal((await token(h, c.profileId)).statusCode, 409);
    assert.equal(as.refreshCalls() - before, 1, 'no call for a dead grant');
    // New tokens revive it.
    const fresh = await as.obtainTokens();
    const put = await h.call({
      method: 'PUT',
      url: `/api/mgmt/oauthprofiles/${c.profileId}`,
      as: ADMIN,
      payload: profileBody(unique('p'), c.appId, { accessToken: fresh.accessToken, refreshToken: fresh.refreshToken }),
    });
    expectStatus(put, 200, 'PUT new tokens');
    assert.equal((await status(h, c.profileId)).state, 'active');
    expectStatus(await token(h, c.profileId), 200, 'refresh after new tokens');
  });

  test('a PUT of a refresh token the engine rotated away is refused with 409; the current one is accepted', async () => {
    const c = await connect(h, as);
    expectStatus(await token(h, c.profileId), 200, 'refresh');
    const body = (refreshToken: string) => profileBody(unique('p'), c.appId, { accessToken: 'x', refreshToken });
    const stale = await h.call({ method: 'PUT', url: `/api/mgmt/oauthprofiles/${c.profileId}`, as: ADMIN, payload: body(c.refreshToken) });
    assert.equal(stale.statusCode, 409, stale.body);
    assert.equal(errorCode(stale), 223008409);
    const current = expectStatus(await h.call({ method: 'GET', url: `/api/mgmt/oauthprofiles/${c.profileId}`, as: ADMIN }), 200, 'profile');
    expectStatus(
      await h.call({ method: 'PUT', url: `/api/mgmt/oauthprofiles/${c.profileId}`, as: ADMIN, payload: body(current.refreshToken) }),
      200,
      'PUT current',
    );
  });

  test('a PUT during a refresh in flight wins: the refresh result is dropped and its new refresh token revoked', async () => {
    let release!: () => void;
    let arrived!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const seen = new Promise<void>((resolve) => (arrived = resolve));
    const slow = await startAuthorizationServer({
      beforeTokenResponse: async (call) => {
        if (call.grantType !== 'refresh_token') return;
        arrived();
        await held;
      },
    });
    try {
      const c = await connect(h, slow);
      expectStatus(
        await h.call({ method: 'PUT', url: `/api/mgmt/oauthapps/${c.appId}/engine`, as: ADMIN, payload: { revocationURI: slow.revocationURI } }),
        200,
        'engine settings with a revocation URI',
      );
      const pending = token(h, c.profileId);
      await seen;
      const fresh = await slow.obtainTokens();
      const put = await h.call({
        method: 'PUT',
        url: `/api/mgmt/oauthprofiles/${c.profileId}`,
        as: ADMIN,
        payload: profileBody(unique('p'), c.appId, { accessToken: fresh.accessToken, refreshToken: fresh.refreshToken }),
      });
      expectStatus(put, 200, 'PUT during the refresh');
      release();
      expectStatus(await pending, 200, 'the token request still answers');
      const refreshes = slow.tokenRequests().filter((r) => r.grantType === 'refresh_token');
      const held = refreshes.find((r) => r.presentedRefreshToken === c.refreshToken);
      assert.ok(held?.issuedRefreshToken, 'the held refresh was answered by the AS');
      const stored = expectStatus(await h.call({ method: 'GET', url: `/api/mgmt/oauthprofiles/${c.profileId}`, as: ADMIN }), 200, 'profile');
      assert.notEqual(stored.refreshToken, held.issuedRefreshToken, 'the dropped refresh did not overwrite the PUT');
      const next = refreshes.find((r) => r.presentedRefreshToken === fresh.refreshToken);
      assert.ok(next, "the PUT's token was refreshed next");
      assert.equal(stored.refreshToken, next.issuedRefreshToken, 'what the PUT token was refreshed into is stored');
      // §8.3: the dropped result's new refresh token is revoked at the AS (in the background: poll), the PUT's is not.
      for (let i = 0; (await slow.isActive(held.issuedRefreshToken)) && i < 100; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(await slow.isActive(held.issuedRefreshToken), false, "the dropped refresh's token was revoked");
      assert.equal(await slow.isActive(stored.refreshToken), true, 'the stored token still works');
    } finally {
      release();
      await slow.close();
    }
  });
});
