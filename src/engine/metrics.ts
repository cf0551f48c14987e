/**
 * The app's Prometheus metrics (api.md §8.8): refreshes by outcome with their latency, refreshes in flight, profiles
 * by state, and HTTP requests by route pattern and status with their latency.
 *
 * One registry per app instance, never prom-client's global one: tests build many apps in one process, and two apps
 * must not count into (or refuse to register over) each other's metrics. The Node process metrics (CPU, memory, event
 * loop lag, GC, file descriptors) are the process's, not an app's: they live in one registry per process, created at
 * the first scrape, because collecting them starts a GC observer and an event-loop monitor that are never stopped —
 * one per app would pile up in a test process.
 *
 * No label value comes from a request or a stored object: routes are the patterns they were declared with, methods and
 * statuses are bounded by HTTP, outcomes and states are fixed lists here. So no token, secret, user name or query value
 * can reach a scrape, and the number of series stays bounded.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ApiError, type ErrorKind } from '../errors.js';
import type { TokenState } from '../domain/ports/index.js';

/**
 * What a refresh that held the lease came to. `lost`: a PUT, a consent or a delete came first and the result was
 * dropped (the compare-and-swap lost). `unavailable`: the AS failed, timed out or rate-limited after the retries
 * (the 503 of §8.2). `error`: anything else (the database failed, say).
 */
export const REFRESH_OUTCOMES = ['success', 'lost', 'reconsent', 'client_error', 'refused', 'unavailable', 'error'] as const;
export type RefreshOutcome = (typeof REFRESH_OUTCOMES)[number];

export const TOKEN_STATES = ['active', 'retrying', 'needs_reconsent', 'app_error', 'origin_changed'] as const satisfies readonly TokenState[];

/** How many profiles are in each state, across the database; states left out count 0. */
export type ProfileCounter = () => Promise<Partial<Record<TokenState, number>>>;

/** What the token engine sees of the metrics (src/engine/refresh.ts). */
export interface RefreshMetrics {
  /**
   * Runs one refresh that holds the lease — its call to the token endpoint with the retries, and the commit of the
   * result — counted in flight while it runs, then counted and timed by its outcome. Resolves or rejects as `work`.
   */
  refresh<R extends { done: unknown } | { again: true }>(work: () => Promise<R>): Promise<R>;
}

/** What a rejected refresh came to, by the catalogue error the engine threw. */
const FAILED: Partial<Record<ErrorKind, RefreshOutcome>> = {
  needsReconsent: 'reconsent',
  appClientError: 'client_error',
  tokenEndpointRefused: 'refused',
  refreshUnavailable: 'unavailable',
  // the profile (or its app) was deleted while the lease was held: a delete came first
  profileNotFound: 'lost',
};

/** A refresh lasts up to its retries' deadlines (§8.5: 25 s each) and the backoff between them. */
const REFRESH_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** The label of a request that matched no route (404, 405): one value, whatever the URL was. */
const UNMATCHED_ROUTE = 'unmatched';

let processRegistry: Registry | undefined;
/** The process's own metrics, in a registry of their own made once per process (see the file's comment). */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export class Metrics implements RefreshMetrics {
  readonly registry = new Registry();
  /** text/plain; version=0.0.4; charset=utf-8 */
  readonly contentType = this.registry.contentType;
  private readonly refreshes: Counter<'outcome'>;
  private readonly refreshSeconds: Histogram<'outcome'>;
  private readonly inFlight: Gauge;
  private readonly requests: Counter<'route' | 'method' | 'status'>;
  private readonly requestSeconds: Histogram<'route' | 'method'>;

  /** `profilesByState`: the counts behind tokenkeep_profiles; without it that gauge is not exported at all. */
  constructor(options: { profilesByState?: ProfileCounter } = {}) {
    const registers = [this.registry];
    this.refreshes = new Counter({
      name: 'tokenkeep_refreshes_total',
      help: 'Refreshes this node made while holding the lease, by outcome',
      labelNames: ['outcome'],
      registers,
    });
    this.refreshSeconds = new Histogram({
      name: 'tokenkeep_refresh_duration_seconds',
      help: 'Duration of a refresh holding the lease: the token endpoint call with its retries and backoff, and the commit of the result',
      labelNames: ['outcome'],
      buckets: REFRESH_BUCKETS,
      registers,
    });
    // Every outcome from the start, so that rate() and alerts see a 0 rather than no series before the first one.
    for (const outcome of REFRESH_OUTCOMES) {
      this.refreshes.inc({ outcome }, 0);
      this.refreshSeconds.zero({ outcome });
    }
    this.inFlight = new Gauge({ name: 'tokenkeep_refreshes_in_flight', help: 'Refreshes holding the lease on this node right now', registers });
    this.requests = new Counter({
      name: 'tokenkeep_http_requests_total',
      help: `HTTP requests answered, by route pattern ("${UNMATCHED_ROUTE}" when none matched), method and status`,
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.requestSeconds = new Histogram({
      name: 'tokenkeep_http_request_duration_seconds',
      help: 'Time from a request arriving to its answer being sent, by route pattern and method',
      labelNames: ['route', 'method'],
      registers,
    });
    const count = options.profilesByState;
    if (count) {
      new Gauge({
        name: 'tokenkeep_profiles',
        help: 'OAuth profiles in the database, by engine state',
        labelNames: ['state'],
        registers,
        // Read at scrape time, from the database all nodes share. A database that does not answer leaves the gauge
        // empty for that scrape (never a stale count); the other metrics still answer, which is when they matter.
        async collect() {
          this.reset();
          let counts: Partial<Record<TokenState, number>>;
          try {
            counts = await count();
          } catch {
            return;
          }
          for (const state of TOKEN_STATES) this.set({ state }, counts[state] ?? 0);
        },
      });
    }
  }

  async refresh<R extends { done: unknown } | { again: true }>(work: () => Promise<R>): Promise<R> {
    const end = this.refreshSeconds.startTimer();
    this.inFlight.inc();
    let outcome: RefreshOutcome = 'error';
    try {
      const round = await work();
      outcome = 'done' in round ? 'success' : 'lost';
      return round;
    } catch (err) {
      outcome = (err instanceof ApiError && FAILED[err.kind]) || 'error';
      throw err;
    } finally {
      this.inFlight.dec();
      this.refreshes.inc({ outcome });
      end({ outcome });
    }
  }

  /**
   * The label objects of each (route, method, status) seen, made once: building them on every request (a spread and
   * a String()) was half of this hook's CPU (issue 16). Bounded like the series themselves: routes are the declared
   * patterns, methods what Node's parser accepts, statuses what the app answers.
   */
  private readonly requestLabels = new Map<
    string,
    { counter: { route: string; method: string; status: string }; histogram: { route: string; method: string } }
  >();

  /** One answered request. `route` is the matched route's pattern (`/api/mgmt/oauthprofiles/:id`), never its URL. */
  request(route: string | undefined, method: string, status: number, seconds: number): void {
    const pattern = route ?? UNMATCHED_ROUTE;
    const key = `${status} ${method} ${pattern}`;
    let labels = this.requestLabels.get(key);
    if (labels === undefined) {
      const histogram = { route: pattern, method };
      labels = { counter: { ...histogram, status: String(status) }, histogram };
      this.requestLabels.set(key, labels);
    }
    this.requests.inc(labels.counter);
    this.requestSeconds.observe(labels.histogram, seconds);
  }

  /** The scrape: this app's metrics, then the process's. */
  async text(): Promise<string> {
    return (await this.registry.metrics()) + (await processMetrics().metrics());
  }
}
