/**
 * Storage's refusals (src/domain/ports/refusal.ts) as the catalogue's errors: the one place that names them. A refusal
 * carries the facts (ids, which reference); the subject — what a 412 or 409 message names — comes from the caller,
 * which knows what it asked for.
 */
import { fail, type ApiError, type ErrorKind } from '../errors.js';
import type { Missing, Refusal } from './ports/index.js';

export interface Subject {
  /** what a stale If-Match names: `OAuth application 7` */
  stale?: string;
  /** what a taken name names: `OAuth application Sales` */
  name?: string;
}

/** Whether a repository's answer is a refusal rather than the value asked for. */
export const isRefusal = (value: unknown): value is Refusal => typeof value === 'object' && value !== null && 'refused' in value;

const NOT_FOUND: Record<Missing, ErrorKind> = {
  tenant: 'tenantNotFound',
  role: 'roleNotFound',
  user: 'userNotFound',
  app: 'appNotFound',
  profile: 'profileNotFound',
  dataSource: 'dataSourceNotFound',
};

const NOUN = { admins: 'user', users: 'user', roles: 'role' } as const;

export function refusalError(r: Refusal, subject: Subject = {}): ApiError {
  switch (r.refused) {
    case 'missing':
      return fail(NOT_FOUND[r.what], r.id);
    case 'stale':
      return fail('preconditionFailed', subject.stale ?? '');
    case 'name':
      return fail('duplicateName', subject.name ?? '');
    case 'lastAdministrator':
      return fail('conflict', 'at least one active user must keep the Administrator permission');
    case 'userWithoutRole':
      return fail('conflict', `user ${r.userId} would be left without a role`);
    case 'systemTenant':
      return fail('conflict', 'the system tenant cannot be deleted');
    case 'tenantHasUsers':
      return fail('conflict', `tenant ${r.tenantId} still has users`);
    case 'roleMoved':
      return fail('invalidJson', 'tenantId: a role cannot move to another tenant');
    case 'defaultRoleChanged':
      return fail('conflict', 'a default role can change only its users');
    case 'defaultRoleDeleted':
      return fail('conflict', 'a default role cannot be deleted');
    case 'noRole':
      return fail('invalidJson', 'permissions.roles: at least one role is required');
    case 'reference':
      if (r.field === 'importedRoles') return fail('invalidReference', `importedRoles: no system-tenant role ${r.id}`);
      return fail(
        'invalidReference',
        r.otherTenant ? `${r.field}: ${NOUN[r.field]} ${r.id} belongs to another tenant` : `${r.field}: no ${NOUN[r.field]} ${r.id}`,
      );
    case 'appReference':
      return fail(
        'appReferenceInvalid',
        r.dataSourceId === undefined ? r.appId : `${r.appId} (data source ${r.dataSourceId} needs the data store of the current application)`,
      );
    case 'profileReference':
      return fail(
        'invalidOption',
        r.otherDataStore ? `OAuthProfileId: profile ${r.profileId} is for another data store` : `OAuthProfileId: no OAuth profile ${r.profileId}`,
      );
    case 'appDataStoreInUse':
      return fail('invalidJson', 'dataStore: data sources use profiles of this application; its data store cannot change');
    case 'concurrentDelete':
      return fail('conflict', 'an object this request refers to was deleted by a concurrent request');
    case 'retiredRefreshToken':
      return fail('retiredRefreshToken');
    case 'unstorableText':
      return fail('invalidJson', 'a text value holds a character the database cannot store');
  }
}

/** A store's answer as the caller wants it: the value, or the refusal thrown as its catalogue error. */
export async function settle<T>(answer: Promise<T | Refusal>, subject: Subject = {}): Promise<T> {
  const value = await answer;
  if (isRefusal(value)) throw refusalError(value, subject);
  return value;
}
