/**
 * Optimistic concurrency (beyond HDP): ETag on profile, application and data-source responses; If-Match on PUT and
 * DELETE acts only on the named version (412 otherwise); without If-Match, HDP's behaviour is unchanged.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { harness, type Harness } from '../helpers.js';

const APP = {
  name: 'Etag app',
  dataStore: 54,
  clientId: 'cid',
  clientSecret: 'etag-secret-1',
  authorizeURI: 'https://auth.example/authorize',
  tokenURI: 'https://auth.example/token',
};

describe('ETag and If-Match', () => {
  let h: Harness;
  let appId: number;
  before(async () => {
    h = await harness();
    const app = await h.call({ method: 'POST', url: '/api/mgmt/oauthapps', as: 'd2cadmin', payload: APP });
    assert.equal(app.statusCode, 201);
    assert.equal(app.headers.etag, '"1"');
    appId = app.json().id;
  });
  after(() => h.close());

  const names = new Map<number, string>();
  const createProfile = async (name: string) => {
    const res = await h.call({ method: 'POST', url: '/api/mgmt/oauthprofiles', as: 'd2cuser', payload: { name, oauthAppId: appId, refreshToken: 'r0' } });
    assert.equal(res.statusCode, 201, res.body);
    names.set(res.json().id, name);
    return res;
  };
  const put = (id: number, refreshToken: string, headers: Record<string, string> = {}) =>
    h.call({ method: 'PUT', url: `/api/mgmt/oauthprofiles/${id}`, as: 'd2cuser', headers, payload: { name: names.get(id), oauthAppId: appId, refreshToken } });

  test('every write and read of a profile carries its version as a strong ETag', async () => {
    const created = await createProfile('P');
    const id = created.json().id;
    assert.equal(created.headers.etag, '"1"');
    assert.equal((await put(id, 'r1')).headers.etag, '"2"');
    const got = await h.call({ method: 'GET', url: `/api/mgmt/oauthprofiles/${id}`, as: 'd2cuser' });
    assert.equal(got.headers.etag, '"2"');
  });

  test('PUT with a stale If-Match is 412 and changes nothing; the current one succeeds', async () => {
    const id = (await createProfile('Q')).json().id;
    await put(id, 'r1');
    const stale = await put(id, 'r-stale', { 'if-match': '"1"' });
    assert.equal(stale.statusCode, 412);
    assert.equal(stale.json().error.code, 223000412);
    assert.equal((await h.store.profiles.get(id))!.refreshToken, 'r1');
    const ok = await put(id, 'r2', { 'if-match': '"2"' });
    assert.equal(ok.statusCode, 200);
    assert.equal((await h.store.profiles.get(id))!.refreshToken, 'r2');
  });

  test('weak or malformed tags never match; * matches any current version', async () => {
    const id = (await createProfile('R')).json().id;
    assert.equal((await put(id, 'x', { 'if-match': 'W/"1"' })).statusCode, 412);
    assert.equal((await put(id, 'x', { 'if-match': 'garbage' })).statusCode, 412);
    assert.equal((await put(id, 'y', { 'if-match': '*' })).statusCode, 200);
  });

  test('several tags: the write goes on when ANY listed strong tag is the current version (RFC 9110 §13.1.1)', async () => {
    const id = (await createProfile('Multi')).json().id;
    await put(id, 'r1');
    await put(id, 'r2'); // version 3
    // The current tag is not the first one listed.
    assert.equal((await put(id, 'r3', { 'if-match': '"1", "3"' })).statusCode, 200);
    assert.equal((await h.store.profiles.get(id))!.refreshToken, 'r3');
    // Now at 4: a list of only stale tags, or the current one weak, changes nothing.
    assert.equal((await put(id, 'x', { 'if-match': '"1", "2" ,"3"' })).statusCode, 412);
    assert.equal((await put(id, 'x', { 'if-match': '"1", W/"4"' })).statusCode, 412);
    assert.equal((await h.store.profiles.get(id))!.refreshToken, 'r3');
    // Empty list elements and optional whitespace around them are part of the grammar.
    assert.equal((await put(id, 'r4', { 'if-match': ' ,\t"9",, "4" ,' })).statusCode, 200);
    // A tag may hold a comma: "2,5" is one tag, which matches nothing, and the list still holds the current "5".
    assert.equal((await put(id, 'r5', { 'if-match': '"2,5", "5"' })).statusCode, 200);
    // DELETE follows the same rule.
    const del = await h.call({ method: 'DELETE', url: `/api/mgmt/oauthprofiles/${id}`, as: 'd2cuser', headers: { 'if-match': '"2", "6", "7"' } });
    assert.equal(del.statusCode, 204);
    assert.equal(await h.store.profiles.get(id), undefined);
  });

  test('an If-Match that is not a valid list of entity tags matches nothing (412), even beside the current tag', async () => {
    const id = (await createProfile('Invalid')).json().id;
    for (const header of ['"1", *', '*, "1"', '"1", 1', '"1" "1"', '"1', 'w/"1"', '"1"x', '" 1"', '"1";"1"', '']) {
      const res = await put(id, 'x', { 'if-match': header });
      assert.equal(res.statusCode, 412, `If-Match: ${header}`);
    }
    assert.equal((await h.store.profiles.get(id))!.version, 1, 'nothing changed');
  });

  test('DELETE with a stale If-Match is 412 and the profile stays', async () => {
    const id = (await createProfile('S')).json().id;
    await put(id, 'r1');
    const res = await h.call({ method: 'DELETE', url: `/api/mgmt/oauthprofiles/${id}`, as: 'd2cuser', headers: { 'if-match': '"1"' } });
    assert.equal(res.statusCode, 412);
    assert.ok(await h.store.profiles.get(id));
    const ok = await h.call({ method: 'DELETE', url: `/api/mgmt/oauthprofiles/${id}`, as: 'd2cuser', headers: { 'if-match': '"2"' } });
    assert.equal(ok.statusCode, 204);
    assert.equal(await h.store.profiles.get(id), undefined);
  });

  test('many concurrent PUTs with the same ETag: exactly one 200, the rest 412', async () => {
    const id = (await createProfile('T')).json().id;
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => put(id, `race-${i}`, { 'if-match': '"1"' })));
    const winners = results.filter((r) => r.statusCode === 200);
    assert.equal(winners.length, 1);
    assert.equal(results.filter((r) => r.statusCode === 412).length, 39);
    assert.equal((await h.store.profiles.get(id))!.refreshToken, winners[0].json().refreshToken);
  });

  test('a data source PUT honours If-Match: current, stale, older, several tags', async () => {
    const created = await h.call({
      method: 'POST',
      url: '/api/mgmt/datasources',
      as: 'd2cuser',
      payload: { name: 'DS-put', dataStore: 54, options: { ViewId: 'v1' } },
    });
    assert.equal(created.statusCode, 201, created.body);
    const id = created.json().id;
    const putDs = (viewId: string, ifMatch: string) =>
      h.call({
        method: 'PUT',
        url: `/api/mgmt/datasources/${id}`,
        as: 'd2cuser',
        headers: { 'if-match': ifMatch },
        payload: { name: 'DS-put', dataStore: 54, options: { ViewId: viewId } },
      });
    const stored = async () => (await h.store.dataSources.get(id))!;
    const ok1 = await putDs('v2', '"1"'); // current
    assert.equal(ok1.statusCode, 200, ok1.body);
    assert.equal(ok1.headers.etag, '"2"');
    await putDs('v3', '"2"'); // version 3
    for (const stale of ['"2"', '"1"', '"4"', '"1", "2"']) {
      // stale, older, a future one, several wrong ones
      const res = await putDs('wrong', stale);
      assert.equal(res.statusCode, 412, `If-Match: ${stale}: ${res.body}`);
      assert.equal(res.json().error.code, 223000412);
      assert.deepEqual({ version: (await stored()).version, options: (await stored()).options }, { version: 3, options: { ViewId: 'v3' } });
    }
    const several = await putDs('v4', '"1", "3"');
    assert.equal(several.statusCode, 200, several.body);
    assert.deepEqual((await stored()).options, { ViewId: 'v4' });
  });

  test('applications and data sources honour If-Match too', async () => {
    const stale = await h.call({ method: 'PUT', url: `/api/mgmt/oauthapps/${appId}`, as: 'd2cadmin', headers: { 'if-match': '"9"' }, payload: APP });
    assert.equal(stale.statusCode, 412);
    const ok = await h.call({ method: 'PUT', url: `/api/mgmt/oauthapps/${appId}`, as: 'd2cadmin', headers: { 'if-match': '"1"' }, payload: APP });
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.headers.etag, '"2"');
    const ds = await h.call({ method: 'POST', url: '/api/mgmt/datasources', as: 'd2cuser', payload: { name: 'DS', dataStore: 54 } });
    assert.equal(ds.headers.etag, '"1"');
    const del = await h.call({ method: 'DELETE', url: `/api/mgmt/datasources/${ds.json().id}`, as: 'd2cuser', headers: { 'if-match': '"2"' } });
    assert.equal(del.statusCode, 412);
  });
});
