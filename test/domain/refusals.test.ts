/** Storage's refusals as the catalogue's errors (src/domain/refusals.ts): the codes, statuses and messages kept. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../../src/errors.js';
import { refusalError, settle } from '../../src/domain/refusals.js';
import type { Refusal } from '../../src/domain/ports/index.js';

const as = (r: Refusal, subject = {}) => {
  const e = refusalError(r, subject);
  return [e.kind, e.status, e.message];
};

describe('refusals', () => {
  test('missing rows are the 404 of their kind', () => {
    assert.deepEqual(as({ refused: 'missing', what: 'tenant', id: 9 }), ['tenantNotFound', 404, 'There is no Tenant with that id: 9.']);
    assert.deepEqual(as({ refused: 'missing', what: 'profile', id: 9 }), ['profileNotFound', 404, 'Invalid OAuthProfileId: 9']);
    assert.deepEqual(as({ refused: 'missing', what: 'dataSource', id: 9 }), ['dataSourceNotFound', 404, 'There is no DataSource with that id: 9.']);
  });

  test('a stale version and a taken name name the subject the caller gives', () => {
    assert.deepEqual(as({ refused: 'stale' }, { stale: 'OAuth profile 4' }), [
      'preconditionFailed',
      412,
      'If-Match does not match the current version of OAuth profile 4; read it again.',
    ]);
    assert.deepEqual(as({ refused: 'name' }, { name: 'role Ops' }), ['duplicateName', 409, 'The name is already in use: role Ops']);
  });

  test('rule refusals keep their messages', () => {
    assert.deepEqual(as({ refused: 'lastAdministrator' }), [
      'conflict',
      409,
      'The request conflicts with the current state: at least one active user must keep the Administrator permission',
    ]);
    assert.deepEqual(as({ refused: 'reference', field: 'admins', id: 3, otherTenant: true }), [
      'invalidReference',
      400,
      'Invalid reference: admins: user 3 belongs to another tenant',
    ]);
    assert.deepEqual(as({ refused: 'reference', field: 'roles', id: 3, otherTenant: false }), ['invalidReference', 400, 'Invalid reference: roles: no role 3']);
    assert.deepEqual(as({ refused: 'appReference', appId: 8, dataSourceId: 2 }), [
      'appReferenceInvalid',
      400,
      'Invalid OAuthApplicationId: 8 (data source 2 needs the data store of the current application)',
    ]);
    assert.deepEqual(as({ refused: 'profileReference', profileId: 4, otherDataStore: true }), [
      'invalidOption',
      400,
      'Invalid DataSource Option: OAuthProfileId: profile 4 is for another data store.',
    ]);
    assert.deepEqual(as({ refused: 'defaultRoleChanged' }), [
      'conflict',
      409,
      'The request conflicts with the current state: a default role can change only its users',
    ]);
  });

  test('settle passes a value through and throws a refusal as its error', async () => {
    assert.deepEqual(await settle(Promise.resolve({ id: 1 })), { id: 1 });
    assert.equal(await settle(Promise.resolve(undefined)), undefined);
    await assert.rejects(
      settle(Promise.resolve<Refusal>({ refused: 'stale' }), { stale: 'data source 2' }),
      (err: unknown) => err instanceof ApiError && err.status === 412 && err.message.includes('data source 2'),
    );
  });
});
