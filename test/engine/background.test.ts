/**
 * The background refresh (api.md §8.7) through the real app: proactive apps' profiles are refreshed before they
 * expire without anyone asking, one token-endpoint call per generation even with two nodes on one database, at most
 * `maxConcurrentRefreshes` calls per origin at once, and never for a profile no refresh may leave. Against a real
 * rotating authorization server (oidc-provider) and the scripted misbehaving one. Runs on SQLite and on PostgreSQL.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { harness, type Harness } from '../helpers.js';
import { ADMIN, appBody, createApp, createProfile, expectStatus, profileBody } from '../oauth-support.js';
import { startAuthorizationServer, type AuthorizationServer } from './as-support.js';
import { answers, startBadAuthorizationServer, type BadAuthorizationServer } from './bad-as.js';
import { FAST, unique } from './engine-support.js';

/** Looks every 20 ms instead of every second, so a test waits for tenths, not seconds. */
const QUICK = { intervalMs: 20, gapMs: 5 };

interface Status {
  state: string;
  generation: number;
  expiresAt: string | null;
  nextRefreshAt: string | null;
  failures: number;
  lastError: { error: string } | null;
}

const statusOf = async (h: Harness, id: number): Promise<Status> =>
  expectStatus(await h.call({ method: 'GET', url: `/api/mgmt/oauthprofiles/${id}/status`, as: ADMIN }), 200, 'status');

/** Polls the status until `done` holds, failing with the last status after `ms`. */
async function until(h: Harness, id: number, done: (s: Status) => boolean, ms = 10_000): Promise<Status> {
  const end = Date.now() + ms;
  for (;;) {
    const s = await statusOf(h, id);
    if (done(s)) return s;
    if (Date.now() > end) assert.fail(`profile ${id} never got there: ${JSON.stringify(s)}`);
    await sleep(20);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function setEngine(h: Harness, appId: number, settings: Record<string, unknown>): Promise<void> {
  expectStatus(await h.call({ method: 'PUT', url: `/api/mgmt/oauthapps/${appId}/engine`, as: ADMIN, payload: settings }), 200, 'engine settings');
}

describe('background refresh with a rotating authorization server', () => {
  let h: Harness;
  let as: AuthorizationServer;
  before(async () => {
    // Access tokens live 4 s: with a margin of 1 s a proactive profile is refreshed every 2–3 s.
    as = await startAuthorizationServer({ accessTokenTTL: 4 });
    h = await harness({ allowLoopbackHttpUris: true, engine: FAST, background: QUICK });
    await h.app.ready();
  });
  after(async () => {
    await h?.close();
    await as?.close();
  });

  const appFor = async (): Promise<number> =>
    (
      await createApp(
        h,
        ADMIN,
        appBody(unique('app'), 1, { tokenURI: as.tokenURI, authorizeURI: as.authorizeURI, clientId: as.client.clientId, clientSecret: as.client.clientSecret }),
      )
    ).id;
  const profileFor = async (appId: number, refreshToken?: string): Promise<number> => {
    const tokens = refreshToken === undefined ? await as.obtainTokens() : { accessToken: 'at-made-up', refreshToken };
    return (await createProfile(h, ADMIN, profileBody(unique('p'), appId, { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken }))).id;
  };

  test('a proactive profile is kept alive: refreshed before each expiry, one call per generation, no token request', async () => {
    const appId = await appFor();
    // Made before the app turns proactive: turning it on plans the profiles it already has.
    const profileId = await profileFor(appId);
    const calls = as.refreshCalls();
    await setEngine(h, appId, { proactive: true, refreshMargin: 1 });
    const s = await until(h, profileId, (x) => x.generation >= 4);
    assert.equal(s.state, 'active');
    // Planned ahead, before expiry: between half of the 4 s lifetime and the margin.
    assert.ok(s.expiresAt !== null && s.nextRefreshAt !== null, 'an expiry and a next refresh');
    assert.ok(Date.parse(s.nextRefreshAt) < Date.parse(s.expiresAt), 'refreshed before it expires');

    // Turned off: no more refreshes (one may still have been in flight: let it end before counting).
    await setEngine(h, appId, { proactive: false });
    await sleep(300);
    const stopped = await statusOf(h, profileId);
    assert.equal(stopped.nextRefreshAt, null);
    assert.equal(as.refreshCalls() - calls, stopped.generation - 1, 'one AS call per generation');
    assert.deepEqual(
      as.tokenRequests().filter((r) => r.error !== undefined),
      [],
      'no refused refresh at the AS',
    );
    await sleep(3_000);
    assert.equal((await statusOf(h, profileId)).generation, stopped.generation, 'no refresh after proactive was turned off');
  });

  test('a dead grant is not retried; a non-proactive app is left alone', async () => {
    const proactiveApp = await appFor();
    await setEngine(h, proactiveApp, { proactive: true, refreshMargin: 1 });
    const dead = await profileFor(proactiveApp, 'not-a-refresh-token-of-this-as');
    const s = await until(h, dead, (x) => x.state === 'needs_reconsent');
    assert.equal(s.lastError?.error, 'invalid_grant');
    assert.equal(s.nextRefreshAt, null);

    const quietApp = await appFor();
    const quiet = await profileFor(quietApp);
    const calls = as.tokenCalls();
    await sleep(500); // 25 looks
    assert.equal(as.tokenCalls(), calls, 'no call for a dead grant or a non-proactive app');
    assert.equal((await statusOf(h, quiet)).generation, 1);
    assert.equal((await statusOf(h, dead)).state, 'needs_reconsent');
  });

  test('two nodes on one database: every profile refreshed once per generation, never twice', async () => {
    // A second app on the same store is a second node: its own engine (its own lease owner) and its own background.
    const node2: FastifyInstance = await buildApp({ store: h.store, allowLoopbackHttpUris: true, engine: FAST, background: QUICK });
    await node2.ready();
    try {
      const appId = await appFor();
      const ids: number[] = [];
      for (let i = 0; i < 12; i++) ids.push(await profileFor(appId));
      const calls = as.refreshCalls();
      const errors = as.tokenRequests().filter((r) => r.error !== undefined).length;
      await setEngine(h, appId, { proactive: true, refreshMargin: 1, maxConcurrentRefreshes: 8 });
      await Promise.all(ids.map((id) => until(h, id, (x) => x.generation >= 3, 20_000)));
      await setEngine(h, appId, { proactive: false });
      await sleep(300); // the refreshes in flight end
      const statuses = await Promise.all(ids.map((id) => statusOf(h, id)));
      const bumps = statuses.reduce((n, s) => n + s.generation - 1, 0);
      assert.equal(as.refreshCalls() - calls, bumps, 'one AS call per profile and generation, across both nodes');
      // A second call with one refresh token would be invalid_grant at this rotating AS.
      assert.equal(as.tokenRequests().filter((r) => r.error !== undefined).length, errors, 'no invalid_grant: no refresh token used twice');
      for (const s of statuses) assert.equal(s.state, 'active');
    } finally {
      await node2.close();
    }
  });
});

describe('background refresh with a misbehaving authorization server', () => {
  let h: Harness;
  let bad: BadAuthorizationServer;
  before(async () => {
    bad = await startBadAuthorizationServer();
    h = await harness({ allowLoopbackHttpUris: true, engine: FAST, background: QUICK });
    await h.app.ready();
  });
  after(async () => {
    await h?.close();
    await bad?.close();
  });

  const appOn = async (settings: Record<string, unknown>): Promise<number> => {
    const app = await createApp(h, ADMIN, appBody(unique('app'), 1, { tokenURI: bad.tokenURI, authorizeURI: `${bad.origin}/authorize` }));
    await setEngine(h, app.id, settings);
    return app.id;
  };
  const profileOn = async (appId: number): Promise<number> =>
    (await createProfile(h, ADMIN, profileBody(unique('p'), appId, { accessToken: unique('at-'), refreshToken: unique('rt-') }))).id;

  test('at most maxConcurrentRefreshes calls to one origin at once', async () => {
    // Each answer waits 150 ms, with tokens that live an hour (no second round within the test).
    bad.script(...Array.from({ length: 6 }, () => answers.tokens({ delayMs: 150 })));
    const appId = await appOn({ proactive: true, maxConcurrentRefreshes: 2 });
    const before = bad.requests().length;
    const ids = [];
    for (let i = 0; i < 6; i++) ids.push(await profileOn(appId));
    for (const id of ids) await until(h, id, (x) => x.generation === 2);
    assert.equal(bad.requests().length - before, 6, 'one call per profile');
    assert.equal(bad.mostOpen(), 2, 'two calls at once, never more');
  });

  test('transient failures: retrying with a next attempt, then refreshed in the background when the AS is back', async () => {
    // FAST makes three attempts per refresh: the first refresh fails three times, the next one succeeds.
    bad.script(answers.unavailable(), answers.unavailable(), answers.unavailable(), answers.tokens());
    const appId = await appOn({ proactive: true });
    const id = await profileOn(appId);
    const retrying = await until(h, id, (x) => x.state === 'retrying' || x.generation === 2);
    if (retrying.state === 'retrying') assert.ok(retrying.nextRefreshAt !== null, 'a next attempt is planned');
    const s = await until(h, id, (x) => x.generation === 2);
    assert.equal(s.state, 'active');
    assert.equal(s.failures, 0);
    assert.equal(bad.pending().token, 0, 'all four answers were asked for');
  });
});
