/**
 * The storage interface: the only door to a database. Routes and domain rules speak these records and methods and
 * never see SQL, so a second implementation (PostgreSQL) can be added without touching them.
 *
 * Storage answers facts and typed outcomes, never the error catalogue: a write that must not happen changes nothing
 * and resolves to a `Refusal` (a missing row, a taken name, a stale If-Match version, a broken integrity rule …),
 * which the domain maps to its catalogue error (src/domain/refusals.ts). The integrity rules themselves — the ones
 * that must hold inside the write's transaction — are the domain's pure functions (src/domain/integrity.ts), handed
 * to a store when it is built (`IntegrityRules`) and called with what the store read inside that transaction: they
 * are written once for every backend, and storage imports no domain rule.
 *
 * Optimistic concurrency: the update and delete methods of apps, profiles and data sources take an optional
 * `ifVersion`, the versions an If-Match accepts; when the row has none of them they change nothing and answer
 * `{ refused: 'stale' }`. The check runs inside the write's own transaction (or conditional statement).
 *
 * A database that cannot be reached throws `StoreUnavailable`; busy and serialization failures are retried inside
 * the store a bounded number of times before they surface.
 *
 * Damaged secrets: reading a sealed value that fails its integrity check throws SealedValueUnreadable (./sealing.ts),
 * which the HTTP layer answers as `secretUnreadable` (500). The reads
 * that leave sealed columns closed (`appHeader`, `profileHeader`, `dataSourceSummary`, lists) serve every path that
 * shows no secret — access checks, If-Match, replace, delete — so a damaged object stays replaceable and deletable.
 *
 * Every mutating method is atomic: it either applies completely or not at all (a refusal rolls its transaction back).
 */
import { createHash } from 'node:crypto';
import type { Keys } from './sealing.js';

/** The row versions a conditional write accepts (If-Match lists several; none matches when empty). */
export type Versions = readonly number[];

/** The kinds of object a refusal may name as missing. */
export type Missing = 'tenant' | 'role' | 'user' | 'app' | 'profile' | 'dataSource';

/**
 * Why a store changed nothing: a fact, not an HTTP error. The domain names the catalogue error for each
 * (src/domain/refusals.ts); the integrity rules (src/domain/integrity.ts) return the rule-shaped ones.
 */
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
  /** a text value the database cannot store (U+0000 on PostgreSQL) */
  | { refused: 'unstorableText' };

export const isRefusal = (value: unknown): value is Refusal => typeof value === 'object' && value !== null && 'refused' in value;

/**
 * A refusal on its way out of a transaction: thrown inside it, so the transaction (or the group commit's savepoint)
 * rolls back, and turned back into the method's answer at its edge (`answerRefusal`). Never leaves a store.
 */
export class Refused extends Error {
  constructor(readonly refusal: Refusal) {
    super(`refused: ${refusal.refused}`);
    this.name = 'Refused';
  }
}

/** Throws a rule's refusal inside a transaction; nothing when the rule passes. */
export function enforce(refusal: Refusal | undefined): void {
  if (refusal) throw new Refused(refusal);
}

/** At a method's edge: a thrown refusal is the answer; anything else stays an error. */
export function answerRefusal(err: unknown): Refusal {
  if (err instanceof Refused) return err.refusal;
  throw err;
}

/**
 * The domain's integrity rules (implemented once, in src/domain/integrity.ts), called by every store inside the
 * transaction that could break them, with what it read there. Pure: each answers a refusal, or undefined to go on.
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
 * What a store writes for one more failed login, computed by the domain's lockout rule (src/domain/lockout.ts) from
 * the failure times the store read inside its transaction.
 */
export interface FailureCount {
  /** the failure times to keep and, when this failure locks, the end of the lock (epoch ms) */
  next(times: readonly number[]): { times: number[]; lockedUntil: number | null };
  /** failures at or before this time no longer count: unknown-name rows that old, and unlocked, may be deleted */
  readonly expiredBefore: number;
}

/** First start's rows (src/domain/seed.ts): the system tenant, its default roles, the limits and the default users. */
export interface Seed {
  tenant: { id: number; name: string; description: string };
  roles: { id: number; name: string; description: string; permissions: readonly number[] }[];
  limits: { id: number; value: number }[];
  users: NewUser[];
}

/** The database cannot be reached or cannot write right now; the HTTP layer answers 503 with Retry-After. */
export class StoreUnavailable extends Error {
  /** Set when the database answers but cannot write: a short reason fit for a response ("disk full", "read-only"). */
  readonly cannotWrite: string | undefined;

  constructor(message: string, options?: { cause?: unknown; cannotWrite?: string }) {
    super(message, options);
    this.name = 'StoreUnavailable';
    this.cannotWrite = options?.cannotWrite;
  }
}

/**
 * The configured database file cannot be created or is not a database this store can open: the operator's setting
 * is wrong (the command line names `TOKENKEEP_DB` and exits 2), not a passing unavailability.
 */
export class DatabaseFileError extends Error {
  constructor(problem: string) {
    super(problem);
    this.name = 'DatabaseFileError';
  }
}

export type Status = 0 | 1;

export interface Tenant {
  id: number;
  name: string;
  description: string | null;
  parentTenant: number | null;
  status: Status;
}

export interface Role {
  id: number;
  name: string;
  tenantId: number;
  description: string | null;
  permissions: number[];
  users: number[];
}

export interface User {
  id: number;
  userName: string;
  tenantId: number;
  status: Status;
  passwordHash: string;
  /** failed logins counted in the current window */
  failedCount: number;
  /** epoch ms of the first failure of the current window */
  failedSince: number | null;
  lockedAt: number | null;
  lockedUntil: number | null;
  roles: number[];
  permissions: number[];
}

/** A user as authentication sees it: the row plus what it may do, read in one go on every request. */
export interface Principal extends User {
  tenantStatus: Status;
  effective: ReadonlySet<number>;
  adminTenants: ReadonlySet<number>;
}

export interface NewTenant {
  name: string;
  parentTenant: number;
  description: string | null;
  status: Status;
  /** system-tenant roles to copy into the new tenant */
  importedRoles: number[];
  /** users given administrative access on the new tenant (the creator among them) */
  admins: number[];
}

export interface TenantUpdate {
  name: string;
  description: string | null;
  status: Status;
}

export interface NewRole {
  name: string;
  tenantId: number;
  description: string | null;
  permissions: number[];
  users: number[];
}

export interface NewUser {
  userName: string;
  tenantId: number;
  status: Status;
  passwordHash: string;
  roles: number[];
  permissions: number[];
}

export interface UserUpdate {
  userName: string;
  status: Status;
  /** undefined keeps the current hash */
  passwordHash?: string;
  roles: number[];
  permissions: number[];
}

/**
 * The key under which failed logins of a user name that no user has are stored: SHA-256 (hex) of the name key, the
 * lower-cased NFC name users are unique by. Not the name itself: people type passwords into the user-name field, and
 * those must not sit in the database as text; any string, U+0000 included, becomes 64 hex digits PostgreSQL accepts.
 */
export const unknownNameDigest = (nameKey: string): string => createHash('sha256').update(nameKey).digest('hex');

/** How many expired unknown-name rows one recorded failure deletes at most: growth stays bounded, no write is long. */
export const UNKNOWN_NAME_PRUNE_BATCH = 100;

export interface OAuthApp {
  id: number;
  /** row version, incremented by every update: the ETag */
  version: number;
  name: string;
  dataStore: number;
  tenantId: number;
  description: string | null;
  clientId: string;
  clientSecret: string;
  authorizeURI: string;
  tokenURI: string;
  scope: string | null;
}

export type NewOAuthApp = Omit<OAuthApp, 'id' | 'version'>;
/** An application without its client credentials: what lists need, and no secret is opened for it. */
export type OAuthAppSummary = Omit<OAuthApp, 'clientId' | 'clientSecret' | 'version'>;
/**
 * An application without its client secret: what access checks, If-Match, deletion and a non-manager's GET need,
 * readable even when the sealed secret is damaged.
 */
export type OAuthAppHeader = Omit<OAuthApp, 'clientSecret'>;

export interface OAuthProfile {
  id: number;
  /** row version, incremented by every update: the ETag */
  version: number;
  name: string;
  oauthAppId: number;
  description: string | null;
  accessToken: string | null;
  refreshToken: string;
  ownerId: number;
  /** null once the creating user is deleted */
  creatorId: number | null;
  ownerTenantId: number;
}

/** A profile without its tokens: what access checks, deletion and stats need, readable even if a token is damaged. */
export type ProfileHeader = Omit<OAuthProfile, 'accessToken' | 'refreshToken'>;

export interface ProfileInput {
  name: string;
  oauthAppId: number;
  description: string | null;
  accessToken: string | null;
  refreshToken: string;
}

/**
 * A list entry: no tokens; the app's URIs and scope joined in (api.md §6). Stores answer lists as JSON text of these
 * objects, with exactly these keys (see `Store.listProfilesJson`).
 */
export interface ProfileSummary {
  id: number;
  name: string;
  description: string | null;
  oauthAppId: number;
  authorizeURI: string;
  tokenURI: string;
  scope: string | null;
}

export interface ProfileStats {
  dataStoreId: number;
  dataSources: { id: number; name: string; description: string | null }[];
}

export type ConnectionType = 'Cloud' | 'Hybrid';

export interface DataSource {
  id: number;
  /** row version, incremented by every update: the ETag */
  version: number;
  ownerId: number;
  name: string;
  dataStore: number;
  connectionType: ConnectionType;
  description: string | null;
  /** option values, without OAuthProfileId */
  options: Record<string, string>;
  oauthProfileId: number | null;
}

export type NewDataSource = Omit<DataSource, 'id' | 'version'>;
/**
 * A data source without its options (which may hold secrets): what lists show, and what access checks, If-Match and
 * deletion need, readable even when the sealed options are damaged.
 */
export type DataSourceSummary = Omit<DataSource, 'options'>;
export type DataSourceUpdate = Pick<DataSource, 'name' | 'description' | 'options' | 'oauthProfileId'>;

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /** Applies pending migrations; returns the versions applied now. */
  migrate(): Promise<number[]>;
  /**
   * Throws StoreUnavailable when the database cannot answer, or when its last write (a request's or a probe's) failed
   * because the database cannot write (then with `cannotWrite` set). Cheap: no write.
   */
  ping(): Promise<void>;
  /**
   * A tiny real write (one row of `meta`), committed like any other: its outcome is what ping() reports next, so the
   * health check sees a failure without traffic and a recovery at all. Throws StoreUnavailable when it fails.
   */
  probeWrite(): Promise<void>;
  close(): Promise<void>;

  /** Encryption at rest: the barrier's key ring (./sealing.ts); nothing secret is read or written before keys.unseal(). */
  readonly keys: Keys;

  /** First start: writes the seed rows (src/domain/seed.ts) if the database is empty; false when it was not. */
  bootstrap(seed: Seed): Promise<boolean>;

  // authentication
  principalByName(userName: string): Promise<Principal | undefined>;
  /** Counts one failure of an existing user with the domain's rule, under the user row's lock; no user, no change. */
  recordLoginFailure(userId: number, now: number, count: FailureCount): Promise<{ locked: boolean }>;
  clearLoginFailures(userId: number): Promise<void>;
  /**
   * Failed logins for user names that no user has, counted per name key in the database with the accounts' sliding
   * window, so every node and every restart sees the same "lock" for an unknown name as for an account (the answers
   * must not tell whether a name exists). `unknownNameLockedUntil` is the end of the name's lock (epoch ms) or null.
   * Recording also deletes up to UNKNOWN_NAME_PRUNE_BATCH rows that no longer count: no failure within the interval
   * and no lock in force.
   */
  unknownNameLockedUntil(userName: string): Promise<number | null>;
  recordUnknownNameFailure(userName: string, now: number, count: FailureCount): Promise<{ locked: boolean }>;
  /** Replaces a password hash only if it is still `expected` (used for transparent upgrades). */
  upgradePasswordHash(userId: number, expected: string, next: string): Promise<void>;

  // limits
  limits(): Promise<Map<number, number>>;
  setLimit(id: number, value: number): Promise<void>;

  // tenants
  listTenants(): Promise<Tenant[]>;
  tenant(id: number): Promise<Tenant | undefined>;
  tenantByName(name: string): Promise<Tenant | undefined>;
  createTenant(input: NewTenant): Promise<{ tenant: Tenant; roles: number[] } | Refusal>;
  updateTenant(id: number, input: TenantUpdate): Promise<Tenant | Refusal>;
  deleteTenant(id: number): Promise<void | Refusal>;
  tenantAdmins(id: number): Promise<number[]>;
  setTenantAdmins(id: number, userIds: number[]): Promise<void | Refusal>;

  // roles
  listRoles(tenantId?: number): Promise<Role[]>;
  role(id: number): Promise<Role | undefined>;
  createRole(input: NewRole): Promise<Role | Refusal>;
  updateRole(id: number, input: NewRole): Promise<Role | Refusal>;
  deleteRole(id: number): Promise<void | Refusal>;

  // users
  listUsers(tenantId?: number): Promise<User[]>;
  user(id: number): Promise<User | undefined>;
  userByName(userName: string): Promise<User | undefined>;
  /** Effective permissions of a user (roles ∪ explicit). */
  effectivePermissions(userId: number): Promise<Set<number>>;
  createUser(input: NewUser): Promise<User | Refusal>;
  updateUser(id: number, input: UserUpdate): Promise<User | Refusal>;
  /** Sets or clears the lock; clearing also resets the failure counter. */
  setUserLock(id: number, lock: { lockedAt: number; lockedUntil: number } | null): Promise<void | Refusal>;
  deleteUser(id: number): Promise<void | Refusal>;

  // OAuth applications
  listApps(): Promise<OAuthAppSummary[]>;
  app(id: number): Promise<OAuthApp | undefined>;
  /** The application without its client id and secret: for checks that need neither (nothing is decrypted). */
  appSummary(id: number): Promise<OAuthAppSummary | undefined>;
  /** The application without its client secret (nothing is decrypted). */
  appHeader(id: number): Promise<OAuthAppHeader | undefined>;
  createApp(input: NewOAuthApp): Promise<OAuthApp | Refusal>;
  updateApp(id: number, input: NewOAuthApp, ifVersion?: Versions): Promise<OAuthApp | Refusal>;
  /** Deletes the app, its profiles, and the data sources' references to those profiles. */
  deleteApp(id: number, ifVersion?: Versions): Promise<void | Refusal>;

  // OAuth profiles
  /**
   * Profiles the user owns or created, in id order, as the JSON text of a `ProfileSummary[]` with exactly its keys.
   * The database writes the text: for 100 profiles that costs less than handing Node the rows and serializing them
   * there (BENCHMARKS.md, Round 5).
   */
  listProfilesJson(userId: number): Promise<string>;
  profile(id: number): Promise<OAuthProfile | undefined>;
  profileHeader(id: number): Promise<ProfileHeader | undefined>;
  createProfile(input: ProfileInput & { ownerId: number; creatorId: number }): Promise<OAuthProfile | Refusal>;
  /**
   * Replaces a profile. Refuses (`profileMove`) a change of app to another data store while data sources reference
   * the profile, and (`name`) a name already used by another profile of the same owner.
   */
  updateProfile(id: number, input: ProfileInput, ifVersion?: Versions): Promise<OAuthProfile | Refusal>;
  /** Deletes the profile; data sources that referenced it lose the reference. */
  deleteProfile(id: number, ifVersion?: Versions): Promise<void | Refusal>;
  /** undefined when there is no such profile */
  profileStats(id: number): Promise<ProfileStats | undefined>;

  // data sources
  listDataSources(ownerId: number): Promise<DataSourceSummary[]>;
  dataSource(id: number): Promise<DataSource | undefined>;
  /** The data source without its options (nothing is decrypted). */
  dataSourceSummary(id: number): Promise<DataSourceSummary | undefined>;
  createDataSource(input: NewDataSource): Promise<DataSource | Refusal>;
  updateDataSource(id: number, input: DataSourceUpdate, ifVersion?: Versions): Promise<DataSource | Refusal>;
  deleteDataSource(id: number, ifVersion?: Versions): Promise<void | Refusal>;
}
