/**
 * Strict input beyond the schemas: one spelling per integer in paths and queries (a path id that is not canonical
 * decimal is the route's 404, a query integer a 400 naming the parameter), JSON bodies without duplicate keys, and
 * text that is exactly what was sent — no lone surrogate, no bytes that are not UTF-8 — instead of silently changed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { harness, type Harness } from '../helpers.js';
import { assertError } from '../admin-support.js';
import {
  appBody,
  buildWorld,
  createApp,
  createDataSource,
  createProfile,
  dataSourceBody,
  NAMES,
  oauthState,
  profileBody,
  type World,
} from '../oauth-support.js';
import { jsonTextProblem } from '../../src/http/json-body.js';

const RUNS = Number(process.env.PROP_RUNS ?? 80);
const INVALID = 222207007;

let h: Harness;
let w: World;
let profile: number;
let app: number;
let dataSource: number;

before(async () => {
  h = await harness();
  w = await buildWorld(h);
  app = (await createApp(h, 'd2cadmin', appBody('Strict app', w.tenantA))).id;
  profile = (await createProfile(h, NAMES.U1, profileBody('Strict_profile', w.appA))).id;
  dataSource = (await createDataSource(h, NAMES.U1, dataSourceBody('Strict DS', profile))).id;
});
after(async () => h?.close());

/** Spellings of the integer `id` that Number() or Ajv's coercion read as `id`, none of them canonical. */
const lenientSpellings = (id: number): string[] => [
  `0${id}`,
  `00${id}`,
  `${id}.0`,
  `${id}.`,
  `+${id}`,
  `0x${id.toString(16)}`,
  `0o${id.toString(8)}`,
  `0b${id.toString(2)}`,
  `%20${id}`,
  `${id}%20`,
  `%09${id}`,
  `${id}%0A`,
  `${id}e0`,
  `${id}E0`,
  `${id}.00`,
  `${id * 10}e-1`,
  `%2B${id}`,
];

describe('path ids: canonical decimal only', () => {
  /** [url with {id}, the id it exists under, who may read it, the route's not-found code] */
  const routes = (): [string, number, string, number][] => [
    ['/api/mgmt/oauthprofiles/{id}', profile, NAMES.U1, 222207710],
    ['/api/mgmt/oauthprofiles/{id}/stats', profile, NAMES.U1, 222207710],
    ['/api/mgmt/oauthapps/{id}', app, 'd2cadmin', 222207711],
    ['/api/mgmt/datasources/{id}', dataSource, NAMES.U1, 222207004],
    ['/api/mgmt/datastores/{id}', 54, 'd2cadmin', 223000404],
    ['/api/admin/permissions/{id}', 2, 'd2cadmin', 222208553],
    ['/api/admin/tenants/{id}', 1, 'd2cadmin', 222208573],
    ['/api/admin/tenants/{id}/admins', 1, 'd2cadmin', 222208573],
    ['/api/admin/roles/{id}', 1, 'd2cadmin', 223002404],
    ['/api/admin/users/{id}', 1, 'd2cadmin', 223001404],
    ['/api/admin/users/{id}/permissions', 1, 'd2cadmin', 223001404],
    ['/api/admin/users/{id}/statusinfo', 1, 'd2cadmin', 223001404],
    ['/api/admin/limits/system/{id}', 2, 'd2cadmin', 223003404],
  ];

  test('every GET with an id answers the canonical spelling and 404s every other one with its own code', async () => {
    for (const [pattern, id, as, code] of routes()) {
      const url = (s: string) => pattern.replace('{id}', s);
      assert.equal((await h.call({ method: 'GET', url: url(String(id)), as })).statusCode, 200, url(String(id)));
      for (const spelling of lenientSpellings(id)) {
        assertError(await h.call({ method: 'GET', url: url(spelling), as }), 404, code, url(spelling));
      }
    }
  });

  test('writes too: PUT and DELETE with a lenient id change nothing', async () => {
    const before = await oauthState(h.store);
    for (const spelling of lenientSpellings(profile)) {
      assertError(
        await h.call({ method: 'PUT', url: `/api/mgmt/oauthprofiles/${spelling}`, as: NAMES.U1, payload: profileBody('Renamed', w.appA) }),
        404,
        222207710,
        spelling,
      );
      assertError(await h.call({ method: 'DELETE', url: `/api/mgmt/oauthprofiles/${spelling}`, as: NAMES.U1 }), 404, 222207710, spelling);
    }
    for (const spelling of lenientSpellings(app)) {
      assertError(await h.call({ method: 'DELETE', url: `/api/mgmt/oauthapps/${spelling}`, as: 'd2cadmin' }), 404, 222207711, spelling);
    }
    assert.deepEqual(await oauthState(h.store), before);
  });

  test('ids beyond the safe integers are 404, not rounded onto an existing id', async () => {
    for (const big of ['9007199254740992', '9007199254740993', '99999999999999999999', '1' + '0'.repeat(150)]) {
      assertError(await h.call({ method: 'GET', url: `/api/admin/users/${big}`, as: 'd2cadmin' }), 404, 223001404, big);
    }
    assertError(await h.call({ method: 'GET', url: '/api/admin/users/0', as: 'd2cadmin' }), 404, 223001404, '0');
  });

  test('property: any text as a profile id is 404 (the profile code) unless it is the id in decimal', async () => {
    const near = fc
      .tuple(fc.constantFrom('', '0', '+', '-', ' ', '\t', '00'), fc.constantFrom('', '.0', '.', 'e0', ' ', '\n', '0'))
      .map(([pre, post]) => `${pre}${profile}${post}`);
    // "." and ".." are dot segments, not ids: a client resolves `/oauthprofiles/.` to the list (RFC 3986 §5.2.4), and
    // so does the router; a seed that drew "." once failed CI here.
    const text = fc
      .oneof(fc.string({ minLength: 1, maxLength: 12 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }), near, fc.integer().map(String))
      .filter((s) => s !== '.' && s !== '..');
    let found = 0;
    await fc.assert(
      fc.asyncProperty(text, async (s) => {
        const res = await h.app.inject({
          method: 'GET',
          url: `/api/mgmt/oauthprofiles/${encodeURIComponent(s)}`,
          headers: { authorization: basicOf(NAMES.U1) },
        });
        if (s === String(profile)) {
          found++;
          assert.equal(res.statusCode, 200);
        } else {
          assertError(res, 404, 222207710, JSON.stringify(s));
        }
      }),
      { numRuns: RUNS, examples: [[String(profile)], ['02'], [`${profile}.0`]] },
    );
    assert.ok(found >= 1, 'the canonical id was tried');
  });
});

describe('query integers: canonical decimal only', () => {
  for (const path of ['/api/mgmt/oauthapps', '/api/admin/roles', '/api/admin/users']) {
    test(`${path}?tenantId= accepts ${'`1`'} and refuses every other spelling naming tenantId`, async () => {
      assert.equal((await h.call({ method: 'GET', url: `${path}?tenantId=1`, as: 'd2cadmin' })).statusCode, 200);
      for (const spelling of [...lenientSpellings(1), '0', '-1', '', 'x', '1&tenantId=1']) {
        const body = assertError(await h.call({ method: 'GET', url: `${path}?tenantId=${spelling}`, as: 'd2cadmin' }), 400, INVALID, spelling);
        assert.match(body.error.message.value, /tenantId/, spelling);
      }
    });
  }
});

// ---- JSON bodies ---------------------------------------------------------------------------------------------------

const basicOf = (user: string) => `Basic ${Buffer.from(`${user}:${user === 'd2cadmin' ? 'Admin-Passw0rd' : 'Test-Passw0rd!'}`).toString('base64')}`;

/** POST raw text or bytes as application/json; the store must not change on a refusal. */
async function post(url: string, as: string, payload: string | Buffer) {
  return h.app.inject({ method: 'POST', url, headers: { authorization: basicOf(as), 'content-type': 'application/json' }, payload });
}

async function refused(url: string, as: string, payload: string | Buffer, names: RegExp): Promise<void> {
  const before = await oauthState(h.store);
  const body = assertError(await post(url, as, payload), 400, INVALID, String(payload).slice(0, 80));
  assert.match(body.error.message.value, names, String(payload).slice(0, 80));
  assert.deepEqual(await oauthState(h.store), before, 'nothing stored');
}

const profileText = (name: string) => JSON.stringify(profileBody(name, w.appA)).slice(1, -1);

describe('duplicate keys', () => {
  test('a repeated key is refused naming it, at any depth, however its name is escaped', async () => {
    await refused('/api/mgmt/oauthprofiles', NAMES.U1, `{"name":"a",${profileText('Dup_1')}}`, /\bname: the key appears more than once/);
    await refused('/api/mgmt/oauthprofiles', NAMES.U1, `{${profileText('Dup_2')},"refreshToken":"other"}`, /\brefreshToken: the key appears more than once/);
    await refused('/api/mgmt/oauthprofiles', NAMES.U1, `{"n\\u0061me":"a",${profileText('Dup_3')}}`, /\bname: the key appears more than once/);
    await refused(
      '/api/mgmt/oauthprofiles',
      NAMES.U1,
      `{"\\u006e\\u0061\\u006d\\u0065":"a",${profileText('Dup_4')}}`,
      /\bname: the key appears more than once/,
    );
    await refused(
      '/api/mgmt/datasources',
      NAMES.U1,
      `{"name":"Dup DS","dataStore":54,"options":{"x":"1","ViewId":"2","x":"3"}}`,
      /\boptions\.x: the key appears more than once/,
    );
    await refused(
      '/api/mgmt/datasources',
      NAMES.U1,
      `{"name":"Dup DS","dataStore":54,"options":{"a":"1"},"extra":[{},{"k":1,"k":2}]}`,
      /\bextra\.1\.k: the key appears more than once/,
    );
  });

  test('the same key in sibling objects, or as a string value, is no duplicate', async () => {
    const res = await post(
      '/api/mgmt/datasources',
      NAMES.U1,
      `{"name":"Sibling DS","dataStore":54,"description":"name","options":{"name":"a","ViewId":"name"}}`,
    );
    assert.equal(res.statusCode, 201, res.body);
  });

  test('prototype poisoning is still refused by the parser', async () => {
    await refused('/api/mgmt/oauthprofiles', NAMES.U1, `{"__proto__":{"x":1},${profileText('Proto_1')}}`, /not valid JSON/);
    await refused('/api/mgmt/oauthprofiles', NAMES.U1, `{"constructor":{"prototype":{"x":1}},${profileText('Proto_2')}}`, /not valid JSON/);
  });

  /** JSON text of `value` with one key of one object repeated (its name maybe \u-escaped), and that key's path. */
  const withDuplicate = fc
    .tuple(
      fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 3 }), { minKeys: 1, maxKeys: 5 }),
      fc.nat(),
      fc.nat(),
      fc.jsonValue({ maxDepth: 1 }),
      fc.boolean(),
      fc.boolean(),
    )
    .map(([root, pickObject, pickKey, extra, escape, before]) => {
      const objects: { node: Record<string, unknown>; path: string[] }[] = [];
      const walk = (v: unknown, path: string[]) => {
        if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, String(i)]));
        else if (v !== null && typeof v === 'object') {
          if (Object.keys(v).length > 0) objects.push({ node: v as Record<string, unknown>, path });
          for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
        }
      };
      walk(root, []);
      const target = objects[pickObject % objects.length];
      const keys = Object.keys(target.node);
      const key = keys[pickKey % keys.length];
      const keyText =
        escape && key.length > 0 ? `"\\u${key.charCodeAt(0).toString(16).padStart(4, '0')}${JSON.stringify(key.slice(1)).slice(1)}` : JSON.stringify(key);
      const serialize = (v: unknown): string => {
        if (Array.isArray(v)) return `[${v.map(serialize).join(',')}]`;
        if (v === null || typeof v !== 'object') return JSON.stringify(v);
        const entries = Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}:${serialize(x)}`);
        if (v === target.node) {
          const dup = `${keyText}:${JSON.stringify(extra)}`;
          if (before) entries.unshift(dup);
          else entries.push(dup);
        }
        return `{${entries.join(',')}}`;
      };
      return { text: serialize(root), path: [...target.path, key].join('.') };
    });

  test('property: any object with one key repeated anywhere is refused naming that key', async () => {
    await fc.assert(
      fc.asyncProperty(withDuplicate, async ({ text, path }) => {
        const problem = jsonTextProblem(text);
        assert.ok(problem, text);
        const res = await post('/api/mgmt/oauthprofiles', NAMES.U1, text);
        const body = assertError(res, 400, INVALID, text);
        // fast-check's keys include __proto__ and constructor, which the parser refuses first
        if (!/not valid JSON/.test(body.error.message.value)) {
          assert.ok(body.error.message.value.includes(`${path}: the key appears more than once`), `${body.error.message.value} names ${path}`);
        }
      }),
      { numRuns: RUNS },
    );
  });

  test('property: JSON without duplicate keys or lone surrogates is never refused by the text check', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        assert.equal(jsonTextProblem(JSON.stringify(value)), undefined);
        assert.equal(jsonTextProblem(JSON.stringify(value, null, 2)), undefined);
      }),
      { numRuns: RUNS * 10 },
    );
  });

  test('the check is linear: a 64 KiB body of many keys or deep nesting is answered at once', async () => {
    const many = `{${Array.from({ length: 6000 }, (_, i) => `"k${i}":1`).join(',')}}`;
    const deep = `${'['.repeat(30_000)}${']'.repeat(30_000)}`;
    for (const text of [many, deep]) {
      const started = performance.now();
      const res = await post('/api/mgmt/oauthprofiles', NAMES.U1, text);
      assert.ok(res.statusCode === 400, res.body);
      assert.ok(performance.now() - started < 1000, 'answered in well under a second');
    }
  });
});

describe('text that would be silently changed', () => {
  test('a lone surrogate in any string or key is refused naming the field', async () => {
    const body = (overrides: Record<string, unknown>) => JSON.stringify(profileBody('Surrogate_1', w.appA, overrides));
    await refused('/api/mgmt/oauthprofiles', NAMES.U1, body({ refreshToken: 'x\ud800y' }), /\brefreshToken: holds a lone surrogate/);
    await refused('/api/mgmt/oauthprofiles', NAMES.U1, body({ accessToken: '\udc00' }), /\baccessToken: holds a lone surrogate/);
    await refused('/api/mgmt/oauthprofiles', NAMES.U1, body({ description: 'end\ud83d' }), /\bdescription: holds a lone surrogate/);
    // reversed pair: two lone surrogates
    await refused('/api/mgmt/oauthprofiles', NAMES.U1, body({ description: '\ude00\ud83d' }), /\bdescription: holds a lone surrogate/);
    await refused(
      '/api/mgmt/datasources',
      NAMES.U1,
      JSON.stringify(dataSourceBody('Surrogate DS', null, { options: { ViewId: ['\ud800'] } })),
      /\boptions\.ViewId\.0: holds a lone surrogate/,
    );
    await refused(
      '/api/mgmt/datasources',
      NAMES.U1,
      JSON.stringify(dataSourceBody('Surrogate DS', null, { options: { ['k\ud800']: 'v' } })),
      /\boptions: a property name holds a lone surrogate/,
    );
  });

  test('a surrogate pair, escaped or not, is stored as sent', async () => {
    const res = await post(
      '/api/mgmt/oauthprofiles',
      NAMES.U1,
      JSON.stringify(profileBody('Pair_1', w.appA, { refreshToken: 'a😀b' })).replace('😀', '\\ud83d\\ude00'),
    );
    assert.equal(res.statusCode, 201, res.body);
    assert.equal((await h.store.profiles.get(JSON.parse(res.body).id))?.refreshToken, 'a😀b');
  });

  test('bytes that are not UTF-8 are refused, not turned into U+FFFD', async () => {
    const text = JSON.stringify(profileBody('Bytes_1', w.appA, { refreshToken: 'TOKEN' }));
    const [head, tail] = text.split('TOKEN');
    for (const bad of [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf8, 0x88, 0x80, 0x80, 0x80]]) {
      const payload = Buffer.concat([Buffer.from(head), Buffer.from(bad), Buffer.from(tail)]);
      await refused('/api/mgmt/oauthprofiles', NAMES.U1, payload, /body: is not valid UTF-8/);
    }
  });

  test('U+FFFD sent as such is kept', async () => {
    const res = await post('/api/mgmt/oauthprofiles', NAMES.U1, JSON.stringify(profileBody('Fffd_1', w.appA, { refreshToken: 'x\ufffdy' })));
    assert.equal(res.statusCode, 201, res.body);
    assert.equal((await h.store.profiles.get(JSON.parse(res.body).id))?.refreshToken, 'x\ufffdy');
  });
});
