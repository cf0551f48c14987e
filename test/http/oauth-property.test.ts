/**
 * Property tests (fast-check): arbitrary JSON values, near-valid objects and raw byte strings as the bodies of every
 * POST and PUT of OAuth profiles, OAuth applications and data sources. Whatever arrives: never a 5xx, an HDP
 * envelope on every error, and nothing stored unless the answer is 2xx — in which case what is stored is what was
 * answered.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { ADMIN_PASSWORD, basic, DEFAULT_PASSWORD, harness, type Harness } from '../helpers.js';
import { assertEnvelope } from '../admin-support.js';
import { withEnoughSuccesses } from '../property-support.js';
import { hasLoneSurrogate, hasPoisonKey } from '../input-support.js';
import { isUtf8 } from 'node:buffer';
import { parse as parseLegacy } from 'node:url';
import {
  NAMES,
  appBody,
  appView,
  buildWorld,
  createApp,
  createDataSource,
  createProfile,
  dataSourceBody,
  oauthState,
  profileBody,
  profileView,
  type World,
} from '../oauth-support.js';

/** PROP_RUNS=2000 searches harder than CI does (a CI run once found the option-name bug that 80 runs usually miss). */
const RUNS = Number(process.env.PROP_RUNS ?? 80);

let h: Harness;
let w: World;
let profileId: number;
let appId: number;
let dataSourceId: number;

before(async () => {
  h = await harness();
  w = await buildWorld(h);
  appId = (await createApp(h, 'd2cadmin', appBody('Property target', w.tenantA))).id;
  profileId = (await createProfile(h, NAMES.U1, profileBody('Property_Target', w.appA))).id;
  dataSourceId = (await createDataSource(h, NAMES.U1, dataSourceBody('Property DS', profileId))).id;
});
after(async () => h.close());

const auth = (user: string) => basic(user, user === 'd2cadmin' ? ADMIN_PASSWORD : DEFAULT_PASSWORD);

/** Raw payloads: any JSON text, or any bytes, always sent as application/json. */
type Payload = { kind: 'json'; value: unknown } | { kind: 'bytes'; value: Uint8Array };

const someString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', ' ', 'User_1', 'a-b', 'https://x.example/a', 'http://x.example/a'),
);
const someInt = fc.oneof(fc.integer(), fc.constantFrom(0, -1, 1, 54, 62, 2 ** 53, 1.5), fc.nat({ max: 40 }));
const anything = fc.oneof(fc.jsonValue({ maxDepth: 2 }), someString, someInt);
const DELETE = Symbol('delete');

/**
 * Objects with the resource's fields, each from a mostly plausible generator, then 0–2 fields replaced by anything
 * or removed: most of these pass the schema and reach the domain rules (references, uniqueness, id rule).
 */
function near(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> {
  const keys = Object.keys(fields);
  return fc
    .tuple(
      fc.record(fields, { requiredKeys: keys.filter((k) => k !== 'id') }),
      fc.array(fc.tuple(fc.constantFrom(...keys), fc.oneof(anything, fc.constant(DELETE))), { maxLength: 2 }),
    )
    .map(([body, changes]) => {
      const b: Record<string, unknown> = { ...body };
      for (const [k, v] of changes) {
        if (v === DELETE) delete b[k];
        else b[k] = v;
      }
      return b;
    });
}

const printable = fc.stringMatching(/^[A-Za-z0-9 _.-]{1,20}$/);
/**
 * Any code points, control characters and U+0000 included (PostgreSQL refuses U+0000 in text columns), and now and
 * then a lone surrogate, which no UTF-8 column can hold: such a body must be refused (400), never stored changed.
 */
const loneSurrogate = (maxLength: number) =>
  fc
    .tuple(fc.string({ maxLength: maxLength >> 1 }), fc.constantFrom('\ud800', '\udbff', '\udc00', '\udfff'), fc.string({ maxLength: maxLength >> 1 }))
    .map(([a, s, b]) => `${a}${s}${b}`);
const text = (maxLength: number) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.string({ maxLength }) },
    { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength }) },
    { weight: 1, arbitrary: loneSurrogate(maxLength) },
  );
/** Mostly the good value, sometimes one of the others. */
const mostly = <T>(good: fc.Arbitrary<T>, ...others: unknown[]) =>
  fc.oneof({ weight: 5, arbitrary: good as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: fc.constantFrom(...others) });

const nearProfile = () =>
  near({
    id: mostly(fc.constant(profileId), profileId + 1, String(profileId)),
    name: fc.stringMatching(/^[A-Za-z0-9_]{1,12}$/),
    oauthAppId: mostly(fc.constantFrom(w.appA, w.appSys), w.appB, w.appA62, appId, 987654),
    description: fc.option(text(30)),
    accessToken: fc.option(text(30)),
    refreshToken: fc.oneof(fc.string({ minLength: 1, maxLength: 30 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 30 })),
  });

const nearApp = () =>
  near({
    id: mostly(fc.constant(appId), appId + 1),
    name: printable,
    dataStore: mostly(fc.constantFrom(1, 54, 62, 63), 9999, 0),
    tenantId: mostly(fc.constant(w.tenantA), 1, w.tenantB, 987654),
    description: fc.option(printable),
    clientId: fc.oneof(printable, text(20)),
    clientSecret: fc.oneof(printable, text(20)),
    authorizeURI: mostly(fc.constant('https://a.example/auth'), 'http://a.example/auth', 'https://u:p@a.example/', 'nope', 'http://localhost/a'),
    tokenURI: mostly(fc.constantFrom('https://a.example/token', 'https://b.example/t?x=1'), 'ftp://a.example/token'),
    scope: fc.option(text(30)),
  });

const nearDataSource = () =>
  near({
    id: mostly(fc.constant(dataSourceId), dataSourceId + 1),
    name: printable,
    dataStore: mostly(fc.constant(54), 1, 62, 9999),
    connectionType: mostly(fc.constant('Cloud'), 'Hybrid', 'cloud'),
    description: fc.option(fc.oneof(printable, text(20))),
    options: fc.oneof(
      { weight: 3, arbitrary: fc.constant({ OAuthProfileId: String(profileId), ViewId: '1' }) },
      { weight: 1, arbitrary: fc.constant({}) },
      {
        weight: 2,
        arbitrary: fc.dictionary(
          fc.oneof(fc.constant('OAuthProfileId'), text(10)),
          fc.oneof(fc.constantFrom(String(profileId), '0', 'x', '987654', String(w.appA)), text(10)),
          { maxKeys: 4 },
        ),
      },
    ),
  });

const payloads = (near: () => fc.Arbitrary<unknown>): fc.Arbitrary<Payload> =>
  fc.oneof(
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => ({ kind: 'json' as const, value })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((value) => ({ kind: 'bytes' as const, value })) },
    { weight: 4, arbitrary: near().map((value) => ({ kind: 'json' as const, value })) },
  );

async function send(method: 'POST' | 'PUT', url: string, as: string, p: Payload): Promise<LightMyRequestResponse> {
  return h.app.inject({
    method,
    url,
    headers: { authorization: auth(as), 'content-type': 'application/json' },
    payload: p.kind === 'json' ? (JSON.stringify(p.value) ?? '') : Buffer.from(p.value),
  });
}

interface Target {
  name: string;
  method: 'POST' | 'PUT';
  url: () => string;
  as: string;
  near: () => fc.Arbitrary<unknown>;
  /** what the store holds for a 2xx answer's id, as the API shows it */
  stored: (id: number) => Promise<unknown>;
}

const targets: Target[] = [
  {
    name: 'POST /api/mgmt/oauthprofiles',
    method: 'POST',
    url: () => '/api/mgmt/oauthprofiles',
    as: NAMES.U1,
    near: nearProfile,
    stored: async (id) => profileView((await h.store.profiles.get(id))!),
  },
  {
    name: 'PUT /api/mgmt/oauthprofiles/{id}',
    method: 'PUT',
    url: () => `/api/mgmt/oauthprofiles/${profileId}`,
    as: NAMES.U1,
    near: nearProfile,
    stored: async (id) => profileView((await h.store.profiles.get(id))!),
  },
  {
    name: 'POST /api/mgmt/oauthapps',
    method: 'POST',
    url: () => '/api/mgmt/oauthapps',
    as: NAMES.TA1,
    near: nearApp,
    stored: async (id) => appView((await h.store.apps.get(id))!),
  },
  {
    name: 'PUT /api/mgmt/oauthapps/{id}',
    method: 'PUT',
    url: () => `/api/mgmt/oauthapps/${appId}`,
    as: NAMES.TA1,
    near: nearApp,
    stored: async (id) => appView((await h.store.apps.get(id))!),
  },
  { name: 'POST /api/mgmt/datasources', method: 'POST', url: () => '/api/mgmt/datasources', as: NAMES.U1, near: nearDataSource, stored: dataSourceShown },
  {
    name: 'PUT /api/mgmt/datasources/{id}',
    method: 'PUT',
    url: () => `/api/mgmt/datasources/${dataSourceId}`,
    as: NAMES.U1,
    near: nearDataSource,
    stored: dataSourceShown,
  },
];

async function dataSourceShown(id: number): Promise<unknown> {
  const d = (await h.store.dataSources.get(id))!;
  return {
    id: d.id,
    name: d.name,
    dataStore: d.dataStore,
    connectionType: d.connectionType,
    description: d.description,
    options: d.oauthProfileId === null ? d.options : { ...d.options, OAuthProfileId: String(d.oauthProfileId) },
  };
}

describe('arbitrary bodies', () => {
  for (const t of targets) {
    test(`${t.name}: never 5xx, always the envelope on errors, nothing stored unless 2xx`, async () => {
      let successes = 0;
      await withEnoughSuccesses(
        t.name,
        () => successes,
        () =>
          fc.assert(
            fc.asyncProperty(payloads(t.near), async (p) => {
              const before = await oauthState(h.store);
              const res = await send(t.method, t.url(), t.as, p);
              assert.ok(res.statusCode < 500, `status ${res.statusCode}: ${res.body.slice(0, 300)}`);
              // Prototype poisoning is refused first, as not valid JSON; only without it is the lone surrogate named.
              if (p.kind === 'json' && hasLoneSurrogate(p.value) && !hasPoisonKey(p.value)) {
                assert.equal(res.statusCode, 400, res.body);
                assert.match(assertEnvelope(res, t.name).error.message.value, /lone surrogate/);
              } else if (p.kind === 'bytes' && !isUtf8(p.value)) {
                assert.equal(res.statusCode, 400, res.body);
                assert.match(assertEnvelope(res, t.name).error.message.value, /not valid UTF-8/);
              }
              if (res.statusCode >= 200 && res.statusCode < 300) {
                successes += 1;
                const body = JSON.parse(res.body);
                assert.deepEqual(await t.stored(body.id), body, 'what is answered is what is stored');
              } else {
                assert.ok(res.statusCode >= 400, `status ${res.statusCode}`);
                assertEnvelope(res, t.name);
                assert.deepEqual(await oauthState(h.store), before, 'nothing stored');
              }
            }),
            { numRuns: RUNS },
          ),
      );
    });
  }
});

test('arbitrary path ids and ?user= values on reads: never 5xx, always the envelope on errors', async () => {
  const segment = fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.string({ unit: 'binary', maxLength: 30 }),
    fc.integer().map(String),
    fc.constantFrom('0', '-1', '1.5', '9007199254740993', '1e3'),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('/api/mgmt/oauthprofiles/', '/api/mgmt/oauthapps/', '/api/mgmt/datasources/'),
      segment,
      fc.option(segment),
      async (base, id, user) => {
        const url = `${base}${encodeURIComponent(id)}${user === null ? '' : `?user=${encodeURIComponent(user)}`}`;
        const res = await h.app.inject({ method: 'GET', url, headers: { authorization: auth('d2cadmin') } });
        assert.ok(res.statusCode < 500, `${url}: ${res.statusCode} ${res.body.slice(0, 200)}`);
        if (res.statusCode >= 400) assertEnvelope(res, url);
      },
    ),
    { numRuns: RUNS },
  );
});

test('the profile list is, for any text the store accepts, exactly the summaries of what GET answers, in id order', async () => {
  // The list's JSON is written by the database (SQLite's json_object, PostgreSQL's json_agg of rows), not by Node:
  // quotes, backslashes, control characters and non-BMP must all come out as GET shows them. A lone surrogate never
  // gets that far: the body holding it is refused (400) naming the field.
  let run = 0;
  let successes = 0; // runs that compared at least one created profile's list entry with its GET
  await withEnoughSuccesses(
    'profile list',
    () => successes,
    () =>
      fc.assert(
        fc.asyncProperty(fc.option(text(30)), fc.array(fc.tuple(fc.option(text(30)), fc.boolean()), { minLength: 1, maxLength: 4 }), async (scope, specs) => {
          run += 1;
          const app = await h.app.inject({
            method: 'POST',
            url: '/api/mgmt/oauthapps',
            headers: { authorization: auth(NAMES.TA1), 'content-type': 'application/json' },
            payload: appBody(`List app ${run}`, w.tenantA, { scope }),
          });
          if (hasLoneSurrogate(scope)) return assert.match(assertEnvelope(app).error.message.value, /^Invalid JSON Input: scope: holds a lone surrogate/);
          if (app.statusCode !== 201) return assert.equal(app.statusCode, 400, app.body);
          const { id: listAppId, authorizeURI, tokenURI, scope: storedScope } = JSON.parse(app.body);
          try {
            // each created profile with whether TA1 created it for U1 (a refused spec creates nothing)
            const created: [number, boolean][] = [];
            for (const [i, [description, onBehalf]] of specs.entries()) {
              // U1's own profiles, and profiles TA1 creates for U1: both appear in U1's list, the latter also in TA1's
              const res = await h.app.inject({
                method: 'POST',
                url: `/api/mgmt/oauthprofiles${onBehalf ? `?user=${NAMES.U1}` : ''}`,
                headers: { authorization: auth(onBehalf ? NAMES.TA1 : NAMES.U1), 'content-type': 'application/json' },
                payload: profileBody(`list_${run}_${i}`, listAppId, { description }),
              });
              if (hasLoneSurrogate(description))
                assert.match(assertEnvelope(res).error.message.value, /^Invalid JSON Input: description: holds a lone surrogate/);
              else if (res.statusCode === 201) created.push([JSON.parse(res.body).id, onBehalf]);
              else assert.equal(res.statusCode, 400, res.body);
            }
            for (const who of [NAMES.U1, NAMES.TA1]) {
              const res = await h.app.inject({ method: 'GET', url: '/api/mgmt/oauthprofiles', headers: { authorization: auth(who) } });
              assert.equal(res.statusCode, 200);
              assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
              const listed = (JSON.parse(res.body) as { profiles: Record<string, unknown>[] }).profiles;
              const ids = listed.map((p) => p.id as number);
              assert.deepEqual(
                ids,
                [...ids].sort((a, b) => a - b),
                'id order',
              );
              for (const entry of listed.filter((p) => p.oauthAppId === listAppId)) {
                const got = await h.app.inject({
                  method: 'GET',
                  url: `/api/mgmt/oauthprofiles/${entry.id}${who === NAMES.TA1 ? `?user=${NAMES.U1}` : ''}`,
                  headers: { authorization: auth(who) },
                });
                const p = JSON.parse(got.body);
                assert.deepEqual(entry, {
                  id: p.id,
                  name: p.name,
                  description: p.description,
                  oauthAppId: p.oauthAppId,
                  authorizeURI,
                  tokenURI,
                  scope: storedScope,
                });
              }
              const mine = created.filter(([, onBehalf]) => who === NAMES.U1 || onBehalf).map(([id]) => id);
              assert.deepEqual(
                listed.filter((p) => p.oauthAppId === listAppId).map((p) => p.id),
                mine,
                `${who} lists what it owns or created`,
              );
            }
            if (created.length > 0) successes += 1;
          } finally {
            assert.equal(
              (await h.app.inject({ method: 'DELETE', url: `/api/mgmt/oauthapps/${listAppId}`, headers: { authorization: auth(NAMES.TA1) } })).statusCode,
              204,
            );
          }
        }),
        { numRuns: RUNS },
      ),
  );
});

test('authorize and token URIs: whatever is accepted is stored normalised, without fragment or userinfo, and every parser sees its host', async () => {
  // URIs from pieces, mostly plausible, often one of the forms parsers disagree about; sometimes any text at all.
  const piece = <T>(good: T[], bad: T[]) => fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...good) }, { weight: 1, arbitrary: fc.constantFrom(...bad) });
  const uriChars = fc.string({
    unit: fc.constantFrom(..."aZ09-._~!$&'()*+,;=:@/?%2f".split(''), '%41', '\\', '#', ' ', '|', 'é', '\t', '[', ']'),
    maxLength: 12,
  });
  const uri = fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .tuple(
          piece(['https', 'HTTPS', 'Https'], ['http', 'ftp', 'javascript', 'https:', '']),
          piece(['://'], [':', ':/', ':\\\\', ':///', '//', ':\\/']),
          piece([''], ['u@', 'u:p@', ':p@', 'evil.example\\@', 'evil.example%40', '@']),
          piece(
            ['a.example', 'A.Example.COM', 'a-b.example', '127.0.0.1', '[::1]', 'sub.a.example.', 'xn--bcher-kva.example'],
            ['127.1', '0x7f.0.0.1', '2130706433', '%61.example', 'bücher.example', '', 'a example', '[::1', 'a.example\\', '0177.0.0.1'],
          ),
          piece(['', ':443', ':8443', ':1'], [':', ':99999', ':0x1', ':-1']),
          piece(['', '/', '/auth', '/o/oauth2/v2/auth', '/a/../b', '/%7Euser'], ['/a b', '/a#b', '#', '\\path', '/a\\..\\b']),
          fc.option(uriChars, { nil: '' }),
        )
        .map((parts) => parts.join('')),
    },
    { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
  );
  let accepted = 0;
  let run = 0;
  // Most generated URIs are refused; enough must be accepted for the stored form to be checked at all.
  await withEnoughSuccesses(
    'accepted URIs',
    () => accepted,
    () =>
      fc.assert(
        fc.asyncProperty(uri, fc.boolean(), async (sent, asToken) => {
          const field = asToken ? 'tokenURI' : 'authorizeURI';
          const res = await h.app.inject({
            method: 'POST',
            url: '/api/mgmt/oauthapps',
            headers: { authorization: auth(NAMES.TA1), 'content-type': 'application/json' },
            payload: appBody(`Uri app ${++run}`, w.tenantA, { [field]: sent }),
          });
          if (res.statusCode !== 201) {
            const message = assertEnvelope(res, sent).error.message.value;
            assert.equal(res.statusCode, 400, message);
            assert.ok(message.startsWith(`Invalid JSON Input: ${field}: `), message);
            return;
          }
          accepted++;
          const id = JSON.parse(res.body).id as number;
          try {
            const stored = (await h.store.apps.get(id))![field];
            assert.equal(JSON.parse(res.body)[field], stored, 'answered as stored');
            const url = new URL(stored);
            assert.equal(url.href, stored, 'stored in WHATWG normal form');
            assert.equal(url.href, new URL(sent).href, 'the normal form of what was sent');
            assert.equal(url.protocol, 'https:');
            assert.equal(url.hash, '');
            assert.ok(!stored.includes('#'), 'no fragment');
            assert.equal(url.username + url.password, '', 'no userinfo');
            // Node's legacy parser (what older HTTP clients use) sees the same host, in what was sent and what is stored.
            for (const text of [sent, stored]) {
              const legacy = parseLegacy(text);
              assert.equal(legacy.auth, null, `${text}: no userinfo for url.parse`);
              assert.equal(legacy.hash, null, `${text}: no fragment for url.parse`);
              const legacyHost = legacy.hostname?.includes(':') ? `[${legacy.hostname}]` : legacy.hostname;
              assert.equal(legacyHost, url.hostname, `${text}: host`);
              assert.equal(legacy.port ?? '443', url.port || '443', `${text}: port`);
            }
          } finally {
            assert.equal(
              (await h.app.inject({ method: 'DELETE', url: `/api/mgmt/oauthapps/${id}`, headers: { authorization: auth(NAMES.TA1) } })).statusCode,
              204,
            );
          }
        }),
        { numRuns: RUNS * 4 },
      ),
  );
});
