/**
 * SQLite storage of the identity model: migrations, bootstrap, authentication state, limits, tenants, roles and
 * users. The domain's integrity rules (last Administrator, every user keeps a role, references within a tenant …)
 * are applied inside each write's transaction, with what it read there (`this.rules`).
 */
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
import { ids, nameKey, type Row } from './db.js';
import { SqliteKeyringStore } from './keyring.js';
import { migrations } from './migrations.js';

export class SqliteIdentityStore extends SqliteKeyringStore {
  async migrate(): Promise<number[]> {
    this.db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
    const done = new Set(this.db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]);
    const applied: number[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      this.tx(() => {
        this.db.exec(m.sql);
        this.db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, new Date().toISOString());
      });
      applied.push(m.version);
    }
    return applied;
  }

  async ping(): Promise<void> {
    this.assertFileIsOurs();
    this.q('SELECT 1').get();
    this.writeHealth.assertWritable();
  }

  /** Through the group commit, like any write: it shares a commit with the writes of the moment. */
  async probeWrite(): Promise<void> {
    await this.write(() =>
      this.q(
        `INSERT INTO meta (key, value) VALUES ('write_probe', 1)
      ON CONFLICT (key) DO UPDATE SET value = value + 1`,
      ).run(),
    );
  }

  async close(): Promise<void> {
    await this.checkpointer?.close();
    if (this.db.open) this.db.close();
  }

  async bootstrap(seed: Seed): Promise<boolean> {
    return this.tx(() => {
      const { n } = this.q('SELECT count(*) AS n FROM tenants').get() as { n: number };
      if (n > 0) return false;
      const { tenant } = seed;
      this.q('INSERT INTO tenants (id, name, name_key, description, parent_tenant, status) VALUES (?, ?, ?, ?, NULL, 1)').run(
        tenant.id,
        tenant.name,
        nameKey(tenant.name),
        tenant.description,
      );
      for (const role of seed.roles) {
        this.q('INSERT INTO roles (id, tenant_id, name, name_key, description) VALUES (?, ?, ?, ?, ?)').run(
          role.id,
          tenant.id,
          role.name,
          nameKey(role.name),
          role.description,
        );
        for (const p of role.permissions) this.q('INSERT INTO role_permissions VALUES (?, ?)').run(role.id, p);
      }
      for (const limit of seed.limits) this.q('INSERT INTO limits (id, value) VALUES (?, ?)').run(limit.id, limit.value);
      for (const user of seed.users) this.insertUser(user);
      return true;
    });
  }

  // ---- authentication -------------------------------------------------------------------------------------------

  /**
   * Authentication reads the user's row on every request, so a password change, lock or deactivation made by any
   * process applies at once. What the user may do (roles, permissions, administered tenants) costs a few joins; it is
   * cached per user under the database's grants version, which every change of grants raises in its transaction.
   */
  async principalByName(userName: string): Promise<Principal | undefined> {
    const row = this.q(
      `SELECT u.*, t.status AS tenant_status, (SELECT value FROM meta WHERE key = 'grants_version') AS grants_version
      FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE u.name_key = ?`,
    ).get(nameKey(userName)) as Row | undefined;
    if (!row) return undefined;
    const id = row.id as number;
    const stamp = (row.grants_version as number | null) ?? 0;
    let grants = this.grantsCache.get(id);
    if (!grants || grants.stamp !== stamp) {
      const g = this.q(
        `SELECT
          (SELECT group_concat(p) FROM (
             SELECT permission AS p FROM user_permissions WHERE user_id = @user
             UNION SELECT rp.permission FROM user_roles ur JOIN role_permissions rp ON rp.role_id = ur.role_id
             WHERE ur.user_id = @user)) AS effective,
          (SELECT group_concat(tenant_id) FROM tenant_admins WHERE user_id = @user) AS admin_tenants,
          (SELECT group_concat(role_id) FROM user_roles WHERE user_id = @user) AS role_ids,
          (SELECT group_concat(permission) FROM user_permissions WHERE user_id = @user) AS permission_ids`,
      ).get({ user: id }) as Row;
      grants = {
        stamp,
        roles: ids(g.role_ids),
        permissions: ids(g.permission_ids),
        effective: new Set(ids(g.effective)),
        adminTenants: new Set(ids(g.admin_tenants)),
      };
      this.grantsCache.set(id, grants);
      if (this.grantsCache.size > 10_000) this.grantsCache.delete(this.grantsCache.keys().next().value!);
    }
    return {
      ...this.toUser(row),
      roles: grants.roles,
      permissions: grants.permissions,
      tenantStatus: row.tenant_status as Status,
      effective: grants.effective,
      adminTenants: grants.adminTenants,
    };
  }

  private readonly grantsCache = new Map<
    number,
    { stamp: number; roles: number[]; permissions: number[]; effective: ReadonlySet<number>; adminTenants: ReadonlySet<number> }
  >();

  /** Called inside every transaction that may change who may do what. */
  private grantsChanged(): void {
    this.q("INSERT INTO meta (key, value) VALUES ('grants_version', 1) ON CONFLICT (key) DO UPDATE SET value = value + 1").run();
  }

  async recordLoginFailure(userId: number, now: number, count: FailureCount): Promise<{ locked: boolean }> {
    return this.write(() => {
      const row = this.q('SELECT failure_times FROM users WHERE id = ?').get(userId) as Row | undefined;
      if (!row) return { locked: false };
      const next = count.next(failureTimes.parse(row.failure_times));
      if (next.lockedUntil !== null) {
        this.q(
          `UPDATE users SET failed_count = 0, failed_since = NULL, failure_times = NULL, locked_at = ?, locked_until = ?
          WHERE id = ?`,
        ).run(now, next.lockedUntil, userId);
        return { locked: true };
      }
      this.q('UPDATE users SET failed_count = ?, failed_since = ?, failure_times = ? WHERE id = ?').run(
        next.times.length,
        next.times[0],
        failureTimes.format(next.times),
        userId,
      );
      return { locked: false };
    });
  }

  async clearLoginFailures(userId: number): Promise<void> {
    await this.write(() =>
      this.q(
        `UPDATE users SET failed_count = 0, failed_since = NULL, failure_times = NULL, locked_at = NULL,
      locked_until = NULL WHERE id = ?`,
      ).run(userId),
    );
  }

  async unknownNameLockedUntil(userName: string): Promise<number | null> {
    const row = this.q('SELECT locked_until FROM unknown_name_failures WHERE name_digest = ?').get(unknownNameDigest(nameKey(userName))) as Row | undefined;
    return (row?.locked_until as number | null | undefined) ?? null;
  }

  /** The same rule as recordLoginFailure; a lock, once set, stays until it ends (as an account's). */
  async recordUnknownNameFailure(userName: string, now: number, count: FailureCount): Promise<{ locked: boolean }> {
    const digest = unknownNameDigest(nameKey(userName));
    return this.write(() => {
      const row = this.q('SELECT failure_times FROM unknown_name_failures WHERE name_digest = ?').get(digest) as Row | undefined;
      const next = count.next(failureTimes.parse(row?.failure_times));
      this.q(
        `INSERT INTO unknown_name_failures (name_digest, failure_times, last_failure, locked_until) VALUES (@digest, @times, @now, @until)
        ON CONFLICT (name_digest) DO UPDATE SET failure_times = excluded.failure_times, last_failure = excluded.last_failure,
          locked_until = coalesce(excluded.locked_until, locked_until)`,
      ).run({ digest, times: failureTimes.format(next.times), now, until: next.lockedUntil });
      this.q(
        `DELETE FROM unknown_name_failures WHERE name_digest IN (SELECT name_digest FROM unknown_name_failures
          WHERE last_failure <= @expired AND (locked_until IS NULL OR locked_until <= @now) LIMIT @batch)`,
      ).run({ expired: count.expiredBefore, now, batch: UNKNOWN_NAME_PRUNE_BATCH });
      return { locked: next.lockedUntil !== null };
    });
  }

  async upgradePasswordHash(userId: number, expected: string, next: string): Promise<void> {
    await this.write(() => this.q('UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?').run(next, userId, expected));
  }

  // ---- limits ---------------------------------------------------------------------------------------------------

  async limits(): Promise<Map<number, number>> {
    const rows = this.q('SELECT id, value FROM limits').all() as { id: number; value: number }[];
    return new Map(rows.map((r) => [r.id, r.value]));
  }

  async setLimit(id: number, value: number): Promise<void> {
    await this.write(() => this.q('INSERT INTO limits (id, value) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET value = excluded.value').run(id, value));
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
    return (this.q('SELECT * FROM tenants ORDER BY id').all() as Row[]).map((r) => this.toTenant(r));
  }

  async tenant(id: number): Promise<Tenant | undefined> {
    const row = this.q('SELECT * FROM tenants WHERE id = ?').get(id) as Row | undefined;
    return row && this.toTenant(row);
  }

  async tenantByName(name: string): Promise<Tenant | undefined> {
    const row = this.q('SELECT * FROM tenants WHERE name_key = ?').get(nameKey(name)) as Row | undefined;
    return row && this.toTenant(row);
  }

  async createTenant(input: NewTenant): Promise<{ tenant: Tenant; roles: number[] } | Refusal> {
    return this.decide(() => {
      this.grantsChanged();
      this.nameFree('tenants', null, input.name);
      const id = Number(
        this.q('INSERT INTO tenants (name, name_key, description, parent_tenant, status) VALUES (?, ?, ?, ?, ?)').run(
          input.name,
          nameKey(input.name),
          input.description,
          input.parentTenant,
          input.status,
        ).lastInsertRowid,
      );
      const roles: number[] = [];
      for (const roleId of input.importedRoles) {
        const source = this.roleSync(roleId);
        enforce(this.rules.importedRole(roleId, source));
        roles.push(this.insertRole({ ...source!, tenantId: id, users: [] }).id);
      }
      this.writeTenantAdmins(id, input.admins);
      return { tenant: this.toTenant(this.q('SELECT * FROM tenants WHERE id = ?').get(id) as Row), roles };
    });
  }

  async updateTenant(id: number, input: TenantUpdate): Promise<Tenant | Refusal> {
    return this.decide(() => {
      this.grantsChanged();
      this.nameFree('tenants', null, input.name, id);
      const changes = this.q('UPDATE tenants SET name = ?, name_key = ?, description = ?, status = ? WHERE id = ?').run(
        input.name,
        nameKey(input.name),
        input.description,
        input.status,
        id,
      ).changes;
      if (changes === 0) throw new Refused({ refused: 'missing', what: 'tenant', id });
      this.identityHolds();
      return this.toTenant(this.q('SELECT * FROM tenants WHERE id = ?').get(id) as Row);
    });
  }

  async deleteTenant(id: number): Promise<void | Refusal> {
    return this.decide(() => {
      this.grantsChanged();
      enforce(this.rules.tenantDeletion(id, this.q('SELECT 1 FROM users WHERE tenant_id = ? LIMIT 1').get(id) !== undefined));
      if (this.q('DELETE FROM tenants WHERE id = ?').run(id).changes === 0) throw new Refused({ refused: 'missing', what: 'tenant', id });
    });
  }

  async tenantAdmins(id: number): Promise<number[]> {
    return this.q('SELECT user_id FROM tenant_admins WHERE tenant_id = ? ORDER BY user_id').pluck().all(id) as number[];
  }

  async setTenantAdmins(id: number, userIds: number[]): Promise<void | Refusal> {
    return this.decide(() => {
      this.grantsChanged();
      this.present(this.q('SELECT 1 FROM tenants WHERE id = ?').get(id), 'tenant', id);
      this.q('DELETE FROM tenant_admins WHERE tenant_id = ?').run(id);
      this.writeTenantAdmins(id, userIds);
    });
  }

  /** Which users may administer a tenant is the domain's rule (`member`). */
  private writeTenantAdmins(tenantId: number, userIds: number[]): void {
    for (const userId of new Set(userIds)) {
      enforce(this.rules.member('admins', tenantId, userId, this.userTenant(userId)));
      this.q('INSERT INTO tenant_admins (tenant_id, user_id) VALUES (?, ?)').run(tenantId, userId);
    }
  }

  // ---- roles ----------------------------------------------------------------------------------------------------

  private roleSync(id: number): Role | undefined {
    const row = this.q(
      `SELECT r.*,
        (SELECT group_concat(permission) FROM (SELECT permission FROM role_permissions WHERE role_id = r.id ORDER BY permission)) AS perms,
        (SELECT group_concat(user_id) FROM (SELECT user_id FROM user_roles WHERE role_id = r.id ORDER BY user_id)) AS members
      FROM roles r WHERE r.id = ?`,
    ).get(id) as Row | undefined;
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
    const rows = this.q(
      `SELECT r.*,
        (SELECT group_concat(permission) FROM (SELECT permission FROM role_permissions WHERE role_id = r.id ORDER BY permission)) AS perms,
        (SELECT group_concat(user_id) FROM (SELECT user_id FROM user_roles WHERE role_id = r.id ORDER BY user_id)) AS members
      FROM roles r WHERE (@tenant IS NULL OR r.tenant_id = @tenant) ORDER BY r.id`,
    ).all({ tenant: tenantId ?? null }) as Row[];
    return rows.map((r) => this.toRole(r));
  }

  async role(id: number): Promise<Role | undefined> {
    return this.roleSync(id);
  }

  /** The tenant a user lives in; undefined when there is no such user. */
  private userTenant(userId: number): number | undefined {
    return (this.q('SELECT tenant_id FROM users WHERE id = ?').get(userId) as Row | undefined)?.tenant_id as number | undefined;
  }

  /** Which users may be a role's members is the domain's rule (`member`). */
  private writeRoleMembers(roleId: number, tenantId: number, userIds: number[]): void {
    for (const userId of new Set(userIds)) {
      enforce(this.rules.member('users', tenantId, userId, this.userTenant(userId)));
      this.q('INSERT INTO user_roles (user_id, role_id) VALUES (?, ?)').run(userId, roleId);
    }
  }

  private insertRole(input: NewRole): Role {
    this.present(this.q('SELECT 1 FROM tenants WHERE id = ?').get(input.tenantId), 'tenant', input.tenantId);
    this.nameFree('roles', { column: 'tenant_id', value: input.tenantId }, input.name);
    const id = Number(
      this.q('INSERT INTO roles (tenant_id, name, name_key, description) VALUES (?, ?, ?, ?)').run(
        input.tenantId,
        input.name,
        nameKey(input.name),
        input.description,
      ).lastInsertRowid,
    );
    for (const p of new Set(input.permissions)) this.q('INSERT INTO role_permissions VALUES (?, ?)').run(id, p);
    this.writeRoleMembers(id, input.tenantId, input.users);
    return this.roleSync(id)!;
  }

  async createRole(input: NewRole): Promise<Role | Refusal> {
    return this.decide(() => {
      this.grantsChanged();
      return this.insertRole(input);
    });
  }

  async updateRole(id: number, input: NewRole): Promise<Role | Refusal> {
    return this.decide(() => {
      this.grantsChanged();
      const current = this.present(this.roleSync(id), 'role', id);
      enforce(this.rules.roleChange(current, input));
      this.nameFree('roles', { column: 'tenant_id', value: current.tenantId }, input.name, id);
      this.q('UPDATE roles SET name = ?, name_key = ?, description = ? WHERE id = ?').run(input.name, nameKey(input.name), input.description, id);
      this.q('DELETE FROM role_permissions WHERE role_id = ?').run(id);
      for (const p of new Set(input.permissions)) this.q('INSERT INTO role_permissions VALUES (?, ?)').run(id, p);
      this.q('DELETE FROM user_roles WHERE role_id = ?').run(id);
      this.writeRoleMembers(id, current.tenantId, input.users);
      this.identityHolds();
      return this.roleSync(id)!;
    });
  }

  async deleteRole(id: number): Promise<void | Refusal> {
    return this.decide(() => {
      this.grantsChanged();
      enforce(this.rules.roleDeletion(id));
      if (this.q('DELETE FROM roles WHERE id = ?').run(id).changes === 0) throw new Refused({ refused: 'missing', what: 'role', id });
      this.identityHolds();
    });
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
      (SELECT group_concat(role_id) FROM (SELECT role_id FROM user_roles WHERE user_id = u.id ORDER BY role_id)) AS role_ids,
      (SELECT group_concat(permission) FROM (SELECT permission FROM user_permissions WHERE user_id = u.id ORDER BY permission)) AS permission_ids
    FROM users u`;

  private userSync(id: number): User | undefined {
    const row = this.q(`${SqliteIdentityStore.userSelect} WHERE u.id = ?`).get(id) as Row | undefined;
    return row && this.toUser(row);
  }

  async listUsers(tenantId?: number): Promise<User[]> {
    const rows = this.q(`${SqliteIdentityStore.userSelect} WHERE (@tenant IS NULL OR u.tenant_id = @tenant) ORDER BY u.id`).all({
      tenant: tenantId ?? null,
    }) as Row[];
    return rows.map((r) => this.toUser(r));
  }

  async user(id: number): Promise<User | undefined> {
    return this.userSync(id);
  }

  async userByName(userName: string): Promise<User | undefined> {
    const row = this.q(`${SqliteIdentityStore.userSelect} WHERE u.name_key = ?`).get(nameKey(userName)) as Row | undefined;
    return row && this.toUser(row);
  }

  async effectivePermissions(userId: number): Promise<Set<number>> {
    const perms = this.q(
      `SELECT permission FROM user_permissions WHERE user_id = @user
      UNION SELECT rp.permission FROM user_roles ur JOIN role_permissions rp ON rp.role_id = ur.role_id WHERE ur.user_id = @user`,
    )
      .pluck()
      .all({ user: userId }) as number[];
    return new Set(perms);
  }

  /** Which roles a user may hold is the domain's rule (`userRoles`), given the tenant of each. */
  private writeUserGrants(userId: number, tenantId: number, roles: number[], permissions: number[]): void {
    const unique = [...new Set(roles)];
    enforce(
      this.rules.userRoles(
        tenantId,
        unique.map((id) => ({
          id,
          tenantId: (this.q('SELECT tenant_id FROM roles WHERE id = ?').get(id) as Row | undefined)?.tenant_id as number | undefined,
        })),
      ),
    );
    this.q('DELETE FROM user_roles WHERE user_id = ?').run(userId);
    this.q('DELETE FROM user_permissions WHERE user_id = ?').run(userId);
    for (const roleId of unique) this.q('INSERT INTO user_roles (user_id, role_id) VALUES (?, ?)').run(userId, roleId);
    for (const p of new Set(permissions)) this.q('INSERT INTO user_permissions VALUES (?, ?)').run(userId, p);
  }

  private insertUser(input: NewUser): User {
    this.present(this.q('SELECT 1 FROM tenants WHERE id = ?').get(input.tenantId), 'tenant', input.tenantId);
    this.nameFree('users', null, input.userName);
    const id = Number(
      this.q('INSERT INTO users (user_name, name_key, tenant_id, status, password_hash) VALUES (?, ?, ?, ?, ?)').run(
        input.userName,
        nameKey(input.userName),
        input.tenantId,
        input.status,
        input.passwordHash,
      ).lastInsertRowid,
    );
    this.writeUserGrants(id, input.tenantId, input.roles, input.permissions);
    return this.userSync(id)!;
  }

  async createUser(input: NewUser): Promise<User | Refusal> {
    return this.decide(() => {
      this.grantsChanged();
      return this.insertUser(input);
    });
  }

  async updateUser(id: number, input: UserUpdate): Promise<User | Refusal> {
    return this.decide(() => {
      this.grantsChanged();
      const current = this.present(this.userSync(id), 'user', id);
      this.nameFree('users', null, input.userName, id);
      this.q('UPDATE users SET user_name = ?, name_key = ?, status = ?, password_hash = ? WHERE id = ?').run(
        input.userName,
        nameKey(input.userName),
        input.status,
        input.passwordHash ?? current.passwordHash,
        id,
      );
      this.writeUserGrants(id, current.tenantId, input.roles, input.permissions);
      this.identityHolds();
      return this.userSync(id)!;
    });
  }

  async setUserLock(id: number, lock: { lockedAt: number; lockedUntil: number } | null): Promise<void | Refusal> {
    return this.decide(() => {
      const changes = lock
        ? this.q('UPDATE users SET locked_at = ?, locked_until = ? WHERE id = ?').run(lock.lockedAt, lock.lockedUntil, id).changes
        : this.q(
            `UPDATE users SET failed_count = 0, failed_since = NULL, failure_times = NULL, locked_at = NULL, locked_until = NULL
          WHERE id = ?`,
          ).run(id).changes;
      if (changes === 0) throw new Refused({ refused: 'missing', what: 'user', id });
    });
  }

  async deleteUser(id: number): Promise<void | Refusal> {
    return this.decide(() => {
      this.grantsChanged();
      if (this.q('DELETE FROM users WHERE id = ?').run(id).changes === 0) throw new Refused({ refused: 'missing', what: 'user', id });
      this.identityHolds();
    });
  }

  // ---- invariants, checked inside the transaction that could break them ----------------------------------------

  /** What a change of tenants, roles or users left behind, judged by the domain's rule (`identity`). */
  private identityHolds(): void {
    const administratorRemains =
      this.q(
        `SELECT 1 FROM users u JOIN tenants t ON t.id = u.tenant_id
      WHERE u.status = 1 AND t.status = 1 AND (
        EXISTS (SELECT 1 FROM user_permissions WHERE user_id = u.id AND permission = @perm)
        OR EXISTS (SELECT 1 FROM user_roles ur JOIN role_permissions rp ON rp.role_id = ur.role_id
                   WHERE ur.user_id = u.id AND rp.permission = @perm))
      LIMIT 1`,
      ).get({ perm: this.rules.administratorPermission }) !== undefined;
    const orphan = this.q('SELECT id FROM users u WHERE NOT EXISTS (SELECT 1 FROM user_roles WHERE user_id = u.id) LIMIT 1').get() as Row | undefined;
    enforce(this.rules.identity({ administratorRemains, userWithoutRole: orphan?.id as number | undefined }));
  }
}
