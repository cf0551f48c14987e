/**
 * Property tests of every write route of the administrator API: whatever the body — any JSON value, any object,
 * records of the known fields with plausible or wrong-typed values, numbers JSON can spell but JavaScript cannot
 * hold, arbitrary bytes — the server never answers ≥ 500, every error has HDP's envelope with a catalogued
 * (code, status) pair, and a request that does not succeed stores nothing; enough requests succeed that the success
 * branch is checked too (property-support.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_PASSWORD, harness, must, type Harness } from '../helpers.js';
import { assertEnvelope, snapshot } from '../admin-support.js';
import { withEnoughSuccesses } from '../property-support.js';
import { hasLoneSurrogate } from '../input-support.js';

/** PROP_RUNS=2000 searches harder than CI does. */
const NUM_RUNS = Number(process.env.PROP_RUNS ?? 80);

let h: Harness;
const ids = {
  acme: 0,
  acmeUserRole: 0,
  acmeAdminRole: 0,
  role: 0,
  user: 0,
  d2cadmin: 0,
  d2cuser: 0,
  acmeAdmin: 0,
};

async function asAdmin(method: 'GET' | 'POST' | 'PUT', url: string, payload: object, status: number): Promise<any> {
  const res = await h.call({ method, url, payload, as: 'd2cadmin' });
  assert.equal(res.statusCode, status, `fixture ${method} ${url}: ${res.body}`);
  return res.json();
}

before(async () => {
  h = await harness();
  ids.d2cadmin = (await h.store.users.byName('d2cadmin'))!.id;
  ids.d2cuser = (await h.store.users.byName('d2cuser'))!.id;
  const acme = await asAdmin('POST', '/api/admin/tenants', { name: 'Acme', parentTenant: 1, importedRoles: [2, 3] }, 201);
  ids.acme = acme.id;
  [ids.acmeUserRole, ids.acmeAdminRole] = acme.roles;
  ids.role = (await asAdmin('POST', '/api/admin/roles', { name: 'Analysts', tenantId: acme.id, permissions: [2, 8] }, 201)).id;
  const user = (name: string, roles: number[], permissions: number[] = []) =>
    asAdmin(
      'POST',
      '/api/admin/users',
      {
        userName: name,
        tenantId: acme.id,
        statusInfo: { status: 1 },
        passwordInfo: { password: DEFAULT_PASSWORD },
        permissions: { roles, permissions },
      },
      201,
    );
  ids.user = (await user('target-user', [ids.acmeUserRole])).id;
  ids.acmeAdmin = (await user('acme-admin', [ids.acmeAdminRole], [25])).id;
  await asAdmin('PUT', `/api/admin/tenants/${acme.id}/admins`, { admins: [ids.d2cadmin, ids.acmeAdmin] }, 200);
});

/** Earlier routes may have deactivated Acme or the target user, or changed Acme's admins: each route starts alike. */
async function resetFixture(): Promise<void> {
  const acme = (await h.store.tenants.get(ids.acme))!;
  await must(h.store.tenants.update(ids.acme, { name: acme.name, description: acme.description, status: 1 }));
  await must(h.store.tenants.setAdmins(ids.acme, [ids.d2cadmin, ids.acmeAdmin]));
  const user = (await h.store.users.get(ids.user))!;
  await must(h.store.users.update(ids.user, { ...user, status: 1, passwordHash: undefined }));
  await must(h.store.users.setLock(ids.user, null));
}

after(async () => {
  if (process.env.PROPERTY_STATS) console.log(JSON.stringify(statuses));
  await h?.close();
});

// ---- generators ---------------------------------------------------------------------------------------------------

/** Numbers JSON can spell that are no safe integer, or that JSON.parse turns into something surprising. */
const RAW_NUMBERS = ['1e400', '-1e400', '-0', '1.0', '1e0', '0.5', '9007199254740993', '1E2', '-1', '0', '1', '2', '3'];
const TENANT_LEVEL = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21];

/** An id no object has: valid to the schema, a dangling reference to the domain and the store. */
const DANGLING = 900_001;
/** A reference list that validates, now and then with a dangling id or an unserved permission added. */
const refs = (ok: fc.Arbitrary<number[]>, dangling: number[] = [DANGLING]) =>
  fc.oneof({ weight: 3, arbitrary: ok }, { weight: 1, arbitrary: fc.tuple(ok, fc.constantFrom(...dangling)).map(([list, d]) => [...list, d]) });

const anyJson = fc.jsonValue({ maxDepth: 3 });
const anyString = fc.oneof(
  fc.string({ maxLength: 16 }),
  fc.string({ unit: 'binary', maxLength: 16 }),
  fc.constantFrom('', ' ', 'Acme', 'ACME', 'System', 'd2cadmin', 'a:b', 'x'.repeat(129), 'tab\there', '\u0000', '\ud800', 'é', 'e\u0301'),
);
const anyId = () =>
  fc.oneof(
    fc.constantFrom(1, 2, 3, ids.acme, ids.acmeUserRole, ids.acmeAdminRole, ids.role, ids.user, ids.d2cadmin, ids.d2cuser, ids.acmeAdmin),
    fc.integer({ min: -3, max: 60 }),
    fc.constantFrom(0, Number.MAX_SAFE_INTEGER, 2 ** 53, 1.5, -0, DANGLING),
  );
const anyPermission = fc.oneof(fc.integer({ min: -1, max: 31 }), fc.constantFrom(12, 25, 27));
const anyPassword = fc.oneof(
  fc.constantFrom(DEFAULT_PASSWORD, 'Another-Passw0rd#', 'short', 'abcdefgh12', 'Target-User-1', 'x'.repeat(1025)),
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.string({ minLength: 6, maxLength: 140 }),
);
const anyStatus = fc.oneof(fc.constantFrom(0, 1), fc.integer({ min: -2, max: 3 }));

// Values that pass validation, so that requests reach the domain rules and the store (and sometimes succeed).
const okName = fc
  .tuple(fc.constantFrom('Acme', 'Beta', 'Gamma', 'Δelta', 'target-user', 'acme-admin', 'd2cuser', 'name with spaces'), fc.nat(30))
  .map(([base, n]) => (n % 3 === 0 ? base : `${base} ${n}`));
const okUserName = okName.map((n) => n.replace(/ /g, '-'));
const okText = fc.option(fc.oneof(fc.string({ maxLength: 20 }), fc.constant('é\u00a0ü')), { nil: null });
const okPassword = fc.oneof(
  fc.constantFrom(DEFAULT_PASSWORD, 'Another-Passw0rd#'),
  fc.string({ minLength: 4, maxLength: 20 }).map((x) => `Pw-${x}-9aZ`),
);
const okPermissions = refs(fc.subarray([...TENANT_LEVEL, 12, 25, 27], { maxLength: 6 }), [22, 23, 24, 30]);
const okTenantAdmins = () => refs(fc.subarray([ids.d2cadmin, ids.acmeAdmin, ids.d2cuser, ids.user]));
const okRoles = () => refs(fc.subarray([ids.acmeUserRole, ids.role, ids.acmeAdminRole], { minLength: 1 }), [DANGLING, 1, 2]);
const okGrants = () =>
  fc.record({ roles: okRoles(), permissions: refs(fc.subarray(TENANT_LEVEL, { maxLength: 3 }), [12, 22, 30]) }, { requiredKeys: ['roles'] });

/** One field of a route: a value that validates, and values that may well not. */
interface Field {
  ok: fc.Arbitrary<unknown>;
  any: fc.Arbitrary<unknown>;
  required?: boolean;
}

interface WriteRoute {
  method: 'POST' | 'PUT';
  /** `{acme}`, `{role}`, `{user}` stand for the fixture's ids */
  path: string;
  fields: () => Record<string, Field>;
}

const grants = () => fc.record({ roles: fc.array(anyId(), { maxLength: 3 }), permissions: fc.array(anyPermission, { maxLength: 4 }) }, { requiredKeys: [] });
const statusInfo = () => fc.record({ status: anyStatus, accountLocked: fc.oneof(fc.boolean(), anyJson) }, { requiredKeys: [] });
const pathId = (key: keyof typeof ids): Field => ({ ok: fc.constant(null).map(() => ids[key]), any: anyId() });

const ROUTES: WriteRoute[] = [
  {
    method: 'POST',
    path: '/api/admin/tenants',
    fields: () => ({
      name: { ok: okName, any: anyString, required: true },
      description: { ok: okText, any: anyString },
      parentTenant: { ok: fc.constant(1), any: fc.option(anyId()) },
      status: { ok: fc.constantFrom(0, 1), any: anyStatus },
      importedRoles: { ok: refs(fc.subarray([1, 2, 3]), [DANGLING, ids.role]), any: fc.array(anyId(), { maxLength: 3 }) },
      admins: { ok: refs(fc.subarray([ids.d2cadmin, ids.d2cuser]), [DANGLING, ids.user]), any: fc.array(anyId(), { maxLength: 3 }) },
    }),
  },
  {
    method: 'PUT',
    path: '/api/admin/tenants/{acme}',
    fields: () => ({
      id: pathId('acme'),
      name: { ok: okName, any: anyString, required: true },
      description: { ok: okText, any: anyString },
      parentTenant: { ok: fc.constant(1), any: fc.option(anyId()) },
      status: { ok: fc.constantFrom(0, 1, 1, 1), any: anyStatus },
    }),
  },
  {
    method: 'PUT',
    path: '/api/admin/tenants/{acme}/admins',
    fields: () => ({
      id: pathId('acme'),
      admins: { ok: okTenantAdmins(), any: fc.array(anyId(), { maxLength: 4 }), required: true },
    }),
  },
  {
    method: 'POST',
    path: '/api/admin/roles',
    fields: () => ({
      name: { ok: okName, any: anyString, required: true },
      tenantId: { ok: fc.constantFrom(ids.acme, ids.acme, 1, DANGLING), any: anyId(), required: true },
      description: { ok: okText, any: anyString },
      permissions: { ok: okPermissions, any: fc.array(anyPermission, { maxLength: 5 }), required: true },
      users: { ok: refs(fc.subarray([ids.user, ids.acmeAdmin, ids.d2cuser])), any: fc.array(anyId(), { maxLength: 3 }) },
    }),
  },
  {
    method: 'PUT',
    path: '/api/admin/roles/{role}',
    fields: () => ({
      id: pathId('role'),
      name: { ok: okName, any: anyString, required: true },
      tenantId: { ok: fc.constant(null).map(() => ids.acme), any: anyId(), required: true },
      description: { ok: okText, any: anyString },
      permissions: { ok: okPermissions, any: fc.array(anyPermission, { maxLength: 5 }), required: true },
      users: { ok: refs(fc.subarray([ids.user, ids.acmeAdmin]), [DANGLING, ids.d2cuser]), any: fc.array(anyId(), { maxLength: 3 }) },
    }),
  },
  {
    method: 'POST',
    path: '/api/admin/users',
    fields: () => ({
      userName: { ok: okUserName, any: anyString, required: true },
      tenantId: { ok: fc.constant(null).map(() => ids.acme), any: anyId() },
      statusInfo: { ok: fc.record({ status: fc.constantFrom(0, 1) }), any: statusInfo(), required: true },
      passwordInfo: { ok: fc.record({ password: okPassword }), any: fc.record({ password: anyPassword }, { requiredKeys: [] }) },
      permissions: { ok: okGrants(), any: grants(), required: true },
    }),
  },
  {
    method: 'PUT',
    path: '/api/admin/users/{user}',
    fields: () => ({
      id: pathId('user'),
      userName: { ok: fc.oneof(fc.constant('target-user'), okUserName), any: anyString, required: true },
      tenantId: { ok: fc.constant(null).map(() => ids.acme), any: anyId() },
      statusInfo: {
        ok: fc.record({ status: fc.constantFrom(0, 1), accountLocked: fc.boolean() }, { requiredKeys: ['status'] }),
        any: statusInfo(),
        required: true,
      },
      passwordInfo: { ok: fc.record({ password: okPassword }), any: fc.record({ password: anyPassword }, { requiredKeys: [] }) },
      permissions: { ok: okGrants(), any: grants(), required: true },
    }),
  },
  {
    method: 'PUT',
    path: '/api/admin/users/{user}/permissions',
    fields: () => ({
      id: pathId('user'),
      roles: { ok: okRoles(), any: fc.array(anyId(), { maxLength: 3 }), required: true },
      permissions: { ok: refs(fc.subarray([...TENANT_LEVEL, 12, 25]), [22, 30]), any: fc.array(anyPermission, { maxLength: 4 }) },
    }),
  },
  {
    method: 'PUT',
    path: '/api/admin/users/{user}/statusinfo',
    fields: () => ({
      id: pathId('user'),
      status: { ok: fc.constantFrom(0, 1), any: anyStatus, required: true },
      accountLocked: { ok: fc.boolean(), any: anyJson },
    }),
  },
  {
    method: 'PUT',
    path: '/api/admin/users/{user}/passwordinfo',
    fields: () => ({
      id: pathId('user'),
      password: { ok: okPassword, any: anyPassword, required: true },
    }),
  },
  {
    method: 'POST',
    path: '/api/admin/limits/system/3',
    fields: () => ({
      value: {
        ok: fc.integer({ min: 0, max: 50 }),
        any: fc.oneof(fc.integer({ min: -2, max: 40_000_000 }), fc.constantFrom(31_536_000, 31_536_001)),
        required: true,
      },
    }),
  },
  {
    method: 'PUT',
    path: '/api/admin/limits/system/4',
    fields: () => ({
      value: {
        ok: fc.integer({ min: 1, max: 5000 }),
        any: fc.oneof(fc.integer({ min: -2, max: 40_000_000 }), fc.constantFrom(0, 31_536_000, 31_536_001)),
        required: true,
      },
    }),
  },
];

/** One request body: its bytes and the content type it travels with. */
interface Body {
  payload: string | Buffer;
  contentType?: string;
}

const stringify = (value: unknown): string => JSON.stringify(value) ?? 'null';

/** JSON text (well-formed itself, so it travels as sent) whose value holds a lone surrogate. */
function holdsLoneSurrogate(text: string): boolean {
  // (prototype poisoning is refused first, as not valid JSON)
  if (/\p{Cs}/u.test(text) || /"(__proto__|constructor)"/.test(text)) return false;
  try {
    return hasLoneSurrogate(JSON.parse(text));
  } catch {
    return false;
  }
}
const objectText = (entries: [string, string][]) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;

function bodies(route: WriteRoute): fc.Arbitrary<Body> {
  const fields = route.fields();
  const names = Object.keys(fields);
  const required = names.filter((n) => fields[n].required);
  const map = (pick: (f: Field) => fc.Arbitrary<unknown>) => Object.fromEntries(names.map((n) => [n, pick(fields[n])]));
  /** a body that validates */
  const valid = fc.record(
    map((f) => f.ok),
    { requiredKeys: required },
  );
  /** every field present or not, each plausible or anything */
  const loose = fc.record(
    map((f) => fc.oneof({ weight: 3, arbitrary: f.ok }, { weight: 2, arbitrary: f.any }, { weight: 1, arbitrary: anyJson })),
    { requiredKeys: [] },
  );
  /** a valid body with one field replaced: by a value of its own wrong kinds, or by any JSON value at all */
  const brokenValue = fc
    .tuple(valid, fc.constantFrom(...names))
    .chain(([body, name]) => fc.oneof(fields[name].any, anyJson).map((value): Body => ({ payload: stringify({ ...body, [name]: value }) })));
  /** a valid body with one field removed, or spelled as a raw number token */
  const brokenText = fc
    .tuple(valid, fc.constantFrom(...names), fc.option(fc.constantFrom(...RAW_NUMBERS), { nil: undefined }))
    .map(([body, name, raw]): Body => {
      const entries = Object.entries(body)
        .filter(([k]) => k !== name)
        .map(([k, v]): [string, string] => [k, stringify(v)]);
      if (raw !== undefined) entries.push([name, raw]);
      return { payload: objectText(entries) };
    });
  return fc.oneof(
    { weight: 4, arbitrary: valid.map((b): Body => ({ payload: stringify(b) })) },
    { weight: 3, arbitrary: brokenValue },
    { weight: 2, arbitrary: brokenText },
    { weight: 2, arbitrary: loose.map((b): Body => ({ payload: stringify(b) })) },
    { weight: 1, arbitrary: anyJson.map((v): Body => ({ payload: stringify(v) })) },
    { weight: 1, arbitrary: fc.object({ maxDepth: 2 }).map((v): Body => ({ payload: stringify(v) })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes): Body => ({ payload: Buffer.from(bytes) })) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 32 }).map((text): Body => ({ payload: text })) },
    {
      weight: 1,
      arbitrary: fc.constantFrom<Body>(
        { payload: '' },
        { payload: `{"name":"${'a'.repeat(70_000)}"}` },
        { payload: '{"__proto__":{"admin":true}}' },
        { payload: '{"constructor":{"prototype":{"admin":true}}}' },
        { payload: '{"name":"x"', contentType: 'application/json; charset=utf-8' },
        { payload: '{"name":"x"}', contentType: 'text/plain' },
        { payload: 'name=x', contentType: 'application/x-www-form-urlencoded' },
      ),
    },
  );
}

const url = (route: WriteRoute): string => route.path.replace(/\{(\w+)\}/g, (_m, key: keyof typeof ids) => String(ids[key]));

/** Administrators mostly, so that bodies get past the permission check; d2cuser now and then. */
const actors = fc.oneof(
  { weight: 3, arbitrary: fc.constant<[string, string] | string>('d2cadmin') },
  { weight: 3, arbitrary: fc.constant<[string, string] | string>(['acme-admin', DEFAULT_PASSWORD]) },
  { weight: 1, arbitrary: fc.constant<[string, string] | string>('d2cuser') },
);
const statuses: Record<string, Record<number, number>> = {};

describe('administrator write routes survive any body', () => {
  for (const route of ROUTES) {
    test(`${route.method} ${route.path}`, async () => {
      await resetFixture();
      let successes = 0;
      await withEnoughSuccesses(
        `${route.method} ${route.path}`,
        () => successes,
        () =>
          fc.assert(
            fc.asyncProperty(bodies(route), actors, async (body, as) => {
              const beforeRequest = await snapshot(h.store);
              const res = await h.call({
                method: route.method,
                url: url(route),
                headers: { 'content-type': body.contentType ?? 'application/json' },
                payload: body.payload,
                as,
              });
              const seen = (statuses[`${route.method} ${route.path}`] ??= {});
              seen[res.statusCode] = (seen[res.statusCode] ?? 0) + 1;
              assert.ok(res.statusCode < 500, `status ${res.statusCode}: ${res.body.slice(0, 300)}`);
              assert.equal(res.headers['cache-control'], 'no-store');
              // A lone surrogate (anyString has one) cannot be stored as UTF-8: refused once the caller may write at all
              // (an earlier run may have deactivated the caller's tenant: 401, or taken its rights: 403).
              if (res.statusCode !== 401 && res.statusCode !== 403 && typeof body.payload === 'string' && holdsLoneSurrogate(body.payload)) {
                assert.equal(res.statusCode, 400, res.body);
                assert.match(res.body, /lone surrogate/);
              }
              if (res.statusCode >= 300) {
                assertEnvelope(res, `${route.method} ${route.path}`);
                assert.deepEqual(await snapshot(h.store), beforeRequest, 'a request that fails stores nothing');
              } else {
                successes += 1;
                if (res.statusCode !== 204) {
                  const parsed = JSON.parse(res.body);
                  assert.equal(typeof parsed, 'object');
                  assert.ok(!res.body.includes('scrypt$'), 'no password hash in a response');
                }
              }
            }),
            { numRuns: NUM_RUNS },
          ),
      );
    });
  }
});
