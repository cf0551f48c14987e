/**
 * The storage interface: the only door to a database. Routes and domain rules speak these records and methods and
 * never see SQL, so a second implementation (PostgreSQL) can be added without touching them.
 *
 * Optimistic concurrency: the update and delete methods of apps, profiles and data sources take an optional
 * `ifVersion`, the versions an If-Match accepts; when the row has none of them they change nothing and throw
 * `preconditionFailed` (412). The check runs inside the write's own transaction (or conditional statement).
 *
 * A database that cannot be reached throws `StoreUnavailable`; busy and serialization failures are retried inside
 * the store a bounded number of times before they surface.
 *
 * Damaged secrets: reading a sealed value that fails its integrity check throws SealedValueUnreadable (./sealing.ts),
 * which the HTTP layer answers as `secretUnreadable` (500). The reads
 * that leave sealed columns closed (`appHeader`, `profileHeader`, `dataSourceSummary`, lists) serve every path that
 * shows no secret — access checks, If-Match, replace, delete — so a damaged object stays replaceable and deletable.
 *
 * Every mutating method is atomic: it either applies completely or not at all. Integrity rules that must hold
 * under concurrency (unique names, at least one active Administrator, every user keeps a role) are enforced inside
 * the method's transaction and reported with the project's error catalogue (`ApiError`), never as driver errors.
 */
import { createHash } from 'node:crypto';
import type { Keys } from './sealing.js';
import { fail } from '../errors.js';

/** The row versions a conditional write accepts (If-Match lists several; none matches when empty). */
export type Versions = readonly number[];

/** Optimistic concurrency: a request that names versions acts only on a row at one of them. */
export function checkVersion(current: number, expected: Versions | undefined, what: string): void {
  if (expected !== undefined && !expected.includes(current)) throw fail('preconditionFailed', what);
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

export interface LockoutPolicy {
  /** failures that lock the account; 0 turns lockout off */
  limit: number;
  intervalMs: number;
  periodMs: number;
}

/**
 * One more failed login, in a sliding window: `limit` failures within any `intervalMs` lock. (A window fixed at the
 * first failure would let 2 × (limit − 1) failures through in seconds by straddling its end.) `times` are the recent
 * failures still in the window, oldest first; at most limit − 1 are kept, and none once the account locks.
 */
export function nextFailures(times: readonly number[], now: number, policy: LockoutPolicy): { times: number[]; lock: boolean } {
  const recent = [...times.filter((t) => now - t < policy.intervalMs), now];
  if (policy.limit > 0 && recent.length >= policy.limit) return { times: [], lock: true };
  return { times: recent.slice(-Math.max(policy.limit - 1, 1)), lock: false };
}

/** Failure times as stored in the `failure_times` column: milliseconds, comma-separated. */
export const failureTimes = {
  parse: (v: unknown): number[] => (typeof v === 'string' && v !== '' ? v.split(',').map(Number) : []),
  format: (times: readonly number[]): string | null => (times.length ? times.join(',') : null),
};

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

  /** First start: creates the system tenant, default roles, limits and the two default users if the database is empty. */
  bootstrap(seed: { adminPasswordHash: string; userPasswordHash: string }): Promise<boolean>;

  // authentication
  principalByName(userName: string): Promise<Principal | undefined>;
  recordLoginFailure(userId: number, now: number, policy: LockoutPolicy): Promise<{ locked: boolean }>;
  clearLoginFailures(userId: number): Promise<void>;
  /**
   * Failed logins for user names that no user has, counted per name key in the database with the accounts' sliding
   * window, so every node and every restart sees the same "lock" for an unknown name as for an account (the answers
   * must not tell whether a name exists). `unknownNameLockedUntil` is the end of the name's lock (epoch ms) or null.
   * Recording also deletes up to UNKNOWN_NAME_PRUNE_BATCH rows that no longer count: no failure within the interval
   * and no lock in force.
   */
  unknownNameLockedUntil(userName: string): Promise<number | null>;
  recordUnknownNameFailure(userName: string, now: number, policy: LockoutPolicy): Promise<{ locked: boolean }>;
  /** Replaces a password hash only if it is still `expected` (used for transparent upgrades). */
  upgradePasswordHash(userId: number, expected: string, next: string): Promise<void>;

  // limits
  limits(): Promise<Map<number, number>>;
  setLimit(id: number, value: number): Promise<void>;

  // tenants
  listTenants(): Promise<Tenant[]>;
  tenant(id: number): Promise<Tenant | undefined>;
  tenantByName(name: string): Promise<Tenant | undefined>;
  createTenant(input: NewTenant): Promise<{ tenant: Tenant; roles: number[] }>;
  updateTenant(id: number, input: TenantUpdate): Promise<Tenant>;
  deleteTenant(id: number): Promise<void>;
  tenantAdmins(id: number): Promise<number[]>;
  setTenantAdmins(id: number, userIds: number[]): Promise<void>;

  // roles
  listRoles(tenantId?: number): Promise<Role[]>;
  role(id: number): Promise<Role | undefined>;
  createRole(input: NewRole): Promise<Role>;
  updateRole(id: number, input: NewRole): Promise<Role>;
  deleteRole(id: number): Promise<void>;

  // users
  listUsers(tenantId?: number): Promise<User[]>;
  user(id: number): Promise<User | undefined>;
  userByName(userName: string): Promise<User | undefined>;
  /** Effective permissions of a user (roles ∪ explicit). */
  effectivePermissions(userId: number): Promise<Set<number>>;
  createUser(input: NewUser): Promise<User>;
  updateUser(id: number, input: UserUpdate): Promise<User>;
  /** Sets or clears the lock; clearing also resets the failure counter. */
  setUserLock(id: number, lock: { lockedAt: number; lockedUntil: number } | null): Promise<void>;
  deleteUser(id: number): Promise<void>;

  // OAuth applications
  listApps(): Promise<OAuthAppSummary[]>;
  app(id: number): Promise<OAuthApp | undefined>;
  /** The application without its client id and secret: for checks that need neither (nothing is decrypted). */
  appSummary(id: number): Promise<OAuthAppSummary | undefined>;
  /** The application without its client secret (nothing is decrypted). */
  appHeader(id: number): Promise<OAuthAppHeader | undefined>;
  createApp(input: NewOAuthApp): Promise<OAuthApp>;
  updateApp(id: number, input: NewOAuthApp, ifVersion?: Versions): Promise<OAuthApp>;
  /** Deletes the app, its profiles, and the data sources' references to those profiles. */
  deleteApp(id: number, ifVersion?: Versions): Promise<void>;

  // OAuth profiles
  /**
   * Profiles the user owns or created, in id order, as the JSON text of a `ProfileSummary[]` with exactly its keys.
   * The database writes the text: for 100 profiles that costs less than handing Node the rows and serializing them
   * there (BENCHMARKS.md, Round 5).
   */
  listProfilesJson(userId: number): Promise<string>;
  profile(id: number): Promise<OAuthProfile | undefined>;
  profileHeader(id: number): Promise<ProfileHeader | undefined>;
  createProfile(input: ProfileInput & { ownerId: number; creatorId: number }): Promise<OAuthProfile>;
  /**
   * Replaces a profile. Refuses (400 appReferenceInvalid) a change of app to another data store while data sources
   * reference the profile, and (409) a name already used by another profile of the same owner.
   */
  updateProfile(id: number, input: ProfileInput, ifVersion?: Versions): Promise<OAuthProfile>;
  /** Deletes the profile; data sources that referenced it lose the reference. */
  deleteProfile(id: number, ifVersion?: Versions): Promise<void>;
  profileStats(id: number): Promise<ProfileStats>;

  // data sources
  listDataSources(ownerId: number): Promise<DataSourceSummary[]>;
  dataSource(id: number): Promise<DataSource | undefined>;
  /** The data source without its options (nothing is decrypted). */
  dataSourceSummary(id: number): Promise<DataSourceSummary | undefined>;
  createDataSource(input: NewDataSource): Promise<DataSource>;
  updateDataSource(id: number, input: DataSourceUpdate, ifVersion?: Versions): Promise<DataSource>;
  deleteDataSource(id: number, ifVersion?: Versions): Promise<void>;
}
