/**
 * `GET /api/metrics` (api.md §8.8) through the real app, on SQLite and on PostgreSQL: who may scrape, the exposition
 * format, HTTP requests counted by route pattern, refreshes counted by outcome against a misbehaving authorization
 * server (test/engine/bad-as.ts), and a workload of distinctive secrets and user names that must not reach a scrape.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { ADMIN_PASSWORD, DEFAULT_PASSWORD, basic, harness, type Harness } from '../helpers.js';
import { ADMIN, appBody, createApp, createProfile, createRole, createUser, expectStatus, json, profileBody } from '../oauth-support.js';
import { answers, type BadAuthorizationServer } from '../engine/bad-as.js';
import { unique, withBadAs } from '../engine/engine-support.js';
import { Metrics, REFRESH_OUTCOMES, TOKEN_STATES } from '../../src/engine/metrics.js';

const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';
const ENGINE_METRICS = {
  tokenkeep_refreshes_total: 'counter',
  tokenkeep_refresh_duration_seconds: 'histogram',
  tokenkeep_refreshes_in_flight: 'gauge',
  tokenkeep_http_requests_total: 'counter',
  tokenkeep_http_request_duration_seconds: 'histogram',
} as const;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Scrape {
  text: string;
  types: Map<string, string>;
  samples: Sample[];
  /** the sample's value; undefined when the scrape has no such series */
  at(name: string, labels?: Record<string, string>): number | undefined;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;

/**
 * A strict reader of the text format 0.0.4: every line is a HELP, a TYPE, or a sample of a family whose TYPE came
 * before it (a histogram's samples are its _bucket, _sum and _count), with well-formed labels and a number.
 */
function parseExposition(text: string): Scrape {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
      assert.ok(m, `a comment is HELP or TYPE: ${line}`);
      assert.match(m[2], METRIC_NAME, line);
      if (m[1] === 'TYPE') {
        assert.match(m[3], /^(counter|gauge|histogram|summary|untyped)$/, line);
        assert.ok(!types.has(m[2]), `one TYPE per family: ${line}`);
        types.set(m[2], m[3]);
      }
      continue;
    }
    const m = SAMPLE.exec(line);
    assert.ok(m, `a sample line: ${line}`);
    const [, name, labelText = '', valueText] = m;
    const labels: Record<string, string> = {};
    LABEL.lastIndex = 0;
    while (LABEL.lastIndex < labelText.length) {
      const l = LABEL.exec(labelText);
      assert.ok(l, `well-formed labels: ${line}`);
      labels[l[1]] = l[2];
    }
    // Prometheus reads values with Go's ParseFloat, which takes NaN in any case: prom-client writes `Nan` (an event
    // loop lag with no sample yet).
    const value = valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : /^nan$/i.test(valueText) ? NaN : Number(valueText);
    assert.ok(/^nan$/i.test(valueText) || !Number.isNaN(value), `a number: ${line}`);
    const family = [name, name.replace(/_(bucket|sum|count)$/, '')].find((f) => types.has(f));
    assert.ok(family, `${name} follows the TYPE of its family`);
    if (name !== family) assert.equal(types.get(family), 'histogram', line);
    samples.push({ name, labels, value });
  }
  const same = (a: Record<string, string>, b: Record<string, string>) =>
    Object.keys(a).length === Object.keys(b).length && Object.entries(b).every(([k, v]) => a[k] === v);
  return { text, types, samples, at: (name, labels = {}) => samples.find((s) => s.name === name && same(s.labels, labels))?.value };
}

async function scrape(h: Harness): Promise<Scrape> {
  const res = await h.call({ method: 'GET', url: '/api/metrics', as: ADMIN });
  assert.equal(res.statusCode, 200, res.body);
  return parseExposition(res.body);
}

/** How much a series moved between two scrapes (a series that appeared counts from 0). */
const moved = (before: Scrape, after: Scrape, name: string, labels: Record<string, string> = {}): number =>
  (after.at(name, labels) ?? 0) - (before.at(name, labels) ?? 0);

const requests = (route: string, method: string, status: number) => ({ route, method, status: String(status) });

describe('GET /api/metrics', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(async () => h?.close());

  test('401 without credentials or with wrong ones, in the HDP envelope, no-store', async () => {
    for (const headers of [{}, { authorization: basic(ADMIN, 'not-the-password') }]) {
      const res = await h.app.inject({ method: 'GET', url: '/api/metrics', headers });
      assert.equal(res.statusCode, 401, res.body);
      assert.equal(json(res).error.code, 223000401);
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.doesNotMatch(res.body, /tokenkeep_/);
    }
  });

  test('403 for everyone without Administrator (12), even holding every other permission; Administrator alone suffices', async () => {
    const allBut12 = [...Array.from({ length: 21 }, (_, i) => i + 1), 25, 26, 27, 28, 29].filter((p) => p !== 12);
    const everything = await createRole(h, 1, unique('all-but-admin'), allBut12);
    const adminOnly = await createRole(h, 1, unique('admin-only'), [12]);
    const denied: [string, string][] = [
      ['d2cuser', 'the default User role'],
      [await userWith('tenantadmin', [3]), 'the Tenant Administrator role'],
      [await userWith('allbut12', [everything]), 'every permission but 12'],
    ];
    for (const [user, why] of denied) {
      const res = await h.call({ method: 'GET', url: '/api/metrics', as: user });
      assert.equal(res.statusCode, 403, `${why}: ${res.body}`);
      assert.equal(json(res).error.code, 222208103);
      assert.doesNotMatch(res.body, /tokenkeep_/);
    }
    const onlyAdmin = await userWith('only12', [adminOnly]);
    const res = await h.call({ method: 'GET', url: '/api/metrics', as: onlyAdmin });
    assert.equal(res.statusCode, 200, res.body);
  });

  async function userWith(tag: string, roles: number[]): Promise<string> {
    const userName = unique(tag);
    await createUser(h, userName, 1, roles);
    return userName;
  }

  test('Prometheus text 0.0.4, no-store, every tokenkeep metric and the process metrics declared with their type', async () => {
    const res = await h.call({ method: 'GET', url: '/api/metrics', as: ADMIN });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], PROMETHEUS_TEXT);
    assert.equal(res.headers['cache-control'], 'no-store');
    const s = parseExposition(res.body);
    for (const [family, type] of Object.entries(ENGINE_METRICS)) assert.equal(s.types.get(family), type, family);
    assert.equal(s.types.get('process_cpu_user_seconds_total'), 'counter', 'the Node process metrics');
    assert.equal(s.types.get('nodejs_eventloop_lag_seconds'), 'gauge');
    // Every outcome has a series from the start, so that rate() sees a 0 rather than nothing.
    for (const outcome of REFRESH_OUTCOMES) {
      assert.equal(s.at('tokenkeep_refreshes_total', { outcome }), 0, outcome);
      assert.equal(s.at('tokenkeep_refresh_duration_seconds_count', { outcome }), 0, outcome);
    }
    assert.equal(s.at('tokenkeep_refreshes_in_flight'), 0);
    assert.equal(res.body.split('\n').filter((l) => l.startsWith('# TYPE process_cpu_user_seconds_total')).length, 1, 'one process registry, once');
  });

  test('HEAD answers the headers without a body', async () => {
    const res = await h.app.inject({ method: 'HEAD', url: '/api/metrics', headers: { authorization: basic(ADMIN, ADMIN_PASSWORD) } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], PROMETHEUS_TEXT);
    assert.equal(res.body, '');
  });

  test('requests are counted by route pattern, method and status, and timed; what matched no route is one label', async () => {
    const admin = { authorization: basic(ADMIN, ADMIN_PASSWORD) };
    const before = await scrape(h);
    const answered: LightMyRequestResponse[] = [
      await h.app.inject({ method: 'GET', url: '/api/mgmt/permissions', headers: admin }),
      await h.app.inject({ method: 'GET', url: '/api/mgmt/permissions/', headers: admin }),
      await h.app.inject({ method: 'GET', url: '/api/mgmt/permissions' }),
      await h.app.inject({ method: 'GET', url: '/api/mgmt/oauthprofiles/987654', headers: admin }),
      await h.app.inject({ method: 'GET', url: '/api/mgmt/oauthprofiles/987655', headers: admin }),
      await h.app.inject({ method: 'GET', url: '/api/nothing/here', headers: admin }),
      await h.app.inject({ method: 'GET', url: '/api/nothing/else', headers: admin }),
      await h.app.inject({ method: 'DELETE', url: '/api/admin/users', headers: admin }),
    ];
    assert.deepEqual(
      answered.map((r) => r.statusCode),
      [200, 200, 401, 404, 404, 404, 404, 405],
    );
    const after = await scrape(h);
    const total = 'tokenkeep_http_requests_total';
    assert.equal(moved(before, after, total, requests('/api/mgmt/permissions', 'GET', 200)), 2, 'a trailing slash is the same route');
    assert.equal(moved(before, after, total, requests('/api/mgmt/permissions', 'GET', 401)), 1);
    assert.equal(moved(before, after, total, requests('/api/mgmt/oauthprofiles/:id', 'GET', 404)), 2, 'two ids, one series');
    assert.equal(moved(before, after, total, requests('unmatched', 'GET', 404)), 2, 'two unknown paths, one series');
    assert.equal(moved(before, after, total, requests('unmatched', 'DELETE', 405)), 1);
    assert.equal(moved(before, after, total, requests('/api/metrics', 'GET', 200)), 1, 'the scrape before counts itself');
    const timing = { route: '/api/mgmt/permissions', method: 'GET' };
    assert.equal(moved(before, after, 'tokenkeep_http_request_duration_seconds_count', timing), 3);
    assert.ok(moved(before, after, 'tokenkeep_http_request_duration_seconds_sum', timing) > 0, 'the time is added');
    assert.equal(moved(before, after, 'tokenkeep_http_request_duration_seconds_bucket', { ...timing, le: '+Inf' }), 3, 'every request is in the +Inf bucket');
    const routes = new Set(after.samples.filter((s) => s.name === total).map((s) => s.labels.route));
    assert.ok(!routes.has('/api/nothing/here') && ![...routes].some((r) => /\d{6}/.test(r)), `no raw URL: ${[...routes].join(' ')}`);
  });
});

describe('refreshes by outcome against a misbehaving authorization server', () => {
  let h: Harness;
  let as: BadAuthorizationServer;
  withBadAs((harnessed, server) => {
    h = harnessed;
    as = server;
  });

  async function connect(tokenURI = as.tokenURI): Promise<{ appId: number; profileId: number }> {
    const app = await createApp(h, ADMIN, appBody(unique('app'), 1, { tokenURI }));
    const profile = await createProfile(h, ADMIN, profileBody(unique('p'), app.id, { refreshToken: unique('RT-') }));
    return { appId: app.id, profileId: profile.id };
  }
  const token = (profileId: number) => h.call({ method: 'POST', url: `/api/mgmt/oauthprofiles/${profileId}/token`, as: ADMIN });

  /** One refresh with `script` as the AS's answers: the HTTP status, and exactly one outcome counted and timed. */
  async function refreshCounts(outcome: string, status: number, ...script: Parameters<BadAuthorizationServer['script']>): Promise<void> {
    const { profileId } = await connect();
    as.script(...script);
    const before = await scrape(h);
    const res = await token(profileId);
    assert.equal(res.statusCode, status, res.body);
    const after = await scrape(h);
    for (const o of REFRESH_OUTCOMES) {
      assert.equal(moved(before, after, 'tokenkeep_refreshes_total', { outcome: o }), o === outcome ? 1 : 0, `${outcome}: the ${o} counter`);
      assert.equal(moved(before, after, 'tokenkeep_refresh_duration_seconds_count', { outcome: o }), o === outcome ? 1 : 0, `${outcome}: the ${o} timing`);
    }
    assert.ok(moved(before, after, 'tokenkeep_refresh_duration_seconds_sum', { outcome }) > 0);
    assert.equal(after.at('tokenkeep_refreshes_in_flight'), 0);
    assert.equal(moved(before, after, 'tokenkeep_http_requests_total', requests('/api/mgmt/oauthprofiles/:id/token', 'POST', status)), 1);
  }

  test('success', () => refreshCounts('success', 200, answers.tokens()));
  test('invalid_grant: reconsent', () => refreshCounts('reconsent', 409, answers.oauthError(400, 'invalid_grant')));
  test('invalid_client: client_error', () => refreshCounts('client_error', 409, answers.oauthError(401, 'invalid_client')));
  test('three HTML 502s: one refresh, unavailable', () => refreshCounts('unavailable', 503, answers.html502(), answers.html502(), answers.html502()));
  test('429: unavailable', () => refreshCounts('unavailable', 503, answers.tooManyRequests(60)));
  test('503 then tokens: one refresh, success', () => refreshCounts('success', 200, answers.unavailable(), answers.tokens()));

  test('a stored token still valid is no refresh', async () => {
    const { profileId } = await connect();
    as.script(answers.tokens());
    expectStatus(await token(profileId), 200, 'first');
    const before = await scrape(h);
    expectStatus(await token(profileId), 200, 'second');
    const after = await scrape(h);
    for (const outcome of REFRESH_OUTCOMES) assert.equal(moved(before, after, 'tokenkeep_refreshes_total', { outcome }), 0, outcome);
  });

  test('in flight while the AS is answering; a PUT meanwhile makes it lost, and the next round succeeds', async () => {
    const { appId, profileId } = await connect();
    as.script(answers.tokens({ delayMs: 1500 }));
    const sent = as.requests().length;
    const before = await scrape(h);
    const pending = token(profileId);
    for (let i = 0; as.requests().length === sent; i++) {
      assert.ok(i < 500, 'the refresh reached the AS');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const during = await scrape(h);
    assert.equal(during.at('tokenkeep_refreshes_in_flight'), 1);
    expectStatus(
      await h.call({
        method: 'PUT',
        url: `/api/mgmt/oauthprofiles/${profileId}`,
        as: ADMIN,
        payload: profileBody(unique('p'), appId, { refreshToken: unique('RT-') }),
      }),
      200,
      'new tokens by PUT',
    );
    expectStatus(await pending, 200, 'the token after the PUT');
    const after = await scrape(h);
    assert.equal(after.at('tokenkeep_refreshes_in_flight'), 0);
    assert.equal(moved(before, after, 'tokenkeep_refreshes_total', { outcome: 'lost' }), 1, 'the first result was dropped');
    assert.equal(moved(before, after, 'tokenkeep_refreshes_total', { outcome: 'success' }), 1, 'the PUT tokens were refreshed');
  });
});

describe('profiles by state, counted from the store', () => {
  let h: Harness;
  let as: BadAuthorizationServer;
  withBadAs((harnessed, server) => {
    h = harnessed;
    as = server;
  });

  test('active, needs_reconsent, and app_error for the profiles of an app whose client was refused', async () => {
    const app = await createApp(h, ADMIN, appBody(unique('app'), 1, { tokenURI: as.tokenURI }));
    const refused = await createApp(h, ADMIN, appBody(unique('app'), 1, { tokenURI: as.tokenURI }));
    const ids: number[] = [];
    for (const appId of [app.id, app.id, app.id, refused.id, refused.id]) {
      ids.push((await createProfile(h, ADMIN, profileBody(unique('p'), appId, { refreshToken: unique('RT-') }))).id);
    }
    as.script(answers.errorIn200('invalid_grant'));
    assert.equal((await h.call({ method: 'POST', url: `/api/mgmt/oauthprofiles/${ids[0]}/token`, as: ADMIN })).statusCode, 409);
    as.script(answers.oauthError(401, 'invalid_client'));
    assert.equal((await h.call({ method: 'POST', url: `/api/mgmt/oauthprofiles/${ids[3]}/token`, as: ADMIN })).statusCode, 409);
    const s = await scrape(h);
    assert.equal(s.at('tokenkeep_profiles', { state: 'active' }), 2);
    assert.equal(s.at('tokenkeep_profiles', { state: 'needs_reconsent' }), 1);
    assert.equal(s.at('tokenkeep_profiles', { state: 'app_error' }), 2);
    assert.equal(s.at('tokenkeep_profiles', { state: 'retrying' }), 0);
  });
});

describe('refreshes refused by the outbound rules', () => {
  let h: Harness;
  let as: BadAuthorizationServer;
  withBadAs((harnessed, server) => {
    h = harnessed;
    as = server;
  }, false);

  test('a loopback token URI without the flag: refused, counted in this app only', async () => {
    const app = await createApp(h, ADMIN, appBody(unique('app'), 1, { tokenURI: `https://127.0.0.1:${new URL(as.tokenURI).port}/token` }));
    const profile = await createProfile(h, ADMIN, profileBody(unique('p'), app.id));
    const res = await h.call({ method: 'POST', url: `/api/mgmt/oauthprofiles/${profile.id}/token`, as: ADMIN });
    assert.equal(res.statusCode, 409, res.body);
    const s = await scrape(h);
    assert.equal(s.at('tokenkeep_refreshes_total', { outcome: 'refused' }), 1);
    // A registry of its own: the refreshes of the other suites' apps in this process are not here.
    assert.equal(s.at('tokenkeep_refreshes_total', { outcome: 'success' }), 0);
    assert.equal(as.connections(), 0);
  });
});

describe('no secret, token, user name or query value in a scrape', () => {
  let h: Harness;
  let as: BadAuthorizationServer;
  withBadAs((harnessed, server) => {
    h = harnessed;
    as = server;
  });

  test('a workload of distinctive values leaves none of them in the scrape, and every route label is a declared pattern', async () => {
    const mark = `Zq${randomBytes(6).toString('hex')}`;
    const userName = `leakuser${mark}`;
    const distinctive = {
      userName,
      password: DEFAULT_PASSWORD,
      wrongPassword: `wrong-PASSWORD-${mark}`,
      clientId: `client-ID-${mark}`,
      clientSecret: `client-SECRET-${mark}`,
      accessToken: `ACCESS-token-${mark}`,
      refreshToken: `REFRESH-token-${mark}`,
      queryValue: `query-VALUE-${mark}`,
      path: `path-PIECE-${mark}`,
    };
    const userId = await createUser(h, userName, 1, [2]);
    const app = await createApp(
      h,
      ADMIN,
      appBody(unique('app'), 1, { tokenURI: as.tokenURI, clientId: distinctive.clientId, clientSecret: distinctive.clientSecret }),
    );
    const profile = await createProfile(
      h,
      ADMIN,
      profileBody(unique('p'), app.id, { accessToken: distinctive.accessToken, refreshToken: distinctive.refreshToken }),
      userName,
    );
    const user = basic(userName, DEFAULT_PASSWORD);
    const admin = basic(ADMIN, ADMIN_PASSWORD);
    // The AS's own error echoes the refresh token it was sent; then fresh tokens.
    as.script(answers.oauthError(503, 'temporarily_unavailable', 'cannot refresh {refresh_token} for {client_secret}'), answers.tokens());
    const workload = [
      { method: 'POST', url: `/api/mgmt/oauthprofiles/${profile.id}/token?minValidity=3600`, headers: { authorization: user } },
      { method: 'GET', url: `/api/mgmt/oauthprofiles/${profile.id}?user=${userName}`, headers: { authorization: admin } },
      { method: 'GET', url: `/api/mgmt/oauthprofiles?user=${userName}&x=${distinctive.queryValue}`, headers: { authorization: admin } },
      { method: 'GET', url: `/api/mgmt/oauthprofiles/status?user=${userName}`, headers: { authorization: admin } },
      { method: 'GET', url: `/api/admin/users/${userId}`, headers: { authorization: admin } },
      { method: 'GET', url: `/api/mgmt/oauthapps/${app.id}?user=nobody${mark}`, headers: { authorization: admin } },
      { method: 'GET', url: `/api/nothing/${distinctive.path}?token=${distinctive.accessToken}`, headers: { authorization: admin } },
      { method: 'GET', url: '/api/mgmt/permissions', headers: { authorization: basic(userName, distinctive.wrongPassword) } },
      { method: 'GET', url: `/api/metrics?user=${userName}`, headers: { authorization: user } },
    ] as const;
    const statuses: number[] = [];
    for (const r of workload) statuses.push((await h.app.inject({ ...r })).statusCode);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 404, 404, 401, 403], 'the workload did what it should');
    assert.ok(
      as.requests().some((r) => r.form.refresh_token === distinctive.refreshToken),
      'the refresh token went to the AS',
    );

    const s = await scrape(h);
    assert.equal(s.at('tokenkeep_refreshes_total', { outcome: 'success' }), 1, 'the workload refreshed');
    const secrets = [...Object.values(distinctive), mark, ...as.issued().flatMap((t) => [t.accessToken, t.refreshToken ?? ''])].filter((v) => v.length >= 8);
    for (const secret of secrets) assert.ok(!s.text.includes(secret), `the scrape holds ${secret.slice(0, 14)}…`);
    assert.ok(!s.text.includes('?'), 'no query string anywhere');

    // Every route label is a route the app declared (or the one "unmatched"), never a URL.
    const labelled = s.samples.filter((x) => x.labels.route !== undefined);
    assert.ok(labelled.length > 10);
    for (const { labels } of labelled) {
      if (labels.route === 'unmatched') continue;
      assert.ok(h.app.hasRoute({ url: labels.route, method: labels.method as 'GET' }), `${labels.method} ${labels.route} is a declared route`);
      assert.doesNotMatch(labels.route, /\/\d+(\/|$)/, 'no id in a route label');
    }
    // Label names are the fixed ones.
    const names = new Set(s.samples.filter((x) => x.name.startsWith('tokenkeep_')).flatMap((x) => Object.keys(x.labels)));
    assert.deepEqual([...names].sort(), ['le', 'method', 'outcome', 'route', 'state', 'status']);
  });
});

describe('the metrics object', () => {
  test('two apps in one process: separate registries, no clash', async () => {
    const a = new Metrics();
    const b = new Metrics();
    a.request('/api/x', 'GET', 200, 0.01);
    await a.refresh(async () => ({ again: true as const }));
    const sa = parseExposition(await a.text());
    const sb = parseExposition(await b.text());
    assert.equal(sa.at('tokenkeep_http_requests_total', requests('/api/x', 'GET', 200)), 1);
    assert.equal(sb.at('tokenkeep_http_requests_total', requests('/api/x', 'GET', 200)), undefined);
    assert.equal(sa.at('tokenkeep_refreshes_total', { outcome: 'lost' }), 1);
    assert.equal(sb.at('tokenkeep_refreshes_total', { outcome: 'lost' }), 0);
  });

  test('a refresh that throws something not of the engine is an error, and leaves nothing in flight', async () => {
    const m = new Metrics();
    await assert.rejects(
      m.refresh(async () => {
        throw new Error('the database went away');
      }),
      /went away/,
    );
    const s = parseExposition(await m.text());
    assert.equal(s.at('tokenkeep_refreshes_total', { outcome: 'error' }), 1);
    assert.equal(s.at('tokenkeep_refreshes_in_flight'), 0);
  });

  test('profiles by state: read at scrape time, every state shown, empty (not stale) when the count fails', async () => {
    let counts: Partial<Record<(typeof TOKEN_STATES)[number], number>> | Error = { active: 3, needs_reconsent: 1 };
    const m = new Metrics({
      profilesByState: async () => {
        if (counts instanceof Error) throw counts;
        return counts;
      },
    });
    let s = parseExposition(await m.text());
    assert.equal(s.types.get('tokenkeep_profiles'), 'gauge');
    assert.deepEqual(Object.fromEntries(TOKEN_STATES.map((state) => [state, s.at('tokenkeep_profiles', { state })])), {
      active: 3,
      retrying: 0,
      needs_reconsent: 1,
      app_error: 0,
      origin_changed: 0,
    });
    counts = { active: 4 };
    s = parseExposition(await m.text());
    assert.equal(s.at('tokenkeep_profiles', { state: 'active' }), 4, 'read again at each scrape');
    assert.equal(s.at('tokenkeep_profiles', { state: 'needs_reconsent' }), 0);
    counts = new Error('database unavailable');
    s = parseExposition(await m.text());
    assert.equal(s.samples.filter((x) => x.name === 'tokenkeep_profiles').length, 0, 'no stale count');
    assert.equal(s.types.get('tokenkeep_refreshes_total'), 'counter', 'the rest of the scrape still answers');
  });

  test('without a count, no tokenkeep_profiles gauge is exported (rather than zeros that look true)', async () => {
    const s = parseExposition(await new Metrics().text());
    assert.equal(s.types.get('tokenkeep_profiles'), undefined);
  });
});
