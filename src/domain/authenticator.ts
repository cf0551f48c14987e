/**
 * Password authentication with HDP's lockout policy, made cheap for honest clients and for attackers alike.
 *
 * - Every request reads the user's row afresh (one indexed query), so a password change, lock, deactivation,
 *   deletion or permission change made by any node applies to the next request.
 * - A verified-credential cache spares the scrypt cost on repeated Basic auth. It holds, per user, the stored hash
 *   it was verified against and an HMAC of the password under a key that lives only in this process: no
 *   plaintext, and a changed hash is a miss.
 * - Everything that can refuse without hashing runs first: lock, inactive account, the per-address failure limit.
 *   Hashing itself runs behind a small gate with a bounded queue, so a flood of bad logins cannot take every core.
 * - An unknown user name costs the same scrypt as a wrong password and is "locked" the same way after repeated
 *   failures (in memory), so neither timing nor the locked answer tells whether a name exists.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { fail } from '../errors.js';
import { hashPassword, needsRehash, verifyPassword, type ScryptParams } from '../crypto/passwords.js';
import type { LockoutPolicy, Principal, Store } from '../storage/store.js';
import { Limit, limitCatalogue } from './limits.js';
import { Gate } from './gate.js';
import { WindowCounter } from './window-counter.js';

export interface AuthenticatorOptions {
  store: Store;
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

export class Authenticator {
  private readonly cache = new Map<number, CacheEntry>();
  private readonly inflight = new Map<string, Promise<boolean>>();
  private readonly macKey = randomBytes(32);
  private readonly gate: Gate;
  private readonly unknownNames: WindowCounter;
  private readonly addresses: WindowCounter;
  private dummyHash: Promise<string>;

  constructor(private readonly opts: AuthenticatorOptions) {
    this.gate = new Gate(opts.hashConcurrency ?? 1, opts.hashQueue ?? 64);
    this.unknownNames = new WindowCounter(opts.clock, 10_000);
    this.addresses = new WindowCounter(opts.clock, 10_000);
    this.dummyHash = hashPassword(randomBytes(16).toString('hex'), opts.hashParams);
  }

  private mac(password: string): Buffer {
    return createHmac('sha256', this.macKey).update(password).digest();
  }

  async policy(): Promise<LockoutPolicy> {
    const limits = await this.opts.store.limits();
    const value = (id: number) => limits.get(id) ?? limitCatalogue.find((l) => l.id === id)!.defaultValue;
    return {
      limit: value(Limit.PasswordLockoutLimit),
      intervalMs: value(Limit.PasswordLockoutInterval) * 1000,
      periodMs: value(Limit.PasswordLockoutPeriod) * 1000,
    };
  }

  /** Resolves to the authenticated principal, or throws `unauthorized` / `tooManyAttempts`. */
  async authenticate(userName: string, password: string, address: string): Promise<Principal> {
    const now = this.opts.clock();
    // No user name holds a control character: such a name is an unknown user, not a lookup (PostgreSQL refuses U+0000).
    const principal = userName === '' || /\p{Cc}/u.test(userName) ? undefined : await this.opts.store.principalByName(userName);

    if (principal) {
      if (principal.lockedUntil !== null && principal.lockedUntil > now) throw fail('unauthorized');
      const cached = this.cache.get(principal.id);
      if (cached && cached.hash === principal.passwordHash && timingSafeEqual(cached.mac, this.mac(password))) {
        return this.admit(principal, password, false);
      }
    } else if (this.unknownNames.locked(userName.toLowerCase())) {
      throw fail('unauthorized');
    }

    if (this.addresses.count(address, ADDRESS_WINDOW_MS) >= (this.opts.failuresPerAddress ?? 30)) {
      throw fail('tooManyAttempts', '', { 'retry-after': String(ADDRESS_WINDOW_MS / 1000) });
    }

    const stored = principal?.passwordHash ?? (await this.dummyHash);
    const ok = await this.verifyOnce(password, stored);
    if (principal && ok) return this.admit(principal, password, true);

    this.addresses.add(address, ADDRESS_WINDOW_MS);
    const policy = await this.policy();
    if (principal) await this.opts.store.recordLoginFailure(principal.id, now, policy);
    else this.unknownNames.fail(userName.toLowerCase(), policy);
    throw fail('unauthorized');
  }

  private async admit(principal: Principal, password: string, verifiedNow: boolean): Promise<Principal> {
    // An inactive user or tenant is refused with the same answer as a wrong password.
    if (principal.status !== 1 || principal.tenantStatus !== 1) throw fail('unauthorized');
    if (principal.failedCount > 0 || principal.lockedUntil !== null) await this.opts.store.clearLoginFailures(principal.id);
    if (verifiedNow) {
      let hash = principal.passwordHash;
      if (needsRehash(hash, this.opts.hashParams)) {
        const next = await this.gate.run(() => hashPassword(password, this.opts.hashParams));
        await this.opts.store.upgradePasswordHash(principal.id, hash, next);
        hash = next;
        this.opts.onRehash?.(principal.userName);
      }
      this.remember(principal.id, { hash, mac: this.mac(password) });
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
      pending = this.gate.run(() => verifyPassword(password, stored)).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return pending;
  }

  private remember(userId: number, entry: CacheEntry): void {
    this.cache.delete(userId);
    this.cache.set(userId, entry);
    if (this.cache.size > (this.opts.cacheSize ?? 10_000)) this.cache.delete(this.cache.keys().next().value!);
  }
}
