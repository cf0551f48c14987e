/** First start's rows (src/domain/seed.ts): what an empty database receives. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seed } from '../../src/domain/seed.js';
import { Perm, SYSTEM_TENANT_ID, allPermissionIds } from '../../src/domain/permissions.js';

test('the seed: the system tenant, three default roles, the limits at their defaults, d2cadmin and d2cuser', () => {
  const rows = seed({ adminPasswordHash: 'A', userPasswordHash: 'U' });
  assert.deepEqual(rows.tenant, { id: SYSTEM_TENANT_ID, name: 'System', description: 'The system tenant' });
  assert.deepEqual(
    rows.roles.map((r) => [r.id, r.name, r.description]),
    [
      [1, 'System Administrator', 'Default role: System Administrator'],
      [2, 'User', 'Default role: User'],
      [3, 'Tenant Administrator', 'Default role: Tenant Administrator'],
    ],
  );
  assert.deepEqual([...rows.roles[0].permissions], [...allPermissionIds]);
  assert.ok(!rows.roles[1].permissions.includes(Perm.Administrator), 'the User role is no administrator');
  assert.deepEqual(rows.limits, [
    { id: 2, value: 900 },
    { id: 3, value: 3 },
    { id: 4, value: 1800 },
  ]);
  assert.deepEqual(
    rows.users.map((u) => [u.userName, u.passwordHash, u.roles, u.tenantId, u.status]),
    [
      ['d2cadmin', 'A', [1], SYSTEM_TENANT_ID, 1],
      ['d2cuser', 'U', [2], SYSTEM_TENANT_ID, 1],
    ],
  );
});
