/**
 * The token engine's exactly-once rule (api.md §8.3) across real server processes: several `node dist/cli.js serve`
 * processes on one PostgreSQL database and one master key, and the real rotating AS (oidc-provider, ../engine/
 * as-support.ts) in this process, reached over loopback HTTP (TOKENKEEP_ALLOW_LOOPBACK_HTTP_URIS=1).
 *
 * - 300 concurrent token requests over three nodes and 50 profiles: one AS call per profile, no invalid_grant, one
 *   token per profile for all its callers.
 * - An AS that takes its time: callers on the other nodes wait for the lease holder and get its token.
 * - SIGKILL of the lease holder after the AS rotated the token: the next holder sends the old refresh token at most
 *   once more and the profile ends `needs_reconsent` with `rotation_lost` (or `active`), never a silent reuse.
 *
 * The in-process cases (one node, PUT during a refresh, the AS's error answers) are ../engine/'s. PostgreSQL only:
 * skipped without TOKENKEEP_TEST_PG_URL. Every process and listener started here is closed in `after`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startAuthorizationServer, type AuthorizationServer, type TokenCall } from '../engine/as-support.js';
import { createPgDatabase, dropPgDatabase, pgDatabaseUrl } from '../helpers.js';
import { api, basic, ensureBuilt, killAll, pool, startServer, withTimeout, type Running } from '../process-support.js';

const PG_URL = process.env.TOKENKEEP_TEST_PG_URL;
const ADMIN_PASSWORD = 'Engine-Nodes-Adm1n!';
const USER_PASSWORD = 'Engine-Nodes-Us3r!';
const ADMIN = basic('d2cadmin', ADMIN_PASSWORD);
/** Longer than minValidity=3600: after its one refresh a profile's token is fresh for every later caller. */
const ACCESS_TOKEN_TTL = 7200;
const PROFILES = 50;
const REQUESTS = 300;
/** catalogue code of needs_reconsent (api.md §8.2) */
const NEEDS_RECONSENT = 223009409;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let serial = 0;
const unique = (tag: string) => `${tag}_${++serial}_${randomBytes(3).toString('hex')}`;

/** A promise that a test resolves itself: an AS answer held until released, a "the call arrived" signal. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** A request still in flight can be asked whether it has settled. */
function tracked<T>(promise: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let done = false;
  const p = promise.finally(() => (done = true));
  return { promise: p, settled: () => done };
}

interface Connected {
  profileId: number;
  refreshToken: string;
}

describe(
  'token engine across server processes on one PostgreSQL database',
  { skip: PG_URL ? false : 'TOKENKEEP_TEST_PG_URL is not set (real server processes on PostgreSQL)' },
  () => {
    let database: string | undefined;
    let db: pg.Client | undefined;
    /** three nodes for the requests, and a fourth that test 3 kills */
    let nodes: Running[] = [];
    let victim: Running | undefined;
    const servers: AuthorizationServer[] = [];

    before(async () => {
      ensureBuilt();
      database = await createPgDatabase();
      db = new pg.Client({ connectionString: pgDatabaseUrl(database), connectionTimeoutMillis: 10_000 });
      await db.connect();
      const env = {
        TOKENKEEP_DB: pgDatabaseUrl(database),
        TOKENKEEP_MASTER_KEY: randomBytes(32).toString('base64'),
        TOKENKEEP_ADMIN_PASSWORD: ADMIN_PASSWORD,
        TOKENKEEP_USER_PASSWORD: USER_PASSWORD,
        TOKENKEEP_ALLOW_LOOPBACK_HTTP_URIS: '1',
        TOKENKEEP_LOG_LEVEL: 'info',
      };
      // The first node migrates and seeds the empty database; the others start on it together.
      const first = await startServer(env);
      const rest = await Promise.all([startServer(env), startServer(env), startServer(env)]);
      nodes = [first, rest[0], rest[1]];
      victim = rest[2];
      // One request each fills the node's verified-credential cache: the bursts below then cost no scrypt.
      for (const node of [...nodes, victim]) assert.equal((await api(node.base, 'GET', '/api/mgmt/oauthapps', ADMIN)).status, 200, 'warm-up');
    });

    after(async () => {
      killAll();
      await Promise.all(servers.map((s) => s.close()));
      await db?.end();
      if (database) await dropPgDatabase(database);
    });

    async function authorizationServer(options: Parameters<typeof startAuthorizationServer>[0]): Promise<AuthorizationServer> {
      const as = await startAuthorizationServer(options);
      servers.push(as);
      return as;
    }

    /** An app for the AS, created through a node's API as d2cadmin. */
    async function createApp(node: Running, as: AuthorizationServer): Promise<number> {
      const res = await api(node.base, 'POST', '/api/mgmt/oauthapps', ADMIN, {
        name: unique('app'),
        dataStore: 54,
        tenantId: 1,
        description: 'the test AS',
        clientId: as.client.clientId,
        clientSecret: as.client.clientSecret,
        authorizeURI: as.authorizeURI,
        tokenURI: as.tokenURI,
        scope: 'openid offline_access',
      });
      assert.equal(res.status, 201, res.text);
      return res.body.id;
    }

    /** A profile holding tokens from the AS's real login and consent screens (expiry unknown: its first use refreshes). */
    async function connect(node: Running, as: AuthorizationServer, appId: number): Promise<Connected> {
      const tokens = await as.obtainTokens();
      assert.ok(tokens.refreshToken, 'the AS issued a refresh token');
      const res = await api(node.base, 'POST', '/api/mgmt/oauthprofiles', ADMIN, {
        name: unique('p'),
        oauthAppId: appId,
        description: 'engine-nodes',
        accessToken: tokens.accessToken,
        refreshToken: tokens.refreshToken,
      });
      assert.equal(res.status, 201, res.text);
      return { profileId: res.body.id, refreshToken: tokens.refreshToken };
    }

    const tokenOf = (node: Running, profileId: number, query = '?minValidity=3600') =>
      api(node.base, 'POST', `/api/mgmt/oauthprofiles/${profileId}/token${query}`, ADMIN);
    const statusOf = async (node: Running, profileId: number) => {
      const res = await api(node.base, 'GET', `/api/mgmt/oauthprofiles/${profileId}/status`, ADMIN);
      assert.equal(res.status, 200, res.text);
      return res.body;
    };
    /** The engine's lease columns as the database holds them (the API does not show who holds a lease). */
    const leaseOf = async (profileId: number): Promise<{ owner: string | null; inFlight: number | null; generation: number }> => {
      const { rows } = await db!.query('SELECT lease_owner, in_flight, generation FROM oauth_profiles WHERE id = $1', [profileId]);
      return { owner: rows[0].lease_owner, inFlight: rows[0].in_flight === null ? null : Number(rows[0].in_flight), generation: Number(rows[0].generation) };
    };
    /** The lease owner name the engine gives a process: `<host>:<pid>:<random>`. */
    const ownedBy = (owner: string | null, node: Running) => owner !== null && owner.split(':').at(-2) === String(node.child.pid);
    const refreshes = (calls: TokenCall[]) => calls.filter((c) => c.grantType === 'refresh_token');

    test('300 concurrent requests on three nodes for 50 profiles: one AS call per profile, no invalid_grant, one token per profile', async (t) => {
      const as = await authorizationServer({ accessTokenTTL: ACCESS_TOKEN_TTL });
      const appId = await createApp(nodes[0], as);
      const profiles: Connected[] = new Array(PROFILES);
      await pool(
        Array.from({ length: PROFILES }, (_, i) => i),
        5,
        async (i) => {
          profiles[i] = await connect(nodes[0], as, appId);
        },
      );
      const before = as.tokenRequests().length;

      // Request r goes to profile r % 50 on node ⌊r / 50⌋ % 3: each profile has six callers, two on every node.
      const started = Date.now();
      const answers = await Promise.all(
        Array.from({ length: REQUESTS }, (_, r) => tokenOf(nodes[Math.floor(r / PROFILES) % nodes.length], profiles[r % PROFILES].profileId)),
      );
      const took = Date.now() - started;
      t.diagnostic(`${REQUESTS} token requests over ${nodes.length} nodes answered in ${took} ms`);

      const tokens = new Map<number, Set<string>>();
      answers.forEach((res, r) => {
        assert.equal(res.status, 200, `request ${r}: ${res.text}`);
        const set = tokens.get(r % PROFILES) ?? new Set<string>();
        set.add(res.body.accessToken);
        tokens.set(r % PROFILES, set);
      });
      const calls = as.tokenRequests().slice(before);
      assert.deepEqual(
        calls.filter((c) => c.error !== undefined).map((c) => c.error),
        [],
        'no refused token request (no invalid_grant) at the AS',
      );
      assert.equal(refreshes(calls).length, PROFILES, `one refresh call per profile (${took} ms for ${REQUESTS} requests)`);
      assert.equal(calls.length, PROFILES, 'no other token request');
      profiles.forEach((p, i) => {
        const mine = calls.filter((c) => c.presentedRefreshToken === p.refreshToken);
        assert.equal(mine.length, 1, `profile ${i}: its refresh token was sent once`);
        assert.deepEqual([...tokens.get(i)!], [mine[0].issuedAccessToken], `profile ${i}: all six callers got the token of that one call`);
      });
      for (const p of profiles.slice(0, 5)) {
        const s = await statusOf(nodes[2], p.profileId);
        assert.equal(s.state, 'active');
        assert.equal(s.generation, 2, 'one generation bump per profile');
      }
    });

    test('an AS that answers late: callers on the other nodes wait for the lease holder and get its token', async () => {
      const hold = gate();
      const arrived = gate();
      const as = await authorizationServer({
        accessTokenTTL: ACCESS_TOKEN_TTL,
        beforeTokenResponse: async (call) => {
          if (call.grantType !== 'refresh_token') return;
          arrived.open();
          await hold.promise;
        },
      });
      try {
        const appId = await createApp(nodes[1], as);
        const p = await connect(nodes[1], as, appId);
        const before = as.tokenRequests().length;

        const holder = tracked(tokenOf(nodes[0], p.profileId));
        await withTimeout(arrived.promise, 10_000, 'the holder reaching the AS');
        const lease = await leaseOf(p.profileId);
        assert.ok(ownedBy(lease.owner, nodes[0]), `node 0 holds the lease (owner ${lease.owner})`);
        assert.equal(lease.inFlight, lease.generation, 'the in-flight marker is committed before the call');

        // Four callers on each other node, and two more on the holder's node (those share its promise in-process).
        const on = [1, 1, 1, 1, 2, 2, 2, 2, 0, 0];
        const waiters = on.map((n) => tracked(tokenOf(nodes[n], p.profileId)));
        await sleep(1_000);
        assert.equal(waiters.filter((w) => w.settled()).length, 0, 'every caller is still waiting while the AS holds its answer');
        assert.equal(holder.settled(), false);
        assert.equal(refreshes(as.tokenRequests().slice(before)).length, 1, 'nobody else called the AS meanwhile');

        hold.open();
        const [first, ...rest] = await Promise.all([holder.promise, ...waiters.map((w) => w.promise)]);
        assert.equal(first.status, 200, first.text);
        const calls = as.tokenRequests().slice(before);
        assert.equal(refreshes(calls).length, 1, 'still one call');
        assert.equal(calls[0].presentedRefreshToken, p.refreshToken);
        assert.equal(calls[0].error, undefined);
        assert.equal(first.body.accessToken, calls[0].issuedAccessToken, "the holder returns the AS's token");
        rest.forEach((res, i) => {
          assert.equal(res.status, 200, `waiter ${i}: ${res.text}`);
          assert.equal(res.body.accessToken, first.body.accessToken, `waiter ${i} on node ${on[i]} got the holder's token`);
        });
      } finally {
        hold.open();
      }
    });

    test('kill -9 of the lease holder after the AS rotated the token: at most one more call with the old token, then rotation_lost', async () => {
      const hold = gate();
      const arrived = gate();
      let held: string | undefined;
      const as = await authorizationServer({
        accessTokenTTL: ACCESS_TOKEN_TTL,
        beforeTokenResponse: async (call) => {
          // Only the doomed holder's call is held; the later recovery call is answered at once.
          if (call.grantType !== 'refresh_token' || call.presentedRefreshToken !== held || call.status !== 200) return;
          arrived.open();
          await hold.promise;
        },
      });
      try {
        const appId = await createApp(nodes[1], as);
        const p = await connect(nodes[1], as, appId);
        held = p.refreshToken;
        const before = as.tokenRequests().length;

        const doomed = victim!;
        const lost = tokenOf(doomed, p.profileId).catch((err: Error) => err);
        await withTimeout(arrived.promise, 10_000, 'the holder reaching the AS');
        const rotated = as.tokenRequests().slice(before);
        assert.equal(rotated.length, 1);
        assert.ok(rotated[0].issuedRefreshToken && rotated[0].issuedRefreshToken !== p.refreshToken, 'the AS rotated the refresh token');
        const lease = await leaseOf(p.profileId);
        assert.ok(ownedBy(lease.owner, doomed), `the victim holds the lease (owner ${lease.owner})`);
        assert.equal(lease.inFlight, lease.generation, 'with its call marked in flight');

        doomed.kill();
        assert.equal((await withTimeout(doomed.exited, 10_000, 'the SIGKILLed node exiting')).signal, 'SIGKILL');
        hold.open(); // the AS's answer goes to a closed socket: the new refresh token is lost
        assert.ok((await lost) instanceof Error, 'the killed node never answered');
        const afterKill = as.tokenRequests().length;

        // While the dead holder's lease runs, another node's caller waits instead of calling the AS.
        const waiter = tracked(tokenOf(nodes[2], p.profileId));
        await sleep(500);
        assert.equal(waiter.settled(), false, 'the caller waits for the lease');
        assert.equal(as.tokenRequests().length, afterKill, 'no call while the dead holder’s lease runs');

        // The lease would end ~98 s from its claim (the engine's default; a server takes no lease length from the
        // environment). Its end is moved to the database's now, which is what the claim compares against: the same as
        // that time having passed.
        const ended = await db!.query(
          'UPDATE oauth_profiles SET lease_until = (extract(epoch from clock_timestamp()) * 1000)::bigint - 1 WHERE id = $1 AND lease_owner = $2',
          [p.profileId, lease.owner],
        );
        assert.equal(ended.rowCount, 1, 'the dead holder still held the lease');

        const res = await withTimeout(waiter.promise, 20_000, 'the waiter after the lease ended');
        const recovery = as.tokenRequests().slice(afterKill);
        assert.ok(recovery.length <= 1, `at most one more call (${recovery.length})`);
        for (const call of recovery) {
          assert.equal(call.grantType, 'refresh_token');
          assert.equal(call.presentedRefreshToken, p.refreshToken, 'the recovery sends the token that was in flight, nothing else');
        }

        const s = await statusOf(nodes[0], p.profileId);
        if (s.state === 'needs_reconsent') {
          assert.equal(res.status, 409, res.text);
          assert.equal(res.body.error.code, NEEDS_RECONSENT);
          assert.equal(s.lastError?.error, 'rotation_lost');
        } else {
          assert.equal(s.state, 'active', `the profile ends active or needs_reconsent, not ${s.state}`);
          assert.equal(res.status, 200, res.text);
          assert.equal(res.body.accessToken, recovery[0]?.issuedAccessToken, 'an active profile holds the token of the recovery call');
        }

        // A dead grant is not called again, from any node.
        const again = await tokenOf(nodes[0], p.profileId);
        assert.equal(again.status, res.status, again.text);
        assert.equal(as.tokenRequests().length - afterKill, recovery.length, 'no further call');
      } finally {
        hold.open();
      }
    });
  },
);
