/**
 * What a repository answers when a write must not happen: a fact, not an HTTP error. The write changes nothing; the
 * domain names the catalogue error for each refusal (../refusals.ts), and the integrity rules (../integrity.ts) return
 * the rule-shaped ones.
 */

/** The row versions a conditional write accepts (If-Match lists several; none matches when empty). */
export type Versions = readonly number[];

/** The kinds of object a refusal may name as missing. */
export type Missing = 'tenant' | 'role' | 'user' | 'app' | 'profile' | 'dataSource';

export type Refusal =
  | { refused: 'missing'; what: Missing; id: number }
  /** If-Match names none of the row's versions */
  | { refused: 'stale' }
  /** the name is taken in its scope (a tenant, an owner, or the whole table) */
  | { refused: 'name' }
  | { refused: 'lastAdministrator' }
  | { refused: 'userWithoutRole'; userId: number }
  | { refused: 'systemTenant' }
  | { refused: 'tenantHasUsers'; tenantId: number }
  | { refused: 'roleMoved' }
  | { refused: 'defaultRoleChanged' }
  | { refused: 'defaultRoleDeleted' }
  | { refused: 'noRole' }
  /** a role, user or imported role the request names does not exist, or lives in another tenant */
  | { refused: 'reference'; field: 'admins' | 'users' | 'roles' | 'importedRoles'; id: number; otherTenant: boolean }
  /** a profile's application does not exist, or a data source of the profile needs the current app's data store */
  | { refused: 'appReference'; appId: number; dataSourceId?: number }
  /** a data source's profile is not there for its owner, or is for another data store */
  | { refused: 'profileReference'; profileId: number; otherDataStore: boolean }
  | { refused: 'appDataStoreInUse' }
  /** a row this write refers to was deleted by a concurrent transaction after the checks ran (PostgreSQL) */
  | { refused: 'concurrentDelete' }
  /** a PUT of a refresh token the engine already rotated away: written back, a stale copy would kill the grant */
  | { refused: 'retiredRefreshToken' }
  /** a text value the database cannot store (U+0000 on PostgreSQL) */
  | { refused: 'unstorableText' };
