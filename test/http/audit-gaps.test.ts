/**
 * Rules a mutation audit found unpinned: each test here fails when its rule is mutated (named in the test).
 * - a renamed profile's name key is lower-cased like a new one's (mutation: the rename stores the name as the key);
 * - the body limit is exactly 65,536 bytes (mutation: 64,000);
 * - `?user=` and the route's own permissions (api.md §4: a caller who lacks the operation's permission is not allowed
 *   to act for anyone, 403, decided before the name is looked up; with it, an unknown name is 404).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_PASSWORD, harness, type Harness } from '../helpers.js';
import { ADMIN, appBody, createRole, createTenant, createUser, expectStatus, profileBody, setAdmins } from '../oauth-support.js';

describe('rules the mutation audit found unpinned', () => {
  let h: Harness;
  let appId: number;
  before(async () => {
    h = await harness();
    appId = expectStatus(await h.call({ method: 'POST', url: '/api/mgmt/oauthapps', as: ADMIN, payload: appBody('gaps', 1) }), 201).id;
  });
  after(() => h?.close());

  test('a renamed profile keeps names unique per owner case-insensitively (409 in any case)', async () => {
    const create = (name: string) => h.call({ method: 'POST', url: '/api/mgmt/oauthprofiles', as: 'd2cuser', payload: profileBody(name, appId) });
    const rename = (id: number, name: string, app = appId) =>
      h.call({ method: 'PUT', url: `/api/mgmt/oauthprofiles/${id}`, as: 'd2cuser', payload: profileBody(name, app) });
    const id = expectStatus(await create('Before_Rename'), 201).id;
    expectStatus(await rename(id, 'Renamed_Profile'), 200, 'rename');
    expectStatus(await create('RENAMED_PROFILE'), 409, 'the renamed name in capitals');
    expectStatus(await create('renamed_profile'), 409, 'the renamed name in lower case');
    expectStatus(await create('Before_Rename'), 201, 'the old name is free again');
    // A rename into another case of an existing name is as taken as the name itself.
    const other = expectStatus(await create('Other_Profile'), 201).id;
    expectStatus(await rename(other, 'rEnAmEd_PrOfIlE'), 409, 'rename into another case of a taken name');
    // The profile's own name in another case is no clash.
    expectStatus(await rename(id, 'RENAMED_profile'), 200, 'a profile may change the case of its own name');
    expectStatus(await create('renamed_PROFILE'), 409, 'and the name stays taken in any case');
    // A rename that also moves the profile to another application takes another way through the store (PostgreSQL).
    const otherApp = expectStatus(await h.call({ method: 'POST', url: '/api/mgmt/oauthapps', as: ADMIN, payload: appBody('gaps other', 1) }), 201).id;
    expectStatus(await rename(other, 'Moved_And_Renamed', otherApp), 200, 'rename and move');
    expectStatus(await create('MOVED_AND_RENAMED'), 409, "the moved profile's new name in capitals");
  });

  test('the body limit is exactly 65,536 bytes: that many is read, one more is 413', async () => {
    // Data-source options hold up to 16 KiB each: four of them make a valid body of any size up to the limit.
    const bodyOf = (bytes: number, name: string): string => {
      const empty = JSON.stringify({ name, dataStore: 54, options: { A: '', B: '', C: '', D: '' } });
      const fill = bytes - Buffer.byteLength(empty);
      const part = Math.ceil(fill / 4);
      const sizes = [part, part, part, fill - 3 * part];
      const body = JSON.stringify({
        name,
        dataStore: 54,
        options: { A: 'a'.repeat(sizes[0]), B: 'b'.repeat(sizes[1]), C: 'c'.repeat(sizes[2]), D: 'd'.repeat(sizes[3]) },
      });
      assert.equal(Buffer.byteLength(body), bytes);
      return body;
    };
    const post = (body: string) =>
      h.call({ method: 'POST', url: '/api/mgmt/datasources', as: 'd2cuser', headers: { 'content-type': 'application/json' }, payload: body });
    const body = bodyOf(65_536, 'at_limit');
    const atLimit = expectStatus(await post(body), 201, '65,536 bytes');
    assert.deepEqual((await h.store.dataSources.get(atLimit.id))!.options, JSON.parse(body).options, 'stored whole');
    const over = await post(bodyOf(65_537, 'over_limit'));
    expectStatus(over, 413, '65,537 bytes');
    assert.equal(over.json().error.code, 223000413);
  });

  describe("?user= and the route's own permissions (api.md §4)", () => {
    let tenant: number;
    before(async () => {
      tenant = await createTenant(h, 'GapsTenant');
      // MgmtAPI (11), OnBehalfOf (21) and view (2), administering the tenant — but not ModifyDataSource (3).
      const proxyRole = await createRole(h, tenant, 'Proxy without modify', [11, 21, 2]);
      const proxy = await createUser(h, 'proxy-no-modify', tenant, [proxyRole]);
      await setAdmins(h, tenant, [proxy, (await h.store.users.byName('d2cadmin'))!.id]);
      await createUser(h, 'gaps-target', tenant, [await createRole(h, tenant, 'Viewer', [11, 2])]);
    });
    const as: [string, string] = ['proxy-no-modify', DEFAULT_PASSWORD];
    const put = (user: string) => h.call({ method: 'PUT', url: `/api/mgmt/oauthprofiles/1?user=${user}`, as, payload: profileBody('x', appId) });

    test("without the route's permission: 403 before the name is looked up, for an unknown name as for a known one", async () => {
      const unknown = expectStatus(await put('no-such-user'), 403, 'unknown user, no ModifyDataSource');
      assert.equal(unknown.error.code, 222208103);
      const known = expectStatus(await put('gaps-target'), 403, 'known user, no ModifyDataSource');
      assert.deepEqual(known, unknown, 'the answers do not tell the names apart');
    });

    test("with the route's permission: an unknown name is 404, a known one is served", async () => {
      const unknown = expectStatus(
        await h.call({ method: 'GET', url: '/api/mgmt/oauthprofiles?user=no-such-user', as }),
        404,
        'unknown user, with ViewDataSource',
      );
      assert.equal(unknown.error.code, 223001404);
      expectStatus(await h.call({ method: 'GET', url: '/api/mgmt/oauthprofiles?user=gaps-target', as }), 200, 'known user');
    });
  });
});
