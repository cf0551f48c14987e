/**
 * Encryption at rest as the operator flows (src/keys) and the start-up see it: the key ring of the sealing layer
 * (src/sealing/barrier.ts), which implements this. Nothing secret is read or written before `unseal()`.
 */
import type { MasterKey } from '../../crypto/master-key.js';

export interface KeyVersionStatus {
  version: number;
  /** null for a version that rows use but the key ring no longer has */
  createdAt: string | null;
  active: boolean;
  /** rows whose secrets are sealed under this version */
  rows: number;
}

/** A sealed value that fails its integrity check (a flipped byte, a value copied from elsewhere): re-encryption skips it. */
export interface DamagedValue {
  table: string;
  id: number;
  column: string;
}

/**
 * One pass of re-encryption over every table, in id order: where it has got to in each table, and the values it had to
 * skip. Damaged rows stay under their old version, so without the cursor the next batch would select them again.
 */
export interface ReencryptPass {
  after: Record<string, number>;
  damaged: DamagedValue[];
}

export interface Keys {
  /** Whether the key ring exists, i.e. the database may hold sealed values. */
  initialized(): Promise<boolean>;
  /** Creates the key-check value and data key 1, then unseals; SealedError when a key ring exists. */
  init(master: MasterKey): Promise<void>;
  /** Verifies the master key against the key-check value and loads the data keys; throws SealedError. */
  unseal(master: MasterKey): Promise<void>;
  status(): Promise<KeyVersionStatus[]>;
  /** Adds a data key version; new writes use it from then on (other nodes within a second). */
  addVersion(): Promise<number>;
  /**
   * Re-encrypts up to batchSize rows to the active version in one transaction; returns the rows it took (re-encrypted
   * or, with a pass, skipped as damaged and added to `pass.damaged`); 0 when none is left. Without a pass a damaged
   * row throws SealedValueUnreadable. A row a request rewrites meanwhile is simply sealed anew by that request.
   */
  reencryptBatch(batchSize: number, pass?: ReencryptPass): Promise<number>;
  /** Re-wraps the ring's data keys and the key-check value under a new master key, in one transaction (keys rekey). */
  rekey(next: MasterKey): Promise<void>;
  /** Removes a version that no row uses and that is not active. */
  retire(version: number): Promise<void>;
  /** Where a serving store reports that its master key no longer opens the stored ring (set by the server to its log). */
  onWarning: (message: string) => void;
}
