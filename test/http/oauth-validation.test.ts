/**
 * Every field of the OAuth profile, OAuth application and data source bodies (api.md §1, §5–§7): missing, wrong
 * type, out of range, forbidden characters, bad references — each refused with the documented 400 (or 404) and
 * code, and nothing stored. Then full replace on PUT, the path/body id rule, https-only URIs, name clashes, and the
 * cascades of deleting an application or a user. Every response of this file is checked for leaked secrets: no
 * token, client secret, client id or option value may appear in a list body or in any error body.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { harness, type Harness } from '../helpers.js';
import { assertEnvelope, assertError } from '../admin-support.js';
import {
  NAMES,
  appBody,
  appView,
  buildWorld,
  createApp,
  createDataSource,
  createProfile,
  createUser,
  dataSourceBody,
  expectStatus,
  json,
  oauthState,
  profileBody,
  storedSecrets,
  type World,
} from '../oauth-support.js';

const INVALID = 222207007;
const APP_REF = 222207711;
const OPTION = 222207002;
const TENANT_NOT_FOUND = 222208573;
const DUPLICATE = 223006409;

let h: Harness;
let w: World;
let n = 0;
const unique = (prefix: string) => `${prefix}${++n}`;

/** Every secret-like value this file ever sent: tokens, client credentials, data source option values. */
const secrets = new Set<string>();
function remember(payload: unknown): void {
  if (payload === null || typeof payload !== 'object') return;
  const b = payload as Record<string, unknown>;
  for (const key of ['accessToken', 'refreshToken', 'clientSecret', 'clientId']) {
    if (typeof b[key] === 'string' && (b[key] as string).length >= 8) secrets.add(b[key] as string);
  }
  if (b.options && typeof b.options === 'object') {
    for (const [k, v] of Object.entries(b.options as Record<string, unknown>)) {
      if (k !== 'OAuthProfileId' && typeof v === 'string' && v.length >= 8) secrets.add(v);
    }
  }
}

const LISTS = /^\/api\/mgmt\/(oauthprofiles|oauthapps|datasources)(\?|$)/;

/** h.call plus the leak check: no remembered secret in an error body or a list body. */
async function call(opts: InjectOptions & { as?: string | [string, string] }): Promise<LightMyRequestResponse> {
  remember(opts.payload);
  const res = await h.call(opts);
  const isList = opts.method === 'GET' && LISTS.test(String(opts.url));
  if (res.statusCode >= 400 || isList) {
    for (const s of secrets)
      assert.ok(!res.body.includes(s), `${opts.method} ${opts.url} ${res.statusCode} leaks ${s.slice(0, 16)}…: ${res.body.slice(0, 200)}`);
  }
  if (res.statusCode >= 400) assertEnvelope(res, `${opts.method} ${opts.url}`);
  return res;
}

before(async () => {
  h = await harness();
  w = await buildWorld(h);
});
after(async () => h.close());

type Body = Record<string, unknown>;
const set =
  (field: string, value: unknown) =>
  (b: Body): Body => ({ ...b, [field]: value });
const omit =
  (field: string) =>
  (b: Body): Body => {
    const { [field]: _, ...rest } = b;
    return rest;
  };

interface Case {
  label: string;
  field: string;
  change: (b: Body) => Body;
  status: number;
  code: number;
}

/** Wrong JSON types and shapes for a field, all `222207007`. */
const wrongTypes = (field: string, values: unknown[]): Case[] =>
  values.map((v) => ({ label: `${field} = ${JSON.stringify(v)?.slice(0, 40)}`, field, change: set(field, v), status: 400, code: INVALID }));
const missing = (field: string): Case => ({ label: `${field} missing`, field, change: omit(field), status: 400, code: INVALID });
const bad = (field: string, value: unknown, code = INVALID, status = 400, label?: string): Case => ({
  label: label ?? `${field} = ${JSON.stringify(value)?.slice(0, 40)}`,
  field,
  change: set(field, value),
  status,
  code,
});

/**
 * Sends each case as POST (and PUT when given) and checks the status, the code, that a 222207007 message names
 * the field, and that the store did not change.
 */
function refuses(what: string, cases: Case[], send: () => Promise<{ method: 'POST' | 'PUT'; url: string; as: string; base: Body }[]>): void {
  describe(what, () => {
    for (const c of cases) {
      test(c.label, async () => {
        for (const target of await send()) {
          const before = await oauthState(h.store);
          const res = await call({ method: target.method, url: target.url, as: target.as, payload: c.change(target.base) });
          const body = assertError(res, c.status, c.code, `${target.method} ${c.label}`);
          if (c.code === INVALID) assert.ok(body.error.message.value.includes(c.field), `message names ${c.field}: ${body.error.message.value}`);
          assert.deepEqual(await oauthState(h.store), before, `${target.method} ${c.label}: nothing stored`);
        }
      });
    }
  });
}

// ---- OAuth profiles ---------------------------------------------------------------------------------------------

const long = (n: number) => 'x'.repeat(n);

describe('OAuth profile bodies', () => {
  let target: number;
  before(async () => {
    target = (await createProfile(h, NAMES.U1, profileBody('Profile_Target', w.appA))).id;
  });
  const targets = async () => {
    const base = profileBody(unique('Valid_'), w.appA);
    return [
      { method: 'POST' as const, url: '/api/mgmt/oauthprofiles', as: NAMES.U1, base },
      { method: 'PUT' as const, url: `/api/mgmt/oauthprofiles/${target}`, as: NAMES.U1, base },
    ];
  };
  refuses(
    'refused',
    [
      missing('name'),
      ...wrongTypes('name', [17, 17.5, null, true, [], {}, '']),
      bad('name', long(129)),
      bad('name', 'User 1', INVALID, 400, 'name with a space'),
      bad('name', 'User-1', INVALID, 400, "name with '-'"),
      bad('name', 'Usér_1', INVALID, 400, 'name with a non-ASCII letter'),
      bad('name', 'User_1\n', INVALID, 400, 'name with a trailing newline'),
      bad('name', 'a.b', INVALID, 400, "name with '.'"),
      missing('oauthAppId'),
      ...wrongTypes('oauthAppId', ['17', 17.5, null, true, [1], {}, 0, -1, 2 ** 53]),
      {
        label: 'oauthAppId as a string of a real app id',
        field: 'oauthAppId',
        change: (b) => ({ ...b, oauthAppId: String(w.appA) }),
        status: 400,
        code: INVALID,
      },
      bad('oauthAppId', 987654, APP_REF, 400, 'oauthAppId of no app'),
      { label: 'oauthAppId of an app of another tenant', field: 'oauthAppId', change: (b) => ({ ...b, oauthAppId: w.appB }), status: 400, code: APP_REF },
      ...wrongTypes('description', [17, true, [], {}]),
      bad('description', long(1025)),
      ...wrongTypes('accessToken', [17, true, [], {}]),
      bad('accessToken', long(16 * 1024 + 1)),
      missing('refreshToken'),
      ...wrongTypes('refreshToken', [null, '', 17, true, [], {}]),
      bad('refreshToken', long(16 * 1024 + 1)),
    ],
    targets,
  );

  test('boundaries are accepted: 128-character name, 1024-character description, 16 KiB tokens, null optionals, empty access token', async () => {
    for (const body of [
      profileBody(`${'N'.repeat(120)}_${String(++n).padStart(7, '0')}`, w.appA),
      profileBody(unique('B_'), w.appA, { description: 'd'.repeat(1024), accessToken: 'a'.repeat(16 * 1024), refreshToken: 'r'.repeat(16 * 1024) }),
      profileBody(unique('B_'), w.appA, { description: null, accessToken: null }),
      profileBody(unique('B_'), w.appA, { accessToken: '' }),
      profileBody(unique('B_'), w.appSys),
    ]) {
      const res = await call({ method: 'POST', url: '/api/mgmt/oauthprofiles', as: NAMES.U1, payload: body });
      const created = expectStatus(res, 201, String(body.name).slice(0, 20));
      assert.deepEqual(created, { id: created.id, ...body });
      const stored = (await h.store.profiles.get(created.id))!;
      assert.deepEqual(
        [stored.name, stored.description, stored.accessToken, stored.refreshToken],
        [body.name, body.description, body.accessToken, body.refreshToken],
      );
    }
  });

  test('PUT is a full replace: an omitted description and accessToken come back null', async () => {
    const id = (await createProfile(h, NAMES.U1, profileBody(unique('Full_'), w.appA))).id;
    const res = await call({
      method: 'PUT',
      url: `/api/mgmt/oauthprofiles/${id}`,
      as: NAMES.U1,
      payload: { name: 'Replaced', oauthAppId: w.appA, refreshToken: 'REFRESH-replaced-1' },
    });
    assert.deepEqual(expectStatus(res, 200), {
      id,
      name: 'Replaced',
      oauthAppId: w.appA,
      description: null,
      accessToken: null,
      refreshToken: 'REFRESH-replaced-1',
    });
    const stored = (await h.store.profiles.get(id))!;
    assert.deepEqual([stored.description, stored.accessToken], [null, null]);
    assert.deepEqual(expectStatus(await call({ method: 'GET', url: `/api/mgmt/oauthprofiles/${id}`, as: NAMES.U1 }), 200), json(res));
  });

  test('an id in a PUT body must equal the path id; server-owned fields in a body are ignored', async () => {
    const id = (await createProfile(h, NAMES.U1, profileBody(unique('Ids_'), w.appA))).id;
    for (const wrong of [id + 1, String(id), null, 0]) {
      const before = await oauthState(h.store);
      const res = await call({
        method: 'PUT',
        url: `/api/mgmt/oauthprofiles/${id}`,
        as: NAMES.U1,
        payload: { id: wrong, ...profileBody(unique('Other_'), w.appA) },
      });
      assertError(res, 400, INVALID, `id ${JSON.stringify(wrong)}`);
      assert.deepEqual(await oauthState(h.store), before);
    }
    const same = profileBody(unique('Same_'), w.appA);
    assert.deepEqual(expectStatus(await call({ method: 'PUT', url: `/api/mgmt/oauthprofiles/${id}`, as: NAMES.U1, payload: { id, ...same } }), 200), {
      id,
      ...same,
    });

    // ownerId, creatorId, tenantId in a body can never set them
    const sneaky = { ...profileBody(unique('Sneaky_'), w.appA), ownerId: w.ids.U2, creatorId: w.ids.d2cadmin, ownerTenantId: w.tenantB, tenantId: w.tenantB };
    const created = expectStatus(await call({ method: 'POST', url: '/api/mgmt/oauthprofiles', as: NAMES.U1, payload: sneaky }), 201);
    const stored = (await h.store.profiles.get(created.id))!;
    assert.deepEqual([stored.ownerId, stored.creatorId, stored.ownerTenantId], [w.ids.U1, w.ids.U1, w.tenantA]);
    assert.deepEqual(Object.keys(created).sort(), ['accessToken', 'description', 'id', 'name', 'oauthAppId', 'refreshToken']);

    // an id on create never becomes the new object's id
    const withId = await call({
      method: 'POST',
      url: '/api/mgmt/oauthprofiles',
      as: NAMES.U1,
      payload: { id: 424242, ...profileBody(unique('WithId_'), w.appA) },
    });
    if (withId.statusCode === 201) assert.notEqual(json(withId).id, 424242);
    else assertError(withId, 400, INVALID);
    assert.equal(await h.store.profiles.get(424242), undefined);
  });

  test('names are unique per owner, case-insensitively (409), and free across owners', async () => {
    const name = unique('Dup_Name_');
    const first = (await createProfile(h, NAMES.U1, profileBody(name, w.appA))).id;
    const before = await oauthState(h.store);
    assertError(await call({ method: 'POST', url: '/api/mgmt/oauthprofiles', as: NAMES.U1, payload: profileBody(name.toLowerCase(), w.appA) }), 409, DUPLICATE);
    assertError(
      await call({ method: 'POST', url: '/api/mgmt/oauthprofiles', as: NAMES.U1, payload: profileBody(name.toUpperCase(), w.appSys) }),
      409,
      DUPLICATE,
    );
    const second = (await createProfile(h, NAMES.U1, profileBody(unique('Other_'), w.appA))).id;
    const before2 = await oauthState(h.store);
    assertError(
      await call({ method: 'PUT', url: `/api/mgmt/oauthprofiles/${second}`, as: NAMES.U1, payload: profileBody(name.toUpperCase(), w.appA) }),
      409,
      DUPLICATE,
    );
    assert.deepEqual(await oauthState(h.store), before2, 'the refused rename changed nothing');
    assert.ok(before.profiles.some((p) => p.id === first));
    // the same name for another owner, and a profile renamed to its own name in another case
    await createProfile(h, NAMES.U2, profileBody(name, w.appA));
    await createProfile(h, NAMES.TA1, profileBody(name, w.appA));
    // … but creating it for U1 through ?user= clashes with U1's
    assertError(
      await call({ method: 'POST', url: `/api/mgmt/oauthprofiles?user=${NAMES.U1}`, as: NAMES.TA1, payload: profileBody(name, w.appA) }),
      409,
      DUPLICATE,
    );
    expectStatus(await call({ method: 'PUT', url: `/api/mgmt/oauthprofiles/${first}`, as: NAMES.U1, payload: profileBody(name.toLowerCase(), w.appA) }), 200);
  });

  test('changing oauthAppId: refused (400 222207711) to another data store while data sources use the profile, else allowed', async () => {
    const id = (await createProfile(h, NAMES.U1, profileBody(unique('Switch_'), w.appA))).id;
    const ds = (await createDataSource(h, NAMES.U1, dataSourceBody(unique('Switch DS '), id))).id;
    const before = await oauthState(h.store);
    assertError(await call({ method: 'PUT', url: `/api/mgmt/oauthprofiles/${id}`, as: NAMES.U1, payload: profileBody('Switched', w.appA62) }), 400, APP_REF);
    assert.deepEqual(await oauthState(h.store), before, 'nothing changed');
    // another app of the same data store (the system tenant's, usable by tenant A) is fine
    expectStatus(await call({ method: 'PUT', url: `/api/mgmt/oauthprofiles/${id}`, as: NAMES.U1, payload: profileBody('Switched', w.appSys) }), 200);
    assert.equal((await h.store.dataSources.get(ds))?.oauthProfileId, id, 'the data source keeps its reference');
    // without data sources, the data store may change
    await call({ method: 'DELETE', url: `/api/mgmt/datasources/${ds}`, as: NAMES.U1 });
    const moved = expectStatus(
      await call({ method: 'PUT', url: `/api/mgmt/oauthprofiles/${id}`, as: NAMES.U1, payload: profileBody('Switched', w.appA62) }),
      200,
    );
    assert.equal(moved.oauthAppId, w.appA62);
    const stats = expectStatus(await call({ method: 'GET', url: `/api/mgmt/oauthprofiles/${id}/stats`, as: NAMES.U1 }), 200);
    assert.deepEqual(stats, { dataSourcesLinked: 0, dataStoreId: 62, dataSources: [] });
  });
});

// ---- OAuth applications -----------------------------------------------------------------------------------------

/** [URI, what the message must say, label]: each refused with 400, the message naming the field and the problem. */
const URI_PROBLEMS: [string, RegExp, string][] = [
  ['https://accounts.example.com/auth#frag', /fragment/, 'with a fragment'],
  ['https://accounts.example.com/auth#', /fragment/, 'with an empty fragment'],
  ['https://user@accounts.example.com/auth', /credentials/, 'with a user name'],
  ['https://:pw@accounts.example.com/auth', /credentials/, 'with a password only'],
  ['https:accounts.example.com/auth', /"\/\/"/, 'without //'],
  ['https:/accounts.example.com/auth', /"\/\/"/, 'with one /'],
  ['https://evil.example\\@good.example/', /backslash/, 'evil\\@good'],
  ['https://evil.example\\good.example/', /backslash/, 'with a backslash in the host'],
  ['https://a.example/a\\b', /backslash/, 'with a backslash in the path'],
  ['https://127.1/auth', /host/, 'IPv4 shorthand'],
  ['https://0x7f.0.0.1/auth', /host/, 'hexadecimal IPv4'],
  ['https://2130706433/auth', /host/, 'IPv4 as one number'],
  ['https://%65vil.example/auth', /host/, 'percent-escaped host'],
  ['https://evil.example%2F@good.example/', /credentials|host/, 'escaped slash before @'],
  ['https:///accounts.example.com/auth', /host/, 'empty host'],
  ['https://bücher.example/auth', /ASCII/, 'non-ASCII host'],
  ['https://a.example/auth\u200b', /ASCII/, 'zero-width space'],
  ['https://a.example/a|b', /percent-encoded/, 'unescaped |'],
  ['https://a.example/a%zz', /percent-encoded/, 'broken escape'],
  ['https://a.example:99999/auth', /not a valid URL/, 'port out of range'],
];

const uriCases = (field: string): Case[] => [
  missing(field),
  ...wrongTypes(field, [17, null, true, [], {}, '']),
  bad(field, 'not a url', INVALID, 400, `${field} not a URL`),
  bad(field, '/o/oauth2/v2/auth', INVALID, 400, `${field} relative`),
  bad(field, 'http://accounts.google.com/o/oauth2/v2/auth', INVALID, 400, `${field} http: to a public host`),
  bad(field, 'http://localhost:8080/auth', INVALID, 400, `${field} http: to loopback without the development switch`),
  bad(field, 'http://127.0.0.1/auth', INVALID, 400, `${field} http: to 127.0.0.1 without the development switch`),
  bad(field, 'ftp://files.example.com/auth', INVALID, 400, `${field} ftp:`),
  bad(field, 'javascript:alert(1)', INVALID, 400, `${field} javascript:`),
  bad(field, 'https://user:password@accounts.example.com/auth', INVALID, 400, `${field} with credentials`),
  bad(field, `https://accounts.example.com/${'a'.repeat(2048)}`, INVALID, 400, `${field} longer than 2048`),
  // forms URL parsers disagree about, and what RFC 6749 §3.1–3.2 forbids
  ...URI_PROBLEMS.map(([value, , label]) => bad(field, value, INVALID, 400, `${field} ${label}`)),
];

describe('OAuth application bodies', () => {
  let target: number;
  before(async () => {
    target = (await createApp(h, 'd2cadmin', appBody('App target', w.tenantA))).id;
  });
  const targets = async () => {
    const base = appBody(unique('Valid app '), w.tenantA);
    return [
      { method: 'POST' as const, url: '/api/mgmt/oauthapps', as: 'd2cadmin', base },
      { method: 'PUT' as const, url: `/api/mgmt/oauthapps/${target}`, as: 'd2cadmin', base },
    ];
  };
  refuses(
    'refused',
    [
      missing('name'),
      ...wrongTypes('name', [17, null, true, [], {}, '']),
      bad('name', long(129)),
      bad('name', 'bell\u0007app', INVALID, 400, 'name with a control character'),
      missing('dataStore'),
      ...wrongTypes('dataStore', ['54', 54.5, null, true, [54], {}]),
      bad('dataStore', 9999, INVALID, 400, 'dataStore of no data store'),
      bad('dataStore', 0, INVALID, 400, 'dataStore 0'),
      ...wrongTypes('tenantId', ['2', 1.5, null, true, 0, -3, [2]]),
      ...wrongTypes('description', [17, true, [], {}]),
      bad('description', long(1025)),
      missing('clientId'),
      ...wrongTypes('clientId', [17, null, true, '', {}]),
      bad('clientId', long(1025)),
      missing('clientSecret'),
      ...wrongTypes('clientSecret', [17, null, true, '', {}]),
      bad('clientSecret', long(4097)),
      ...uriCases('authorizeURI'),
      ...uriCases('tokenURI'),
      ...wrongTypes('scope', [17, true, [], {}]),
      bad('scope', long(4097)),
    ],
    targets,
  );

  test('an unknown tenantId is 404 222208573 on create, and a PUT cannot move an app to another tenant', async () => {
    const before = await oauthState(h.store);
    assertError(await call({ method: 'POST', url: '/api/mgmt/oauthapps', as: 'd2cadmin', payload: appBody(unique('Lost '), 987654) }), 404, TENANT_NOT_FOUND);
    assertError(
      await call({ method: 'PUT', url: `/api/mgmt/oauthapps/${target}`, as: 'd2cadmin', payload: appBody(unique('Moved '), w.tenantB) }),
      400,
      INVALID,
    );
    assert.deepEqual(await oauthState(h.store), before);
    // repeating the current tenant, or leaving it out, keeps it
    const same = expectStatus(
      await call({ method: 'PUT', url: `/api/mgmt/oauthapps/${target}`, as: 'd2cadmin', payload: appBody('App target', w.tenantA) }),
      200,
    );
    assert.equal(same.tenantId, w.tenantA);
    const { tenantId: _t, ...noTenant } = appBody('App target', w.tenantA);
    assert.equal(expectStatus(await call({ method: 'PUT', url: `/api/mgmt/oauthapps/${target}`, as: 'd2cadmin', payload: noTenant }), 200).tenantId, w.tenantA);
  });

  test("create defaults tenantId to the effective user's tenant; names may have spaces; scope is kept as given", async () => {
    const { tenantId: _t, ...body } = appBody(unique('TenantA OAuth app '), w.tenantA, { scope: 'full_offline_access, test_repo' });
    const created = expectStatus(await call({ method: 'POST', url: '/api/mgmt/oauthapps', as: NAMES.TA1, payload: body }), 201);
    assert.equal(created.tenantId, w.tenantA);
    assert.equal(created.scope, 'full_offline_access, test_repo');
    const sys = expectStatus(await call({ method: 'POST', url: '/api/mgmt/oauthapps', as: 'd2cadmin', payload: appBody(unique('Sys app '), 1) }), 201);
    assert.equal(sys.tenantId, 1);
  });

  test('PUT is a full replace: omitted description and scope come back null; the id rule holds', async () => {
    const id = (await createApp(h, 'd2cadmin', appBody(unique('Replace me '), w.tenantA))).id;
    const { description: _d, scope: _s, ...body } = appBody(unique('Replaced '), w.tenantA);
    const res = expectStatus(await call({ method: 'PUT', url: `/api/mgmt/oauthapps/${id}`, as: 'd2cadmin', payload: body }), 200);
    assert.deepEqual(res, { id, ...body, description: null, scope: null });
    assert.deepEqual(appView((await h.store.apps.get(id))!), res);
    const before = await oauthState(h.store);
    assertError(await call({ method: 'PUT', url: `/api/mgmt/oauthapps/${id}`, as: 'd2cadmin', payload: { ...body, id: id + 1 } }), 400, INVALID);
    assert.deepEqual(await oauthState(h.store), before);
    expectStatus(await call({ method: 'PUT', url: `/api/mgmt/oauthapps/${id}`, as: 'd2cadmin', payload: { ...body, id } }), 200);
  });

  test('the data store of an app whose profiles back data sources cannot change', async () => {
    const id = (await createApp(h, 'd2cadmin', appBody(unique('Backing '), w.tenantA))).id;
    const profile = (await createProfile(h, NAMES.U1, profileBody(unique('Backed_'), id))).id;
    await createDataSource(h, NAMES.U1, dataSourceBody(unique('Backed DS '), profile));
    const before = await oauthState(h.store);
    const res = await call({ method: 'PUT', url: `/api/mgmt/oauthapps/${id}`, as: 'd2cadmin', payload: appBody('Backing', w.tenantA, { dataStore: 62 }) });
    assert.equal(res.statusCode, 400, res.body);
    assert.deepEqual(await oauthState(h.store), before);
  });

  test('a refused URI: the message names the field and the problem, never the URI', async () => {
    for (const [value, problem, label] of URI_PROBLEMS) {
      for (const field of ['authorizeURI', 'tokenURI']) {
        const res = await call({ method: 'POST', url: '/api/mgmt/oauthapps', as: 'd2cadmin', payload: appBody(unique('Uri '), w.tenantA, { [field]: value }) });
        const message = assertError(res, 400, INVALID, label).error.message.value;
        assert.match(message, new RegExp(`${field}: .*${problem.source}`), `${label}: ${message}`);
        assert.ok(!message.includes(value), `${label}: the message does not repeat the URI`);
      }
    }
  });

  test('an accepted URI is stored, and answered, in its normal form', async () => {
    const cases: [string, string][] = [
      ['HTTPS://Accounts.EXAMPLE.com:443/o/oauth2/auth?x=1&y=%2f', 'https://accounts.example.com/o/oauth2/auth?x=1&y=%2f'],
      ['https://accounts.example.com', 'https://accounts.example.com/'],
      ['https://accounts.example.com:8443/a/./b/../c', 'https://accounts.example.com:8443/a/c'],
      ['https://[0:0::1]:9000/token', 'https://[::1]:9000/token'],
    ];
    for (const [sent, stored] of cases) {
      const created = await createApp(h, 'd2cadmin', appBody(unique('Normal '), w.tenantA, { authorizeURI: sent, tokenURI: sent }));
      assert.equal(created.authorizeURI, stored, sent);
      assert.equal(created.tokenURI, stored, sent);
      const row = (await h.store.apps.get(created.id))!;
      assert.equal(row.authorizeURI, stored);
      assert.equal(row.tokenURI, stored);
      const replaced = expectStatus(
        await call({
          method: 'PUT',
          url: `/api/mgmt/oauthapps/${created.id}`,
          as: 'd2cadmin',
          payload: appBody(unique('Normal '), w.tenantA, { tokenURI: sent }),
        }),
        200,
      );
      assert.equal(replaced.tokenURI, stored);
      assert.equal((await h.store.apps.get(created.id))!.tokenURI, stored);
    }
  });

  test('http: to loopback is accepted only with the development switch, and never to other hosts', async () => {
    const dev = await harness({ allowLoopbackHttpUris: true });
    try {
      for (const uri of ['http://localhost:8080/auth', 'http://127.0.0.1/token', 'http://[::1]:9000/auth']) {
        const res = await dev.call({
          method: 'POST',
          url: '/api/mgmt/oauthapps',
          as: 'd2cadmin',
          payload: appBody(unique('Dev '), 1, { authorizeURI: uri, tokenURI: uri }),
        });
        expectStatus(res, 201, uri);
      }
      for (const uri of ['http://accounts.google.com/auth', 'http://10.0.0.1/auth', 'http://localhost.example.com/auth']) {
        const res = await dev.call({ method: 'POST', url: '/api/mgmt/oauthapps', as: 'd2cadmin', payload: appBody(unique('Dev '), 1, { tokenURI: uri }) });
        assertError(res, 400, INVALID, uri);
      }
    } finally {
      await dev.close();
    }
  });
});

// ---- data sources -----------------------------------------------------------------------------------------------

describe('data source bodies', () => {
  let profile: number;
  let target: number;
  const ctx = { peerProfile: 0, bigQueryProfile: 0 };
  before(async () => {
    profile = (await createProfile(h, NAMES.U1, profileBody('DS_Profile', w.appA))).id;
    target = (await createDataSource(h, NAMES.U1, dataSourceBody('DS target', profile))).id;
    ctx.peerProfile = (await createProfile(h, NAMES.U2, profileBody('Peer_Profile', w.appA))).id;
    ctx.bigQueryProfile = (await createProfile(h, NAMES.U1, profileBody('BigQuery_Profile', w.appA62))).id;
  });
  const targets = async () => {
    const base = dataSourceBody(unique('Valid DS '), profile, { options: { OAuthProfileId: String(profile), Password: 'OPTION-SECRET-value-1' } });
    return [
      { method: 'POST' as const, url: '/api/mgmt/datasources', as: NAMES.U1, base },
      { method: 'PUT' as const, url: `/api/mgmt/datasources/${target}`, as: NAMES.U1, base },
    ];
  };
  const option = (value: unknown, label: string, code = OPTION): Case => ({
    label,
    field: 'OAuthProfileId',
    code,
    status: 400,
    change: (b) => ({ ...b, options: { ...(b.options as Body), OAuthProfileId: typeof value === 'function' ? value() : value } }),
  });
  refuses(
    'refused',
    [
      missing('name'),
      ...wrongTypes('name', [17, null, true, [], {}, '']),
      bad('name', long(129)),
      ...wrongTypes('dataStore', ['54', 54.5, null, true, {}]),
      ...wrongTypes('connectionType', ['Foo', 'cloud', 17, null, true]),
      ...wrongTypes('description', [17, true, [], {}]),
      bad('description', long(1025)),
      ...wrongTypes('options', ['x', [], 17, null, true]),
      bad('options', { Password: 17 }, INVALID, 400, 'an option value that is a number'),
      bad('options', { Password: null }, INVALID, 400, 'an option value that is null'),
      bad('options', { Password: { nested: 'x' } }, INVALID, 400, 'an option value that is an object'),
      bad('options', Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`K${i}`, 'v'])), INVALID, 400, '101 options'),
      bad('options', { [long(129)]: 'v' }, INVALID, 400, 'an option name longer than 128'),
      bad('options', { 'Pass\nword': 'v' }, INVALID, 400, 'an option name with a line break'),
      bad('options', { '': 'v' }, INVALID, 400, 'an empty option name'),
      option(() => profile, 'OAuthProfileId as a JSON number', INVALID),
      option('abc', 'OAuthProfileId not a number'),
      option('0', 'OAuthProfileId 0'),
      option('-1', 'OAuthProfileId negative'),
      option('1.5', 'OAuthProfileId fractional'),
      option('1e3', 'OAuthProfileId in exponent notation'),
      option('0x10', 'OAuthProfileId in hex'),
      option('99999999999999999999', 'OAuthProfileId beyond 2^53'),
      option(() => ` ${profile}`, 'OAuthProfileId with a leading space'),
      option(() => `0${profile}`, 'OAuthProfileId with a leading zero'),
      option('987654', 'OAuthProfileId of no profile'),
      option(() => String(ctx.peerProfile), "OAuthProfileId of another user's profile"),
      option(() => String(ctx.bigQueryProfile), 'OAuthProfileId of a profile whose app has another data store'),
    ],
    targets,
  );

  test('dataStore: required on create, must be a data store, immutable on update', async () => {
    const before = await oauthState(h.store);
    const { dataStore: _d, ...noStore } = dataSourceBody(unique('No store '), null);
    assertError(await call({ method: 'POST', url: '/api/mgmt/datasources', as: NAMES.U1, payload: noStore }), 400, INVALID);
    assertError(
      await call({ method: 'POST', url: '/api/mgmt/datasources', as: NAMES.U1, payload: dataSourceBody(unique('Bad store '), null, { dataStore: 9999 }) }),
      400,
      INVALID,
    );
    assertError(
      await call({ method: 'PUT', url: `/api/mgmt/datasources/${target}`, as: NAMES.U1, payload: dataSourceBody('DS target', profile, { dataStore: 62 }) }),
      400,
      INVALID,
    );
    const changedType = await call({
      method: 'PUT',
      url: `/api/mgmt/datasources/${target}`,
      as: NAMES.U1,
      payload: dataSourceBody('DS target', profile, { connectionType: 'Hybrid' }),
    });
    assert.equal(changedType.statusCode, 400, changedType.body);
    assert.deepEqual(await oauthState(h.store), before);
    // repeating them unchanged, or leaving them out, is fine
    expectStatus(
      await call({
        method: 'PUT',
        url: `/api/mgmt/datasources/${target}`,
        as: NAMES.U1,
        payload: dataSourceBody('DS target', profile, { connectionType: 'Cloud' }),
      }),
      200,
    );
    const { dataStore: _s, ...body } = dataSourceBody('DS target', profile);
    expectStatus(await call({ method: 'PUT', url: `/api/mgmt/datasources/${target}`, as: NAMES.U1, payload: body }), 200);
  });

  test('PUT is a full replace: omitted description becomes null, omitted options drop the profile reference; the id rule holds', async () => {
    const id = (await createDataSource(h, NAMES.U1, dataSourceBody(unique('Replace DS '), profile))).id;
    const res = expectStatus(await call({ method: 'PUT', url: `/api/mgmt/datasources/${id}`, as: NAMES.U1, payload: { name: 'Replaced DS' } }), 200);
    assert.deepEqual(res, { id, name: 'Replaced DS', dataStore: 54, connectionType: 'Cloud', description: null, options: {} });
    assert.equal((await h.store.dataSources.get(id))?.oauthProfileId, null);
    const before = await oauthState(h.store);
    assertError(await call({ method: 'PUT', url: `/api/mgmt/datasources/${id}`, as: NAMES.U1, payload: { id: String(id), name: 'X' } }), 400, INVALID);
    assert.deepEqual(await oauthState(h.store), before);
  });

  test("a profile the owner created for someone else may back the owner's data source (visible to the owner)", async () => {
    const forPeer = (await createProfile(h, NAMES.TA1, profileBody(unique('ForPeer_'), w.appA), NAMES.U2)).id;
    const ds = expectStatus(
      await call({ method: 'POST', url: '/api/mgmt/datasources', as: NAMES.TA1, payload: dataSourceBody(unique('Creator DS '), forPeer) }),
      201,
    );
    assert.equal(ds.options.OAuthProfileId, String(forPeer));
  });
});

// ---- non-object bodies, media types, sizes ----------------------------------------------------------------------

describe('bodies that are not a JSON object', () => {
  const urls = () => [
    { method: 'POST' as const, url: '/api/mgmt/oauthprofiles' },
    { method: 'POST' as const, url: '/api/mgmt/oauthapps' },
    { method: 'POST' as const, url: '/api/mgmt/datasources' },
  ];
  for (const [label, raw, type, status] of [
    ['null', 'null', 'application/json', 400],
    ['an array', '[]', 'application/json', 400],
    ['a string', '"x"', 'application/json', 400],
    ['a number', '3', 'application/json', 400],
    ['broken JSON', '{"name":', 'application/json', 400],
    ['an empty body', '', 'application/json', 400],
    ['text/plain', '{"name":"x"}', 'text/plain', 415],
    ['form data', 'name=x', 'application/x-www-form-urlencoded', 415],
    ['more than 64 KiB', JSON.stringify({ name: 'Big', refreshToken: 'r'.repeat(70 * 1024) }), 'application/json', 413],
  ] as const) {
    test(`${label} → ${status}`, async () => {
      for (const u of urls()) {
        const before = await oauthState(h.store);
        const res = await call({ ...u, as: 'd2cadmin', payload: raw, headers: { 'content-type': type } });
        assert.equal(res.statusCode, status, `${u.url}: ${res.body.slice(0, 200)}`);
        if (status === 400) assert.equal(json(res).error.code, INVALID);
        assert.deepEqual(await oauthState(h.store), before);
      }
    });
  }
});

describe('U+0000 and other control characters (PostgreSQL cannot store U+0000 in text: never a 500, on any backend)', () => {
  test('refused with 400 in every plain-text field of a body', async () => {
    const app = (await createApp(h, 'd2cadmin', appBody(unique('Nul app '), w.tenantA))).id;
    const cases: [string, Record<string, unknown>][] = [
      ['/api/mgmt/oauthapps', appBody(unique('Nul '), w.tenantA, { name: 'a\u0000b' })],
      ['/api/mgmt/oauthapps', appBody(unique('Nul '), w.tenantA, { description: 'a\u0000b' })],
      ['/api/mgmt/oauthapps', appBody(unique('Nul '), w.tenantA, { clientId: 'client\u0000id' })],
      ['/api/mgmt/oauthapps', appBody(unique('Nul '), w.tenantA, { scope: 'scope\u0000x' })],
      ['/api/mgmt/oauthapps', appBody(unique('Nul '), w.tenantA, { authorizeURI: 'https://a.example/\u0000' })],
      ['/api/mgmt/oauthapps', appBody(unique('Nul '), w.tenantA, { tokenURI: 'https://a.example/to ken' })],
      ['/api/mgmt/oauthapps', appBody(unique('Nul '), w.tenantA, { tokenURI: 'https://a.example/token\n' })],
      ['/api/mgmt/oauthprofiles', profileBody(unique('Nul_'), app, { description: 'a\u0000b' })],
      ['/api/mgmt/datasources', dataSourceBody(unique('Nul '), null, { description: 'a\u0000b' })],
      ['/api/mgmt/datasources', dataSourceBody(unique('Nul '), null, { name: 'a\u0000b' })],
    ];
    for (const [url, payload] of cases) {
      const before = await oauthState(h.store);
      const res = await call({ method: 'POST', url, as: url.includes('oauthapps') ? 'd2cadmin' : NAMES.U1, payload });
      assertError(res, 400, INVALID, `${url} ${JSON.stringify(payload).slice(0, 120)}`);
      assert.deepEqual(await oauthState(h.store), before);
    }
  });

  test('accepted and returned unchanged in opaque secrets: tokens, client secret, option values', async () => {
    const app = expectStatus(
      await call({
        method: 'POST',
        url: '/api/mgmt/oauthapps',
        as: 'd2cadmin',
        payload: appBody(unique('Opaque '), w.tenantA, { clientSecret: 'sec\u0000ret' }),
      }),
      201,
    );
    assert.equal(app.clientSecret, 'sec\u0000ret');
    const p = expectStatus(
      await call({
        method: 'POST',
        url: '/api/mgmt/oauthprofiles',
        as: NAMES.U1,
        payload: profileBody(unique('Opaque_'), app.id, { accessToken: 'a\u0000', refreshToken: '\u0000r' }),
      }),
      201,
    );
    assert.deepEqual([p.accessToken, p.refreshToken], ['a\u0000', '\u0000r']);
    const ds = expectStatus(
      await call({
        method: 'POST',
        url: '/api/mgmt/datasources',
        as: NAMES.U1,
        payload: dataSourceBody(unique('Opaque '), null, { options: { Password: 'pass\u0000word' } }),
      }),
      201,
    );
    assert.deepEqual(ds.options, { Password: 'pass\u0000word' });
    // U+2028 is not a control character: accepted in an option name, and the answer keeps it (a regex "." would not).
    const sep = expectStatus(
      await call({
        method: 'POST',
        url: '/api/mgmt/datasources',
        as: NAMES.U1,
        payload: dataSourceBody(unique('Opaque '), null, { options: { 'A\u2028B': 'v' } }),
      }),
      201,
    );
    assert.deepEqual(sep.options, { 'A\u2028B': 'v' });
    assert.deepEqual(expectStatus(await call({ method: 'GET', url: `/api/mgmt/datasources/${sep.id}`, as: NAMES.U1 }), 200).options, { 'A\u2028B': 'v' });
    assert.equal((await h.store.profiles.get(p.id))?.refreshToken, '\u0000r');
  });

  test('in ?user=, ?tenantName= and a Basic user name: not found / 401, without a 500', async () => {
    assertError(await call({ method: 'GET', url: '/api/mgmt/oauthprofiles?user=%00', as: 'd2cadmin' }), 404, 223001404);
    assertError(await call({ method: 'GET', url: `/api/mgmt/oauthprofiles?user=${encodeURIComponent(`${NAMES.U1}\u0000`)}`, as: 'd2cadmin' }), 404, 223001404);
    assertError(await call({ method: 'GET', url: '/api/mgmt/oauthapps?tenantName=Tenant%00A', as: 'd2cadmin' }), 404, TENANT_NOT_FOUND);
    assertError(await call({ method: 'GET', url: '/api/mgmt/oauthprofiles', as: ['d2c\u0000admin', 'x'] }), 401, 223000401);
  });
});

test('a DELETE carrying Content-Type: application/json and Content-Length: 0 (as python-requests sends it) is a DELETE, not an empty JSON body', async () => {
  const profile = (await createProfile(h, NAMES.U1, profileBody(unique('Del_'), w.appA))).id;
  const ds = (await createDataSource(h, NAMES.U1, dataSourceBody(unique('Del DS '), null))).id;
  const app = (await createApp(h, 'd2cadmin', appBody(unique('Del app '), w.tenantA))).id;
  for (const [url, as] of [
    [`/api/mgmt/oauthprofiles/${profile}`, NAMES.U1],
    [`/api/mgmt/datasources/${ds}`, NAMES.U1],
    [`/api/mgmt/oauthapps/${app}`, 'd2cadmin'],
  ] as const) {
    const res = await call({ method: 'DELETE', url, as, headers: { 'content-type': 'application/json', 'content-length': '0' } });
    assert.equal(res.statusCode, 204, `${url}: ${res.body}`);
  }
  assert.equal(await h.store.profiles.get(profile), undefined);
});

// ---- cascades ---------------------------------------------------------------------------------------------------

describe('cascades', () => {
  test('deleting an app deletes its profiles and strips them from data sources, nothing else', async () => {
    const app = (await createApp(h, 'd2cadmin', appBody(unique('Doomed '), w.tenantA))).id;
    const p1 = (await createProfile(h, NAMES.U1, profileBody(unique('Doomed_'), app))).id;
    const p2 = (await createProfile(h, NAMES.TA1, profileBody(unique('Doomed_'), app), NAMES.U2)).id;
    const keep = (await createProfile(h, NAMES.U1, profileBody(unique('Kept_'), w.appA))).id;
    const d1 = (await createDataSource(h, NAMES.U1, dataSourceBody(unique('Doomed DS '), p1))).id;
    const d2 = (await createDataSource(h, NAMES.U1, dataSourceBody(unique('Kept DS '), keep))).id;
    const before = await oauthState(h.store);
    assert.equal((await call({ method: 'DELETE', url: `/api/mgmt/oauthapps/${app}`, as: 'd2cadmin' })).statusCode, 204);
    const afterState = await oauthState(h.store);
    assert.deepEqual(
      afterState.apps,
      before.apps.filter((a) => a.id !== app),
    );
    assert.deepEqual(
      afterState.profiles,
      before.profiles.filter((p) => p.id !== p1 && p.id !== p2),
    );
    assert.deepEqual(
      afterState.dataSources,
      before.dataSources.map((d) => (d.id === d1 ? { ...d, oauthProfileId: null } : d)),
    );
    assert.equal((await h.store.dataSources.get(d2))?.oauthProfileId, keep);
    assertError(await call({ method: 'GET', url: `/api/mgmt/oauthapps/${app}`, as: 'd2cadmin' }), 404, APP_REF);
  });

  test("deleting a user deletes the profiles and data sources it owns; others' data sources lose the reference", async () => {
    const doomed = 'doomed_user';
    const doomedId = await createUser(h, doomed, w.tenantA, [w.roles.aUser]);
    const own = (await createProfile(h, doomed, profileBody('Doomed_Own', w.appA))).id;
    const byAdmin = (await createProfile(h, NAMES.TA1, profileBody('Doomed_ByAdmin', w.appA), doomed)).id;
    const ownDs = (await createDataSource(h, doomed, dataSourceBody('Doomed own DS', own))).id;
    // the creator's own data source may use the profile it created for the doomed user
    const creatorDs = (await createDataSource(h, NAMES.TA1, dataSourceBody(unique('Creator DS '), byAdmin))).id;
    const before = await oauthState(h.store);

    const res = await call({ method: 'DELETE', url: `/api/admin/users/${doomedId}`, as: 'd2cadmin' });
    assert.equal(res.statusCode, 204, res.body);
    const afterState = await oauthState(h.store);
    assert.deepEqual(
      afterState.profiles,
      before.profiles.filter((p) => p.id !== own && p.id !== byAdmin),
      'its profiles are gone, no other',
    );
    assert.deepEqual(
      afterState.dataSources,
      before.dataSources.filter((d) => d.id !== ownDs).map((d) => (d.id === creatorDs ? { ...d, oauthProfileId: null } : d)),
    );
    assert.deepEqual(afterState.apps, before.apps);
    assertError(await call({ method: 'GET', url: `/api/mgmt/oauthprofiles/${byAdmin}`, as: NAMES.TA1 }), 404, 222207710);
  });

  test('a profile created by an administrator for a user survives the administrator: it stays with its owner', async () => {
    const adminName = 'transient_admin';
    const adminId = await createUser(h, adminName, w.tenantA, [w.roles.aAdmin]);
    const setAdmins = await call({
      method: 'PUT',
      url: `/api/admin/tenants/${w.tenantA}/admins`,
      as: 'd2cadmin',
      payload: { admins: [...(await h.store.tenants.admins(w.tenantA)), adminId] },
    });
    expectStatus(setAdmins, 200);
    const body = profileBody(unique('Survivor_'), w.appA);
    const id = (await createProfile(h, adminName, body, NAMES.U1)).id;
    const ds = (await createDataSource(h, NAMES.U1, dataSourceBody(unique('Survivor DS '), id))).id;
    assert.equal((await h.store.profiles.get(id))?.creatorId, adminId);

    assert.equal((await call({ method: 'DELETE', url: `/api/admin/users/${adminId}`, as: 'd2cadmin' })).statusCode, 204);
    const stored = (await h.store.profiles.get(id))!;
    assert.ok(stored, 'the profile survives its creator');
    assert.deepEqual([stored.ownerId, stored.creatorId], [w.ids.U1, null]);
    assert.deepEqual(expectStatus(await call({ method: 'GET', url: `/api/mgmt/oauthprofiles/${id}`, as: NAMES.U1 }), 200), { id, ...body });
    assert.equal((await h.store.dataSources.get(ds))?.oauthProfileId, id, 'its data source keeps the reference');
  });
});

// ---- leaks ------------------------------------------------------------------------------------------------------

test('no token, client secret, client id or option value in any list body', async () => {
  const app = await createApp(
    h,
    'd2cadmin',
    appBody(unique('Leaky '), w.tenantA, { clientSecret: 'CLIENT-SECRET-never-listed', clientId: 'CLIENT-ID-never-listed' }),
  );
  const p = (
    await createProfile(h, NAMES.U1, profileBody(unique('Leaky_'), app.id, { accessToken: 'ACCESS-never-listed', refreshToken: 'REFRESH-never-listed' }))
  ).id;
  await createDataSource(h, NAMES.U1, dataSourceBody(unique('Leaky DS '), p, { options: { OAuthProfileId: String(p), Password: 'OPTION-never-listed' } }));
  for (const value of ['CLIENT-SECRET-never-listed', 'CLIENT-ID-never-listed', 'ACCESS-never-listed', 'REFRESH-never-listed', 'OPTION-never-listed'])
    secrets.add(value);
  // and every token and client secret of every object stored so far
  for (const value of await storedSecrets(h.store)) if (value.length >= 8) secrets.add(value);
  for (const [as, url] of [
    [NAMES.U1, '/api/mgmt/oauthprofiles'],
    ['d2cadmin', `/api/mgmt/oauthprofiles?user=${NAMES.U1}`],
    [NAMES.TA1, '/api/mgmt/oauthprofiles'],
    [NAMES.U1, '/api/mgmt/oauthapps'],
    ['d2cadmin', '/api/mgmt/oauthapps'],
    [NAMES.TA1, `/api/mgmt/oauthapps?tenantId=${w.tenantA}`],
    [NAMES.U1, '/api/mgmt/datasources'],
    ['d2cadmin', `/api/mgmt/datasources?user=${NAMES.U1}`],
  ] as const) {
    const res = await call({ method: 'GET', url, as }); // call() checks the body against every remembered secret
    assert.equal(res.statusCode, 200, `${as} ${url}`);
    assert.ok(!/accessToken|refreshToken|clientSecret|clientId|"options"/.test(res.body), `${url}: no secret-bearing keys`);
  }
  assert.ok(secrets.size > 20, 'the leak check has material');
});

test('no secret in error bodies of refused writes that carry secrets', async () => {
  const p = (await createProfile(h, NAMES.U1, profileBody(unique('Err_'), w.appA))).id;
  const app = (await createApp(h, 'd2cadmin', appBody(unique('Err app '), w.tenantA))).id;
  const secretProfile = { accessToken: 'ACCESS-in-a-refused-body', refreshToken: 'REFRESH-in-a-refused-body' };
  const secretApp = { clientSecret: 'SECRET-in-a-refused-body', clientId: 'CLIENTID-in-a-refused-body' };
  const attempts: InjectOptions[] = [
    { method: 'POST', url: '/api/mgmt/oauthprofiles', payload: { ...profileBody('bad name', w.appA), ...secretProfile } },
    { method: 'POST', url: '/api/mgmt/oauthprofiles', payload: { ...profileBody(unique('X_'), 987654), ...secretProfile } },
    { method: 'POST', url: '/api/mgmt/oauthprofiles', payload: { name: 'X', oauthAppId: w.appA, accessToken: secretProfile.accessToken, refreshToken: 17 } },
    { method: 'POST', url: '/api/mgmt/oauthprofiles', payload: { name: 'X', oauthAppId: w.appA, accessToken: 17, refreshToken: secretProfile.refreshToken } },
    { method: 'PUT', url: `/api/mgmt/oauthprofiles/${p}`, payload: { ...profileBody(unique('X_'), w.appB), ...secretProfile } },
    { method: 'PUT', url: `/api/mgmt/oauthprofiles/${p + 1000}`, payload: { ...profileBody(unique('X_'), w.appA), ...secretProfile } },
    { method: 'POST', url: '/api/mgmt/oauthapps', payload: appBody(unique('E '), w.tenantA, { ...secretApp, tokenURI: 'http://insecure.example.com' }) },
    {
      method: 'POST',
      url: '/api/mgmt/oauthapps',
      payload: appBody(unique('E '), w.tenantA, { ...secretApp, authorizeURI: `https://x:${secretApp.clientSecret}@example.com/` }),
    },
    {
      method: 'POST',
      url: '/api/mgmt/oauthapps',
      payload: appBody(unique('E '), w.tenantA, { ...secretApp, tokenURI: `http://a.example/token?client_secret=${secretApp.clientSecret}` }),
    },
    {
      method: 'POST',
      url: '/api/mgmt/oauthapps',
      payload: appBody(unique('E '), w.tenantA, { ...secretApp, tokenURI: `${secretApp.clientSecret} is not a URL` }),
    },
    { method: 'PUT', url: `/api/mgmt/oauthapps/${app}`, payload: appBody(unique('E '), 987654, secretApp) },
    { method: 'POST', url: '/api/mgmt/oauthapps', payload: appBody(unique('E '), 987654, secretApp) },
    {
      method: 'POST',
      url: '/api/mgmt/datasources',
      payload: dataSourceBody(unique('E '), 987654, { options: { OAuthProfileId: 'OPTION-SECRET-as-profile-id', Password: 'OPTION-SECRET-password' } }),
    },
    {
      method: 'POST',
      url: '/api/mgmt/datasources',
      payload: dataSourceBody(unique('E '), null, { options: { Password: 'OPTION-SECRET-password', Other: 17 } }),
    },
  ];
  for (const value of [...Object.values(secretProfile), ...Object.values(secretApp), 'OPTION-SECRET-as-profile-id', 'OPTION-SECRET-password'])
    secrets.add(value);
  for (const a of attempts) {
    for (const as of [NAMES.U1, 'd2cadmin', NAMES.U3]) {
      const res = await call({ ...a, as }); // leak check inside
      assert.ok(res.statusCode >= 400, `${a.method} ${a.url} as ${as} is refused: ${res.statusCode}`);
    }
  }
});
