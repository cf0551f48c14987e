/**
 * Concurrency (api.md §6): concurrent PUTs never mix fields — the stored profile always equals exactly one
 * request's body, and every request got back its own body. Also: concurrent creates of one name give exactly one
 * profile, and concurrent PUT/DELETE races end in a coherent state without 5xx.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_PASSWORD, basic, harness, listProfiles, type Harness } from '../helpers.js';
import { assertEnvelope } from '../admin-support.js';
import { NAMES, buildWorld, createDataSource, createProfile, dataSourceBody, json, profileBody, profileView, type World } from '../oauth-support.js';

const N = 50;

let h: Harness;
let w: World;

before(async () => {
  h = await harness();
  w = await buildWorld(h);
});
after(async () => h.close());

const headers = (user: string, body = true) => ({ authorization: basic(user, DEFAULT_PASSWORD), ...(body ? { 'content-type': 'application/json' } : {}) });

/** N bodies differing in every field, including the app (two apps of the same data store, both usable by tenant A). */
const distinctBodies = (tag: string) =>
  Array.from({ length: N }, (_, i) => ({
    name: `${tag}_${i}`,
    oauthAppId: i % 2 === 0 ? w.appA : w.appSys,
    description: i % 3 === 0 ? null : `description ${tag} ${i}`,
    accessToken: i % 5 === 0 ? null : `access-${tag}-${i}-${'a'.repeat(i * 20)}`,
    refreshToken: `refresh-${tag}-${i}-${'r'.repeat(i * 30)}`,
  }));

test(`${N} simultaneous PUTs to one profile: each answered 200 with its own body, the stored profile is exactly one of them`, async () => {
  const id = (await createProfile(h, NAMES.U1, profileBody('Contended', w.appA))).id;
  // a data source on the profile keeps the data-store check of every PUT in play
  await createDataSource(h, NAMES.U1, dataSourceBody('Contended DS', id));
  const bodies = distinctBodies('Put');
  const responses = await Promise.all(
    bodies.map((body) => h.app.inject({ method: 'PUT', url: `/api/mgmt/oauthprofiles/${id}`, headers: headers(NAMES.U1), payload: body })),
  );

  responses.forEach((res, i) => {
    assert.equal(res.statusCode, 200, `request ${i}: ${res.body.slice(0, 200)}`);
    assert.deepEqual(json(res), { id, ...bodies[i] }, `request ${i} got its own body back`);
  });
  const stored = profileView((await h.store.profiles.get(id))!);
  const matches = bodies.filter((b) => JSON.stringify({ id, ...b }) === JSON.stringify(stored));
  assert.equal(matches.length, 1, `the stored profile equals exactly one request's body: ${JSON.stringify(stored).slice(0, 300)}`);
  // and it is the same through the API
  const read = await h.app.inject({ method: 'GET', url: `/api/mgmt/oauthprofiles/${id}`, headers: headers(NAMES.U1) });
  assert.deepEqual(json(read), stored);
  const owner = (await h.store.profiles.get(id))!;
  assert.deepEqual([owner.ownerId, owner.creatorId], [w.ids.U1, w.ids.U1], 'owner and creator untouched');
});

test(`${N} simultaneous PUTs by owner and creator (through ?user= and as itself) never mix fields`, async () => {
  const id = (await createProfile(h, NAMES.TA1, profileBody('Shared', w.appA), NAMES.U1)).id;
  const bodies = distinctBodies('Mixed');
  const callers = [
    { user: NAMES.U1, url: `/api/mgmt/oauthprofiles/${id}` },
    { user: NAMES.TA1, url: `/api/mgmt/oauthprofiles/${id}` },
    { user: NAMES.TA1, url: `/api/mgmt/oauthprofiles/${id}?user=${NAMES.U1}` },
  ];
  const responses = await Promise.all(
    bodies.map((body, i) => {
      const c = callers[i % callers.length];
      return h.app.inject({ method: 'PUT', url: c.url, headers: headers(c.user), payload: body });
    }),
  );
  responses.forEach((res, i) => {
    assert.equal(res.statusCode, 200, `request ${i}: ${res.body.slice(0, 200)}`);
    assert.deepEqual(json(res), { id, ...bodies[i] });
  });
  const stored = profileView((await h.store.profiles.get(id))!);
  assert.equal(bodies.filter((b) => JSON.stringify({ id, ...b }) === JSON.stringify(stored)).length, 1);
  const full = (await h.store.profiles.get(id))!;
  assert.deepEqual([full.ownerId, full.creatorId], [w.ids.U1, w.ids.TA1]);
});

test(`${N} simultaneous creates of one name (in varying case) for one owner: exactly one 201, the rest 409`, async () => {
  const responses = await Promise.all(
    Array.from({ length: N }, (_, i) =>
      h.app.inject({
        method: 'POST',
        url: '/api/mgmt/oauthprofiles',
        headers: headers(NAMES.U2),
        payload: profileBody(i % 2 === 0 ? 'Same_Name' : 'same_NAME', w.appA, { refreshToken: `refresh-${i}` }),
      }),
    ),
  );
  const statuses = responses.map((r) => r.statusCode);
  assert.equal(statuses.filter((s) => s === 201).length, 1, JSON.stringify(statuses));
  assert.equal(statuses.filter((s) => s === 409).length, N - 1, JSON.stringify(statuses));
  for (const r of responses.filter((x) => x.statusCode === 409)) assert.equal(assertEnvelope(r).error.code, 223006409);
  const mine = (await listProfiles(h.store, w.ids.U2)).filter((p) => p.name.toLowerCase() === 'same_name');
  assert.equal(mine.length, 1);
  assert.equal(mine[0].id, json(responses.find((r) => r.statusCode === 201)!).id);
});

test('simultaneous PUTs and a DELETE: every answer is 200, 204 or 404 222207710, and the profile ends deleted', async () => {
  const id = (await createProfile(h, NAMES.U1, profileBody('Doomed_Race', w.appA))).id;
  const ds = (await createDataSource(h, NAMES.U1, dataSourceBody('Race DS', id))).id;
  const bodies = distinctBodies('Race').slice(0, 20);
  const requests = [
    ...bodies.slice(0, 10).map((body) => ({ method: 'PUT' as const, payload: body })),
    { method: 'DELETE' as const, payload: undefined },
    ...bodies.slice(10).map((body) => ({ method: 'PUT' as const, payload: body })),
  ];
  const responses = await Promise.all(
    requests.map((r) =>
      h.app.inject({
        method: r.method,
        url: `/api/mgmt/oauthprofiles/${id}`,
        headers: headers(NAMES.U1, r.payload !== undefined),
        ...(r.payload ? { payload: r.payload } : {}),
      }),
    ),
  );
  responses.forEach((res, i) => {
    const r = requests[i];
    if (r.method === 'DELETE') return assert.equal(res.statusCode, 204, res.body);
    if (res.statusCode === 200) return assert.deepEqual(json(res), { id, ...r.payload });
    assert.equal(res.statusCode, 404, res.body);
    assert.equal(assertEnvelope(res).error.code, 222207710);
  });
  assert.equal(await h.store.profiles.get(id), undefined, 'no PUT resurrects the deleted profile');
  assert.equal((await h.store.dataSources.get(ds))?.oauthProfileId, null, 'the data source lost the reference');
});
