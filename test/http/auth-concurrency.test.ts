/**
 * A client that opens many connections at once with credentials the server has not verified yet: one scrypt
 * computation serves them all, so none is refused by the bounded hashing queue.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basic, harness, USER_PASSWORD } from '../helpers.js';

test('150 simultaneous first requests of one user all succeed', async () => {
  const h = await harness();
  try {
    const results = await Promise.all(
      Array.from({ length: 150 }, () =>
        h.app.inject({ method: 'GET', url: '/api/mgmt/permissions', headers: { authorization: basic('d2cuser', USER_PASSWORD) } }),
      ),
    );
    assert.deepEqual([...new Set(results.map((r) => r.statusCode))], [200]);
  } finally {
    await h.close();
  }
});

test('150 simultaneous wrong passwords are refused with 401 or 429, never let in', async () => {
  const h = await harness();
  try {
    const results = await Promise.all(
      Array.from({ length: 150 }, (_, i) =>
        h.app.inject({ method: 'GET', url: '/api/mgmt/permissions', headers: { authorization: basic('d2cuser', `wrong-${i}`) } }),
      ),
    );
    assert.ok(
      results.every((r) => r.statusCode === 401 || r.statusCode === 429),
      results.map((r) => r.statusCode).join(),
    );
    assert.ok(
      results.some((r) => r.statusCode === 429),
      'the bounded queue refuses the overflow',
    );
  } finally {
    await h.close();
  }
});
