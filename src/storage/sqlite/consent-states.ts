/**
 * Consent states in SQLite (api.md §9): one row per started consent, its PKCE verifier sealed by the barrier inside
 * the write that stores it. A take is one DELETE … RETURNING inside the group commit: SQLite runs one write at a
 * time, so of two takes of one state the second finds no row.
 */
import type { ConsentState, ConsentStates, NewConsentState, Refusal } from '../../domain/ports/index.js';
import type { Sealing } from '../../sealing/barrier.js';
import { Refused } from '../refused.js';
import { consentStateValues, toConsentState } from '../rows.js';
import type { Row, SqliteDb } from './db.js';
import { nextId } from './versioned.js';

const COLUMNS = 'id, user_id, actor_id, app_id, profile_id, name, description, return_to, verifier, expires_at';

export class SqliteConsentStates implements ConsentStates {
  constructor(
    private readonly db: SqliteDb,
    private readonly sealing: Sealing<never, 'sync'>,
  ) {}

  async add(state: NewConsentState, now: number): Promise<void | Refusal> {
    return this.db.decide(() => {
      // Through the expires_at index: only the rows that expired go.
      this.db.q('DELETE FROM consent_states WHERE expires_at < ?').run(now);
      const id = nextId(this.db, 'consent_states');
      const { sealed, keyVersion } = this.sealing.sealRow('consent_states', id, { verifier: state.verifier });
      try {
        this.db
          .q(
            `INSERT INTO consent_states (id, state_digest, user_id, actor_id, app_id, profile_id, name, description, return_to,
            verifier, key_version, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(id, ...consentStateValues(state, sealed.verifier!, keyVersion));
      } catch (err) {
        // The user or the app was deleted between the domain's checks and this write.
        if ((err as { code?: unknown }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY') throw new Refused({ refused: 'concurrentDelete' });
        throw err;
      }
    });
  }

  async take(digest: string): Promise<ConsentState | undefined> {
    const row = await this.db.write(() => this.db.q(`DELETE FROM consent_states WHERE state_digest = ? RETURNING ${COLUMNS}`).get(digest) as Row | undefined);
    return row && toConsentState(row, this.sealing.open('consent_states', Number(row.id), 'verifier', row.verifier as Buffer));
  }
}
