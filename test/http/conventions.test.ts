/**
 * HTTP conventions of api.md §1 and §1.1: status codes for unknown paths and methods, Cache-Control, the health
 * check, media type and size limits, strict JSON types, the error envelope and the OpenAPI document.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import SwaggerParser from '@apidevtools/swagger-parser';
import { ADMIN_PASSWORD, USER_PASSWORD, basic, harness, type Harness } from '../helpers.js';

const ADMIN = basic('d2cadmin', ADMIN_PASSWORD);
const USER = basic('d2cuser', USER_PASSWORD);

/** The exact envelope of api.md §1.1, nothing more: no stack, no Fastify fields. */
function assertError(res: LightMyRequestResponse, status: number, code?: number): { code: number; value: string } {
  assert.equal(res.statusCode, status, `status (body ${res.body})`);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const body = JSON.parse(res.body);
  assert.deepEqual(Object.keys(body), ['error']);
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message']);
  assert.deepEqual(Object.keys(body.error.message).sort(), ['lang', 'value']);
  assert.equal(typeof body.error.code, 'number');
  assert.ok(Number.isInteger(body.error.code));
  if (code !== undefined) assert.equal(body.error.code, code);
  assert.equal(body.error.message.lang, 'en-US');
  assert.equal(typeof body.error.message.value, 'string');
  assert.ok(body.error.message.value.length > 0);
  assert.doesNotMatch(res.body, /\bat .+:\d+:\d+|node_modules|\.ts:\d+|stack/i, 'no stack trace');
  return { code: body.error.code, value: body.error.message.value };
}

const json = (method: InjectOptions['method'], url: string, payload: string, authorization = ADMIN): InjectOptions => ({
  method,
  url,
  payload,
  headers: { authorization, 'content-type': 'application/json' },
});

describe('conventions (shared harness)', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(async () => h.close());

  describe('unknown paths and methods', () => {
    test('an unknown path is a 404 after authentication', async () => {
      assertError(await h.app.inject({ method: 'GET', url: '/api/nothing' }), 401, 223000401);
      assertError(await h.app.inject({ method: 'GET', url: '/api/nothing', headers: { authorization: ADMIN } }), 404, 223000404);
      assertError(await h.app.inject({ method: 'GET', url: '/api/admin/users/1/nothing', headers: { authorization: ADMIN } }), 404);
      assertError(await h.app.inject({ method: 'POST', url: '/api/mgmt/nothing', headers: { authorization: USER } }), 404);
    });

    test('a known path with a wrong method is a 405 with every allowed method in Allow', async () => {
      const cases: [InjectOptions['method'], string, string[]][] = [
        ['DELETE', '/api/admin/users', ['GET', 'HEAD', 'POST']],
        ['PATCH', '/api/admin/users/2', ['DELETE', 'GET', 'HEAD', 'PUT']],
        ['POST', '/api/admin/users/2/statusinfo', ['GET', 'HEAD', 'PUT']],
        ['GET', '/api/admin/users/2/passwordinfo', ['PUT']],
        ['DELETE', '/api/admin/limits/system/3', ['GET', 'HEAD', 'POST', 'PUT']],
        ['PUT', '/api/mgmt/permissions', ['GET', 'HEAD']],
        ['POST', '/api/healthcheck', ['GET', 'HEAD']],
      ];
      for (const [method, url, allowed] of cases) {
        const res = await h.app.inject({ method, url, headers: { authorization: ADMIN } });
        assertError(res, 405, 223000405);
        const allow = String(res.headers.allow)
          .split(',')
          .map((m) => m.trim())
          .sort();
        assert.deepEqual(allow, allowed, `Allow for ${method} ${url}`);
      }
    });

    test('a trailing slash names the same resource', async () => {
      const res = await h.call({ method: 'GET', url: '/api/mgmt/permissions/', as: 'd2cuser' });
      assert.equal(res.statusCode, 200);
    });
  });

  describe('Cache-Control', () => {
    test('every /api response carries Cache-Control: no-store', async () => {
      const requests: InjectOptions[] = [
        { method: 'GET', url: '/api/healthcheck' },
        { method: 'HEAD', url: '/api/healthcheck' },
        { method: 'GET', url: '/api/mgmt/permissions', headers: { authorization: USER } },
        { method: 'GET', url: '/api/mgmt/permissions' },
        { method: 'GET', url: '/api/admin/users', headers: { authorization: USER } },
        { method: 'GET', url: '/api/admin/users/999', headers: { authorization: ADMIN } },
        { method: 'GET', url: '/api/nothing', headers: { authorization: ADMIN } },
        { method: 'DELETE', url: '/api/admin/users', headers: { authorization: ADMIN } },
        { method: 'GET', url: '/api/openapi.json', headers: { authorization: ADMIN } },
        { method: 'POST', url: '/api/admin/roles', payload: 'x', headers: { authorization: ADMIN, 'content-type': 'text/plain' } },
        json('POST', '/api/admin/roles', '{'),
        json('POST', '/api/admin/roles', JSON.stringify({ name: 'x'.repeat(70_000) })),
        json('POST', '/api/admin/roles', JSON.stringify({ name: 'cached', tenantId: 1, permissions: [2] })),
      ];
      const seen = new Set<number>();
      for (const r of requests) {
        const res = await h.app.inject(r);
        seen.add(res.statusCode);
        assert.equal(res.headers['cache-control'], 'no-store', `${r.method} ${r.url} → ${res.statusCode}`);
      }
      // The list above really covers success and every kind of refusal.
      assert.deepEqual([...seen].sort(), [200, 201, 400, 401, 403, 404, 405, 413, 415]);
    });
  });

  describe('health check', () => {
    test('GET /api/healthcheck is 200 {"status":"active"} without authentication', async () => {
      const res = await h.call({ method: 'GET', url: '/api/healthcheck' });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), { status: 'active' });
      assert.equal(res.headers['www-authenticate'], undefined);
    });

    test('HEAD /api/healthcheck is 200 with no body', async () => {
      const res = await h.app.inject({ method: 'HEAD', url: '/api/healthcheck' });
      assert.equal(res.statusCode, 200);
      assert.equal(res.body, '');
      assert.equal(res.rawPayload.length, 0);
    });

    test('wrong credentials do not matter to the health check', async () => {
      const res = await h.app.inject({ method: 'GET', url: '/api/healthcheck', headers: { authorization: basic('nobody', 'nothing') } });
      assert.equal(res.statusCode, 200);
    });
  });

  describe('request bodies', () => {
    test('a body that is not application/json is a 415', async () => {
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'multipart/form-data; boundary=x']) {
        const res = await h.app.inject({
          method: 'POST',
          url: '/api/admin/roles',
          payload: '{"name":"r","tenantId":1,"permissions":[]}',
          headers: { authorization: ADMIN, 'content-type': type },
        });
        assertError(res, 415, 223000415);
      }
    });

    test('application/json with a charset is accepted', async () => {
      const res = await h.call({
        method: 'POST',
        url: '/api/admin/roles',
        payload: JSON.stringify({ name: 'charset role', tenantId: 1, permissions: [2] }),
        headers: { authorization: ADMIN, 'content-type': 'application/json; charset=utf-8' },
      });
      assert.equal(res.statusCode, 201, res.body);
    });

    test('authentication and permission are decided before the body is looked at', async () => {
      const bad = { method: 'POST' as const, url: '/api/admin/roles', payload: 'x' };
      assertError(await h.app.inject({ ...bad, headers: { 'content-type': 'text/plain' } }), 401);
      assertError(await h.app.inject({ ...bad, headers: { authorization: USER, 'content-type': 'text/plain' } }), 403, 222208103);
      assertError(await h.app.inject({ ...bad, headers: { authorization: USER, 'content-type': 'application/json' }, payload: '{' }), 403);
    });

    test('a body over 64 KiB is a 413; one just under is parsed', async () => {
      const over = JSON.stringify({ name: 'r', tenantId: 1, permissions: [], description: 'x'.repeat(64 * 1024) });
      assertError(await h.app.inject(json('POST', '/api/admin/roles', over)), 413, 223000413);
      // Just under the limit: parsed, then refused by validation (the description is too long), not by size.
      const under = JSON.stringify({ name: 'r', tenantId: 1, permissions: [], description: 'x'.repeat(60 * 1024) });
      assert.ok(Buffer.byteLength(under) < 64 * 1024);
      assertError(await h.app.inject(json('POST', '/api/admin/roles', under)), 400, 222207007);
    });

    test('malformed JSON is a 400 222207007', async () => {
      for (const payload of ['{', '{"name":', "{'name':'x'}", '{"name":"x",}', 'nul', '']) {
        assertError(await h.app.inject(json('POST', '/api/admin/roles', payload)), 400, 222207007);
      }
    });

    test('a JSON body that is not an object is a 400 222207007', async () => {
      for (const payload of ['null', '[]', '"x"', '3', 'true', '[{"name":"r","tenantId":1,"permissions":[]}]']) {
        assertError(await h.app.inject(json('POST', '/api/admin/roles', payload)), 400, 222207007);
        assertError(await h.app.inject(json('PUT', '/api/admin/users/2/statusinfo', payload)), 400, 222207007);
      }
    });

    test('a __proto__ key is refused, not merged', async () => {
      const payload = '{"__proto__":{"status":1},"status":1}';
      assertError(await h.app.inject(json('PUT', '/api/admin/users/2/statusinfo', payload)), 400, 222207007);
    });
  });

  describe('strict types', () => {
    const wrongIntegers: [string, unknown][] = [
      ['a string', '17'],
      ['a float', 17.5],
      ['null', null],
      ['a boolean', true],
    ];

    for (const [label, value] of wrongIntegers) {
      test(`an integer field given as ${label} is a 400 naming the field`, async () => {
        const role = await h.app.inject(json('POST', '/api/admin/roles', JSON.stringify({ name: 'typed', tenantId: value, permissions: [2] })));
        assert.match(assertError(role, 400, 222207007).value, /tenantId/);

        const status = await h.app.inject(json('PUT', '/api/admin/users/2/statusinfo', JSON.stringify({ status: value })));
        assert.match(assertError(status, 400, 222207007).value, /status/);

        const element = await h.app.inject(json('POST', '/api/admin/roles', JSON.stringify({ name: 'typed', tenantId: 1, permissions: [2, value] })));
        assert.match(assertError(element, 400, 222207007).value, /permissions/);

        const nested = await h.app.inject(
          json(
            'POST',
            '/api/admin/users',
            JSON.stringify({
              userName: 'typed',
              statusInfo: { status: value },
              passwordInfo: { password: 'Typed-Passw0rd' },
              permissions: { roles: [2] },
            }),
          ),
        );
        assert.match(assertError(nested, 400, 222207007).value, /statusInfo\.status/);

        const limit = await h.app.inject(json('POST', '/api/admin/limits/system/3', JSON.stringify({ value })));
        assert.match(assertError(limit, 400, 222207007).value, /value/);
      });
    }

    test('a boolean field given as a string or number is a 400', async () => {
      for (const accountLocked of ['false', 0, null]) {
        const res = await h.app.inject(json('PUT', '/api/admin/users/2/statusinfo', JSON.stringify({ status: 1, accountLocked })));
        assert.match(assertError(res, 400, 222207007).value, /accountLocked/);
      }
    });

    test('a missing required field is a 400 naming it', async () => {
      const res = await h.app.inject(json('POST', '/api/admin/roles', JSON.stringify({ tenantId: 1, permissions: [] })));
      assert.match(assertError(res, 400, 222207007).value, /name/);
    });

    test('the accepted value goes through: the same bodies with proper integers succeed', async () => {
      const status = await h.call({ method: 'PUT', url: '/api/admin/users/2/statusinfo', as: 'd2cadmin', payload: { status: 1 } });
      assert.equal(status.statusCode, 200, status.body);
      const role = await h.call({ method: 'POST', url: '/api/admin/roles', as: 'd2cadmin', payload: { name: 'typed ok', tenantId: 1, permissions: [2] } });
      assert.equal(role.statusCode, 201, role.body);
    });

    test('unknown properties are ignored', async () => {
      const res = await h.call({ method: 'PUT', url: '/api/admin/users/2/statusinfo', as: 'd2cadmin', payload: { status: 1, whatever: 'x', more: { a: 1 } } });
      assert.equal(res.statusCode, 200, res.body);
    });

    test('a body id different from the path id is a 400; the same id is accepted', async () => {
      for (const id of [3, '2', 2.5, null, 0]) {
        const res = await h.app.inject(json('PUT', '/api/admin/users/2/statusinfo', JSON.stringify({ id, status: 1 })));
        assert.match(assertError(res, 400, 222207007).value, /\bid\b/, `id ${JSON.stringify(id)}`);
      }
      const same = await h.call({ method: 'PUT', url: '/api/admin/users/2/statusinfo', as: 'd2cadmin', payload: { id: 2, status: 1 } });
      assert.equal(same.statusCode, 200, same.body);

      const role = await h.call({ method: 'POST', url: '/api/admin/roles', as: 'd2cadmin', payload: { name: 'idrole', tenantId: 1, permissions: [2] } });
      assert.equal(role.statusCode, 201, role.body);
      const roleId = role.json().id as number;
      const put = (id: number) =>
        h.app.inject(json('PUT', `/api/admin/roles/${roleId}`, JSON.stringify({ id, name: 'idrole', tenantId: 1, permissions: [2] })));
      assertError(await put(roleId + 1000), 400, 222207007);
      assert.equal((await put(roleId)).statusCode, 200);
    });
  });

  describe('OpenAPI document', () => {
    let doc: {
      openapi: string;
      paths: Record<string, Record<string, { responses?: Record<string, { content?: Record<string, { schema?: unknown }> }> }>>;
    };
    before(async () => {
      const res = await h.app.inject({ method: 'GET', url: '/api/openapi.json', headers: { authorization: ADMIN } });
      assert.equal(res.statusCode, 200, res.body);
      // Shared schemas (the HDP error envelope) are references: resolved, so that every check below sees them.
      doc = (await SwaggerParser.dereference(res.json())) as typeof doc;
    });

    test('it needs authentication', async () => {
      assertError(await h.app.inject({ method: 'GET', url: '/api/openapi.json' }), 401, 223000401);
    });

    test('it is an OpenAPI 3 document', () => {
      assert.match(doc.openapi, /^3\.\d+\.\d+$/);
      assert.equal(typeof doc.paths, 'object');
    });

    test('it lists every route of the app with its methods', () => {
      const routes = appRoutes(h.app.printRoutes({ commonPrefix: false }));
      // Sanity: the parse found the routes of the foundation.
      assert.ok(routes.get('/api/admin/users/{id}')?.has('PUT'), 'parsed the route tree');
      assert.ok(routes.get('/api/admin/limits/system/{limitId}')?.has('POST'), 'parsed the route tree');
      assert.ok(routes.size >= 16, `found ${routes.size} routes`);
      for (const [path, methods] of routes) {
        if (path === '/api/openapi.json') continue; // the document does not describe itself
        if (path === '/hdpui/oauth2callback') continue; // consent's callback (api.md §9): a browser's page, not the JSON API
        // The web console's page and files (as printRoutes spells the routes /console, /console/* and /console/assets/*).
        if (/^\/console(?:\/?\*|\/assets\/\*)?$/.test(path)) continue;
        assert.ok(doc.paths[path], `${path} is in the document`);
        for (const method of methods) {
          if (method === 'HEAD') continue; // Fastify's automatic HEAD for every GET
          assert.ok(doc.paths[path][method.toLowerCase()], `${method} ${path} is in the document`);
        }
      }
      // And nothing the app does not serve.
      for (const [path, ops] of Object.entries(doc.paths)) {
        assert.ok(routes.has(path), `documented ${path} is served`);
        for (const method of Object.keys(ops)) {
          if (['parameters', 'summary', 'description'].includes(method)) continue;
          assert.ok(routes.get(path)!.has(method.toUpperCase()), `documented ${method} ${path} is served`);
        }
      }
    });

    test('every operation declares its responses; objects there forbid additional properties', () => {
      let operations = 0;
      for (const [path, ops] of Object.entries(doc.paths)) {
        for (const [method, op] of Object.entries(ops)) {
          const where = `${method.toUpperCase()} ${path}`;
          const responses = op.responses ?? {};
          const statuses = Object.keys(responses);
          assert.ok(
            statuses.some((s) => /^2\d\d$/.test(s)),
            `${where} declares a success response`,
          );
          // Every authenticated route can answer 401 and 429; the health check (no authentication) neither.
          const unauthenticated = path === '/api/healthcheck';
          for (const s of ['401', '429']) assert.equal(statuses.includes(s), !unauthenticated, `${where} declares ${s}: ${!unauthenticated}`);
          for (const [status, response] of Object.entries(responses)) {
            if (status === '204') continue;
            // The Prometheus scrape (api.md §8.8) is text, the one success that is not JSON.
            if (where === 'GET /api/metrics' && status === '200') {
              assert.deepEqual(response.content, { 'text/plain': { schema: { type: 'string' } } }, `${where} ${status} is Prometheus text`);
              continue;
            }
            const schema = response.content?.['application/json']?.schema;
            assert.ok(schema, `${where} ${status} has a JSON schema`);
            for (const problem of openObjects(schema)) assert.fail(`${where} ${status}: ${problem}`);
          }
          operations++;
        }
      }
      assert.ok(operations >= 30, `checked ${operations} operations`);
    });

    test('error responses are documented as HDP envelopes', () => {
      type Schema = { allOf?: Schema[]; properties?: Record<string, { properties?: Record<string, unknown> }> };
      const response = doc.paths['/api/admin/users']?.get?.responses?.['401']?.content?.['application/json']?.schema as Schema | undefined;
      // A response with its own description wraps the one shared envelope in `allOf`.
      const unauthorized = response?.allOf?.length === 1 ? response.allOf[0] : response;
      assert.ok(unauthorized?.properties?.error?.properties?.code);
      assert.ok(unauthorized?.properties?.error?.properties?.message);
    });
  });
});

describe('errors the harness cannot share', () => {
  test('an unexpected failure is a 500 envelope without a stack; the health check says 503', async () => {
    const h = await harness();
    try {
      await h.store.close(); // the database goes away under the running app
      const health = await h.app.inject({ method: 'GET', url: '/api/healthcheck' });
      assertError(health, 503, 223000503);
      assert.equal(health.headers['cache-control'], 'no-store');
      const head = await h.app.inject({ method: 'HEAD', url: '/api/healthcheck' });
      assert.equal(head.statusCode, 503);
      const res = await h.app.inject({ method: 'GET', url: '/api/admin/users', headers: { authorization: ADMIN } });
      assert.ok(res.statusCode >= 500, `status ${res.statusCode}`);
      const { value } = assertError(res, res.statusCode);
      assert.doesNotMatch(value, /database connection|sqlite|SELECT/i, 'no driver message');
    } finally {
      await h.close();
    }
  });

  test("a malformed URL is refused with the envelope and Cache-Control, not Fastify's own body", async () => {
    const h = await harness();
    try {
      for (const url of ['/api/%zz', '/api/admin/users/%E0%A4%A']) {
        const res = await h.app.inject({ method: 'GET', url, headers: { authorization: ADMIN } });
        assert.ok(res.statusCode === 400 || res.statusCode === 404, `status ${res.statusCode}`);
        assertError(res, res.statusCode);
        assert.equal(res.headers['cache-control'], 'no-store');
      }
    } finally {
      await h.close();
    }
  });
});

/**
 * Every object schema must say additionalProperties: false (a leaked field would otherwise pass). A map with a
 * value schema for every key (`Type.Record`, e.g. a data source's `options`) is typed throughout and is accepted.
 */
function openObjects(schema: unknown, path = '$'): string[] {
  if (schema === null || typeof schema !== 'object') return [];
  const s = schema as Record<string, unknown>;
  const problems: string[] = [];
  const isObject = s.type === 'object' || (Array.isArray(s.type) && s.type.includes('object')) || 'properties' in s;
  const patterns = Object.keys((s.patternProperties as Record<string, unknown> | undefined) ?? {});
  const valueSchema = typeof s.additionalProperties === 'object' && s.additionalProperties !== null;
  const typedMap = !('properties' in s) && (valueSchema || patterns.some((p) => ['^.*$', '^(.*)$', '.*', ''].includes(p)));
  if (isObject && s.additionalProperties !== false && !typedMap) problems.push(`${path} is an object without additionalProperties: false`);
  for (const [key, value] of Object.entries(s)) {
    if (key === 'patternProperties' && value && typeof value === 'object') {
      for (const [pattern, sub] of Object.entries(value)) problems.push(...openObjects(sub, `${path}{${pattern}}`));
    } else if (key === 'properties' && value && typeof value === 'object') {
      for (const [name, sub] of Object.entries(value)) problems.push(...openObjects(sub, `${path}.${name}`));
    } else if (['items', 'additionalProperties', 'not'].includes(key)) {
      problems.push(...openObjects(value, `${path}[]`));
    } else if (['anyOf', 'oneOf', 'allOf'].includes(key) && Array.isArray(value)) {
      value.forEach((sub, i) => problems.push(...openObjects(sub, `${path}<${key}${i}>`)));
    }
  }
  return problems;
}

/**
 * The app's routes from `printRoutes({ commonPrefix: false })`: one node per line, four columns of indentation per
 * level, each node's path relative to its parent, then its methods. `:id` becomes OpenAPI's `{id}`.
 */
function appRoutes(tree: string): Map<string, Set<string>> {
  const routes = new Map<string, Set<string>>();
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^((?:[│ ] {3})*)[├└]── (\S+)(?: \(([^)]*)\))?\s*$/.exec(line);
    if (!m) continue;
    const depth = m[1].length / 4;
    stack.length = depth;
    const full = (stack[depth - 1] ?? '') + m[2];
    stack[depth] = full;
    if (m[3] === undefined) continue;
    const path = full.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const methods = routes.get(path) ?? new Set<string>();
    m[3]
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean)
      .forEach((x) => methods.add(x));
    routes.set(path, methods);
  }
  return routes;
}
