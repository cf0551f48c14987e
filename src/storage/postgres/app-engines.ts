/**
 * Each app's engine settings and standing with its AS in PostgreSQL (api.md §8.6), as ../sqlite/'s: a row of
 * `app_engines` once either was written, removed with its app by the foreign key's cascade. Each write is one
 * autocommit upsert that reads the app in the same statement.
 */
import type { AppEngines, AppStatus, EngineSettings, Refusal } from '../../domain/ports/index.js';
import { answerRefusal } from '../refused.js';
import { asErrorJson, toAppEngine } from '../rows.js';
import type { PgDb } from './db.js';

export class PgAppEngines implements AppEngines {
  constructor(private readonly db: PgDb) {}

  async get(appId: number): Promise<{ settings: EngineSettings | null; status: AppStatus } | undefined> {
    const row = await this.db.one(
      this.db.pool,
      'SELECT e.settings, e.status, e.last_error FROM oauth_apps a LEFT JOIN app_engines e ON e.app_id = a.id WHERE a.id = $1',
      [appId],
    );
    return row && toAppEngine(row);
  }

  async set(appId: number, settings: EngineSettings): Promise<void | Refusal> {
    let written: number;
    try {
      written = await this.db.exec(
        this.db.pool,
        `INSERT INTO app_engines (app_id, settings, proactive) SELECT id, $2, $3 FROM oauth_apps WHERE id = $1
        ON CONFLICT (app_id) DO UPDATE SET settings = excluded.settings, proactive = excluded.proactive`,
        [appId, JSON.stringify(settings), settings.proactive],
      );
    } catch (err) {
      const refusal = answerRefusal(err);
      // The app was deleted between the statement's read of it and its foreign-key check: it is missing.
      return refusal.refused === 'concurrentDelete' ? { refused: 'missing', what: 'app', id: appId } : refusal;
    }
    if (written === 0) return { refused: 'missing', what: 'app', id: appId };
  }

  /** An app deleted meanwhile has no status to keep: its upsert writes nothing, and a concurrent delete's error is dropped. */
  async setStatus(appId: number, status: AppStatus): Promise<void> {
    try {
      await this.db.exec(
        this.db.pool,
        `INSERT INTO app_engines (app_id, status, last_error) SELECT id, $2, $3 FROM oauth_apps WHERE id = $1
        ON CONFLICT (app_id) DO UPDATE SET status = excluded.status, last_error = excluded.last_error`,
        [appId, status.state, asErrorJson(status.lastError)],
      );
    } catch (err) {
      if (answerRefusal(err).refused !== 'concurrentDelete') throw err;
    }
  }
}
