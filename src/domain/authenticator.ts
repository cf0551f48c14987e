/**
 * Password authentication with HDP's lockout policy, made cheap for honest clients and for attackers alike.
 *
 * - Every request asks for the user as it is now (./principals.ts: kept in memory while the store vouches that it
 *   has not changed), so a password change, lock, deactivation, deletion or permission change made by any node
 *   applies to the next request.
 * - A verified-credential cache spares the scrypt cost on repeated Basic auth. It holds, per user, the stored hash
 *   it was verified against and an HMAC of the password under a key that lives only in this process: no
 *   plaintext, and a changed hash is a miss.
 * - Everything that can refuse without hashing runs first: lock, inactive account, the per-address failure limit.
 *   Hashing itself runs behind a small gate with a bounded queue, so a flood of bad logins cannot take every core.
 * - Neither the answer nor its timing tells whether a user name exists, on any node, at any time. An unknown name
 *   costs the same scrypt as a wrong password (against a dummy hash) and is "locked" the same way after repeated
 *   failures — in the database, like an account, so every node and every restart agree. A locked account or name
 *   is answered after about as long as a verification takes in this process, measured as it runs, without
 *   computing one: a flood against locked names buys no CPU, and the answer does not stand out by being instant.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fail } from '../errors.js';
import { hashPassword, needsRehash, verifyPassword, type ScryptParams } from '../crypto/passwords.js';
import type { Principal, Store } from './ports/index.js';
import type { Principals } from './principals.js';
import { failureCount, lockoutPolicy, type LockoutPolicy } from './lockout.js';
import { Gate } from './gate.js';
import { WindowCounter } from './window-counter.js';
import { endSessionsOf } from './console-sessions.js';

export interface AuthenticatorOptions {
  store: Store;
  principals: Principals;
  hashParams: ScryptParams;
  clock: () => number;
  /** concurrent scrypt computations; the rest wait in a bounded queue */
  hashConcurrency?: number;
  hashQueue?: number;
  /** failed logins from one address within a minute before it gets 429 without hashing */
  failuresPerAddress?: number;
  cacheSize?: number;
  /** called after a successful login that upgraded a weaker stored hash */
  onRehash?: (userName: string) => void;
}

interface CacheEntry {
  hash: string;
  mac: Buffer;
}

const ADDRESS_WINDOW_MS = 60_000;
/** Weight of the newest verification in the running measure of how long one takes. */
const VERIFY_SAMPLE_WEIGHT = 0.2;

export class Authenticator {
  private readonly cache = new Map<number, CacheEntry>();
  private readonly inflight = new Map<string, Promise<boolean>>();
  private readonly macKey = randomBytes(32);
  private readonly gate: Gate;
  private readonly addresses: WindowCounter;
  private readonly dummyHash: Promise<string>;
  /** How long a password verification at the parameters in force takes here (ms): a running average. */
  private verifyMs = 0;
  private verified = 0;

  constructor(private readonly opts: AuthenticatorOptions) {
    this.gate = new Gate(opts.hashConcurrency ?? 1, opts.hashQueue ?? 64);
    this.addresses = new WindowCounter(opts.clock, 10_000);
    // Computing the dummy hash costs what a verification costs (the same scrypt): the first measure.
    const started = performance.now();
    this.dummyHash = hashPassword(randomBytes(16).toString('hex'), opts.hashParams).then((hash) => {
      this.verifyMs = performance.now() - started;
      return hash;
    });
  }

  /** Password verifications computed so far (scrypt runs; refusals that hash nothing do not count). */
  get verifications(): number {
    return this.verified;
  }

  private mac(password: string): Buffer {
    return createHmac('sha256', this.macKey).update(password).digest();
  }

  async policy(): Promise<LockoutPolicy> {
    return lockoutPolicy(await this.opts.store.limits.all());
  }

  /** Resolves to the authenticated principal, or throws `unauthorized` / `tooManyAttempts`. */
  async authenticate(userName: string, password: string, address: string): Promise<Principal> {
    const started = performance.now();
    const now = this.opts.clock();
    const principal = await this.opts.principals.byName(userName);

    if (principal) {
      if (principal.lockedUntil !== null && principal.lockedUntil > now) return this.refuseAfterAVerification(started);
      const cached = this.cache.get(principal.id);
      if (cached && cached.hash === principal.passwordHash && timingSafeEqual(cached.mac, this.mac(password))) {
        return this.admit(principal, password, false);
      }
    } else {
      const lockedUntil = await this.opts.store.logins.unknownNameLockedUntil(userName);
      if (lockedUntil !== null && lockedUntil > now) return this.refuseAfterAVerification(started);
    }

    if (this.addresses.count(address, ADDRESS_WINDOW_MS) >= (this.opts.failuresPerAddress ?? 30)) {
      throw fail('tooManyAttempts', '', { 'retry-after': String(ADDRESS_WINDOW_MS / 1000) });
    }

    // Awaited for real users too: right after a start, an unknown name must not be the only answer that waits for it.
    const dummy = await this.dummyHash;
    const ok = await this.verifyOnce(password, principal?.passwordHash ?? dummy);
    if (principal && ok) return this.admit(principal, password, true);

    this.addresses.add(address, ADDRESS_WINDOW_MS);
    // Lockout off: nothing is counted.
    const count = failureCount(await this.policy(), now);
    if (count && principal) {
      const { locked } = await this.opts.store.logins.recordFailure(principal.id, now, count);
      // A lock ends the account's console sessions (api.md §10), so that its end does not bring them back.
      if (locked) await endSessionsOf(this.opts.store, principal.id);
    } else if (count) await this.opts.store.logins.recordUnknownNameFailure(userName, now, count);
    throw fail('unauthorized');
  }

  /**
   * A locked account or name: 401 once about a verification's time has passed since the request arrived — a timer,
   * no CPU, not counted against the address (nothing was tried) — so the lookups' own time is inside the wait.
   */
  private async refuseAfterAVerification(started: number): Promise<never> {
    await this.dummyHash;
    const wait = this.verifyMs - (performance.now() - started);
    if (wait > 0) await sleep(wait);
    throw fail('unauthorized');
  }

  private async admit(principal: Principal, password: string, verifiedNow: boolean): Promise<Principal> {
    // An inactive user or tenant is refused with the same answer as a wrong password.
    if (principal.status !== 1 || principal.tenantStatus !== 1) throw fail('unauthorized');
    if (principal.failedCount > 0 || principal.lockedUntil !== null) await this.opts.store.logins.clearFailures(principal.id);
    if (verifiedNow) {
      let hash = principal.passwordHash;
      if (needsRehash(hash, this.opts.hashParams)) {
        const next = await this.gate.run(() => hashPassword(password, this.opts.hashParams));
        await this.opts.store.logins.upgradePasswordHash(principal.id, hash, next);
        hash = next;
        this.opts.onRehash?.(principal.userName);
      }
      this.remember(principal.id, { hash, mac: this.mac(password) });
      // The hash stored now: a console session started by this login keeps a digest of it.
      if (hash !== principal.passwordHash) return { ...principal, passwordHash: hash };
    }
    return principal;
  }

  /**
   * Concurrent verifications of the same password against the same hash share one scrypt computation: a client
   * that opens 100 connections at once costs one hash, not 100 (and does not overflow the queue).
   */
  private verifyOnce(password: string, stored: string): Promise<boolean> {
    const key = `${stored}\u0000${this.mac(password).toString('base64')}`;
    let pending = this.inflight.get(key);
    if (!pending) {
      if (!this.gate.hasRoom()) throw fail('tooManyAttempts', '', { 'retry-after': '1' });
      pending = this.gate.run(() => this.measuredVerify(password, stored)).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return pending;
  }

  /** Verifies and keeps the running measure; hashes at other parameters (or unparsable ones) would skew it. */
  private async measuredVerify(password: string, stored: string): Promise<boolean> {
    this.verified++;
    const started = performance.now();
    const ok = await verifyPassword(password, stored);
    if (!needsRehash(stored, this.opts.hashParams)) {
      this.verifyMs += VERIFY_SAMPLE_WEIGHT * (performance.now() - started - this.verifyMs);
    }
    return ok;
  }

  private remember(userId: number, entry: CacheEntry): void {
    this.cache.delete(userId);
    this.cache.set(userId, entry);
    if (this.cache.size > (this.opts.cacheSize ?? 10_000)) this.cache.delete(this.cache.keys().next().value!);
  }
}
