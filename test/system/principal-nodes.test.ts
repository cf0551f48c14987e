/**
 * The principal cache (issue 16, src/domain/principals.ts) across real server processes: two `node dist/cli.js serve`
 * processes A and B on one PostgreSQL database. Each case gives B the user first (one successful request, so B keeps
 * the principal), changes it through A's administrator API as d2cadmin, and asks B again at once — no sleep: B refuses
 * the old credentials on the very next request, and admits what the change allows.
 *
 * - A password change, a lock by failed logins on A (and the unlock), a deactivation, a tenant's deactivation, a
 *   permission taken from the user, a role whose permissions changed, a role taken from the user.
 * - The mechanism itself: B really answers from memory (a change written past the triggers, with
 *   `session_replication_role = replica`, is not seen by B while a normal change through A is); and while B's
 *   notification connection is down B reads the row on every request, then keeps principals again once it is back.
 *
 * "At once" holds only if A's change notification reaches B's listening connection before B serves the next request:
 * PostgreSQL sends it from B's listener backend after the commit, so a listener process scheduled late (a loaded
 * machine) lets B answer that one request from memory — the failure these checks exist to catch.
 *
 * PostgreSQL only: skipped without TOKENKEEP_TEST_PG_URL. Every process and connection opened here is closed in `after`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createPgDatabase, dropPgDatabase, pgDatabaseUrl } from '../helpers.js';
import { api, basic, ensureBuilt, killAll, startServer, type Running } from '../process-support.js';

const PG_URL = process.env.TOKENKEEP_TEST_PG_URL;
const ADMIN_PASSWORD = 'Principal-N0des-Adm1n!';
const ADMIN = basic('d2cadmin', ADMIN_PASSWORD);
/** The probe every user makes: its effective permissions, which need MgmtAPI (11). */
const PROBE = '/api/mgmt/permissions';
const MGMT_API = 11;
const VIEW_DATA_SOURCE = 2;
const CREATE_DATA_SOURCE = 1;
/** the built-in role `User` (permissions 1–11) */
const USER_ROLE = 2;
/** limit 3, PasswordLockoutLimit: lowered for the lock case */
const LOCKOUT_LIMIT = 2;
const UNAUTHORIZED = 223000401;
const FORBIDDEN = 222208103;
/** what every node's notification connection calls itself, then its id (src/storage/postgres/principal-changes.ts) */
const LISTENER = 'tokenkeep-principals:%';
const CHANNEL = 'tokenkeep_principals';
/** longer than the periods of a node's background statements (revocation outbox, background refresh, listener ping) */
const KEEP_MS = 1_500;
/** the ping a listening node sends itself (principal-changes.ts), as pg_stat_activity shows its last statement */
const PING_STATEMENT = 'SELECT pg_notify($1, $2)';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let serial = 0;
const unique = (tag: string) => `${tag}_${++serial}_${randomBytes(3).toString('hex')}`;
/** A password the policy accepts (8–128 characters, three classes) that holds no user name of this file. */
const password = () => `Pw-${randomBytes(6).toString('hex')}-X9!`;

type Answer = Awaited<ReturnType<typeof api>>;

function expectOk(res: Answer, why: string): void {
  assert.equal(res.status, 200, `${why}: ${res.text}`);
}

function expectRefused(res: Answer, status: 401 | 403, why: string): void {
  assert.equal(res.status, status, `${why}: ${res.text}`);
  assert.equal(res.body?.error?.code, status === 401 ? UNAUTHORIZED : FORBIDDEN, `${why}: error code`);
}

describe(
  'the principal cache across server processes on one PostgreSQL database',
  { skip: PG_URL ? false : 'TOKENKEEP_TEST_PG_URL is not set (real server processes on PostgreSQL)' },
  () => {
    let database: string | undefined;
    /** the test's own connection: reads, and writes past the triggers */
    let db: pg.Client | undefined;
    /** listens on the principals channel, as a node does */
    let watch: pg.Client | undefined;
    const heard: string[] = [];
    let a: Running;
    let b: Running;
    /** the backend pid of A's notification connection */
    let aListener: number;

    const listeners = async (): Promise<number[]> =>
      (await db!.query('SELECT pid FROM pg_stat_activity WHERE application_name LIKE $1 AND datname = current_database() ORDER BY pid', [LISTENER])).rows.map(
        (r) => Number(r.pid),
      );
    /** B's notification connections: every one that is not A's (A's is never ended here). */
    const bListeners = async () => (await listeners()).filter((pid) => pid !== aListener);

    async function until<T>(what: string, ms: number, fn: () => Promise<T | undefined>): Promise<T> {
      const deadline = Date.now() + ms;
      for (;;) {
        const value = await fn();
        if (value !== undefined) return value;
        assert.ok(Date.now() < deadline, `timed out after ${ms} ms: ${what}`);
        await sleep(50);
      }
    }

    before(async () => {
      ensureBuilt();
      database = await createPgDatabase();
      db = new pg.Client({ connectionString: pgDatabaseUrl(database), connectionTimeoutMillis: 10_000 });
      await db.connect();
      const env = {
        TOKENKEEP_DB: pgDatabaseUrl(database),
        TOKENKEEP_MASTER_KEY: randomBytes(32).toString('base64'),
        TOKENKEEP_ADMIN_PASSWORD: ADMIN_PASSWORD,
        TOKENKEEP_USER_PASSWORD: password(),
        TOKENKEEP_LOG_LEVEL: 'info',
      };
      // A migrates and seeds; its first request opens its notification connection, which tells it from B's.
      a = await startServer(env);
      expectOk(await api(a.base, 'GET', PROBE, ADMIN), 'd2cadmin on A');
      aListener = await until("A's notification connection", 10_000, async () => {
        const pids = await listeners();
        return pids.length === 1 ? pids[0] : undefined;
      });
      const limit = await api(a.base, 'PUT', '/api/admin/limits/system/3', ADMIN, { value: LOCKOUT_LIMIT });
      assert.equal(limit.status, 200, limit.text);
      b = await startServer(env);
      expectOk(await api(b.base, 'GET', PROBE, ADMIN), 'd2cadmin on B');
      await until("B's notification connection", 10_000, async () => ((await bListeners()).length === 1 ? true : undefined));
      watch = new pg.Client({ connectionString: pgDatabaseUrl(database), connectionTimeoutMillis: 10_000 });
      await watch.connect();
      watch.on('notification', (n) => heard.push(n.payload ?? ''));
      await watch.query(`LISTEN ${CHANNEL}`);
    });

    after(async () => {
      killAll();
      await watch?.end();
      await db?.end();
      if (database) await dropPgDatabase(database);
    });

    const probe = (node: Running, userName: string, pw: string) => api(node.base, 'GET', PROBE, basic(userName, pw));
    /** An administrator call on A that must answer `status`; returns the body. */
    async function onA(method: string, path: string, body: unknown, status: number): Promise<any> {
      const res = await api(a.base, method, path, ADMIN, body);
      assert.equal(res.status, status, `${method} ${path}: ${res.text}`);
      return res.body;
    }
    async function createUser(userName: string, pw: string, roles: number[], permissions: number[] = [], tenantId = 1): Promise<number> {
      const body = { userName, tenantId, statusInfo: { status: 1 }, passwordInfo: { password: pw }, permissions: { roles, permissions } };
      return (await onA('POST', '/api/admin/users', body, 201)).id;
    }
    const createRole = async (name: string, permissions: number[]): Promise<number> =>
      (await onA('POST', '/api/admin/roles', { name, tenantId: 1, permissions }, 201)).id;
    /** A user that B has just admitted, so that B keeps its principal. */
    async function knownToB(roles: number[], permissions: number[] = [], tenantId = 1): Promise<{ id: number; name: string; pw: string }> {
      const user = { name: unique('pn'), pw: password() };
      const id = await createUser(user.name, user.pw, roles, permissions, tenantId);
      expectOk(await probe(b, user.name, user.pw), 'the first request on B');
      return { id, ...user };
    }
    const effective = (res: Answer): number[] => (res.body.permissions as { id: number }[]).map((p) => p.id).sort((x, y) => x - y);

    /**
     * One statement on the test's connection with triggers off (session_replication_role = replica): no node hears of
     * it. That no change notification went out is checked: a marker sent after it (a `ping:` payload, which every
     * node ignores) arrives after anything the statement could have sent, PostgreSQL delivering in commit order.
     */
    async function silently(sql: string, params: unknown[]): Promise<void> {
      const from = heard.length;
      await db!.query('SET session_replication_role = replica');
      try {
        assert.equal((await db!.query(sql, params)).rowCount, 1, sql);
      } finally {
        await db!.query('RESET session_replication_role');
      }
      const marker = `ping:test:${unique('marker')}`;
      await db!.query('SELECT pg_notify($1, $2)', [CHANNEL, marker]);
      await until('the marker notification', 5_000, async () => (heard.includes(marker) ? true : undefined));
      const changes = heard.slice(from, heard.indexOf(marker)).filter((p) => !p.startsWith('ping:'));
      assert.deepEqual(changes, [], 'the statement sent no change notification');
    }
    const setStatusSilently = (userId: number, status: 0 | 1) => silently('UPDATE users SET status = $2 WHERE id = $1', [userId, status]);

    test('a password change on A: the old password is refused on B at once, the new one admitted', async () => {
      const u = await knownToB([USER_ROLE]);
      const next = password();
      await onA('PUT', `/api/admin/users/${u.id}/passwordinfo`, { password: next }, 204);
      expectRefused(await probe(b, u.name, u.pw), 401, 'the old password on B');
      expectOk(await probe(b, u.name, next), 'the new password on B');
    });

    test('a lock by failed logins on A is refused on B at once; the unlock on A admits on B at once', async () => {
      const u = await knownToB([USER_ROLE]);
      for (let i = 1; i <= LOCKOUT_LIMIT; i++) expectRefused(await probe(a, u.name, 'Wrong-Passw0rd!'), 401, `failure ${i} on A`);
      assert.equal((await onA('GET', `/api/admin/users/${u.id}/statusinfo`, undefined, 200)).accountLocked, true, 'the account is locked');
      expectRefused(await probe(b, u.name, u.pw), 401, 'the right password on B while locked');
      await onA('PUT', `/api/admin/users/${u.id}/statusinfo`, { status: 1, accountLocked: false }, 200);
      expectOk(await probe(b, u.name, u.pw), 'on B after the unlock');
    });

    test('a deactivation on A is refused on B at once; the reactivation admits on B at once', async () => {
      const u = await knownToB([USER_ROLE]);
      await onA('PUT', `/api/admin/users/${u.id}/statusinfo`, { status: 0 }, 200);
      expectRefused(await probe(b, u.name, u.pw), 401, 'on B after the deactivation');
      await onA('PUT', `/api/admin/users/${u.id}/statusinfo`, { status: 1 }, 200);
      expectOk(await probe(b, u.name, u.pw), 'on B after the reactivation');
    });

    test("a tenant's deactivation on A is refused on B at once; its reactivation admits on B at once", async () => {
      const name = unique('Tenant');
      const tenant = await onA('POST', '/api/admin/tenants', { name, parentTenant: 1, importedRoles: [USER_ROLE] }, 201);
      assert.equal(tenant.roles.length, 1, 'the tenant has its copy of the User role');
      const u = await knownToB(tenant.roles, [], tenant.id);
      await onA('PUT', `/api/admin/tenants/${tenant.id}`, { name, parentTenant: 1, status: 0 }, 200);
      expectRefused(await probe(b, u.name, u.pw), 401, "on B after the tenant's deactivation");
      await onA('PUT', `/api/admin/tenants/${tenant.id}`, { name, parentTenant: 1, status: 1 }, 200);
      expectOk(await probe(b, u.name, u.pw), "on B after the tenant's reactivation");
    });

    test('a permission taken from the user on A is refused on B at once; given back, admitted on B at once', async () => {
      const role = await createRole(unique('view'), [VIEW_DATA_SOURCE]);
      const u = await knownToB([role], [MGMT_API]);
      await onA('PUT', `/api/admin/users/${u.id}/permissions`, { roles: [role], permissions: [] }, 200);
      expectRefused(await probe(b, u.name, u.pw), 403, 'on B without MgmtAPI');
      await onA('PUT', `/api/admin/users/${u.id}/permissions`, { roles: [role], permissions: [MGMT_API] }, 200);
      const res = await probe(b, u.name, u.pw);
      expectOk(res, 'on B with MgmtAPI again');
      assert.deepEqual(effective(res), [VIEW_DATA_SOURCE, MGMT_API]);
    });

    test("a role's permissions changed on A: refused on B at once, and B answers the new set at once", async () => {
      const name = unique('mgmt');
      const role = await createRole(name, [VIEW_DATA_SOURCE, MGMT_API]);
      const u = await knownToB([role]);
      await onA('PUT', `/api/admin/roles/${role}`, { name, tenantId: 1, permissions: [VIEW_DATA_SOURCE], users: [u.id] }, 200);
      expectRefused(await probe(b, u.name, u.pw), 403, 'on B once the role lost MgmtAPI');
      await onA('PUT', `/api/admin/roles/${role}`, { name, tenantId: 1, permissions: [CREATE_DATA_SOURCE, MGMT_API], users: [u.id] }, 200);
      const res = await probe(b, u.name, u.pw);
      expectOk(res, 'on B once the role has MgmtAPI again');
      assert.deepEqual(effective(res), [CREATE_DATA_SOURCE, MGMT_API], "the role's new permissions, not the kept ones");
    });

    test('a role taken from the user on A: refused on B at once; given back, admitted on B at once', async () => {
      const base = await createRole(unique('view'), [VIEW_DATA_SOURCE]);
      const mgmt = await createRole(unique('mgmt'), [MGMT_API]);
      const u = await knownToB([base, mgmt]);
      await onA('PUT', `/api/admin/users/${u.id}/permissions`, { roles: [base], permissions: [] }, 200);
      expectRefused(await probe(b, u.name, u.pw), 403, 'on B without the role holding MgmtAPI');
      await onA('PUT', `/api/admin/users/${u.id}/permissions`, { roles: [base, mgmt], permissions: [] }, 200);
      expectOk(await probe(b, u.name, u.pw), 'on B with the role again');
    });

    test('B really keeps the principal: a change past the triggers goes unseen on B, a change through A is seen at once', async () => {
      // A valid hash of another password: that of a user created with it.
      const otherPw = password();
      const other = await createUser(unique('pn'), otherPw, [USER_ROLE]);
      const otherHash = (await db!.query('SELECT password_hash FROM users WHERE id = $1', [other])).rows[0].password_hash as string;
      const u = await knownToB([USER_ROLE]);
      // Kept across B's own background work too: the revocation outbox's claim and the listener's pings, once a second.
      await sleep(KEEP_MS);

      await silently('UPDATE users SET password_hash = $2 WHERE id = $1', [u.id, otherHash]);
      // A never had this user: it reads the row, which now holds the other password's hash.
      expectOk(await probe(a, u.name, otherPw), "the other password on A (the row's hash)");
      expectOk(await probe(b, u.name, u.pw), 'the old password on B: answered from the principal B keeps');

      const from = heard.length;
      const next = password();
      await onA('PUT', `/api/admin/users/${u.id}/passwordinfo`, { password: next }, 204);
      expectRefused(await probe(b, u.name, u.pw), 401, 'the old password on B after the change through A');
      expectOk(await probe(b, u.name, next), 'the new password on B');
      assert.ok(heard.slice(from).includes(''), 'the change through A was notified');
    });

    test("B's notification connection down: B reads the row on every request, and keeps principals again once it is back", async () => {
      const u = await knownToB([USER_ROLE]);
      // B keeps it now (the previous case's proof, with the status).
      await setStatusSilently(u.id, 0);
      expectOk(await probe(b, u.name, u.pw), 'B answers from the principal it keeps');
      await setStatusSilently(u.id, 1);

      const [listener] = await bListeners();
      assert.ok(listener, "B's notification connection");
      const ended = Date.now();
      assert.equal((await db!.query('SELECT pg_terminate_backend($1, 5000) AS ended', [listener])).rows[0].ended, true);
      // B opens it again on its first request a second after the loss: what follows takes a few milliseconds.
      await setStatusSilently(u.id, 0);
      expectRefused(await probe(b, u.name, u.pw), 401, 'deactivated past the triggers: B read the row');
      await setStatusSilently(u.id, 1);
      expectOk(await probe(b, u.name, u.pw), 'reactivated past the triggers: B read the row');
      await setStatusSilently(u.id, 0);
      expectRefused(await probe(b, u.name, u.pw), 401, 'deactivated again: B kept nothing from the request before');
      assert.deepEqual(await bListeners(), [], `B was without its notification connection throughout (${Date.now() - ended} ms)`);
      await setStatusSilently(u.id, 1);

      // B's requests bring the connection back (a second after the loss), and with it the keeping.
      const back = await until("B's notification connection back", 10_000, async () => {
        expectOk(await probe(b, u.name, u.pw), 'on B while the connection comes back');
        const [pid] = await bListeners();
        return pid === undefined ? undefined : pid;
      });
      assert.notEqual(back, listener, 'a new connection');
      // Listening once its pings run (they start when LISTEN has answered); then B keeps principals again.
      await until("B's pings on the new connection", 5_000, async () => {
        const { rows } = await db!.query('SELECT query FROM pg_stat_activity WHERE pid = $1', [back]);
        return rows[0]?.query === PING_STATEMENT ? true : undefined;
      });
      expectOk(await probe(b, u.name, u.pw), 'on B, listening again');
      await setStatusSilently(u.id, 0);
      expectOk(await probe(b, u.name, u.pw), 'B answers from the principal it keeps again');
      await setStatusSilently(u.id, 1);
    });
  },
);
