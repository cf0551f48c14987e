import type { RevocationPlan } from './revocations.js';
import type { Refusal } from './refusal.js';
import type { Status } from './tenants.js';

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

export interface Users {
  list(tenantId?: number): Promise<User[]>;
  get(id: number): Promise<User | undefined>;
  byName(userName: string): Promise<User | undefined>;
  /** Effective permissions of a user (roles ∪ explicit). */
  effectivePermissions(userId: number): Promise<Set<number>>;
  create(input: NewUser): Promise<User | Refusal>;
  update(id: number, input: UserUpdate): Promise<User | Refusal>;
  /** Sets or clears the lock; clearing also resets the failure counter. */
  setLock(id: number, lock: { lockedAt: number; lockedUntil: number } | null): Promise<void | Refusal>;
  /** With `revoke`, the tokens of the profiles it owned are queued for revocation in the same transaction (§9). */
  delete(id: number, revoke?: RevocationPlan): Promise<void | Refusal>;
}
