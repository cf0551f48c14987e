/** Users in SQLite: the row, its roles and explicit permissions; every change raises the grants stamp. */
import type { IntegrityRules, NewUser, Refusal, User, UserUpdate, Users } from '../../domain/ports/index.js';
import type { RevocationPlan } from '../../domain/ports/index.js';
import type { SqliteRevocations } from './revocations.js';
import { nameKey } from '../names.js';
import { Refused, enforce } from '../refused.js';
import { toUser } from '../rows.js';
import type { Row, SqliteDb } from './db.js';
import { identityHolds } from './grants.js';

const USER_SELECT = `SELECT u.*,
    (SELECT group_concat(role_id) FROM (SELECT role_id FROM user_roles WHERE user_id = u.id ORDER BY role_id)) AS role_ids,
    (SELECT group_concat(permission) FROM (SELECT permission FROM user_permissions WHERE user_id = u.id ORDER BY permission)) AS permission_ids
  FROM users u`;

export class SqliteUsers implements Users {
  constructor(
    private readonly db: SqliteDb,
    private readonly rules: IntegrityRules,
    private readonly revocations: SqliteRevocations,
  ) {}

  private read(id: number): User | undefined {
    const row = this.db.q(`${USER_SELECT} WHERE u.id = ?`).get(id) as Row | undefined;
    return row && toUser(row);
  }

  async list(tenantId?: number): Promise<User[]> {
    const rows = this.db.q(`${USER_SELECT} WHERE (@tenant IS NULL OR u.tenant_id = @tenant) ORDER BY u.id`).all({ tenant: tenantId ?? null }) as Row[];
    return rows.map(toUser);
  }

  async get(id: number): Promise<User | undefined> {
    return this.read(id);
  }

  async byName(userName: string): Promise<User | undefined> {
    const row = this.db.q(`${USER_SELECT} WHERE u.name_key = ?`).get(nameKey(userName)) as Row | undefined;
    return row && toUser(row);
  }

  async effectivePermissions(userId: number): Promise<Set<number>> {
    const perms = this.db
      .q(
        `SELECT permission FROM user_permissions WHERE user_id = @user
      UNION SELECT rp.permission FROM user_roles ur JOIN role_permissions rp ON rp.role_id = ur.role_id WHERE ur.user_id = @user`,
      )
      .pluck()
      .all({ user: userId }) as number[];
    return new Set(perms);
  }

  /** Which roles a user may hold is the domain's rule (`userRoles`), given the tenant of each. */
  private writeGrants(userId: number, tenantId: number, roles: number[], permissions: number[]): void {
    const unique = [...new Set(roles)];
    const roleTenant = (id: number) => (this.db.q('SELECT tenant_id FROM roles WHERE id = ?').get(id) as Row | undefined)?.tenant_id as number | undefined;
    enforce(
      this.rules.userRoles(
        tenantId,
        unique.map((id) => ({ id, tenantId: roleTenant(id) })),
      ),
    );
    this.db.q('DELETE FROM user_roles WHERE user_id = ?').run(userId);
    this.db.q('DELETE FROM user_permissions WHERE user_id = ?').run(userId);
    for (const roleId of unique) this.db.q('INSERT INTO user_roles (user_id, role_id) VALUES (?, ?)').run(userId, roleId);
    for (const p of new Set(permissions)) this.db.q('INSERT INTO user_permissions VALUES (?, ?)').run(userId, p);
  }

  /** Inserts a user inside a write (a new user, or a seed user at the first start). */
  insert(input: NewUser): User {
    this.db.present(this.db.q('SELECT 1 FROM tenants WHERE id = ?').get(input.tenantId), 'tenant', input.tenantId);
    this.db.nameFree('users', null, input.userName);
    const id = Number(
      this.db
        .q('INSERT INTO users (user_name, name_key, tenant_id, status, password_hash) VALUES (?, ?, ?, ?, ?)')
        .run(input.userName, nameKey(input.userName), input.tenantId, input.status, input.passwordHash).lastInsertRowid,
    );
    this.writeGrants(id, input.tenantId, input.roles, input.permissions);
    return this.read(id)!;
  }

  async create(input: NewUser): Promise<User | Refusal> {
    return this.db.decide(() => {
      return this.insert(input);
    });
  }

  async update(id: number, input: UserUpdate): Promise<User | Refusal> {
    return this.db.decide(() => {
      const current = this.db.present(this.read(id), 'user', id);
      this.db.nameFree('users', null, input.userName, id);
      this.db
        .q('UPDATE users SET user_name = ?, name_key = ?, status = ?, password_hash = ? WHERE id = ?')
        .run(input.userName, nameKey(input.userName), input.status, input.passwordHash ?? current.passwordHash, id);
      this.writeGrants(id, current.tenantId, input.roles, input.permissions);
      identityHolds(this.db, this.rules);
      return this.read(id)!;
    });
  }

  async setLock(id: number, lock: { lockedAt: number; lockedUntil: number } | null): Promise<void | Refusal> {
    return this.db.decide(() => {
      const changes = lock
        ? this.db.q('UPDATE users SET locked_at = ?, locked_until = ? WHERE id = ?').run(lock.lockedAt, lock.lockedUntil, id).changes
        : this.db
            .q(
              `UPDATE users SET failed_count = 0, failed_since = NULL, failure_times = NULL, locked_at = NULL, locked_until = NULL
          WHERE id = ?`,
            )
            .run(id).changes;
      if (changes === 0) throw new Refused({ refused: 'missing', what: 'user', id });
    });
  }

  async delete(id: number, revoke?: RevocationPlan): Promise<void | Refusal> {
    return this.db.decide(() => {
      if (revoke) this.revocations.queue('p.owner_id = ?', id, revoke);
      if (this.db.q('DELETE FROM users WHERE id = ?').run(id).changes === 0) throw new Refused({ refused: 'missing', what: 'user', id });
      identityHolds(this.db, this.rules);
    });
  }
}
