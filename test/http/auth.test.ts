/**
 * HTTP Basic authentication and HDP's lockout policy (api.md §2, §3.3 limits 2/3/4), through the real app.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LightMyRequestResponse } from 'fastify';
import fc from 'fast-check';
import { ADMIN_PASSWORD, DEFAULT_PASSWORD, USER_PASSWORD, basic, harness, type Harness } from '../helpers.js';
import { nextFailures } from '../../src/domain/lockout.js';

const CHALLENGE = 'Basic realm="tokenkeep", charset="UTF-8"';
const PROBE = { method: 'GET' as const, url: '/api/mgmt/permissions' };

/** A 401 exactly as api.md §2 requires it. */
function assertUnauthorized(res: LightMyRequestResponse, why: string): void {
  assert.equal(res.statusCode, 401, `${why}: status (body ${res.body})`);
  assert.equal(res.headers['www-authenticate'], CHALLENGE, `${why}: challenge`);
  const body = res.json();
  assert.equal(body.error.code, 223000401, `${why}: code`);
  assert.equal(body.error.message.lang, 'en-US');
  assert.equal(typeof body.error.message.value, 'string');
}

/** Response headers that do not depend on when the response was sent. */
function stableHeaders(res: LightMyRequestResponse): Record<string, unknown> {
  const { date: _date, ...rest } = res.headers;
  return rest;
}

async function createUser(h: Harness, userName: string, password = DEFAULT_PASSWORD, roles = [2]): Promise<number> {
  const res = await h.call({
    method: 'POST',
    url: '/api/admin/users',
    as: 'd2cadmin',
    payload: { userName, statusInfo: { status: 1 }, passwordInfo: { password }, permissions: { roles } },
  });
  assert.equal(res.statusCode, 201, res.body);
  return res.json().id;
}

async function userId(h: Harness, userName: string): Promise<number> {
  const p = await h.store.logins.principal(userName);
  assert.ok(p, `user ${userName} exists`);
  return p.id;
}

const probe = (h: Harness, user: string, password: string, extra: Record<string, unknown> = {}) => h.call({ ...PROBE, as: [user, password], ...extra });

async function setLimit(h: Harness, id: number, value: number): Promise<void> {
  const res = await h.call({ method: 'POST', url: `/api/admin/limits/system/${id}`, as: 'd2cadmin', payload: { value } });
  assert.equal(res.statusCode, 200, res.body);
  assert.equal(res.json().value, value);
}

async function statusInfo(h: Harness, id: number) {
  const res = await h.call({ method: 'GET', url: `/api/admin/users/${id}/statusinfo`, as: 'd2cadmin' });
  assert.equal(res.statusCode, 200, res.body);
  return res.json() as { status: number; accountLocked: boolean; accountLockedAt: string | null; accountLockedUntil: string | null };
}

describe('Basic authentication: parsing', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(async () => h.close());

  test('correct credentials are admitted', async () => {
    const res = await probe(h, 'd2cuser', USER_PASSWORD);
    assert.equal(res.statusCode, 200, res.body);
    assert.ok(Array.isArray(res.json().permissions));
  });

  test('a missing Authorization header is a 401 with the Basic challenge', async () => {
    const res = await h.call(PROBE);
    assertUnauthorized(res, 'no header');
    assert.deepEqual(Object.keys(res.json()), ['error']);
  });

  test('the scheme name is case-insensitive', async () => {
    const token = Buffer.from(`d2cuser:${USER_PASSWORD}`).toString('base64');
    for (const scheme of ['Basic', 'basic', 'BASIC', 'bAsIc']) {
      const res = await h.call({ ...PROBE, headers: { authorization: `${scheme} ${token}` } });
      assert.equal(res.statusCode, 200, `scheme ${scheme}: ${res.body}`);
    }
  });

  test('other schemes and malformed headers are 401, never 400 or 5xx', async () => {
    const good = Buffer.from(`d2cuser:${USER_PASSWORD}`).toString('base64');
    for (const header of [`Bearer ${good}`, 'Basic', 'Basic ', `Basic${good}`, `Basic ${good}!!`, 'Basic %%%%', `Digest username="d2cuser"`]) {
      assertUnauthorized(await h.call({ ...PROBE, headers: { authorization: header } }), `header ${JSON.stringify(header)}`);
    }
  });

  test('decoded credentials without a colon are a 401', async () => {
    const token = Buffer.from(`d2cuser${USER_PASSWORD}`).toString('base64');
    assertUnauthorized(await h.call({ ...PROBE, headers: { authorization: `Basic ${token}` } }), 'no colon');
    const onlyName = Buffer.from('d2cuser').toString('base64');
    assertUnauthorized(await h.call({ ...PROBE, headers: { authorization: `Basic ${onlyName}` } }), 'name only');
  });

  test('the password may contain colons: the split is at the first colon', async () => {
    const password = 'Co:lon:Pass1';
    await createUser(h, 'colonuser', password);
    assert.equal((await probe(h, 'colonuser', password)).statusCode, 200);
    // Splitting at the last colon would make the user name "colonuser:Co:lon" and the password "Pass1".
    assertUnauthorized(await probe(h, 'colonuser', 'Co'), 'password cut at a later colon');
  });

  test('UTF-8 passwords work', async () => {
    const password = 'Pässwörd-1€x';
    await createUser(h, 'utf8user', password);
    const res = await h.call({ ...PROBE, headers: { authorization: basic('utf8user', password) } });
    assert.equal(res.statusCode, 200, res.body);
    // The same characters in Latin-1 are a different password.
    const latin1 = `Basic ${Buffer.from(`utf8user:${password.replace('€', 'E')}`, 'latin1').toString('base64')}`;
    assertUnauthorized(await h.call({ ...PROBE, headers: { authorization: latin1 } }), 'latin-1 bytes');
  });

  test('an empty user name is a 401', async () => {
    assertUnauthorized(await probe(h, '', USER_PASSWORD), 'empty name');
    assertUnauthorized(await probe(h, '', ''), 'empty name and password');
  });

  test('an oversized Authorization header is a 401, not 5xx', async () => {
    const password = 'A1-' + 'x'.repeat(10 * 1024);
    const res = await probe(h, 'd2cuser', password);
    assertUnauthorized(res, '10 KB header');
    const huge = `Basic ${'QUFB'.repeat(4 * 1024)}`;
    assertUnauthorized(await h.call({ ...PROBE, headers: { authorization: huge } }), '16 KB of base64');
  });

  test('the user name is matched case-insensitively, the password is not', async () => {
    assert.equal((await probe(h, 'D2CUSER', USER_PASSWORD)).statusCode, 200);
    assertUnauthorized(await probe(h, 'd2cuser', USER_PASSWORD.toUpperCase()), 'password case');
  });
});

describe('Basic authentication: account state', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(async () => h.close());

  test('an inactive user gets the same 401 as a wrong password', async () => {
    const id = await createUser(h, 'sleepy');
    assert.equal((await probe(h, 'sleepy', DEFAULT_PASSWORD)).statusCode, 200); // now in the credential cache
    const wrong = await probe(h, 'sleepy', 'Wrong-Passw0rd');
    assertUnauthorized(wrong, 'wrong password');

    const off = await h.call({ method: 'PUT', url: `/api/admin/users/${id}/statusinfo`, as: 'd2cadmin', payload: { status: 0 } });
    assert.equal(off.statusCode, 200, off.body);
    assert.equal(off.json().status, 0);

    const inactive = await probe(h, 'sleepy', DEFAULT_PASSWORD);
    assertUnauthorized(inactive, 'inactive user');
    assert.equal(inactive.body, wrong.body);
    assert.deepEqual(stableHeaders(inactive), stableHeaders(wrong));

    const on = await h.call({ method: 'PUT', url: `/api/admin/users/${id}/statusinfo`, as: 'd2cadmin', payload: { status: 1 } });
    assert.equal(on.statusCode, 200, on.body);
    assert.equal((await probe(h, 'sleepy', DEFAULT_PASSWORD)).statusCode, 200);
  });

  test('a password change makes the cached old password fail on the very next request', async () => {
    const id = await createUser(h, 'changer');
    assert.equal((await probe(h, 'changer', DEFAULT_PASSWORD)).statusCode, 200);
    assert.equal((await probe(h, 'changer', DEFAULT_PASSWORD)).statusCode, 200); // served from the cache
    const next = 'Next-Passw0rd!';
    const res = await h.call({ method: 'PUT', url: `/api/admin/users/${id}/passwordinfo`, as: 'd2cadmin', payload: { password: next } });
    assert.equal(res.statusCode, 204, res.body);
    assertUnauthorized(await probe(h, 'changer', DEFAULT_PASSWORD), 'old password after change');
    assert.equal((await probe(h, 'changer', next)).statusCode, 200);
  });

  test('a password change through PUT /users/{id} also invalidates the cached password', async () => {
    const id = await createUser(h, 'replacer');
    assert.equal((await probe(h, 'replacer', DEFAULT_PASSWORD)).statusCode, 200);
    const next = 'Other-Passw0rd!';
    const res = await h.call({
      method: 'PUT',
      url: `/api/admin/users/${id}`,
      as: 'd2cadmin',
      payload: { userName: 'replacer', statusInfo: { status: 1 }, passwordInfo: { password: next }, permissions: { roles: [2] } },
    });
    assert.equal(res.statusCode, 200, res.body);
    assertUnauthorized(await probe(h, 'replacer', DEFAULT_PASSWORD), 'old password after PUT');
    assert.equal((await probe(h, 'replacer', next)).statusCode, 200);
  });

  test('a permission change applies on the next request', async () => {
    const id = await createUser(h, 'promoted', DEFAULT_PASSWORD, [2]);
    const list = { method: 'GET' as const, url: '/api/admin/users', as: ['promoted', DEFAULT_PASSWORD] as [string, string] };
    assert.equal((await h.call(list)).statusCode, 403);
    const grant = await h.call({ method: 'PUT', url: `/api/admin/users/${id}/permissions`, as: 'd2cadmin', payload: { roles: [2], permissions: [14] } });
    assert.equal(grant.statusCode, 200, grant.body);
    assert.equal((await h.call(list)).statusCode, 200);
    const revoke = await h.call({ method: 'PUT', url: `/api/admin/users/${id}/permissions`, as: 'd2cadmin', payload: { roles: [2] } });
    assert.equal(revoke.statusCode, 200, revoke.body);
    assert.equal((await h.call(list)).statusCode, 403);
  });

  test('a deleted user cannot authenticate on the next request', async () => {
    const id = await createUser(h, 'goner');
    assert.equal((await probe(h, 'goner', DEFAULT_PASSWORD)).statusCode, 200);
    const del = await h.call({ method: 'DELETE', url: `/api/admin/users/${id}`, as: 'd2cadmin' });
    assert.equal(del.statusCode, 204, del.body);
    assertUnauthorized(await probe(h, 'goner', DEFAULT_PASSWORD), 'deleted user');
  });
});

describe('unknown user and wrong password are indistinguishable', () => {
  test('byte-identical 401 bodies and headers', async () => {
    const h = await harness();
    try {
      const unknown = await probe(h, 'nobody-here', USER_PASSWORD);
      const wrong = await probe(h, 'd2cuser', 'Wrong-Passw0rd');
      assertUnauthorized(unknown, 'unknown user');
      assertUnauthorized(wrong, 'wrong password');
      assert.equal(unknown.rawPayload.compare(wrong.rawPayload), 0, 'same bytes');
      assert.deepEqual(stableHeaders(unknown), stableHeaders(wrong));
      // A locked account answers the same as well.
      await probe(h, 'd2cuser', 'Wrong-Passw0rd');
      await probe(h, 'd2cuser', 'Wrong-Passw0rd');
      const locked = await probe(h, 'd2cuser', USER_PASSWORD);
      assertUnauthorized(locked, 'locked account');
      assert.equal(locked.body, wrong.body);
      assert.deepEqual(stableHeaders(locked), stableHeaders(wrong));
    } finally {
      await h.close();
    }
  });

  // With a per-address limit of 4, an attempt that reaches the password check is counted and one that is refused
  // by the lock beforehand is not. The observable sequence must be the same for a real account and an unknown name.
  for (const [label, name] of [
    ['a real account', 'd2cuser'],
    ['an unknown name', 'ghost-user'],
  ] as const) {
    test(`${label} "locks" after 3 failures and is then refused before the password check`, async () => {
      const h = await harness({ failuresPerAddress: 4 });
      try {
        for (let i = 0; i < 3; i++) assertUnauthorized(await probe(h, name, 'Wrong-Passw0rd'), `failure ${i + 1}`);
        // Locked: refused without hashing, so not counted against the address, so never a 429.
        for (let i = 0; i < 4; i++) assertUnauthorized(await probe(h, name, 'Wrong-Passw0rd'), `locked attempt ${i + 1}`);
        // The 4th counted failure, then the address limit.
        assertUnauthorized(await probe(h, 'someone-else', 'Wrong-Passw0rd'), 'fourth counted failure');
        const limited = await probe(h, 'someone-else-2', 'Wrong-Passw0rd');
        assert.equal(limited.statusCode, 429, limited.body);
        // The lock expires after the period like a real account's.
        h.clock.advance(1801);
        assertUnauthorized(await probe(h, name, 'Wrong-Passw0rd'), 'after the period');
      } finally {
        await h.close();
      }
    });

    test(`${label}: three failures within 900 s that straddle the first failure's window lock too (sliding window)`, async () => {
      const h = await harness({ failuresPerAddress: 4 });
      try {
        for (const step of [0, 899, 2, 1]) {
          h.clock.advance(step);
          assertUnauthorized(await probe(h, name, 'Wrong-Passw0rd'), `failure after +${step} s`);
        }
        // 899, 901 and 902 s lock; the address counted 3 of its 4 in its last minute. Locked attempts are not counted.
        for (let i = 0; i < 4; i++) assertUnauthorized(await probe(h, name, 'Wrong-Passw0rd'), `locked attempt ${i + 1}`);
        assertUnauthorized(await probe(h, 'someone-else', 'Wrong-Passw0rd'), 'fourth counted failure');
        assert.equal((await probe(h, 'someone-else-2', 'Wrong-Passw0rd')).statusCode, 429);
      } finally {
        await h.close();
      }
    });
  }

  test('an unknown name costs a password hash, as a wrong password does', async () => {
    // logN 14 makes a hash take tens of milliseconds: skipping it would be a hundredfold difference.
    const h = await harness({ hashParams: { logN: 14, r: 8, p: 1 } });
    try {
      await setLimit(h, 3, 0); // no lockout, so every attempt reaches the hash
      await createUser(h, 'timed'); // hashed with the app's parameters, like the dummy hash
      const time = async (user: string) => {
        const samples: number[] = [];
        for (let i = 0; i < 5; i++) {
          const start = process.hrtime.bigint();
          assertUnauthorized(await probe(h, user, `Wrong-Passw0rd${i}`), user);
          samples.push(Number(process.hrtime.bigint() - start) / 1e6);
        }
        return Math.min(...samples);
      };
      const wrong = await time('timed');
      const unknown = await time('not-a-user');
      const ratio = unknown / wrong;
      assert.ok(ratio > 0.33 && ratio < 3, `unknown ${unknown.toFixed(1)} ms vs wrong password ${wrong.toFixed(1)} ms`);
    } finally {
      await h.close();
    }
  });
});

describe('account lockout (limits 2, 3, 4)', () => {
  test('3 wrong passwords lock the account; the lock expires after PasswordLockoutPeriod', async () => {
    const h = await harness();
    try {
      const id = await userId(h, 'd2cuser');
      assert.equal((await probe(h, 'd2cuser', USER_PASSWORD)).statusCode, 200); // cached
      for (let i = 0; i < 3; i++) assertUnauthorized(await probe(h, 'd2cuser', 'Wrong-Passw0rd'), `failure ${i + 1}`);
      assertUnauthorized(await probe(h, 'd2cuser', USER_PASSWORD), 'right password while locked');
      const info = await statusInfo(h, id);
      assert.equal(info.accountLocked, true);
      assert.equal(info.status, 1);
      assert.equal(info.accountLockedAt, '2026-01-01 00:00:00');
      assert.equal(info.accountLockedUntil, '2026-01-01 00:30:00');

      h.clock.advance(1799);
      assertUnauthorized(await probe(h, 'd2cuser', USER_PASSWORD), 'one second before the lock ends');
      h.clock.advance(2);
      assert.equal((await probe(h, 'd2cuser', USER_PASSWORD)).statusCode, 200);
      assert.equal((await statusInfo(h, id)).accountLocked, false);
    } finally {
      await h.close();
    }
  });

  test('two failures do not lock, and a success resets the count', async () => {
    const h = await harness();
    try {
      for (let round = 0; round < 3; round++) {
        assertUnauthorized(await probe(h, 'd2cuser', 'Wrong-Passw0rd'), 'failure 1');
        assertUnauthorized(await probe(h, 'd2cuser', 'Wrong-Passw0rd'), 'failure 2');
        assert.equal((await probe(h, 'd2cuser', USER_PASSWORD)).statusCode, 200, `round ${round}`);
      }
      assert.equal((await statusInfo(h, await userId(h, 'd2cuser'))).accountLocked, false);
    } finally {
      await h.close();
    }
  });

  test('failures spread beyond PasswordLockoutInterval (900 s) do not lock', async () => {
    const h = await harness();
    try {
      assertUnauthorized(await probe(h, 'd2cuser', 'Wrong-Passw0rd'), 'failure 1');
      assertUnauthorized(await probe(h, 'd2cuser', 'Wrong-Passw0rd'), 'failure 2');
      h.clock.advance(901);
      assertUnauthorized(await probe(h, 'd2cuser', 'Wrong-Passw0rd'), 'failure 3, in a new window');
      assert.equal((await probe(h, 'd2cuser', USER_PASSWORD)).statusCode, 200);
    } finally {
      await h.close();
    }
  });

  test('failures within the interval lock even when spread over most of it', async () => {
    const h = await harness();
    try {
      assertUnauthorized(await probe(h, 'd2cuser', 'Wrong-Passw0rd'), 'failure 1');
      h.clock.advance(450);
      assertUnauthorized(await probe(h, 'd2cuser', 'Wrong-Passw0rd'), 'failure 2');
      h.clock.advance(449);
      assertUnauthorized(await probe(h, 'd2cuser', 'Wrong-Passw0rd'), 'failure 3');
      assertUnauthorized(await probe(h, 'd2cuser', USER_PASSWORD), 'locked');
    } finally {
      await h.close();
    }
  });

  // api.md §2: "after PasswordLockoutLimit failed attempts within PasswordLockoutInterval". Three failures inside
  // any 900 s span lock; a window fixed at the first failure lets 2 × (limit − 1) failures through in seconds by
  // straddling its end: the store keeps the times of the recent failures.
  test("three failures within 900 s lock even when they straddle the first failure's window", async () => {
    const h = await harness();
    try {
      assertUnauthorized(await probe(h, 'd2cuser', 'Wrong-Passw0rd'), 'failure at 0 s');
      h.clock.advance(899);
      assertUnauthorized(await probe(h, 'd2cuser', 'Wrong-Passw0rd'), 'failure at 899 s');
      h.clock.advance(2);
      assertUnauthorized(await probe(h, 'd2cuser', 'Wrong-Passw0rd'), 'failure at 901 s');
      h.clock.advance(1);
      assertUnauthorized(await probe(h, 'd2cuser', 'Wrong-Passw0rd'), 'failure at 902 s');
      // 899, 901 and 902 are three failures within 3 s.
      assertUnauthorized(await probe(h, 'd2cuser', USER_PASSWORD), 'locked');
    } finally {
      await h.close();
    }
  });

  test('an administrator unlocks with PUT statusinfo {"status":1,"accountLocked":false}', async () => {
    const h = await harness();
    try {
      const id = await userId(h, 'd2cuser');
      for (let i = 0; i < 3; i++) await probe(h, 'd2cuser', 'Wrong-Passw0rd');
      assertUnauthorized(await probe(h, 'd2cuser', USER_PASSWORD), 'locked');
      const res = await h.call({ method: 'PUT', url: `/api/admin/users/${id}/statusinfo`, as: 'd2cadmin', payload: { status: 1, accountLocked: false } });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().accountLocked, false);
      assert.equal(res.json().accountLockedUntil, null);
      assert.equal((await probe(h, 'd2cuser', USER_PASSWORD)).statusCode, 200);
    } finally {
      await h.close();
    }
  });

  test('an administrator locks with PUT statusinfo {"accountLocked":true}, even a cached login', async () => {
    const h = await harness();
    try {
      const id = await userId(h, 'd2cuser');
      assert.equal((await probe(h, 'd2cuser', USER_PASSWORD)).statusCode, 200);
      const res = await h.call({ method: 'PUT', url: `/api/admin/users/${id}/statusinfo`, as: 'd2cadmin', payload: { status: 1, accountLocked: true } });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().accountLocked, true);
      assertUnauthorized(await probe(h, 'd2cuser', USER_PASSWORD), 'locked by an administrator');
    } finally {
      await h.close();
    }
  });

  test('PasswordLockoutLimit (3) = 5 locks after 5 failures', async () => {
    const h = await harness();
    try {
      await setLimit(h, 3, 5);
      for (let i = 0; i < 4; i++) assertUnauthorized(await probe(h, 'd2cuser', 'Wrong-Passw0rd'), `failure ${i + 1}`);
      assert.equal((await probe(h, 'd2cuser', USER_PASSWORD)).statusCode, 200, 'four failures do not lock');
      for (let i = 0; i < 5; i++) assertUnauthorized(await probe(h, 'd2cuser', 'Wrong-Passw0rd'), `failure ${i + 1}`);
      assertUnauthorized(await probe(h, 'd2cuser', USER_PASSWORD), 'five failures lock');
    } finally {
      await h.close();
    }
  });

  test('PasswordLockoutLimit (3) = 0 turns lockout off', async () => {
    const h = await harness();
    try {
      await setLimit(h, 3, 0);
      for (let i = 0; i < 10; i++) assertUnauthorized(await probe(h, 'd2cuser', 'Wrong-Passw0rd'), `failure ${i + 1}`);
      assert.equal((await probe(h, 'd2cuser', USER_PASSWORD)).statusCode, 200);
      assert.equal((await statusInfo(h, await userId(h, 'd2cuser'))).accountLocked, false);
    } finally {
      await h.close();
    }
  });

  test('PasswordLockoutInterval (2) and PasswordLockoutPeriod (4) take effect', async () => {
    const h = await harness();
    try {
      await setLimit(h, 2, 60);
      await setLimit(h, 4, 120);
      // Failures 61 s apart never share a 60 s window.
      for (let i = 0; i < 4; i++) {
        assertUnauthorized(await probe(h, 'd2cuser', 'Wrong-Passw0rd'), `spread failure ${i + 1}`);
        h.clock.advance(61);
      }
      assert.equal((await probe(h, 'd2cuser', USER_PASSWORD)).statusCode, 200);
      for (let i = 0; i < 3; i++) assertUnauthorized(await probe(h, 'd2cuser', 'Wrong-Passw0rd'), `failure ${i + 1}`);
      const info = await statusInfo(h, await userId(h, 'd2cuser'));
      assert.equal(info.accountLocked, true);
      assert.equal(Date.parse(`${info.accountLockedUntil!.replace(' ', 'T')}Z`) - Date.parse(`${info.accountLockedAt!.replace(' ', 'T')}Z`), 120_000);
      h.clock.advance(119);
      assertUnauthorized(await probe(h, 'd2cuser', USER_PASSWORD), 'still locked');
      h.clock.advance(2);
      assert.equal((await probe(h, 'd2cuser', USER_PASSWORD)).statusCode, 200);
    } finally {
      await h.close();
    }
  });

  test('locking one account does not lock another', async () => {
    const h = await harness();
    try {
      for (let i = 0; i < 3; i++) await probe(h, 'd2cuser', 'Wrong-Passw0rd');
      assertUnauthorized(await probe(h, 'd2cuser', USER_PASSWORD), 'locked');
      assert.equal((await probe(h, 'd2cadmin', ADMIN_PASSWORD)).statusCode, 200);
    } finally {
      await h.close();
    }
  });
});

describe('per-address flood limit', () => {
  test('after failuresPerAddress failures from one address the next attempt is a 429 with Retry-After', async () => {
    const h = await harness({ failuresPerAddress: 5 });
    try {
      // Distinct unknown names, so that no account or name lock gets in the way.
      for (let i = 0; i < 5; i++) assertUnauthorized(await probe(h, `flood-${i}`, 'Wrong-Passw0rd'), `failure ${i + 1}`);
      const res = await probe(h, 'flood-5', 'Wrong-Passw0rd');
      assert.equal(res.statusCode, 429, res.body);
      assert.equal(res.json().error.code, 223000429);
      assert.equal(res.json().error.message.lang, 'en-US');
      const retryAfter = Number(res.headers['retry-after']);
      assert.ok(Number.isInteger(retryAfter) && retryAfter > 0, `Retry-After: ${res.headers['retry-after']}`);
      assert.equal(res.headers['cache-control'], 'no-store');

      // Another address is not affected.
      const elsewhere = await probe(h, 'd2cuser', USER_PASSWORD, { remoteAddress: '10.1.2.3' });
      assert.equal(elsewhere.statusCode, 200, elsewhere.body);
      assertUnauthorized(await probe(h, 'flood-6', 'Wrong-Passw0rd', { remoteAddress: '10.1.2.3' }), 'other address, wrong password');

      // The window passes and the address may try again.
      h.clock.advance(retryAfter);
      assertUnauthorized(await probe(h, 'flood-7', 'Wrong-Passw0rd'), 'after Retry-After');
    } finally {
      await h.close();
    }
  });

  test('successful logins do not count against the address', async () => {
    const h = await harness({ failuresPerAddress: 2 });
    try {
      for (let i = 0; i < 10; i++) assert.equal((await probe(h, 'd2cuser', USER_PASSWORD)).statusCode, 200);
      assertUnauthorized(await probe(h, 'x1', 'Wrong-Passw0rd'), 'first failure');
      assertUnauthorized(await probe(h, 'x2', 'Wrong-Passw0rd'), 'second failure');
      assert.equal((await probe(h, 'x3', 'Wrong-Passw0rd')).statusCode, 429);
    } finally {
      await h.close();
    }
  });
});

describe('hash parameter upgrade', () => {
  test('a stored hash weaker than hashParams is upgraded after a successful login', async () => {
    // The harness bootstraps with logN 10; the app now wants logN 11.
    const h = await harness({ hashParams: { logN: 11, r: 8, p: 1 } });
    try {
      const before = (await h.store.logins.principal('d2cuser'))!.passwordHash;
      assert.match(before, /^scrypt\$10\$8\$1\$/);

      assertUnauthorized(await probe(h, 'd2cuser', 'Wrong-Passw0rd'), 'wrong password');
      assert.equal((await h.store.logins.principal('d2cuser'))!.passwordHash, before, 'a failed login upgrades nothing');

      assert.equal((await probe(h, 'd2cuser', USER_PASSWORD)).statusCode, 200);
      const upgraded = (await h.store.logins.principal('d2cuser'))!.passwordHash;
      assert.match(upgraded, /^scrypt\$11\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
      assert.notEqual(upgraded, before);

      // The upgraded hash verifies the same password, from the cache and afresh.
      assert.equal((await probe(h, 'd2cuser', USER_PASSWORD)).statusCode, 200);
      assertUnauthorized(await probe(h, 'd2cuser', 'Wrong-Passw0rd'), 'wrong password after upgrade');
      assert.equal((await h.store.logins.principal('d2cuser'))!.passwordHash, upgraded, 'not rehashed again');

      // Others are untouched until they log in.
      assert.match((await h.store.logins.principal('d2cadmin'))!.passwordHash, /^scrypt\$10\$/);
    } finally {
      await h.close();
    }
  });

  test('a fresh authenticator (new process) verifies the upgraded hash', async () => {
    const h = await harness({ hashParams: { logN: 11, r: 8, p: 1 } });
    try {
      assert.equal((await probe(h, 'd2cuser', USER_PASSWORD)).statusCode, 200);
      const { buildApp } = await import('../../src/app.js');
      const app2 = await buildApp({ store: h.store, hashParams: { logN: 11, r: 8, p: 1 }, clock: h.clock.now });
      try {
        const res = await app2.inject({ ...PROBE, headers: { authorization: basic('d2cuser', USER_PASSWORD) } });
        assert.equal(res.statusCode, 200, res.body);
      } finally {
        await app2.close();
      }
    } finally {
      await h.close();
    }
  });
});

test('lockout window (property): a failure locks exactly when it is the limit-th failure within the interval since the last lock', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 1, max: 1000 }),
      fc.array(fc.integer({ min: 0, max: 600 }), { maxLength: 40 }),
      (limit, intervalMs, gaps) => {
        const policy = { limit, intervalMs, periodMs: 1 };
        let times: number[] = [];
        let now = 0;
        const sinceLock: number[] = [];
        for (const gap of gaps) {
          now += gap;
          const next = nextFailures(times, now, policy);
          sinceLock.push(now);
          const expected = sinceLock.filter((t) => now - t < intervalMs).length >= limit;
          assert.equal(next.lock, expected, `failure at ${now} after ${JSON.stringify(sinceLock)}`);
          assert.ok(next.times.length < Math.max(limit, 2), 'keeps at most limit - 1 times');
          times = next.times;
          if (next.lock) sinceLock.length = 0;
        }
      },
    ),
    { numRuns: 500 },
  );
});
