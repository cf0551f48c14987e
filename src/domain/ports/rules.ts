/**
 * What the domain hands a store when it is built: the integrity rules it applies inside its transactions, the
 * lockout rule for failed logins, and the first start's rows. Implemented once, in the domain (../integrity.ts,
 * ../lockout.ts, ../seed.ts); storage imports none of them.
 */
import type { Refusal, Versions } from './refusal.js';
import type { NewRole, Role } from './roles.js';
import type { NewUser } from './users.js';

/**
 * The domain's integrity rules, called by every store inside the transaction that could break them, with what it read
 * there. Pure: each answers a refusal, or undefined to go on.
 */
export interface IntegrityRules {
  /** the permission that at least one active user of an active tenant must keep */
  readonly administratorPermission: number;
  /** If-Match: a request that names versions acts only on a row at one of them */
  version(current: number, accepted: Versions | undefined): Refusal | undefined;
  /** after a change of tenants, roles or users: what it left behind */
  identity(facts: { administratorRemains: boolean; userWithoutRole: number | undefined }): Refusal | undefined;
  tenantDeletion(tenantId: number, hasUsers: boolean): Refusal | undefined;
  /** a system-tenant role copied into a new tenant */
  importedRole(roleId: number, source: Role | undefined): Refusal | undefined;
  /** a tenant's administrator (`admins`) or a role's member (`users`), with the tenant the user lives in */
  member(field: 'admins' | 'users', tenantId: number, userId: number, userTenant: number | undefined): Refusal | undefined;
  /** a user's roles, each with the tenant it lives in */
  userRoles(tenantId: number, roles: readonly { id: number; tenantId: number | undefined }[]): Refusal | undefined;
  roleChange(current: Role, next: NewRole): Refusal | undefined;
  roleDeletion(roleId: number): Refusal | undefined;
  /** an application's data store may change only while no data source uses one of its profiles */
  appChange(current: { dataStore: number }, next: { dataStore: number }, usedByDataSources: boolean): Refusal | undefined;
  /** a profile moving to another application: that app must exist and suit the data sources that use the profile */
  profileMove(appId: number, appExists: boolean, dataSourceOnOtherStore: number | undefined): Refusal | undefined;
  /** a data source's profile: visible to the owner (found) and for the data source's data store */
  profileReference(profileId: number, found: { dataStore: number } | undefined, dataStore: number): Refusal | undefined;
}

/**
 * What a store writes for one more failed login, computed by the domain's lockout rule (../lockout.ts) from the
 * failure times the store read inside its transaction.
 */
export interface FailureCount {
  /** the failure times to keep and, when this failure locks, the end of the lock (epoch ms) */
  next(times: readonly number[]): { times: number[]; lockedUntil: number | null };
  /** failures at or before this time no longer count: unknown-name rows that old, and unlocked, may be deleted */
  readonly expiredBefore: number;
}

/** First start's rows (../seed.ts): the system tenant, its default roles, the limits and the default users. */
export interface Seed {
  tenant: { id: number; name: string; description: string };
  roles: { id: number; name: string; description: string; permissions: readonly number[] }[];
  limits: { id: number; value: number }[];
  users: NewUser[];
}
