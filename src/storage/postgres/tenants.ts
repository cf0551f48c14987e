/**
 * PostgreSQL tenants and their administrators, as ../sqlite/'s; every change takes the identity lock and leaves the
 * identity invariants holding (./grants.ts). A new tenant's imported roles are copied by the roles repository, inside
 * the tenant's transaction.
 */
import type pg from 'pg';
import type { IntegrityRules, NewTenant, Refusal, Tenant, TenantUpdate, Tenants } from '../../domain/ports/index.js';
import { nameKey } from '../names.js';
import { Refused, enforce } from '../refused.js';
import { toTenant } from '../rows.js';
import type { PgDb } from './db.js';
import { IDENTITY, identityHolds, userTenant } from './grants.js';
import type { PgRoles } from './roles.js';

export class PgTenants implements Tenants {
  constructor(
    private readonly db: PgDb,
    private readonly rules: IntegrityRules,
    private readonly roles: PgRoles,
  ) {}

  async list(): Promise<Tenant[]> {
    return (await this.db.all(this.db.pool, 'SELECT * FROM tenants ORDER BY id')).map(toTenant);
  }

  async get(id: number): Promise<Tenant | undefined> {
    const row = await this.db.one(this.db.pool, 'SELECT * FROM tenants WHERE id = $1', [id]);
    return row && toTenant(row);
  }

  async byName(name: string): Promise<Tenant | undefined> {
    const row = await this.db.one(this.db.pool, 'SELECT * FROM tenants WHERE name_key = $1', [nameKey(name)]);
    return row && toTenant(row);
  }

  async create(input: NewTenant): Promise<{ tenant: Tenant; roles: number[] } | Refusal> {
    return this.db.decide(async (c) => {
      await this.db.nameFree(c, 'tenants', null, input.name);
      const { id } = (await this.db.one<{ id: number }>(
        c,
        `INSERT INTO tenants (name, name_key, description, parent_tenant, status)
        VALUES ($1, $2, $3, $4, $5) RETURNING id`,
        [input.name, nameKey(input.name), input.description, input.parentTenant, input.status],
      ))!;
      const roles: number[] = [];
      for (const roleId of input.importedRoles) {
        const source = await this.roles.read(c, roleId);
        enforce(this.rules.importedRole(roleId, source));
        roles.push((await this.roles.insert(c, { ...source!, tenantId: id, users: [] })).id);
      }
      await this.writeAdmins(c, id, input.admins);
      return { tenant: toTenant((await this.db.one(c, 'SELECT * FROM tenants WHERE id = $1', [id]))!), roles };
    }, IDENTITY);
  }

  async update(id: number, input: TenantUpdate): Promise<Tenant | Refusal> {
    return this.db.decide(async (c) => {
      await this.db.nameFree(c, 'tenants', null, input.name, id);
      const changes = await this.db.exec(c, 'UPDATE tenants SET name = $1, name_key = $2, description = $3, status = $4 WHERE id = $5', [
        input.name,
        nameKey(input.name),
        input.description,
        input.status,
        id,
      ]);
      if (changes === 0) throw new Refused({ refused: 'missing', what: 'tenant', id });
      await identityHolds(this.db, this.rules, c);
      return toTenant((await this.db.one(c, 'SELECT * FROM tenants WHERE id = $1', [id]))!);
    }, IDENTITY);
  }

  async delete(id: number): Promise<void | Refusal> {
    return this.db.decide(async (c) => {
      enforce(this.rules.tenantDeletion(id, (await this.db.one(c, 'SELECT 1 FROM users WHERE tenant_id = $1 LIMIT 1', [id])) !== undefined));
      if ((await this.db.exec(c, 'DELETE FROM tenants WHERE id = $1', [id])) === 0) throw new Refused({ refused: 'missing', what: 'tenant', id });
    }, IDENTITY);
  }

  async admins(id: number): Promise<number[]> {
    return (await this.db.all<{ user_id: number }>(this.db.pool, 'SELECT user_id FROM tenant_admins WHERE tenant_id = $1 ORDER BY user_id', [id])).map(
      (r) => r.user_id,
    );
  }

  async setAdmins(id: number, userIds: number[]): Promise<void | Refusal> {
    return this.db.decide(async (c) => {
      this.db.present(await this.db.one(c, 'SELECT 1 FROM tenants WHERE id = $1', [id]), 'tenant', id);
      await this.db.run(c, 'DELETE FROM tenant_admins WHERE tenant_id = $1', [id]);
      await this.writeAdmins(c, id, userIds);
    }, IDENTITY);
  }

  /** Which users may administer a tenant is the domain's rule (`member`). */
  private async writeAdmins(c: pg.PoolClient, tenantId: number, userIds: number[]): Promise<void> {
    for (const userId of new Set(userIds)) {
      enforce(this.rules.member('admins', tenantId, userId, await userTenant(this.db, c, userId)));
      await this.db.run(c, 'INSERT INTO tenant_admins (tenant_id, user_id) VALUES ($1, $2)', [tenantId, userId]);
    }
  }
}
