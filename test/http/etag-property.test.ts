/**
 * Property test of If-Match (RFC 9110 §13.1.1) on PUT and DELETE of profiles, applications and data sources: for any
 * header built from strong and weak tags (the current version among them or not, canonical or not, tags holding
 * commas), `*`, empty elements, optional whitespace and junk, the write goes on (2xx) exactly when the header is
 * `*` or a valid list of entity tags of which a strong one is the current version — and a refused write changes
 * nothing. The expected outcome comes from how the header was built, not from parsing it again.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { harness, type Harness } from '../helpers.js';

/** PROP_RUNS=2000 searches harder than CI does. */
const RUNS = Number(process.env.PROP_RUNS ?? 80);

/** One list element, and what it is. `version` is relative to the current version (0 is the current one). */
type Element =
  | { kind: 'strong'; offset: number }
  | { kind: 'weak'; offset: number }
  | { kind: 'other' } // a valid strong tag that is no canonical version: "01", "1.0", "a,b", ""
  | { kind: 'junk'; text: string } // not an entity tag at all
  | { kind: 'star' } // `*`: alone it is the whole header; in a list it is junk
  | { kind: 'empty' };

const ows = fc.constantFrom('', ' ', '\t', '  ', ' \t');
const element: fc.Arbitrary<Element> = fc.oneof(
  { arbitrary: fc.integer({ min: -3, max: 3 }).map((offset) => ({ kind: 'strong' as const, offset })), weight: 4 },
  fc.integer({ min: -1, max: 1 }).map((offset) => ({ kind: 'weak' as const, offset })),
  fc.constant({ kind: 'other' as const }),
  fc.constant({ kind: 'star' as const }),
  fc
    .constantFrom('1', '"1', '1"', 'w/"1"', 'W/1', 'W/ "1"', '"1"x', '" 1"', '"1 "', '"a"b"', '"1" "2"', 'x"1"', '"1";q=1', '\u00e9"1"')
    .map((text) => ({ kind: 'junk' as const, text })),
  fc.constant({ kind: 'empty' as const }),
);

interface Case {
  star: boolean;
  elements: Element[];
  separators: string[];
  pad: [string, string];
}
const header: fc.Arbitrary<Case> = fc.record({
  star: fc.integer({ min: 0, max: 9 }).map((n) => n < 2),
  elements: fc.array(element, { minLength: 1, maxLength: 5 }),
  separators: fc.array(
    fc.tuple(ows, ows).map(([a, b]) => `${a},${b}`),
    { minLength: 5, maxLength: 5 },
  ),
  pad: fc.tuple(ows, ows),
});

function render(c: Case, current: number): string {
  if (c.star) return `${c.pad[0]}*${c.pad[1]}`;
  const text = (e: Element): string => {
    switch (e.kind) {
      case 'strong':
        return `"${current + e.offset}"`;
      case 'weak':
        return `W/"${current + e.offset}"`;
      case 'other':
        return ['"0' + current + '"', `"${current}.0"`, `"${current},${current}"`, '""', `"+${current}"`][current % 5];
      case 'junk':
        return e.text;
      case 'star':
        return '*';
      case 'empty':
        return '';
    }
  };
  return c.pad[0] + c.elements.map((e, i) => (i === 0 ? '' : c.separators[i - 1]) + text(e)).join('') + c.pad[1];
}

/** RFC 9110: `*` matches any current representation; a list matches when one of its strong tags is the current one. */
const expectMatch = (c: Case): boolean =>
  c.star ||
  (c.elements.length === 1 && c.elements[0].kind === 'star') ||
  (!c.elements.some((e) => e.kind === 'junk' || e.kind === 'star') && c.elements.some((e) => e.kind === 'strong' && e.offset === 0));

const APP = {
  dataStore: 54,
  clientId: 'cid',
  clientSecret: 'prop-secret',
  authorizeURI: 'https://auth.example/authorize',
  tokenURI: 'https://auth.example/token',
};

describe('If-Match property: 2xx exactly when RFC 9110 says the condition holds', () => {
  let h: Harness;
  let profileApp: number;
  before(async () => {
    h = await harness();
    const res = await h.call({ method: 'POST', url: '/api/mgmt/oauthapps', as: 'd2cadmin', payload: { ...APP, name: 'profiles app' } });
    profileApp = res.json().id;
  });
  after(() => h?.close());

  /** The three kinds of object: how to create one, replace it, delete it, and read its version. */
  const kinds = {
    profile: { url: '/api/mgmt/oauthprofiles', as: 'd2cuser', body: () => ({ name: 'prop', oauthAppId: profileApp, refreshToken: `r${Math.random()}` }) },
    app: { url: '/api/mgmt/oauthapps', as: 'd2cadmin', body: () => ({ ...APP, name: 'prop app', description: `d${Math.random()}` }) },
    dataSource: { url: '/api/mgmt/datasources', as: 'd2cuser', body: () => ({ name: 'prop ds', dataStore: 54, options: { ViewId: `v${Math.random()}` } }) },
  } as const;
  type Kind = keyof typeof kinds;
  const live = new Map<Kind, number>();

  async function target(kind: Kind): Promise<{ id: number; version: number }> {
    const k = kinds[kind];
    let id = live.get(kind);
    if (id === undefined) {
      const created = await h.call({ method: 'POST', url: k.url, as: k.as, payload: k.body() });
      assert.equal(created.statusCode, 201, created.body);
      id = created.json().id as number;
      live.set(kind, id);
    }
    const got = await h.call({ method: 'GET', url: `${k.url}/${id}`, as: k.as });
    assert.equal(got.statusCode, 200, got.body);
    return { id, version: Number(/^"(\d+)"$/.exec(String(got.headers.etag))![1]) };
  }

  test('PUT and DELETE of profiles, applications and data sources', async () => {
    let matched = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Kind>('profile', 'app', 'dataSource'),
        fc.constantFrom('PUT' as const, 'DELETE' as const),
        header,
        async (kind, method, c) => {
          const k = kinds[kind];
          const before = await target(kind);
          const ifMatch = render(c, before.version);
          const body = k.body();
          const res = await h.call({
            method,
            url: `${k.url}/${before.id}`,
            as: k.as,
            headers: { 'if-match': ifMatch },
            ...(method === 'PUT' ? { payload: body } : {}),
          });
          const expected = expectMatch(c);
          if (!expected) {
            assert.equal(res.statusCode, 412, `${method} ${kind} If-Match: ${JSON.stringify(ifMatch)} at version ${before.version}: ${res.body}`);
            assert.deepEqual(await target(kind), before, 'a refused write changes nothing');
            return;
          }
          matched++;
          assert.equal(
            res.statusCode,
            method === 'PUT' ? 200 : 204,
            `${method} ${kind} If-Match: ${JSON.stringify(ifMatch)} at version ${before.version}: ${res.body}`,
          );
          if (method === 'DELETE') {
            assert.equal((await h.call({ method: 'GET', url: `${k.url}/${before.id}`, as: k.as })).statusCode, 404);
            live.delete(kind);
          } else {
            assert.equal(res.headers.etag, `"${before.version + 1}"`);
          }
        },
      ),
      { numRuns: RUNS },
    );
    // Matching headers are the rarer case: the property must have seen enough of them to mean something.
    assert.ok(matched >= RUNS / 10, `only ${matched} of ${RUNS} runs had a matching If-Match`);
  });
});
