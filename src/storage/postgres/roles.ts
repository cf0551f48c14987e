/**
 * PostgreSQL roles (their permissions and members), as ../sqlite/'s; every change takes the identity lock and leaves
 * the identity invariants holding (./grants.ts).
 */
import type pg from 'pg';
import type { IntegrityRules, NewRole, Refusal, Role, Roles } from '../../domain/ports/index.js';
import { nameKey } from '../names.js';
import { Refused, enforce } from '../refused.js';
import { toRole } from '../rows.js';
import type { PgDb, Queryable } from './db.js';
import { IDENTITY, identityHolds, userTenant } from './grants.js';

const ROLE_SELECT = `SELECT r.*,
      ARRAY(SELECT permission FROM role_permissions WHERE role_id = r.id ORDER BY permission) AS perms,
      ARRAY(SELECT user_id FROM user_roles WHERE role_id = r.id ORDER BY user_id) AS members
    FROM roles r`;

export class PgRoles implements Roles {
  constructor(
    private readonly db: PgDb,
    private readonly rules: IntegrityRules,
  ) {}

  /** A role read through `on` (the caller's transaction, or the pool). */
  async read(on: Queryable, id: number): Promise<Role | undefined> {
    const row = await this.db.one(on, `${ROLE_SELECT} WHERE r.id = $1`, [id]);
    return row && toRole(row);
  }

  async list(tenantId?: number): Promise<Role[]> {
    const rows = await this.db.all(this.db.pool, `${ROLE_SELECT} WHERE ($1::bigint IS NULL OR r.tenant_id = $1) ORDER BY r.id`, [tenantId ?? null]);
    return rows.map(toRole);
  }

  async get(id: number): Promise<Role | undefined> {
    return this.read(this.db.pool, id);
  }

  /** Which users may be a role's members is the domain's rule (`member`). */
  private async writeMembers(c: pg.PoolClient, roleId: number, tenantId: number, userIds: number[]): Promise<void> {
    for (const userId of new Set(userIds)) {
      enforce(this.rules.member('users', tenantId, userId, await userTenant(this.db, c, userId)));
      await this.db.run(c, 'INSERT INTO user_roles (user_id, role_id) VALUES ($1, $2)', [userId, roleId]);
    }
  }

  private async writePermissions(c: pg.PoolClient, roleId: number, permissions: number[]): Promise<void> {
    const unique = [...new Set(permissions)];
    if (unique.length > 0) await this.db.run(c, 'INSERT INTO role_permissions (role_id, permission) SELECT $1, unnest($2::int[])', [roleId, unique]);
  }

  /** Inserts a role inside the caller's transaction (create, and the roles a new tenant imports). */
  async insert(c: pg.PoolClient, input: NewRole): Promise<Role> {
    this.db.present(await this.db.one(c, 'SELECT 1 FROM tenants WHERE id = $1', [input.tenantId]), 'tenant', input.tenantId);
    await this.db.nameFree(c, 'roles', { column: 'tenant_id', value: input.tenantId }, input.name);
    const { id } = (await this.db.one<{ id: number }>(c, 'INSERT INTO roles (tenant_id, name, name_key, description) VALUES ($1, $2, $3, $4) RETURNING id', [
      input.tenantId,
      input.name,
      nameKey(input.name),
      input.description,
    ]))!;
    await this.writePermissions(c, id, input.permissions);
    await this.writeMembers(c, id, input.tenantId, input.users);
    return (await this.read(c, id))!;
  }

  async create(input: NewRole): Promise<Role | Refusal> {
    return this.db.decide((c) => this.insert(c, input), IDENTITY);
  }

  async update(id: number, input: NewRole): Promise<Role | Refusal> {
    return this.db.decide(async (c) => {
      const current = this.db.present(await this.read(c, id), 'role', id);
      enforce(this.rules.roleChange(current, input));
      await this.db.nameFree(c, 'roles', { column: 'tenant_id', value: current.tenantId }, input.name, id);
      await this.db.run(c, 'UPDATE roles SET name = $1, name_key = $2, description = $3 WHERE id = $4', [
        input.name,
        nameKey(input.name),
        input.description,
        id,
      ]);
      await this.db.run(c, 'DELETE FROM role_permissions WHERE role_id = $1', [id]);
      await this.writePermissions(c, id, input.permissions);
      await this.db.run(c, 'DELETE FROM user_roles WHERE role_id = $1', [id]);
      await this.writeMembers(c, id, current.tenantId, input.users);
      await identityHolds(this.db, this.rules, c);
      return (await this.read(c, id))!;
    }, IDENTITY);
  }

  async delete(id: number): Promise<void | Refusal> {
    return this.db.decide(async (c) => {
      enforce(this.rules.roleDeletion(id));
      if ((await this.db.exec(c, 'DELETE FROM roles WHERE id = $1', [id])) === 0) throw new Refused({ refused: 'missing', what: 'role', id });
      await identityHolds(this.db, this.rules, c);
    }, IDENTITY);
  }
}
