/**
 * The principal cache (src/domain/principals.ts) over the real store, on SQLite and (TOKENKEEP_TEST_BACKEND=postgres)
 * PostgreSQL: a principal is kept while nothing changed, and every change of a user, its grants or its tenant — made
 * through this store, through another store on the same database (another node or process), or while a read was on
 * its way — is seen by the next read. On PostgreSQL also: no stamp while the notification connection is down or
 * lagging (a stopped backend), and caching again once it is back. Real processes on one PostgreSQL database:
 * ../system/principal-nodes.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Principals } from '../../src/domain/principals.js';
import { integrityRules } from '../../src/domain/integrity.js';
import { failureCount } from '../../src/domain/lockout.js';
import { Perm, SYSTEM_TENANT_ID } from '../../src/domain/permissions.js';
import type { Logins, Principal, Store, User } from '../../src/domain/ports/index.js';
import { PostgresStore } from '../../src/storage/postgres/store.js';
import { SqliteStore } from '../../src/storage/sqlite/store.js';
import { BACKEND, harness, must, type Harness } from '../helpers.js';

const USER_ROLE = 2;
const rnd = (tag: string): string => `${tag}${randomBytes(6).toString('hex')}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const pgOnly = BACKEND === 'postgres' ? false : 'PostgreSQL only: its notification connection';

/** Waits until `check` holds (PostgreSQL's notifications arrive on their own connection), at most `ms`. */
async function eventually(check: () => boolean, what: string, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`not within ${ms} ms: ${what}`);
    await sleep(10);
  }
}

describe(`principal cache on ${BACKEND}`, () => {
  let h: Harness;
  let principals: Principals;
  const others: Store[] = [];

  before(async () => {
    h = await harness();
    principals = new Principals(h.store.logins);
    // PostgreSQL listens from the first use on: until then there is no stamp and nothing is kept.
    await eventually(() => h.store.logins.principalsStamp() !== undefined, 'a principals stamp');
  });
  after(async () => {
    await Promise.all(others.map((s) => s.close()));
    await h.close();
  });

  const makeUser = (roles: number[] = [USER_ROLE], permissions: number[] = [], tenantId = SYSTEM_TENANT_ID): Promise<User> =>
    must(h.store.users.create({ userName: rnd('user'), tenantId, status: 1, passwordHash: rnd('hash-'), roles, permissions }));
  const read = async (userName: string): Promise<Principal> => {
    const p = await principals.byName(userName);
    assert.ok(p, `${userName} is found`);
    return p;
  };
  /** Another store on the harness's database: what another server process opens. */
  const storeOnSameDatabase = (): Store => {
    const store =
      h.store instanceof PostgresStore
        ? new PostgresStore(h.store.db.url, integrityRules, { max: 2 })
        : new SqliteStore(join(h.dir, 'tokenkeep.db'), integrityRules);
    others.push(store);
    return store;
  };

  test('kept while nothing changed: the same principal, also after a profile write; unknown and control-character names are not', async () => {
    const user = await makeUser();
    const first = await read(user.userName);
    assert.equal(await read(user.userName), first, 'the second read is the kept principal');
    // A PUT of a profile changes nothing a principal is read from.
    const app = await must(
      h.store.apps.create({
        name: rnd('App '),
        dataStore: 54,
        tenantId: SYSTEM_TENANT_ID,
        description: null,
        clientId: 'c',
        clientSecret: 's',
        authorizeURI: 'https://as.example/a',
        tokenURI: 'https://as.example/t',
        scope: null,
      }),
    );
    const input = { name: rnd('p '), oauthAppId: app.id, description: null, accessToken: 'AT', refreshToken: 'RT', tokenOrigin: 'https://as.example' };
    const profile = await must(h.store.profiles.create({ ...input, ownerId: user.id, creatorId: user.id }));
    // Let this node's own writes and their notifications settle, then a PUT: the stamp stays.
    let stamp = h.store.logins.principalsStamp();
    await eventually(() => {
      const now = h.store.logins.principalsStamp();
      const still = now === stamp;
      stamp = now;
      return still;
    }, 'a settled stamp');
    await sleep(50);
    const kept = await read(user.userName);
    const header = await h.store.profiles.header(profile.id);
    assert.ok(header);
    await must(h.store.profiles.update(header, { ...input, accessToken: 'AT2' }));
    assert.equal(await read(user.userName), kept, 'still kept after a profile PUT');

    assert.equal(await principals.byName(rnd('nobody')), undefined);
    assert.equal(await principals.byName(''), undefined);
    assert.equal(await principals.byName(`${user.userName}\u0000`), undefined, 'a control character is never looked up');
  });

  test('every change of the row, the grants or the tenant made through this store is seen by the next read', async () => {
    const role = await must(
      h.store.roles.create({ name: rnd('Grants '), tenantId: SYSTEM_TENANT_ID, description: null, permissions: [Perm.MgmtAPI], users: [] }),
    );
    const made = await must(
      h.store.tenants.create({ name: rnd('Tenant '), parentTenant: SYSTEM_TENANT_ID, description: null, status: 1, importedRoles: [USER_ROLE], admins: [] }),
    );
    const tenant = made.tenant;
    const user = await makeUser([role.id]);
    const name = user.userName;
    /** Reads (so the principal is kept), changes, and reads again: the change shows. */
    const change = async (what: string, act: () => Promise<unknown>, shows: (p: Principal) => boolean) => {
      const before = await read(name);
      assert.equal(shows(before), false, `${what}: not yet`);
      await act();
      assert.ok(shows(await read(name)), `${what}: seen by the next read`);
    };

    const grown = { ...role, permissions: [Perm.MgmtAPI, Perm.OAuth] };
    await change(
      'a role gains a permission',
      () => must(h.store.roles.update(role.id, { ...grown, users: [user.id] })),
      (p) => p.effective.has(Perm.OAuth),
    );
    await change(
      'an explicit permission and a second role',
      () => must(h.store.users.update(user.id, { userName: name, status: 1, roles: [role.id, USER_ROLE], permissions: [Perm.OnBehalfOf] })),
      (p) => p.effective.has(Perm.OnBehalfOf) && p.roles.includes(USER_ROLE),
    );
    await change(
      'tenant administration',
      () => must(h.store.tenants.setAdmins(tenant.id, [user.id])),
      (p) => p.adminTenants.has(tenant.id),
    );
    await change(
      'a role taken away',
      () => must(h.store.roles.update(role.id, { ...grown, users: [] })),
      (p) => !p.effective.has(Perm.OAuth) && !p.roles.includes(role.id),
    );
    await change(
      'a new password hash',
      () => must(h.store.users.update(user.id, { userName: name, status: 1, roles: [USER_ROLE], permissions: [], passwordHash: 'next-hash' })),
      (p) => p.passwordHash === 'next-hash',
    );
    await change(
      'a transparent rehash',
      () => h.store.logins.upgradePasswordHash(user.id, 'next-hash', 'upgraded-hash'),
      (p) => p.passwordHash === 'upgraded-hash',
    );
    await change(
      'a failed login',
      () => h.store.logins.recordFailure(user.id, 1_000, failureCount({ limit: 3, intervalMs: 60_000, periodMs: 60_000 }, 1_000)!),
      (p) => p.failedCount === 1,
    );
    await change(
      'a lock',
      () => must(h.store.users.setLock(user.id, { lockedAt: 5, lockedUntil: 10 })),
      (p) => p.lockedUntil === 10,
    );
    await change(
      'failures cleared',
      () => h.store.logins.clearFailures(user.id),
      (p) => p.lockedUntil === null,
    );
    await change(
      'deactivation',
      () => must(h.store.users.update(user.id, { userName: name, status: 0, roles: [USER_ROLE], permissions: [] })),
      (p) => p.status === 0,
    );

    const member = await makeUser([made.roles[0]], [], tenant.id);
    assert.equal((await read(member.userName)).tenantStatus, 1);
    await must(h.store.tenants.update(tenant.id, { name: tenant.name, description: tenant.description, status: 0 }));
    assert.equal((await read(member.userName)).tenantStatus, 0, 'a deactivated tenant: seen by the next read');

    const gone = await makeUser();
    await read(gone.userName);
    await must(h.store.users.delete(gone.id));
    assert.equal(await principals.byName(gone.userName), undefined, 'a deleted user: gone at the next read');
  });

  test('a change made through another store on the same database (another node or process) is seen by the next read', async () => {
    const other = storeOnSameDatabase();
    const user = await makeUser();
    const kept = await read(user.userName);
    const stamp = h.store.logins.principalsStamp();
    await must(other.users.update(user.id, { userName: user.userName, status: 0, roles: [USER_ROLE], permissions: [] }));
    // SQLite: the version the other connection's triggers raised, read at once; PostgreSQL: the notification, on its way.
    await eventually(() => h.store.logins.principalsStamp() !== stamp, "the other store's change moves the stamp");
    const next = await read(user.userName);
    assert.notEqual(next, kept);
    assert.equal(next.status, 0);
  });

  test('a principal read while the stamp moved is answered but not kept', async () => {
    const user = await makeUser();
    const real = h.store.logins;
    // The store's own logins, with a deactivation committed while the first read is on its way back.
    let racing = true;
    const logins: Logins = Object.assign(Object.create(real) as Logins, {
      principal: async (userName: string) => {
        const p = await real.principal(userName);
        if (racing) {
          racing = false;
          await must(h.store.users.update(user.id, { userName: user.userName, status: 0, roles: [USER_ROLE], permissions: [] }));
        }
        return p;
      },
      principalsStamp: () => real.principalsStamp(),
    });
    const racy = new Principals(logins);
    assert.equal((await racy.byName(user.userName))?.status, 1, 'the read as it was');
    assert.equal((await racy.byName(user.userName))?.status, 0, 'not kept: the next read is fresh');
  });

  test('PostgreSQL: no stamp while the notification connection is down, then kept again once it is back', { skip: pgOnly }, async () => {
    const user = await makeUser();
    await read(user.userName);
    const admin = new pg.Client({ connectionString: (h.store as PostgresStore).db.url });
    await admin.connect();
    try {
      const ended = await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'tokenkeep-principals:%' AND datname = current_database()",
      );
      assert.ok(ended.rowCount! >= 1, 'a listener was there to end');
      await eventually(() => h.store.logins.principalsStamp() === undefined, 'no stamp once the connection is lost');
      // Without a stamp every read goes to the database: a change that notifies nobody is seen at once.
      await admin.query('BEGIN');
      await admin.query('SET LOCAL session_replication_role = replica');
      await admin.query('UPDATE users SET status = 0 WHERE id = $1', [user.id]);
      await admin.query('COMMIT');
      assert.equal((await read(user.userName)).status, 0, 'read afresh without a stamp');
      const a = await read(user.userName);
      assert.notEqual(await read(user.userName), a, 'nothing kept without a stamp');
      // Opened again on a use after a second: kept again.
      await eventually(() => h.store.logins.principalsStamp() !== undefined, 'listening again');
      const b = await read(user.userName);
      assert.equal(await read(user.userName), b, 'kept again');
    } finally {
      await admin.end();
    }
  });

  test('PostgreSQL: no stamp while notifications lag (a stopped listener backend), and a stamp again once they flow', { skip: pgOnly }, async (t) => {
    const admin = new pg.Client({ connectionString: (h.store as PostgresStore).db.url });
    await admin.connect();
    try {
      const { rows } = await admin.query(
        "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'tokenkeep-principals:%' AND datname = current_database() ORDER BY backend_start DESC LIMIT 1",
      );
      assert.equal(rows.length, 1, 'a listener');
      const pid = rows[0].pid as number;
      try {
        process.kill(pid, 0);
      } catch {
        t.skip('the PostgreSQL backend is not a process this test may signal (another machine or user)');
        return;
      }
      process.kill(pid, 'SIGSTOP');
      try {
        await eventually(() => h.store.logins.principalsStamp() === undefined, 'no stamp while the pings do not come back', 4_000);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      await eventually(() => h.store.logins.principalsStamp() !== undefined, 'a stamp once the pings come back');
    } finally {
      await admin.end();
    }
  });
});
