/**
 * The background refresh (api.md §8.7): refreshes the profiles of proactive apps before their tokens expire, on
 * every node, without per-profile timers. Each pass reads the due profiles from the database (one query through the
 * index on the next refresh time, earliest first) and hands each to the engine, whose lease makes sure two nodes
 * never refresh the same one: a profile another node holds is left to it.
 *
 * - An idle node costs one query per `intervalMs` (1 s by default). What a look finds is started as each origin's cap
 *   allows, the rest as refreshes of its origin end; when a look read a full batch, the next comes once all of it has
 *   started, but never sooner than `gapMs` after the last.
 * - At most the app's `maxConcurrentRefreshes` calls per token-endpoint origin are in flight on this node: the apps of
 *   a busy origin are left out of the next query, so they do not crowd out the others.
 * - The engine plans each next refresh (with its jitter) when it commits; profiles that no refresh may leave
 *   (`needs_reconsent`, `app_error`, `origin_changed`) are never due.
 */
import type { Due, Store } from '../domain/ports/index.js';
import type { TokenEngine } from './refresh.js';
import { settingsOf } from './settings.js';

export interface BackgroundOptions {
  /** how often an idle node looks for due profiles */
  intervalMs: number;
  /** the shortest pause between two looks while work is waiting */
  gapMs: number;
  /** how many due profiles one look reads, at most */
  batch: number;
  log?: { info(fields: object, message: string): void; warn(fields: object, message: string): void };
}

export const BACKGROUND_DEFAULTS: BackgroundOptions = { intervalMs: 1_000, gapMs: 50, batch: 100 };

/** How long stop() waits for the refreshes in flight before it lets the process go on closing. */
const STOP_GRACE_MS = 10_000;

interface AppLimit {
  origin: string;
  cap: number;
}

interface Queued {
  due: Due;
  limit: AppLimit;
}

export class BackgroundRefresh {
  private readonly options: BackgroundOptions;
  private timer: NodeJS.Timeout | undefined;
  private looking: Promise<void> | undefined;
  private stopped = true;
  private lastLook = 0;
  /** the refreshes started by this node and not ended, by profile */
  private readonly running = new Map<number, Promise<void>>();
  /** calls in flight per token-endpoint origin */
  private readonly perOrigin = new Map<string, number>();
  /** each app's origin and cap as last read: which apps to leave out while their origin is busy */
  private readonly apps = new Map<number, AppLimit>();
  private failing = false;
  /** what the last look found and has not started yet (its origin was busy) */
  private queue: Queued[] = [];
  /** the last look read a full batch: more may be due */
  private full = false;

  constructor(
    private readonly store: Store,
    private readonly engine: Pick<TokenEngine, 'refreshDue'>,
    options: Partial<BackgroundOptions> = {},
  ) {
    this.options = { ...BACKGROUND_DEFAULTS, ...options };
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** No new look; the refreshes in flight get up to STOP_GRACE_MS to end (their outbound deadlines bound them). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.looking;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_GRACE_MS)));
    await Promise.race([Promise.all(this.running.values()), grace]);
    clearTimeout(timer);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.looking = this.look().finally(() => (this.looking = undefined));
    }, delayMs);
    this.timer.unref();
  }

  /** Look again soon: the last look may have left due profiles behind. */
  private soon(): void {
    if (this.looking || this.stopped) return;
    this.schedule(Math.max(0, this.lastLook + this.options.gapMs - Date.now()));
  }

  private async look(): Promise<void> {
    this.lastLook = Date.now();
    try {
      const busy = [...this.apps].filter(([, limit]) => this.busy(limit)).map(([id]) => id);
      const due = await this.store.tokens.due(this.options.batch, busy);
      const limits = new Map<number, AppLimit | undefined>();
      const queue: Queued[] = [];
      for (const d of due) {
        if (this.running.has(d.profileId)) continue;
        if (!limits.has(d.oauthAppId)) limits.set(d.oauthAppId, await this.limitOf(d.oauthAppId));
        const limit = limits.get(d.oauthAppId);
        if (limit) queue.push({ due: d, limit });
      }
      this.queue = queue;
      this.full = due.length === this.options.batch;
      if (this.failing) this.options.log?.info({}, 'background refresh: the database answers again');
      this.failing = false;
    } catch (err) {
      // Once per outage, not once per second: the next look tries again.
      if (!this.failing) this.options.log?.warn({ err }, 'background refresh: cannot read the due profiles');
      this.failing = true;
    }
    this.drain();
    this.schedule(this.options.intervalMs);
  }

  private busy(limit: AppLimit): boolean {
    return (this.perOrigin.get(limit.origin) ?? 0) >= limit.cap;
  }

  /**
   * Starts what the last look found, as far as each origin's cap allows; the rest waits for a refresh of its origin
   * to end. Found due a moment ago, a profile may have been refreshed since (by another node): the engine re-reads it
   * and its lease decides. Once all is started and the look was full, the next look comes soon.
   */
  private drain(): void {
    if (this.stopped) return;
    this.queue = this.queue.filter((q) => {
      if (this.busy(q.limit)) return true;
      this.begin(q.due, q.limit.origin);
      return false;
    });
    if (this.queue.length === 0 && this.full) {
      this.full = false;
      this.soon();
    }
  }

  /** The app's token-endpoint origin and its cap, read afresh once per look; undefined when the app is gone. */
  private async limitOf(appId: number): Promise<AppLimit | undefined> {
    const [app, engine] = await Promise.all([this.store.apps.summary(appId), settingsOf(this.store, appId)]);
    if (!app || !engine) {
      this.apps.delete(appId);
      return undefined;
    }
    const limit = { origin: new URL(app.tokenURI).origin, cap: engine.settings.maxConcurrentRefreshes };
    this.apps.set(appId, limit);
    return limit;
  }

  private begin(due: Due, origin: string): void {
    this.perOrigin.set(origin, (this.perOrigin.get(origin) ?? 0) + 1);
    const done = this.engine.refreshDue(due).finally(() => {
      this.running.delete(due.profileId);
      const left = (this.perOrigin.get(origin) ?? 1) - 1;
      if (left === 0) this.perOrigin.delete(origin);
      else this.perOrigin.set(origin, left);
      this.drain();
    });
    this.running.set(due.profileId, done);
  }
}
