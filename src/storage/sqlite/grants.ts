/**
 * Facts that every change of tenants, roles or users needs inside its transaction: the tenant a user lives in, and what
 * the change left behind — judged by the domain's rule (`identity`). (That a principal may have changed is the
 * triggers' to record: migration 9.)
 */
import type { IntegrityRules } from '../../domain/ports/index.js';
import { enforce } from '../refused.js';
import type { Row, SqliteDb } from './db.js';

/** The tenant a user lives in; undefined when there is no such user. */
export function userTenant(db: SqliteDb, userId: number): number | undefined {
  return (db.q('SELECT tenant_id FROM users WHERE id = ?').get(userId) as Row | undefined)?.tenant_id as number | undefined;
}

/** What a change of tenants, roles or users left behind, judged by the domain's rule (`identity`). */
export function identityHolds(db: SqliteDb, rules: IntegrityRules): void {
  const administratorRemains =
    db
      .q(
        `SELECT 1 FROM users u JOIN tenants t ON t.id = u.tenant_id
      WHERE u.status = 1 AND t.status = 1 AND (
        EXISTS (SELECT 1 FROM user_permissions WHERE user_id = u.id AND permission = @perm)
        OR EXISTS (SELECT 1 FROM user_roles ur JOIN role_permissions rp ON rp.role_id = ur.role_id
                   WHERE ur.user_id = u.id AND rp.permission = @perm))
      LIMIT 1`,
      )
      .get({ perm: rules.administratorPermission }) !== undefined;
  const orphan = db.q('SELECT id FROM users u WHERE NOT EXISTS (SELECT 1 FROM user_roles WHERE user_id = u.id) LIMIT 1').get() as Row | undefined;
  enforce(rules.identity({ administratorRemains, userWithoutRole: orphan?.id as number | undefined }));
}
