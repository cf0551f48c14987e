/**
 * The storage contract: the only door to a database, one repository per aggregate, composed by each backend
 * (src/storage/sqlite/store.ts, src/storage/postgres/store.ts). The domain and the routes speak these records and
 * methods and never see SQL.
 *
 * Repositories answer facts and typed outcomes, never the error catalogue: a write that must not happen changes
 * nothing and resolves to a `Refusal` (./refusal.ts), which the domain maps to its catalogue error
 * (../refusals.ts). The integrity rules that must hold inside a write's transaction are the domain's pure functions
 * (./rules.ts), handed to the store when it is built and called with what it read inside that transaction.
 *
 * A database that cannot be reached throws StoreUnavailable (src/storage/errors.ts); busy and serialization failures
 * are retried inside the store a bounded number of times before they surface. Reading a sealed value that fails its
 * integrity check throws SealedValueUnreadable (src/sealing/key-ring.ts). The reads that leave sealed columns closed
 * (`apps.header`, `profiles.header`, `dataSources.summary`, lists) serve every path that shows no secret — access
 * checks, If-Match, replace, delete — so a damaged object stays replaceable and deletable.
 *
 * Every mutating method is atomic: it either applies completely or not at all.
 */
import type { Apps } from './apps.js';
import type { ConsentStates } from './consent-states.js';
import type { DataSources } from './data-sources.js';
import type { Keys } from './keys.js';
import type { Limits, Logins } from './logins.js';
import type { Profiles } from './profiles.js';
import type { Roles } from './roles.js';
import type { ConsoleSessions } from './sessions.js';
import type { Seed } from './rules.js';
import type { Tenants } from './tenants.js';
import type { AppEngines, Tokens } from './tokens.js';
import type { Revocations } from './revocations.js';
import type { Users } from './users.js';

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
  /** First start: writes the seed rows (../seed.ts) if the database is empty; false when it was not. */
  bootstrap(seed: Seed): Promise<boolean>;

  readonly keys: Keys;
  readonly logins: Logins;
  readonly limits: Limits;
  readonly tenants: Tenants;
  readonly roles: Roles;
  readonly users: Users;
  readonly apps: Apps;
  readonly profiles: Profiles;
  readonly dataSources: DataSources;
  /** the token engine's state of each profile (api.md §8) */
  readonly tokens: Tokens;
  /** each app's engine settings and standing with its AS (api.md §8.6) */
  readonly appEngines: AppEngines;
  /** the tokens of deleted profiles, to revoke at their AS (api.md §9) */
  readonly revocations: Revocations;
  /** consent started and not yet completed (api.md §9) */
  readonly consentStates: ConsentStates;
  /** signed-in console browsers (api.md §10) */
  readonly consoleSessions: ConsoleSessions;
}
