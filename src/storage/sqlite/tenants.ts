/** Tenants in SQLite: the row, its administrators, and the system-tenant roles copied into a new tenant. */
import type { IntegrityRules, NewTenant, Refusal, Tenant, TenantUpdate, Tenants } from '../../domain/ports/index.js';
import { nameKey } from '../names.js';
import { Refused, enforce } from '../refused.js';
import { toTenant } from '../rows.js';
import type { Row, SqliteDb } from './db.js';
import { identityHolds, userTenant } from './grants.js';
import type { SqliteRoles } from './roles.js';

export class SqliteTenants implements Tenants {
  constructor(
    private readonly db: SqliteDb,
    private readonly rules: IntegrityRules,
    private readonly roles: SqliteRoles,
  ) {}

  private read(id: number): Tenant | undefined {
    const row = this.db.q('SELECT * FROM tenants WHERE id = ?').get(id) as Row | undefined;
    return row && toTenant(row);
  }

  async list(): Promise<Tenant[]> {
    return (this.db.q('SELECT * FROM tenants ORDER BY id').all() as Row[]).map(toTenant);
  }

  async get(id: number): Promise<Tenant | undefined> {
    return this.read(id);
  }

  async byName(name: string): Promise<Tenant | undefined> {
    const row = this.db.q('SELECT * FROM tenants WHERE name_key = ?').get(nameKey(name)) as Row | undefined;
    return row && toTenant(row);
  }

  async create(input: NewTenant): Promise<{ tenant: Tenant; roles: number[] } | Refusal> {
    return this.db.decide(() => {
      this.db.nameFree('tenants', null, input.name);
      const id = Number(
        this.db
          .q('INSERT INTO tenants (name, name_key, description, parent_tenant, status) VALUES (?, ?, ?, ?, ?)')
          .run(input.name, nameKey(input.name), input.description, input.parentTenant, input.status).lastInsertRowid,
      );
      const roles: number[] = [];
      for (const roleId of input.importedRoles) {
        const source = this.roles.read(roleId);
        enforce(this.rules.importedRole(roleId, source));
        roles.push(this.roles.insert({ ...source!, tenantId: id, users: [] }).id);
      }
      this.writeAdmins(id, input.admins);
      return { tenant: this.read(id)!, roles };
    });
  }

  async update(id: number, input: TenantUpdate): Promise<Tenant | Refusal> {
    return this.db.decide(() => {
      this.db.nameFree('tenants', null, input.name, id);
      const changes = this.db
        .q('UPDATE tenants SET name = ?, name_key = ?, description = ?, status = ? WHERE id = ?')
        .run(input.name, nameKey(input.name), input.description, input.status, id).changes;
      if (changes === 0) throw new Refused({ refused: 'missing', what: 'tenant', id });
      identityHolds(this.db, this.rules);
      return this.read(id)!;
    });
  }

  async delete(id: number): Promise<void | Refusal> {
    return this.db.decide(() => {
      enforce(this.rules.tenantDeletion(id, this.db.q('SELECT 1 FROM users WHERE tenant_id = ? LIMIT 1').get(id) !== undefined));
      if (this.db.q('DELETE FROM tenants WHERE id = ?').run(id).changes === 0) throw new Refused({ refused: 'missing', what: 'tenant', id });
    });
  }

  async admins(id: number): Promise<number[]> {
    return this.db.q('SELECT user_id FROM tenant_admins WHERE tenant_id = ? ORDER BY user_id').pluck().all(id) as number[];
  }

  async setAdmins(id: number, userIds: number[]): Promise<void | Refusal> {
    return this.db.decide(() => {
      this.db.present(this.db.q('SELECT 1 FROM tenants WHERE id = ?').get(id), 'tenant', id);
      this.db.q('DELETE FROM tenant_admins WHERE tenant_id = ?').run(id);
      this.writeAdmins(id, userIds);
    });
  }

  /** Which users may administer a tenant is the domain's rule (`member`). */
  private writeAdmins(tenantId: number, userIds: number[]): void {
    for (const userId of new Set(userIds)) {
      enforce(this.rules.member('admins', tenantId, userId, userTenant(this.db, userId)));
      this.db.q('INSERT INTO tenant_admins (tenant_id, user_id) VALUES (?, ?)').run(tenantId, userId);
    }
  }
}
