/**
 * Consent states in PostgreSQL (api.md §9), as ../sqlite/consent-states.ts: the PKCE verifier sealed before the
 * statement (the row id comes from the sequence first), a take is one autocommit DELETE … RETURNING. Of concurrent
 * takes of one row, on any node, the first deletes it; the others wait for its row lock and then find it gone.
 */
import type { ConsentState, ConsentStates, NewConsentState, Refusal } from '../../domain/ports/index.js';
import { answerRefusal } from '../refused.js';
import { consentStateValues, toConsentState } from '../rows.js';
import type { PgDb } from './db.js';
import type { PgSealing } from './keyring.js';
import { nextId } from './versioned.js';

const COLUMNS = 'id, user_id, actor_id, app_id, profile_id, name, description, return_to, verifier, expires_at';

/** The insert, and the expired states pruned in the same statement (through the expires_at index). */
const ADD = `WITH pruned AS (DELETE FROM consent_states WHERE expires_at < $13::bigint)
  INSERT INTO consent_states (id, state_digest, user_id, actor_id, app_id, profile_id, name, description, return_to, verifier,
    key_version, expires_at)
  VALUES ($1::bigint, $2::text, $3::bigint, $4::bigint, $5::bigint, $6::bigint, $7::text, $8::text, $9::text, $10::bytea, $11::int, $12::bigint)`;

export class PgConsentStates implements ConsentStates {
  constructor(
    private readonly db: PgDb,
    private readonly sealing: PgSealing,
  ) {}

  async add(state: NewConsentState, now: number): Promise<void | Refusal> {
    const id = await nextId(this.db, this.db.pool, 'consent_states');
    const { sealed, keyVersion } = await this.sealing.sealRow('consent_states', id, { verifier: state.verifier }, this.db.pool);
    try {
      await this.db.run(this.db.pool, ADD, [id, ...consentStateValues(state, sealed.verifier!, keyVersion), now]);
    } catch (err) {
      // mapError made a deleted user or app (foreign key) the refusal concurrentDelete, and U+0000 unstorableText.
      return answerRefusal(err);
    }
  }

  async take(digest: string): Promise<ConsentState | undefined> {
    const row = await this.db.one(this.db.pool, `DELETE FROM consent_states WHERE state_digest = $1 RETURNING ${COLUMNS}`, [digest]);
    return row && toConsentState(row, await this.sealing.open('consent_states', Number(row.id), 'verifier', row.verifier as Buffer, this.db.pool));
  }
}
