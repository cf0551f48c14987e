/**
 * Revocation at the AS when profiles are deleted (api.md §9): queued in the delete's own transaction, sent by the
 * outbox's worker (RFC 7009), retried while the AS is down, across a restart. Against a real authorization server
 * (oidc-provider: the revoked refresh token is dead there) and the scripted one. Runs on SQLite and on PostgreSQL.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { buildApp } from '../../src/app.js';
import { harness, type Harness } from '../helpers.js';
import { ADMIN, appBody, createApp, createProfile, expectStatus, profileBody } from '../oauth-support.js';
import { startAuthorizationServer, type AuthorizationServer } from './as-support.js';
import { startBadAuthorizationServer } from './bad-as.js';
import { FAST, unique } from './engine-support.js';

/** Looks every 20 ms and retries within milliseconds. */
const QUICK = { intervalMs: 20, backoff: { baseMs: 5, capMs: 20 } };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function eventually(what: string, check: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`never happened: ${what}`);
    await sleep(20);
  }
}

/** Every line the app logs, to look for tokens in. */
function capture(): { lines: string[]; stream: { write(line: string): void } } {
  const lines: string[] = [];
  return { lines, stream: { write: (line: string) => void lines.push(line) } };
}

describe('revocation of deleted profiles at a real authorization server', () => {
  let h: Harness;
  let as: AuthorizationServer;
  const log = capture();
  before(async () => {
    as = await startAuthorizationServer({ accessTokenTTL: 600 });
    h = await harness({ allowLoopbackHttpUris: true, engine: FAST, outbox: QUICK, logger: { level: 'info', stream: log.stream } });
  });
  after(async () => {
    await h?.close();
    await as?.close();
  });

  async function appWithRevocation(revocationURI: string | null): Promise<number> {
    const app = await createApp(
      h,
      ADMIN,
      appBody(unique('app'), 1, { tokenURI: as.tokenURI, authorizeURI: as.authorizeURI, clientId: as.client.clientId, clientSecret: as.client.clientSecret }),
    );
    expectStatus(await h.call({ method: 'PUT', url: `/api/mgmt/oauthapps/${app.id}/engine`, as: ADMIN, payload: { revocationURI } }), 200, 'engine');
    return app.id;
  }
  async function profileWithTokens(appId: number, user?: string): Promise<{ id: number; refreshToken: string; accessToken: string }> {
    const tokens = await as.obtainTokens();
    const body = profileBody(unique('p'), appId, { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken });
    const profile = await createProfile(h, ADMIN, body, user);
    return { id: profile.id, refreshToken: tokens.refreshToken!, accessToken: tokens.accessToken };
  }

  test('a deleted profile: 204 at once, then its refresh token is revoked at the AS and no longer refreshes', async () => {
    const appId = await appWithRevocation(as.revocationURI);
    const p = await profileWithTokens(appId);
    assert.equal(await as.isActive(p.refreshToken), true);
    expectStatus(await h.call({ method: 'DELETE', url: `/api/mgmt/oauthprofiles/${p.id}`, as: ADMIN }), 204, 'delete');
    await eventually('the refresh token is revoked', async () => !(await as.isActive(p.refreshToken)));
    const refresh = await as.refresh(p.refreshToken);
    assert.equal(refresh.status, 400);
    assert.equal(refresh.body.error, 'invalid_grant');
    await eventually('the outbox is empty', async () => (await h.store.revocations.count()) === 0);
    const text = log.lines.join('\n');
    assert.match(text, /tokens of a deleted profile revoked/);
    for (const secret of [p.refreshToken, p.accessToken, as.client.clientSecret]) assert.equal(text.includes(secret), false, 'no token or secret in the log');
  });

  test("an app's or an owner's deletion revokes every profile's tokens; an app without a revocation URI queues nothing", async () => {
    const appId = await appWithRevocation(as.revocationURI);
    const [a, b] = [await profileWithTokens(appId), await profileWithTokens(appId)];
    expectStatus(await h.call({ method: 'DELETE', url: `/api/mgmt/oauthapps/${appId}`, as: ADMIN }), 204, 'delete app');
    await eventually('both refresh tokens are revoked', async () => !(await as.isActive(a.refreshToken)) && !(await as.isActive(b.refreshToken)));

    // A user's deletion takes the profiles it owns: revoked too.
    const userName = unique('owner');
    const created = await h.call({
      method: 'POST',
      url: '/api/admin/users',
      as: ADMIN,
      payload: { userName, statusInfo: { status: 1 }, passwordInfo: { password: 'Owner-Passw0rd!' }, permissions: { roles: [2] } },
    });
    const user = expectStatus(created, 201, 'create user');
    const owned = await profileWithTokens(await appWithRevocation(as.revocationURI), userName);
    expectStatus(await h.call({ method: 'DELETE', url: `/api/admin/users/${user.id}`, as: ADMIN }), 204, 'delete user');
    await eventually("the deleted user's refresh token is revoked", async () => !(await as.isActive(owned.refreshToken)));

    const quiet = await appWithRevocation(null);
    const c = await profileWithTokens(quiet);
    expectStatus(await h.call({ method: 'DELETE', url: `/api/mgmt/oauthprofiles/${c.id}`, as: ADMIN }), 204, 'delete');
    assert.equal(await h.store.revocations.count(), 0, 'nothing queued');
    await sleep(200);
    assert.equal(await as.isActive(c.refreshToken), true, 'not revoked');
  });
});

describe('revocation while the AS is down, across a restart', () => {
  let h: Harness;
  before(async () => {
    h = await harness({ allowLoopbackHttpUris: true, engine: FAST });
  });
  after(async () => h?.close());

  test('the queued revocation survives the node that could not send it and is sent when the AS is back', async () => {
    // A loopback port with nothing listening yet: the AS is "down" (connection refused).
    const port = await freePort();
    const down = `http://127.0.0.1:${port}`;
    const app = await createApp(h, ADMIN, appBody(unique('app'), 1, { tokenURI: `${down}/token`, authorizeURI: `${down}/authorize` }));
    expectStatus(
      await h.call({ method: 'PUT', url: `/api/mgmt/oauthapps/${app.id}/engine`, as: ADMIN, payload: { revocationURI: `${down}/revoke` } }),
      200,
      'engine',
    );
    const [refreshToken, accessToken] = [unique('rt-'), unique('at-')];
    const profile = await createProfile(h, ADMIN, profileBody(unique('p'), app.id, { accessToken, refreshToken }));
    expectStatus(await h.call({ method: 'DELETE', url: `/api/mgmt/oauthprofiles/${profile.id}`, as: ADMIN }), 204, 'delete');
    assert.equal(await h.store.revocations.count(), 1, 'queued in the delete');

    // A first node tries while the AS is down, then stops (a restart).
    const log = capture();
    const first = await buildApp({ store: h.store, allowLoopbackHttpUris: true, outbox: QUICK, logger: { level: 'info', stream: log.stream } });
    await first.ready();
    await eventually('two failed attempts', () => log.lines.filter((l) => l.includes('revocation failed')).length >= 2);
    await first.close();
    assert.equal(await h.store.revocations.count(), 1, 'still queued after the restart');
    assert.equal(log.lines.join('\n').includes(refreshToken), false, 'no token in the log');

    // The AS comes back; the next node sends it.
    const bad = await startBadAuthorizationServer(port);
    const second = await buildApp({ store: h.store, allowLoopbackHttpUris: true, outbox: QUICK });
    await second.ready();
    try {
      await eventually('the outbox is empty', async () => (await h.store.revocations.count()) === 0);
      const sent = bad.requests().filter((r) => r.path === '/revoke');
      assert.deepEqual(
        sent.map((r) => [r.form.token, r.form.token_type_hint]),
        [
          [refreshToken, 'refresh_token'],
          [accessToken, 'access_token'],
        ],
      );
      assert.equal(sent[0].basic?.clientId, `client-${app.name}`, "the app's client authentication");
    } finally {
      await second.close();
      await bad.close();
    }
  });
});

/** A loopback port free at the moment (listened on, then released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
