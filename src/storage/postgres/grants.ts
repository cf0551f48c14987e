/**
 * What the PostgreSQL identity repositories (tenants, roles, users: as ../sqlite/'s) share: the identity lock, the
 * tenant a user lives in, and the domain's integrity rules (last Administrator, every user keeps a role …) applied
 * inside each transaction to what it read there.
 *
 * SQLite gets these rules from being the only writer. Here several processes write at once, so every change of
 * tenants, roles, users or grants first takes one transaction-level advisory lock (LOCK.identity): such changes are
 * rare administrative acts, and serialising them makes each one's checks see every change committed before it
 * (READ COMMITTED takes a fresh snapshot per statement, after the lock is held). Login bookkeeping (./logins.ts) does
 * not take it: it touches one user row under that row's lock.
 */
import type pg from 'pg';
import type { IntegrityRules } from '../../domain/ports/index.js';
import { enforce } from '../refused.js';
import { LOCK, type PgDb, type Queryable } from './db.js';

/** Every change of identity takes the identity lock; a name race that slips past a check is the refusal `name`. */
export const IDENTITY = { locks: [LOCK.identity], names: true };

/** The tenant a user lives in; undefined when there is no such user. */
export async function userTenant(db: PgDb, c: Queryable, userId: number): Promise<number | undefined> {
  return (await db.one<{ tenant_id: number }>(c, 'SELECT tenant_id FROM users WHERE id = $1', [userId]))?.tenant_id;
}

// ---- invariants, checked inside the transaction that could break them (under LOCK.identity) ------------------

/** What a change of tenants, roles or users left behind, judged by the domain's rule (`identity`). */
export async function identityHolds(db: PgDb, rules: IntegrityRules, c: pg.PoolClient): Promise<void> {
  const facts = (await db.one<{ administrator: boolean; orphan: number | null }>(
    c,
    `SELECT
      EXISTS (SELECT 1 FROM users u JOIN tenants t ON t.id = u.tenant_id
        WHERE u.status = 1 AND t.status = 1 AND (
          EXISTS (SELECT 1 FROM user_permissions WHERE user_id = u.id AND permission = $1)
          OR EXISTS (SELECT 1 FROM user_roles ur JOIN role_permissions rp ON rp.role_id = ur.role_id
                     WHERE ur.user_id = u.id AND rp.permission = $1))) AS administrator,
      (SELECT id FROM users u WHERE NOT EXISTS (SELECT 1 FROM user_roles WHERE user_id = u.id) LIMIT 1) AS orphan`,
    [rules.administratorPermission],
  ))!;
  enforce(rules.identity({ administratorRemains: facts.administrator, userWithoutRole: facts.orphan ?? undefined }));
}
