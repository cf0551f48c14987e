/**
 * Each app's engine settings and standing with its AS in SQLite (api.md §8.6): a row of `app_engines` once either was
 * written, removed with its app by the foreign key's cascade.
 */
import type { AppEngines, AppStatus, EngineSettings, Refusal } from '../../domain/ports/index.js';
import { Refused } from '../refused.js';
import { asErrorJson, toAppEngine } from '../rows.js';
import type { Row, SqliteDb } from './db.js';

export class SqliteAppEngines implements AppEngines {
  constructor(private readonly db: SqliteDb) {}

  async get(appId: number): Promise<{ settings: EngineSettings | null; status: AppStatus } | undefined> {
    const row = this.db
      .q('SELECT e.settings, e.status, e.last_error FROM oauth_apps a LEFT JOIN app_engines e ON e.app_id = a.id WHERE a.id = ?')
      .get(appId) as Row | undefined;
    return row && toAppEngine(row);
  }

  /** One upsert that reads the app in the same statement: no app, no row written. */
  async set(appId: number, settings: EngineSettings): Promise<void | Refusal> {
    return this.db.decide(() => {
      const written = this.db
        .q(
          `INSERT INTO app_engines (app_id, settings, proactive) SELECT id, @settings, @proactive FROM oauth_apps WHERE id = @app
          ON CONFLICT (app_id) DO UPDATE SET settings = excluded.settings, proactive = excluded.proactive`,
        )
        .run({ app: appId, settings: JSON.stringify(settings), proactive: settings.proactive ? 1 : 0 }).changes;
      if (written === 0) throw new Refused({ refused: 'missing', what: 'app', id: appId });
    });
  }

  async setStatus(appId: number, status: AppStatus): Promise<void> {
    await this.db.write(() =>
      this.db
        .q(
          `INSERT INTO app_engines (app_id, status, last_error) SELECT id, @state, @lastError FROM oauth_apps WHERE id = @app
          ON CONFLICT (app_id) DO UPDATE SET status = excluded.status, last_error = excluded.last_error`,
        )
        .run({ app: appId, state: status.state, lastError: asErrorJson(status.lastError) }),
    );
  }
}
