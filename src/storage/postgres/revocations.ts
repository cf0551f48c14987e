/**
 * The revocation outbox in PostgreSQL (api.md §9), as ../sqlite/'s: rows queued inside a delete's own transaction
 * (queue), claimed under a lease (FOR UPDATE SKIP LOCKED: nodes looking at once take different rows), removed when
 * done. Leases are judged by the database's clock.
 */
import type { NewRevocation, PendingRevocation, RevocationPlan, Revocations } from '../../domain/ports/index.js';
import { SealedValueUnreadable } from '../../sealing/key-ring.js';
import { REVOCATION_COLUMNS, queueSource, revocationValues, sourceOf, toPending, type RevocationSource } from '../revocation-rows.js';
import { DB_NOW, type PgDb, type Queryable, type Row } from './db.js';
import type { PgSealing } from './keyring.js';
import { nextId } from './versioned.js';

const URI = "(e.settings::jsonb ->> 'revocationURI')";
const AUTH = "(e.settings::jsonb ->> 'clientAuth')";

const CLAIM = `UPDATE revocations r SET lease_owner = $2, lease_until = ${DB_NOW} + $3::bigint
  FROM (SELECT id FROM revocations WHERE next_attempt_at <= ${DB_NOW} AND (lease_owner IS NULL OR lease_until <= ${DB_NOW})
    ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) due
  WHERE r.id = due.id RETURNING r.*`;

export class PgRevocations implements Revocations {
  constructor(
    private readonly db: PgDb,
    private readonly sealing: PgSealing,
  ) {}

  /** In the delete's transaction `c`, before its delete: as SqliteRevocations.queue. */
  async queue(c: Queryable, scope: string, id: number, plan: RevocationPlan): Promise<void> {
    for (const source of await this.db.all(c, `${queueSource(scope, URI, AUTH)} FOR UPDATE OF p`, [id])) {
      let plain: Record<'client_secret' | 'refresh_token' | 'access_token', string | null>;
      try {
        const profileId = Number(source.profile_id);
        plain = {
          client_secret: await this.sealing.open('oauth_apps', Number(source.app_id), 'client_secret', source.client_secret as Buffer, c),
          refresh_token: await this.sealing.open('oauth_profiles', profileId, 'refresh_token', source.refresh_token as Buffer, c),
          access_token:
            source.access_token === null ? null : await this.sealing.open('oauth_profiles', profileId, 'access_token', source.access_token as Buffer, c),
        };
      } catch (err) {
        if (err instanceof SealedValueUnreadable) continue;
        throw err;
      }
      await this.insert(c, sourceOf(source), plain, plan);
    }
  }

  async add(item: NewRevocation, plan: RevocationPlan): Promise<void> {
    const plain = { client_secret: item.clientSecret, refresh_token: item.refreshToken, access_token: item.accessToken };
    await this.insert(this.db.pool, item, plain, plan);
  }

  /** One row, its secrets sealed under its own id (taken from the sequence first). */
  private async insert(
    c: Queryable,
    source: RevocationSource,
    plain: Record<'client_secret' | 'refresh_token' | 'access_token', string | null>,
    plan: RevocationPlan,
  ): Promise<void> {
    const rowId = await nextId(this.db, c, 'revocations');
    const { sealed, keyVersion } = await this.sealing.sealRow('revocations', rowId, plain, c);
    const values = revocationValues(rowId, source, sealed, keyVersion, plan);
    await this.db.exec(c, `INSERT INTO revocations (${REVOCATION_COLUMNS}) VALUES (${values.map((_, i) => `$${i + 1}`).join(', ')})`, values);
  }

  async claim(limit: number, owner: string, leaseMs: number): Promise<{ pending: PendingRevocation[]; damaged: number[] }> {
    const rows: Row[] = await this.db.all(this.db.pool, CLAIM, [limit, owner, leaseMs]);
    const pending: PendingRevocation[] = [];
    const damaged: number[] = [];
    for (const r of rows) {
      const id = Number(r.id);
      try {
        pending.push(
          toPending(r, {
            clientSecret: await this.sealing.open('revocations', id, 'client_secret', r.client_secret as Buffer),
            refreshToken: await this.sealing.open('revocations', id, 'refresh_token', r.refresh_token as Buffer),
            accessToken: r.access_token === null ? null : await this.sealing.open('revocations', id, 'access_token', r.access_token as Buffer),
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
    await this.db.exec(this.db.pool, 'DELETE FROM revocations WHERE id = $1', [id]);
  }

  async retry(id: number, owner: string, attempts: number, nextAttemptAt: number, lastError: string): Promise<void> {
    await this.db.exec(
      this.db.pool,
      'UPDATE revocations SET attempts = $3, next_attempt_at = $4, last_error = $5, lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2',
      [id, owner, attempts, nextAttemptAt, lastError],
    );
  }

  async count(): Promise<number> {
    const row = await this.db.one(this.db.pool, 'SELECT count(*)::int AS n FROM revocations');
    return Number(row!.n);
  }
}
