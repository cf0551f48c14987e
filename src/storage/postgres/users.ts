/**
 * PostgreSQL users and their grants (roles, explicit permissions), as ../sqlite/'s; every change takes the identity
 * lock and leaves the identity invariants holding (./grants.ts).
 */
import type pg from 'pg';
import type { IntegrityRules, NewUser, Refusal, User, UserUpdate, Users } from '../../domain/ports/index.js';
import type { RevocationPlan } from '../../domain/ports/index.js';
import type { PgRevocations } from './revocations.js';
import { nameKey } from '../names.js';
import { Refused, enforce } from '../refused.js';
import { toUser } from '../rows.js';
import type { PgDb, Queryable } from './db.js';
import { IDENTITY, identityHolds } from './grants.js';

const USER_SELECT = `SELECT u.*,
      ARRAY(SELECT role_id FROM user_roles WHERE user_id = u.id ORDER BY role_id) AS role_ids,
      ARRAY(SELECT permission FROM user_permissions WHERE user_id = u.id ORDER BY permission) AS permission_ids
    FROM users u`;

export class PgUsers implements Users {
  constructor(
    private readonly db: PgDb,
    private readonly rules: IntegrityRules,
    private readonly revocations: PgRevocations,
  ) {}

  private async userOn(on: Queryable, id: number): Promise<User | undefined> {
    const row = await this.db.one(on, `${USER_SELECT} WHERE u.id = $1`, [id]);
    return row && toUser(row);
  }

  async list(tenantId?: number): Promise<User[]> {
    const rows = await this.db.all(this.db.pool, `${USER_SELECT} WHERE ($1::bigint IS NULL OR u.tenant_id = $1) ORDER BY u.id`, [tenantId ?? null]);
    return rows.map(toUser);
  }

  async get(id: number): Promise<User | undefined> {
    return this.userOn(this.db.pool, id);
  }

  async byName(userName: string): Promise<User | undefined> {
    const row = await this.db.one(this.db.pool, `${USER_SELECT} WHERE u.name_key = $1`, [nameKey(userName)]);
    return row && toUser(row);
  }

  async effectivePermissions(userId: number): Promise<Set<number>> {
    const rows = await this.db.all<{ permission: number }>(
      this.db.pool,
      `SELECT permission FROM user_permissions WHERE user_id = $1
      UNION SELECT rp.permission FROM user_roles ur JOIN role_permissions rp ON rp.role_id = ur.role_id WHERE ur.user_id = $1`,
      [userId],
    );
    return new Set(rows.map((r) => r.permission));
  }

  /** Which roles a user may hold is the domain's rule (`userRoles`), given the tenant of each. */
  private async writeGrants(c: pg.PoolClient, userId: number, tenantId: number, roles: number[], permissions: number[]): Promise<void> {
    const ids = [...new Set(roles)];
    const tenants = new Map(
      (await this.db.all<{ id: number; tenant_id: number }>(c, 'SELECT id, tenant_id FROM roles WHERE id = ANY($1::bigint[])', [ids])).map((r) => [
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
    await this.db.run(c, 'DELETE FROM user_roles WHERE user_id = $1', [userId]);
    await this.db.run(c, 'DELETE FROM user_permissions WHERE user_id = $1', [userId]);
    await this.db.run(c, 'INSERT INTO user_roles (user_id, role_id) SELECT $1, unnest($2::bigint[])', [userId, ids]);
    const unique = [...new Set(permissions)];
    if (unique.length > 0) await this.db.run(c, 'INSERT INTO user_permissions (user_id, permission) SELECT $1, unnest($2::int[])', [userId, unique]);
  }

  /** Inserts a user inside the caller's transaction (create, and bootstrap's default users). */
  async insert(c: pg.PoolClient, input: NewUser): Promise<User> {
    this.db.present(await this.db.one(c, 'SELECT 1 FROM tenants WHERE id = $1', [input.tenantId]), 'tenant', input.tenantId);
    await this.db.nameFree(c, 'users', null, input.userName);
    const { id } = (await this.db.one<{ id: number }>(
      c,
      `INSERT INTO users (user_name, name_key, tenant_id, status, password_hash)
      VALUES ($1, $2, $3, $4, $5) RETURNING id`,
      [input.userName, nameKey(input.userName), input.tenantId, input.status, input.passwordHash],
    ))!;
    await this.writeGrants(c, id, input.tenantId, input.roles, input.permissions);
    return (await this.userOn(c, id))!;
  }

  async create(input: NewUser): Promise<User | Refusal> {
    return this.db.decide((c) => this.insert(c, input), IDENTITY);
  }

  async update(id: number, input: UserUpdate): Promise<User | Refusal> {
    return this.db.decide(async (c) => {
      const current = this.db.present(await this.userOn(c, id), 'user', id);
      await this.db.nameFree(c, 'users', null, input.userName, id);
      await this.db.run(c, 'UPDATE users SET user_name = $1, name_key = $2, status = $3, password_hash = $4 WHERE id = $5', [
        input.userName,
        nameKey(input.userName),
        input.status,
        input.passwordHash ?? current.passwordHash,
        id,
      ]);
      await this.writeGrants(c, id, current.tenantId, input.roles, input.permissions);
      await identityHolds(this.db, this.rules, c);
      return (await this.userOn(c, id))!;
    }, IDENTITY);
  }

  async setLock(id: number, lock: { lockedAt: number; lockedUntil: number } | null): Promise<void | Refusal> {
    const changes = lock
      ? await this.db.exec(this.db.pool, 'UPDATE users SET locked_at = $1, locked_until = $2 WHERE id = $3', [lock.lockedAt, lock.lockedUntil, id])
      : await this.db.exec(
          this.db.pool,
          `UPDATE users SET failed_count = 0, failed_since = NULL, failure_times = NULL, locked_at = NULL,
        locked_until = NULL WHERE id = $1`,
          [id],
        );
    if (changes === 0) return { refused: 'missing', what: 'user', id };
  }

  async delete(id: number, revoke?: RevocationPlan): Promise<void | Refusal> {
    return this.db.decide(async (c) => {
      if (revoke) await this.revocations.queue(c, 'p.owner_id = $1', id, revoke);
      if ((await this.db.exec(c, 'DELETE FROM users WHERE id = $1', [id])) === 0) throw new Refused({ refused: 'missing', what: 'user', id });
      await identityHolds(this.db, this.rules, c);
    }, IDENTITY);
  }
}
