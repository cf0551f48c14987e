/**
 * The revocation outbox in SQLite (api.md §9): rows queued inside a delete's own synchronous write (queue), claimed
 * under a lease by whichever process looks first, removed when done. Sealed as the profiles are, bound to this table.
 */
import type { NewRevocation, PendingRevocation, RevocationPlan, Revocations } from '../../domain/ports/index.js';
import type { Sealing } from '../../sealing/barrier.js';
import { SealedValueUnreadable } from '../../sealing/key-ring.js';
import { REVOCATION_COLUMNS, queueSource, revocationValues, sourceOf, toPending, type RevocationSource } from '../revocation-rows.js';
import type { Row, SqliteDb } from './db.js';
import { nextId } from './versioned.js';

const URI = "json_extract(e.settings, '$.revocationURI')";
const AUTH = "json_extract(e.settings, '$.clientAuth')";

export class SqliteRevocations implements Revocations {
  constructor(
    private readonly db: SqliteDb,
    private readonly sealing: Sealing<never, 'sync'>,
  ) {}

  /**
   * Inside the caller's write, before its delete: queues the revocation of each profile `scope` (a condition on `p`
   * with one placeholder) selects whose app has a revocation URI. A profile whose sealed values cannot be opened is
   * left out: there is nothing readable to revoke, and its delete must not fail for it.
   */
  queue(scope: string, id: number, plan: RevocationPlan): void {
    for (const source of this.db.q(queueSource(scope, URI, AUTH)).all(id) as Row[]) {
      let plain: Record<'client_secret' | 'refresh_token' | 'access_token', string | null>;
      try {
        const profileId = source.profile_id as number;
        plain = {
          client_secret: this.sealing.open('oauth_apps', source.app_id as number, 'client_secret', source.client_secret as Buffer),
          refresh_token: this.sealing.open('oauth_profiles', profileId, 'refresh_token', source.refresh_token as Buffer),
          access_token: source.access_token === null ? null : this.sealing.open('oauth_profiles', profileId, 'access_token', source.access_token as Buffer),
        };
      } catch (err) {
        if (err instanceof SealedValueUnreadable) continue;
        throw err;
      }
      this.insert(sourceOf(source), plain, plan);
    }
  }

  async add(item: NewRevocation, plan: RevocationPlan): Promise<void> {
    const plain = { client_secret: item.clientSecret, refresh_token: item.refreshToken, access_token: item.accessToken };
    await this.db.write(() => this.insert(item, plain, plan));
  }

  /** Inside a write: one row, its secrets sealed under its own id. */
  private insert(source: RevocationSource, plain: Record<'client_secret' | 'refresh_token' | 'access_token', string | null>, plan: RevocationPlan): void {
    const rowId = nextId(this.db, 'revocations');
    const { sealed, keyVersion } = this.sealing.sealRow('revocations', rowId, plain);
    this.db
      .q(`INSERT INTO revocations (${REVOCATION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(...revocationValues(rowId, source, sealed, keyVersion, plan));
  }

  async claim(limit: number, owner: string, leaseMs: number): Promise<{ pending: PendingRevocation[]; damaged: number[] }> {
    const rows = await this.db.write(() => {
      const now = Date.now();
      const due = this.db
        .q('SELECT * FROM revocations WHERE next_attempt_at <= ? AND (lease_owner IS NULL OR lease_until <= ?) ORDER BY next_attempt_at LIMIT ?')
        .all(now, now, limit) as Row[];
      const take = this.db.q('UPDATE revocations SET lease_owner = ?, lease_until = ? WHERE id = ?');
      for (const r of due) take.run(owner, now + leaseMs, r.id);
      return due;
    });
    const pending: PendingRevocation[] = [];
    const damaged: number[] = [];
    for (const r of rows) {
      const id = r.id as number;
      try {
        pending.push(
          toPending(r, {
            clientSecret: this.sealing.open('revocations', id, 'client_secret', r.client_secret as Buffer),
            refreshToken: this.sealing.open('revocations', id, 'refresh_token', r.refresh_token as Buffer),
            accessToken: r.access_token === null ? null : this.sealing.open('revocations', id, 'access_token', r.access_token as Buffer),
          }),
        );
      } catch (err) {
        if (!(err instanceof SealedValueUnreadable)) throw err;
        damaged.push(id);
      }
    }
    return { pending, damaged };
  }

  async remove(id: number): Promise<void> {
    await this.db.write(() => this.db.q('DELETE FROM revocations WHERE id = ?').run(id));
  }

  async retry(id: number, owner: string, attempts: number, nextAttemptAt: number, lastError: string): Promise<void> {
    await this.db.write(() =>
      this.db
        .q('UPDATE revocations SET attempts = ?, next_attempt_at = ?, last_error = ?, lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?')
        .run(attempts, nextAttemptAt, lastError, id, owner),
    );
  }

  async count(): Promise<number> {
    return (this.db.q('SELECT count(*) AS n FROM revocations').get() as Row).n as number;
  }
}
