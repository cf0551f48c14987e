/**
 * PostgreSQL storage of the identity model, as ../sqlite/identity.ts: migrations, bootstrap, authentication state,
 * limits, tenants, roles and users, with the domain's integrity rules (last Administrator, every user keeps a role,
 * references within a tenant …) applied inside each transaction to what it read there (`this.rules`).
 *
 * SQLite gets these rules from being the only writer. Here several processes write at once, so every change of
 * tenants, roles, users or grants first takes one transaction-level advisory lock (LOCK.identity): such changes are
 * rare administrative acts, and serialising them makes each one's checks see every change committed before it
 * (READ COMMITTED takes a fresh snapshot per statement, after the lock is held). Login bookkeeping does not take it:
 * it touches one user row under that row's lock.
 */
import type pg from 'pg';
import {
  Refused,
  UNKNOWN_NAME_PRUNE_BATCH,
  enforce,
  unknownNameDigest,
  type FailureCount,
  type NewRole,
  type NewTenant,
  type NewUser,
  type Principal,
  type Refusal,
  type Role,
  type Seed,
  type Status,
  type Tenant,
  type TenantUpdate,
  type User,
  type UserUpdate,
} from '../store.js';
import { failureTimes } from '../rows.js';
import { LOCK, ids, nameKey, type Queryable, type Row } from './db.js';
import { PgKeyringStore } from './keyring.js';
import { migrations } from './migrations.js';

/** Every change of identity takes the identity lock; a name race that slips past a check is the refusal `name`. */
const IDENTITY = { locks: [LOCK.identity], names: true };

export class PgIdentityStore extends PgKeyringStore {
  async migrate(): Promise<number[]> {
    await this.ensureDurable();
    const applied: number[] = [];
    for (const m of migrations) {
      const done = await this.tx(
        async (c) => {
          await this.run(
            c,
            `CREATE TABLE IF NOT EXISTS schema_migrations (
          version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`,
          );
          if (await this.one(c, 'SELECT 1 FROM schema_migrations WHERE version = $1', [m.version])) return false;
          await this.run(c, m.sql);
          await this.run(c, 'INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, new Date().toISOString()]);
          return true;
        },
        { locks: [LOCK.migrations] },
      );
      if (done) applied.push(m.version);
    }
    return applied;
  }

  async bootstrap(seed: Seed): Promise<boolean> {
    return this.tx(
      async (c) => {
        const { n } = (await this.one<{ n: number }>(c, 'SELECT count(*) AS n FROM tenants'))!;
        if (n > 0) return false;
        const { tenant } = seed;
        await this.run(c, 'INSERT INTO tenants (id, name, name_key, description, parent_tenant, status) VALUES ($1, $2, $3, $4, NULL, 1)', [
          tenant.id,
          tenant.name,
          nameKey(tenant.name),
          tenant.description,
        ]);
        for (const role of seed.roles) {
          await this.run(c, 'INSERT INTO roles (id, tenant_id, name, name_key, description) VALUES ($1, $2, $3, $4, $5)', [
            role.id,
            tenant.id,
            role.name,
            nameKey(role.name),
            role.description,
          ]);
          await this.run(c, 'INSERT INTO role_permissions (role_id, permission) SELECT $1, unnest($2::int[])', [role.id, role.permissions]);
        }
        // Explicit ids do not advance an identity sequence: move them past what was inserted.
        for (const table of ['tenants', 'roles']) {
          await this.run(c, `SELECT setval(pg_get_serial_sequence('${table}', 'id'), (SELECT max(id) FROM ${table}))`);
        }
        for (const limit of seed.limits) await this.run(c, 'INSERT INTO limits (id, value) VALUES ($1, $2)', [limit.id, limit.value]);
        for (const user of seed.users) await this.insertUser(c, user);
        return true;
      },
      { locks: [LOCK.bootstrap, LOCK.identity] },
    );
  }

  // ---- authentication -------------------------------------------------------------------------------------------

  /** A user with its tenant's status and its grants, by name key; concurrent logins share one statement. */
  private readonly principalRow = this.lookup<string>(
    'tokenkeep_principal',
    `
      SELECT u.id, u.user_name, u.name_key, u.tenant_id, u.status, u.password_hash, u.failed_count, u.failed_since,
        u.locked_at, u.locked_until, t.status AS tenant_status,
        ARRAY(SELECT permission FROM user_permissions WHERE user_id = u.id
              UNION SELECT rp.permission FROM user_roles ur JOIN role_permissions rp ON rp.role_id = ur.role_id
              WHERE ur.user_id = u.id) AS effective,
        ARRAY(SELECT tenant_id FROM tenant_admins WHERE user_id = u.id ORDER BY tenant_id) AS admin_tenants,
        ARRAY(SELECT role_id FROM user_roles WHERE user_id = u.id ORDER BY role_id) AS role_ids,
        ARRAY(SELECT permission FROM user_permissions WHERE user_id = u.id ORDER BY permission) AS permission_ids
      FROM users u JOIN tenants t ON t.id = u.tenant_id
      WHERE u.name_key = ANY($1::text[])`,
    (row) => row.name_key as string,
  );

  async principalByName(userName: string): Promise<Principal | undefined> {
    const row = await this.principalRow(nameKey(userName));
    if (!row) return undefined;
    return {
      ...this.toUser(row),
      tenantStatus: row.tenant_status as Status,
      effective: new Set(ids(row.effective)),
      adminTenants: new Set(ids(row.admin_tenants)),
    };
  }

  /**
   * Counted under the user row's lock (FOR NO KEY UPDATE: it does not hold up inserts that reference the user), so
   * failures arriving at several nodes at once are all counted and lock the account exactly once.
   */
  async recordLoginFailure(userId: number, now: number, count: FailureCount): Promise<{ locked: boolean }> {
    return this.tx(async (c) => {
      const row = await this.one(c, 'SELECT failure_times FROM users WHERE id = $1 FOR NO KEY UPDATE', [userId]);
      if (!row) return { locked: false };
      const next = count.next(failureTimes.parse(row.failure_times));
      if (next.lockedUntil !== null) {
        await this.run(
          c,
          `UPDATE users SET failed_count = 0, failed_since = NULL, failure_times = NULL, locked_at = $1, locked_until = $2
          WHERE id = $3`,
          [now, next.lockedUntil, userId],
        );
        return { locked: true };
      }
      await this.run(c, 'UPDATE users SET failed_count = $1, failed_since = $2, failure_times = $3 WHERE id = $4', [
        next.times.length,
        next.times[0],
        failureTimes.format(next.times),
        userId,
      ]);
      return { locked: false };
    });
  }

  async clearLoginFailures(userId: number): Promise<void> {
    await this.run(
      this.pool,
      `UPDATE users SET failed_count = 0, failed_since = NULL, failure_times = NULL, locked_at = NULL,
      locked_until = NULL WHERE id = $1`,
      [userId],
    );
  }

  /** An unknown name's lock by its digest; concurrent lookups (a flood of refused logins) share one statement. */
  private readonly unknownNameRow = this.lookup<string>(
    'tokenkeep_unknown_name',
    'SELECT name_digest, locked_until FROM unknown_name_failures WHERE name_digest = ANY($1::text[])',
    (row) => row.name_digest as string,
  );

  async unknownNameLockedUntil(userName: string): Promise<number | null> {
    const row = await this.unknownNameRow(unknownNameDigest(nameKey(userName)));
    return (row?.locked_until as number | null | undefined) ?? null;
  }

  /**
   * The same rule as recordLoginFailure, counted under the name's row lock: the upsert creates the row or locks the
   * existing one (ON CONFLICT DO UPDATE takes the row lock and RETURNING gives its committed values), so failures
   * arriving at several nodes at once are all counted. Expired rows are then deleted by a separate autocommit
   * statement that skips rows other transactions hold, so pruning never waits for, or deadlocks with, a login.
   */
  async recordUnknownNameFailure(userName: string, now: number, count: FailureCount): Promise<{ locked: boolean }> {
    const digest = unknownNameDigest(nameKey(userName));
    const result = await this.tx(async (c) => {
      const row = (await this.one(
        c,
        `INSERT INTO unknown_name_failures AS f (name_digest, failure_times, last_failure) VALUES ($1, NULL, $2)
        ON CONFLICT (name_digest) DO UPDATE SET last_failure = f.last_failure RETURNING f.failure_times`,
        [digest, now],
      ))!;
      const next = count.next(failureTimes.parse(row.failure_times));
      await this.run(
        c,
        `UPDATE unknown_name_failures SET failure_times = $2, last_failure = $3, locked_until = coalesce($4, locked_until)
        WHERE name_digest = $1`,
        [digest, failureTimes.format(next.times), now, next.lockedUntil],
      );
      return { locked: next.lockedUntil !== null };
    });
    await this.run(
      this.pool,
      `DELETE FROM unknown_name_failures WHERE name_digest IN (SELECT name_digest FROM unknown_name_failures
        WHERE last_failure <= $1 AND (locked_until IS NULL OR locked_until <= $2) LIMIT $3 FOR UPDATE SKIP LOCKED)`,
      [count.expiredBefore, now, UNKNOWN_NAME_PRUNE_BATCH],
    );
    return result;
  }

  async upgradePasswordHash(userId: number, expected: string, next: string): Promise<void> {
    await this.run(this.pool, 'UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3', [next, userId, expected]);
  }

  // ---- limits ---------------------------------------------------------------------------------------------------

  async limits(): Promise<Map<number, number>> {
    const rows = await this.all<{ id: number; value: number }>(this.pool, 'SELECT id, value FROM limits');
    return new Map(rows.map((r) => [r.id, r.value]));
  }

  async setLimit(id: number, value: number): Promise<void> {
    await this.run(this.pool, 'INSERT INTO limits (id, value) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET value = excluded.value', [id, value]);
  }

  // ---- tenants --------------------------------------------------------------------------------------------------

  private toTenant(row: Row): Tenant {
    return {
      id: row.id as number,
      name: row.name as string,
      description: (row.description as string | null) ?? null,
      parentTenant: (row.parent_tenant as number | null) ?? null,
      status: row.status as Status,
    };
  }

  async listTenants(): Promise<Tenant[]> {
    return (await this.all(this.pool, 'SELECT * FROM tenants ORDER BY id')).map((r) => this.toTenant(r));
  }

  async tenant(id: number): Promise<Tenant | undefined> {
    const row = await this.one(this.pool, 'SELECT * FROM tenants WHERE id = $1', [id]);
    return row && this.toTenant(row);
  }

  async tenantByName(name: string): Promise<Tenant | undefined> {
    const row = await this.one(this.pool, 'SELECT * FROM tenants WHERE name_key = $1', [nameKey(name)]);
    return row && this.toTenant(row);
  }

  async createTenant(input: NewTenant): Promise<{ tenant: Tenant; roles: number[] } | Refusal> {
    return this.decide(async (c) => {
      await this.nameFree(c, 'tenants', null, input.name);
      const { id } = (await this.one<{ id: number }>(
        c,
        `INSERT INTO tenants (name, name_key, description, parent_tenant, status)
        VALUES ($1, $2, $3, $4, $5) RETURNING id`,
        [input.name, nameKey(input.name), input.description, input.parentTenant, input.status],
      ))!;
      const roles: number[] = [];
      for (const roleId of input.importedRoles) {
        const source = await this.roleOn(c, roleId);
        enforce(this.rules.importedRole(roleId, source));
        roles.push((await this.insertRole(c, { ...source!, tenantId: id, users: [] })).id);
      }
      await this.writeTenantAdmins(c, id, input.admins);
      return { tenant: this.toTenant((await this.one(c, 'SELECT * FROM tenants WHERE id = $1', [id]))!), roles };
    }, IDENTITY);
  }

  async updateTenant(id: number, input: TenantUpdate): Promise<Tenant | Refusal> {
    return this.decide(async (c) => {
      await this.nameFree(c, 'tenants', null, input.name, id);
      const changes = await this.exec(c, 'UPDATE tenants SET name = $1, name_key = $2, description = $3, status = $4 WHERE id = $5', [
        input.name,
        nameKey(input.name),
        input.description,
        input.status,
        id,
      ]);
      if (changes === 0) throw new Refused({ refused: 'missing', what: 'tenant', id });
      await this.identityHolds(c);
      return this.toTenant((await this.one(c, 'SELECT * FROM tenants WHERE id = $1', [id]))!);
    }, IDENTITY);
  }

  async deleteTenant(id: number): Promise<void | Refusal> {
    return this.decide(async (c) => {
      enforce(this.rules.tenantDeletion(id, (await this.one(c, 'SELECT 1 FROM users WHERE tenant_id = $1 LIMIT 1', [id])) !== undefined));
      if ((await this.exec(c, 'DELETE FROM tenants WHERE id = $1', [id])) === 0) throw new Refused({ refused: 'missing', what: 'tenant', id });
    }, IDENTITY);
  }

  async tenantAdmins(id: number): Promise<number[]> {
    return (await this.all<{ user_id: number }>(this.pool, 'SELECT user_id FROM tenant_admins WHERE tenant_id = $1 ORDER BY user_id', [id])).map(
      (r) => r.user_id,
    );
  }

  async setTenantAdmins(id: number, userIds: number[]): Promise<void | Refusal> {
    return this.decide(async (c) => {
      this.present(await this.one(c, 'SELECT 1 FROM tenants WHERE id = $1', [id]), 'tenant', id);
      await this.run(c, 'DELETE FROM tenant_admins WHERE tenant_id = $1', [id]);
      await this.writeTenantAdmins(c, id, userIds);
    }, IDENTITY);
  }

  /** The tenant a user lives in; undefined when there is no such user. */
  private async userTenant(c: Queryable, userId: number): Promise<number | undefined> {
    return (await this.one<{ tenant_id: number }>(c, 'SELECT tenant_id FROM users WHERE id = $1', [userId]))?.tenant_id;
  }

  /** Which users may administer a tenant is the domain's rule (`member`). */
  private async writeTenantAdmins(c: pg.PoolClient, tenantId: number, userIds: number[]): Promise<void> {
    for (const userId of new Set(userIds)) {
      enforce(this.rules.member('admins', tenantId, userId, await this.userTenant(c, userId)));
      await this.run(c, 'INSERT INTO tenant_admins (tenant_id, user_id) VALUES ($1, $2)', [tenantId, userId]);
    }
  }

  // ---- roles ----------------------------------------------------------------------------------------------------

  private static readonly roleSelect = `SELECT r.*,
      ARRAY(SELECT permission FROM role_permissions WHERE role_id = r.id ORDER BY permission) AS perms,
      ARRAY(SELECT user_id FROM user_roles WHERE role_id = r.id ORDER BY user_id) AS members
    FROM roles r`;

  private async roleOn(on: Queryable, id: number): Promise<Role | undefined> {
    const row = await this.one(on, `${PgIdentityStore.roleSelect} WHERE r.id = $1`, [id]);
    return row && this.toRole(row);
  }

  private toRole(row: Row): Role {
    return {
      id: row.id as number,
      name: row.name as string,
      tenantId: row.tenant_id as number,
      description: (row.description as string | null) ?? null,
      permissions: ids(row.perms),
      users: ids(row.members),
    };
  }

  async listRoles(tenantId?: number): Promise<Role[]> {
    const rows = await this.all(this.pool, `${PgIdentityStore.roleSelect} WHERE ($1::bigint IS NULL OR r.tenant_id = $1) ORDER BY r.id`, [tenantId ?? null]);
    return rows.map((r) => this.toRole(r));
  }

  async role(id: number): Promise<Role | undefined> {
    return this.roleOn(this.pool, id);
  }

  /** Which users may be a role's members is the domain's rule (`member`). */
  private async writeRoleMembers(c: pg.PoolClient, roleId: number, tenantId: number, userIds: number[]): Promise<void> {
    for (const userId of new Set(userIds)) {
      enforce(this.rules.member('users', tenantId, userId, await this.userTenant(c, userId)));
      await this.run(c, 'INSERT INTO user_roles (user_id, role_id) VALUES ($1, $2)', [userId, roleId]);
    }
  }

  private async writeRolePermissions(c: pg.PoolClient, roleId: number, permissions: number[]): Promise<void> {
    const unique = [...new Set(permissions)];
    if (unique.length > 0) await this.run(c, 'INSERT INTO role_permissions (role_id, permission) SELECT $1, unnest($2::int[])', [roleId, unique]);
  }

  private async insertRole(c: pg.PoolClient, input: NewRole): Promise<Role> {
    this.present(await this.one(c, 'SELECT 1 FROM tenants WHERE id = $1', [input.tenantId]), 'tenant', input.tenantId);
    await this.nameFree(c, 'roles', { column: 'tenant_id', value: input.tenantId }, input.name);
    const { id } = (await this.one<{ id: number }>(c, 'INSERT INTO roles (tenant_id, name, name_key, description) VALUES ($1, $2, $3, $4) RETURNING id', [
      input.tenantId,
      input.name,
      nameKey(input.name),
      input.description,
    ]))!;
    await this.writeRolePermissions(c, id, input.permissions);
    await this.writeRoleMembers(c, id, input.tenantId, input.users);
    return (await this.roleOn(c, id))!;
  }

  async createRole(input: NewRole): Promise<Role | Refusal> {
    return this.decide((c) => this.insertRole(c, input), IDENTITY);
  }

  async updateRole(id: number, input: NewRole): Promise<Role | Refusal> {
    return this.decide(async (c) => {
      const current = this.present(await this.roleOn(c, id), 'role', id);
      enforce(this.rules.roleChange(current, input));
      await this.nameFree(c, 'roles', { column: 'tenant_id', value: current.tenantId }, input.name, id);
      await this.run(c, 'UPDATE roles SET name = $1, name_key = $2, description = $3 WHERE id = $4', [input.name, nameKey(input.name), input.description, id]);
      await this.run(c, 'DELETE FROM role_permissions WHERE role_id = $1', [id]);
      await this.writeRolePermissions(c, id, input.permissions);
      await this.run(c, 'DELETE FROM user_roles WHERE role_id = $1', [id]);
      await this.writeRoleMembers(c, id, current.tenantId, input.users);
      await this.identityHolds(c);
      return (await this.roleOn(c, id))!;
    }, IDENTITY);
  }

  async deleteRole(id: number): Promise<void | Refusal> {
    return this.decide(async (c) => {
      enforce(this.rules.roleDeletion(id));
      if ((await this.exec(c, 'DELETE FROM roles WHERE id = $1', [id])) === 0) throw new Refused({ refused: 'missing', what: 'role', id });
      await this.identityHolds(c);
    }, IDENTITY);
  }

  // ---- users ----------------------------------------------------------------------------------------------------

  protected toUser(row: Row): User {
    return {
      id: row.id as number,
      userName: row.user_name as string,
      tenantId: row.tenant_id as number,
      status: row.status as Status,
      passwordHash: row.password_hash as string,
      failedCount: row.failed_count as number,
      failedSince: (row.failed_since as number | null) ?? null,
      lockedAt: (row.locked_at as number | null) ?? null,
      lockedUntil: (row.locked_until as number | null) ?? null,
      roles: ids(row.role_ids),
      permissions: ids(row.permission_ids),
    };
  }

  private static readonly userSelect = `SELECT u.*,
      ARRAY(SELECT role_id FROM user_roles WHERE user_id = u.id ORDER BY role_id) AS role_ids,
      ARRAY(SELECT permission FROM user_permissions WHERE user_id = u.id ORDER BY permission) AS permission_ids
    FROM users u`;

  private async userOn(on: Queryable, id: number): Promise<User | undefined> {
    const row = await this.one(on, `${PgIdentityStore.userSelect} WHERE u.id = $1`, [id]);
    return row && this.toUser(row);
  }

  async listUsers(tenantId?: number): Promise<User[]> {
    const rows = await this.all(this.pool, `${PgIdentityStore.userSelect} WHERE ($1::bigint IS NULL OR u.tenant_id = $1) ORDER BY u.id`, [tenantId ?? null]);
    return rows.map((r) => this.toUser(r));
  }

  async user(id: number): Promise<User | undefined> {
    return this.userOn(this.pool, id);
  }

  async userByName(userName: string): Promise<User | undefined> {
    const row = await this.one(this.pool, `${PgIdentityStore.userSelect} WHERE u.name_key = $1`, [nameKey(userName)]);
    return row && this.toUser(row);
  }

  async effectivePermissions(userId: number): Promise<Set<number>> {
    const rows = await this.all<{ permission: number }>(
      this.pool,
      `SELECT permission FROM user_permissions WHERE user_id = $1
      UNION SELECT rp.permission FROM user_roles ur JOIN role_permissions rp ON rp.role_id = ur.role_id WHERE ur.user_id = $1`,
      [userId],
    );
    return new Set(rows.map((r) => r.permission));
  }

  /** Which roles a user may hold is the domain's rule (`userRoles`), given the tenant of each. */
  private async writeUserGrants(c: pg.PoolClient, userId: number, tenantId: number, roles: number[], permissions: number[]): Promise<void> {
    const ids = [...new Set(roles)];
    const tenants = new Map(
      (await this.all<{ id: number; tenant_id: number }>(c, 'SELECT id, tenant_id FROM roles WHERE id = ANY($1::bigint[])', [ids])).map((r) => [
        r.id,
        r.tenant_id,
      ]),
    );
    enforce(
      this.rules.userRoles(
        tenantId,
        ids.map((id) => ({ id, tenantId: tenants.get(id) })),
      ),
    );
    await this.run(c, 'DELETE FROM user_roles WHERE user_id = $1', [userId]);
    await this.run(c, 'DELETE FROM user_permissions WHERE user_id = $1', [userId]);
    await this.run(c, 'INSERT INTO user_roles (user_id, role_id) SELECT $1, unnest($2::bigint[])', [userId, ids]);
    const unique = [...new Set(permissions)];
    if (unique.length > 0) await this.run(c, 'INSERT INTO user_permissions (user_id, permission) SELECT $1, unnest($2::int[])', [userId, unique]);
  }

  private async insertUser(c: pg.PoolClient, input: NewUser): Promise<User> {
    this.present(await this.one(c, 'SELECT 1 FROM tenants WHERE id = $1', [input.tenantId]), 'tenant', input.tenantId);
    await this.nameFree(c, 'users', null, input.userName);
    const { id } = (await this.one<{ id: number }>(
      c,
      `INSERT INTO users (user_name, name_key, tenant_id, status, password_hash)
      VALUES ($1, $2, $3, $4, $5) RETURNING id`,
      [input.userName, nameKey(input.userName), input.tenantId, input.status, input.passwordHash],
    ))!;
    await this.writeUserGrants(c, id, input.tenantId, input.roles, input.permissions);
    return (await this.userOn(c, id))!;
  }

  async createUser(input: NewUser): Promise<User | Refusal> {
    return this.decide((c) => this.insertUser(c, input), IDENTITY);
  }

  async updateUser(id: number, input: UserUpdate): Promise<User | Refusal> {
    return this.decide(async (c) => {
      const current = this.present(await this.userOn(c, id), 'user', id);
      await this.nameFree(c, 'users', null, input.userName, id);
      await this.run(c, 'UPDATE users SET user_name = $1, name_key = $2, status = $3, password_hash = $4 WHERE id = $5', [
        input.userName,
        nameKey(input.userName),
        input.status,
        input.passwordHash ?? current.passwordHash,
        id,
      ]);
      await this.writeUserGrants(c, id, current.tenantId, input.roles, input.permissions);
      await this.identityHolds(c);
      return (await this.userOn(c, id))!;
    }, IDENTITY);
  }

  async setUserLock(id: number, lock: { lockedAt: number; lockedUntil: number } | null): Promise<void | Refusal> {
    const changes = lock
      ? await this.exec(this.pool, 'UPDATE users SET locked_at = $1, locked_until = $2 WHERE id = $3', [lock.lockedAt, lock.lockedUntil, id])
      : await this.exec(
          this.pool,
          `UPDATE users SET failed_count = 0, failed_since = NULL, failure_times = NULL, locked_at = NULL,
        locked_until = NULL WHERE id = $1`,
          [id],
        );
    if (changes === 0) return { refused: 'missing', what: 'user', id };
  }

  async deleteUser(id: number): Promise<void | Refusal> {
    return this.decide(async (c) => {
      if ((await this.exec(c, 'DELETE FROM users WHERE id = $1', [id])) === 0) throw new Refused({ refused: 'missing', what: 'user', id });
      await this.identityHolds(c);
    }, IDENTITY);
  }

  // ---- invariants, checked inside the transaction that could break them (under LOCK.identity) ------------------

  /** What a change of tenants, roles or users left behind, judged by the domain's rule (`identity`). */
  private async identityHolds(c: pg.PoolClient): Promise<void> {
    const facts = (await this.one<{ administrator: boolean; orphan: number | null }>(
      c,
      `SELECT
      EXISTS (SELECT 1 FROM users u JOIN tenants t ON t.id = u.tenant_id
        WHERE u.status = 1 AND t.status = 1 AND (
          EXISTS (SELECT 1 FROM user_permissions WHERE user_id = u.id AND permission = $1)
          OR EXISTS (SELECT 1 FROM user_roles ur JOIN role_permissions rp ON rp.role_id = ur.role_id
                     WHERE ur.user_id = u.id AND rp.permission = $1))) AS administrator,
      (SELECT id FROM users u WHERE NOT EXISTS (SELECT 1 FROM user_roles WHERE user_id = u.id) LIMIT 1) AS orphan`,
      [this.rules.administratorPermission],
    ))!;
    enforce(this.rules.identity({ administratorRemains: facts.administrator, userWithoutRole: facts.orphan ?? undefined }));
  }
}
