/** Roles in SQLite: a role, its permissions and its members; every change raises the grants stamp. */
import type { IntegrityRules, NewRole, Refusal, Role, Roles } from '../../domain/ports/index.js';
import { nameKey } from '../names.js';
import { Refused, enforce } from '../refused.js';
import { toRole } from '../rows.js';
import type { Row, SqliteDb } from './db.js';
import { identityHolds, userTenant } from './grants.js';

const ROLE_SELECT = `SELECT r.*,
    (SELECT group_concat(permission) FROM (SELECT permission FROM role_permissions WHERE role_id = r.id ORDER BY permission)) AS perms,
    (SELECT group_concat(user_id) FROM (SELECT user_id FROM user_roles WHERE role_id = r.id ORDER BY user_id)) AS members
  FROM roles r`;

export class SqliteRoles implements Roles {
  constructor(
    private readonly db: SqliteDb,
    private readonly rules: IntegrityRules,
  ) {}

  /** The role as it is now, also inside a write. */
  read(id: number): Role | undefined {
    const row = this.db.q(`${ROLE_SELECT} WHERE r.id = ?`).get(id) as Row | undefined;
    return row && toRole(row);
  }

  async list(tenantId?: number): Promise<Role[]> {
    const rows = this.db.q(`${ROLE_SELECT} WHERE (@tenant IS NULL OR r.tenant_id = @tenant) ORDER BY r.id`).all({ tenant: tenantId ?? null }) as Row[];
    return rows.map(toRole);
  }

  async get(id: number): Promise<Role | undefined> {
    return this.read(id);
  }

  /** Which users may be a role's members is the domain's rule (`member`). */
  private writeMembers(roleId: number, tenantId: number, userIds: number[]): void {
    for (const userId of new Set(userIds)) {
      enforce(this.rules.member('users', tenantId, userId, userTenant(this.db, userId)));
      this.db.q('INSERT INTO user_roles (user_id, role_id) VALUES (?, ?)').run(userId, roleId);
    }
  }

  /** Inserts a role inside a write (a new role, or one copied into a new tenant). */
  insert(input: NewRole): Role {
    this.db.present(this.db.q('SELECT 1 FROM tenants WHERE id = ?').get(input.tenantId), 'tenant', input.tenantId);
    this.db.nameFree('roles', { column: 'tenant_id', value: input.tenantId }, input.name);
    const id = Number(
      this.db
        .q('INSERT INTO roles (tenant_id, name, name_key, description) VALUES (?, ?, ?, ?)')
        .run(input.tenantId, input.name, nameKey(input.name), input.description).lastInsertRowid,
    );
    for (const p of new Set(input.permissions)) this.db.q('INSERT INTO role_permissions VALUES (?, ?)').run(id, p);
    this.writeMembers(id, input.tenantId, input.users);
    return this.read(id)!;
  }

  async create(input: NewRole): Promise<Role | Refusal> {
    return this.db.decide(() => {
      return this.insert(input);
    });
  }

  async update(id: number, input: NewRole): Promise<Role | Refusal> {
    return this.db.decide(() => {
      const current = this.db.present(this.read(id), 'role', id);
      enforce(this.rules.roleChange(current, input));
      this.db.nameFree('roles', { column: 'tenant_id', value: current.tenantId }, input.name, id);
      this.db.q('UPDATE roles SET name = ?, name_key = ?, description = ? WHERE id = ?').run(input.name, nameKey(input.name), input.description, id);
      this.db.q('DELETE FROM role_permissions WHERE role_id = ?').run(id);
      for (const p of new Set(input.permissions)) this.db.q('INSERT INTO role_permissions VALUES (?, ?)').run(id, p);
      this.db.q('DELETE FROM user_roles WHERE role_id = ?').run(id);
      this.writeMembers(id, current.tenantId, input.users);
      identityHolds(this.db, this.rules);
      return this.read(id)!;
    });
  }

  async delete(id: number): Promise<void | Refusal> {
    return this.db.decide(() => {
      enforce(this.rules.roleDeletion(id));
      if (this.db.q('DELETE FROM roles WHERE id = ?').run(id).changes === 0) throw new Refused({ refused: 'missing', what: 'role', id });
      identityHolds(this.db, this.rules);
    });
  }
}
