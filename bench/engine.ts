/**
 * The token engine's scenarios (issue 13): their authorization server, its reference rate, the profiles holding its
 * grants, and what each side counted.
 *
 * - The AS is the engine tests' oidc-provider (test/engine/as-support.ts, rotating refresh tokens) in a child process
 *   of its own (bench/as-process.ts), on 127.0.0.1; grants come from its own login and consent screens driven over
 *   HTTP, one account each.
 * - The reference: the refresh rate a plain undici client gets from that AS, ENGINE_CONCURRENCY chains at once, each
 *   presenting the refresh token the previous answer rotated to — what tokenkeep does per refresh, without tokenkeep.
 * - What was counted: the AS's token-endpoint requests (its own count, from its control listener) and tokenkeep's
 *   (its /api/metrics: refreshes by outcome, the token route's answers by status), read when both are idle.
 */
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import type { TestClient } from '../test/engine/as-support.js';
import { cpuSecondsOf, sleep, startAuthorizationServerProcess, type Child } from './processes.js';
import { AS_ACCESS_TTL, percentile, type LoadResult } from './scenarios.js';
import { AUTH, api, expect, type EngineDataset } from './seed.js';

export interface BenchAs {
  pid: number;
  tokenURI: string;
  authorizeURI: string;
  client: TestClient;
  /** the client's `Authorization: Basic …` header, as the AS's own support builds it */
  clientAuthorization: string;
  calls(): Promise<AsCalls>;
  /** n grants through the AS's login and consent screens */
  obtain(n: number): Promise<{ accessToken: string; refreshToken: string }[]>;
  output(): string;
  stop(): Promise<string>;
}

/** The AS's own count of its token endpoint's requests. */
export interface AsCalls {
  received: number;
  answered: number;
  /** answered refresh_token grants */
  refresh: number;
  /** answers other than a 200 without error */
  refused: number;
}

async function control(child: Child, method: string, path: string): Promise<any> {
  const res = await request(`${child.base}${path}`, { method, headersTimeout: 600_000, bodyTimeout: 600_000 });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`bench AS ${method} ${path}: ${res.statusCode} ${text}`);
  return JSON.parse(text);
}

export async function startBenchAs(logFile: string): Promise<BenchAs> {
  const child = await startAuthorizationServerProcess(logFile, AS_ACCESS_TTL);
  const info = (await control(child, 'GET', '/info')) as { tokenURI: string; authorizeURI: string; client: TestClient; clientAuthorization: string };
  return {
    pid: child.pid,
    tokenURI: info.tokenURI,
    authorizeURI: info.authorizeURI,
    client: info.client,
    clientAuthorization: info.clientAuthorization,
    calls: () => control(child, 'GET', '/calls'),
    obtain: (n) => control(child, 'POST', `/obtain?n=${n}`),
    output: child.output,
    stop: child.stop,
  };
}

/**
 * The reference: `chains.length` loops of refresh-token grants from a plain undici client (one Agent, keep-alive),
 * each sending the refresh token its previous answer rotated to; `chains` is updated in place, so the next
 * measurement goes on from there. A warm-up, then the measured run; the AS's CPU is measured like a server's.
 * A refused refresh ends the bench: its chain is dead, and the rate would no longer be the AS's.
 */
export async function refreshReference(
  as: BenchAs,
  chains: string[],
  o: { warmupSeconds: number; durationSeconds: number; load1: () => number },
): Promise<LoadResult> {
  const agent = new Agent();
  const headers = { authorization: as.clientAuthorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  const run = async (seconds: number) => {
    const latencies: number[] = [];
    const deadline = performance.now() + seconds * 1000;
    await Promise.all(
      chains.map(async (_, i) => {
        while (performance.now() < deadline) {
          const sent = performance.now();
          const res = await request(as.tokenURI, {
            method: 'POST',
            headers,
            body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: chains[i] }).toString(),
            dispatcher: agent,
          });
          const text = await res.body.text();
          latencies.push(performance.now() - sent);
          const body = res.statusCode === 200 ? (JSON.parse(text) as { refresh_token?: string }) : {};
          if (!body.refresh_token) throw new Error(`the AS refused a refresh of the reference: ${res.statusCode} ${text.slice(0, 200)}`);
          chains[i] = body.refresh_token;
        }
      }),
    );
    return latencies;
  };
  try {
    if (o.warmupSeconds > 0) await run(o.warmupSeconds);
    const load1 = o.load1();
    const cpuBefore = cpuSecondsOf(as.pid);
    const clientBefore = process.cpuUsage();
    const started = performance.now();
    const measured = await run(o.durationSeconds);
    const elapsed = (performance.now() - started) / 1000;
    const cpu = cpuSecondsOf(as.pid) - cpuBefore;
    const client = process.cpuUsage(clientBefore);
    const sorted = Float64Array.from(measured).sort();
    return {
      rps: sorted.length / elapsed,
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      max: percentile(sorted, 100),
      total: sorted.length,
      non2xx: 0,
      errors: 0,
      timeouts: 0,
      serverCores: cpu / elapsed,
      clientCores: (client.user + client.system) / 1e6 / elapsed,
      cpuPerRequestUs: (cpu / Math.max(1, sorted.length)) * 1e6,
      load1,
      asCores: cpu / elapsed,
      ok: sorted.length,
    };
  } finally {
    await agent.close();
  }
}

/** Runs `fn` over `items`, `limit` at a time. */
async function eachLimited<T>(items: T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) await fn(items[i], i);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Through the API of the setup server (started with TOKENKEEP_ALLOW_LOOPBACK_HTTP_URIS=1): an app for the AS, and
 * `count` profiles of d2cuser, each holding a grant of its own obtained through the AS's consent screens — as a
 * client stores the tokens it obtained (PUT/POST), so their expiry is unknown until the engine first refreshes them.
 */
export async function setupEngine(base: string, as: BenchAs, count: number): Promise<EngineDataset> {
  const app = await expect(
    'create the engine app',
    api(base, 'POST', '/api/mgmt/oauthapps', AUTH.admin, {
      name: 'Bench engine app',
      dataStore: 54,
      clientId: as.client.clientId,
      clientSecret: as.client.clientSecret,
      authorizeURI: as.authorizeURI,
      tokenURI: as.tokenURI,
      scope: 'openid offline_access',
    }),
    201,
  );
  const grants = await as.obtain(count);
  const profileIds: number[] = [];
  for (const [i, g] of grants.entries()) {
    const p = await expect(
      'create an engine profile',
      api(base, 'POST', '/api/mgmt/oauthprofiles', AUTH.user, {
        name: `engine_${String(i).padStart(4, '0')}`,
        oauthAppId: app.id,
        description: 'A grant of the bench authorization server',
        accessToken: g.accessToken,
        refreshToken: g.refreshToken,
      }),
      201,
    );
    profileIds.push(p.id as number);
  }
  return { appId: app.id as number, profileIds };
}

/** One token request per profile (default minValidity): the first refresh gives a stored token its expiry. */
export async function primeExpiry(base: string, ids: number[]): Promise<void> {
  await eachLimited(ids, 10, async (id) => {
    await expect(`POST token of profile ${id}`, api(base, 'POST', `/api/mgmt/oauthprofiles/${id}/token`, AUTH.user), 200);
  });
}

/** What tokenkeep counted (its /api/metrics) */
export interface TokenkeepCounts {
  /** refreshes that held the lease and succeeded */
  refreshes: number;
  /** refreshes that held the lease and came to anything else */
  refreshFailures: number;
  inFlight: number;
  /** answers of POST …/token: 200, and any other status */
  tokenOk: number;
  tokenOther: number;
  /** seconds summed over the successful refreshes while they held the lease (the reads, the AS call, the commit) */
  refreshSeconds: number;
  /** seconds summed over the answers of POST …/token, and how many answers that sum is over */
  tokenSeconds: number;
  tokenTimed: number;
}

export async function tokenkeepCounts(base: string): Promise<TokenkeepCounts> {
  const res = await request(`${base}/api/metrics`, { headers: { authorization: AUTH.admin } });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`GET /api/metrics: ${res.statusCode} ${text.slice(0, 200)}`);
  const c: TokenkeepCounts = { refreshes: 0, refreshFailures: 0, inFlight: 0, tokenOk: 0, tokenOther: 0, refreshSeconds: 0, tokenSeconds: 0, tokenTimed: 0 };
  const tokenRoute = (labels: Record<string, string>) => labels.route === '/api/mgmt/oauthprofiles/:id/token' && labels.method === 'POST';
  for (const line of text.split('\n')) {
    const m = /^(\w+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    const value = Number(m[3]);
    if (m[1] === 'tokenkeep_refreshes_total') {
      if (labels.outcome === 'success') c.refreshes += value;
      else c.refreshFailures += value;
    } else if (m[1] === 'tokenkeep_refreshes_in_flight') c.inFlight = value;
    else if (m[1] === 'tokenkeep_refresh_duration_seconds_sum' && labels.outcome === 'success') c.refreshSeconds = value;
    else if (m[1] === 'tokenkeep_http_requests_total' && tokenRoute(labels)) {
      if (labels.status === '200') c.tokenOk += value;
      else c.tokenOther += value;
    } else if (m[1] === 'tokenkeep_http_request_duration_seconds_sum' && tokenRoute(labels)) c.tokenSeconds = value;
    else if (m[1] === 'tokenkeep_http_request_duration_seconds_count' && tokenRoute(labels)) c.tokenTimed = value;
  }
  return c;
}

export interface Counts {
  as: AsCalls;
  tokenkeep: TokenkeepCounts;
}

/**
 * Both counts once both sides are idle: no refresh in flight at tokenkeep, every request the AS received answered,
 * and nothing moved for 100 ms (requests autocannon left behind at the end of its run still finish at the server).
 */
export async function settledCounts(base: string, as: BenchAs): Promise<Counts> {
  const deadline = Date.now() + 60_000;
  let last = '';
  for (;;) {
    const now: Counts = { as: await as.calls(), tokenkeep: await tokenkeepCounts(base) };
    const key = JSON.stringify(now);
    if (key === last && now.tokenkeep.inFlight === 0 && now.as.received === now.as.answered) return now;
    if (Date.now() > deadline) throw new Error(`the AS and tokenkeep did not become idle within 60 s: ${key}`);
    last = key;
    await sleep(100);
  }
}

/** What each side counted between two settled readings. */
export interface EngineCounts {
  /** token-endpoint requests the AS answered, of them refresh_token grants, and refused answers */
  asCalls: number;
  asRefreshCalls: number;
  asRefused: number;
  /** tokenkeep's successful refreshes, its other refresh outcomes, its 200 answers and other answers of POST …/token */
  refreshes: number;
  refreshFailures: number;
  tokenOk: number;
  tokenOther: number;
  /** token-endpoint requests the AS answered from before the warm-up to the end (the priming before it excluded) */
  asCallsWithWarmup: number;
  /**
   * tokenkeep's own mean times, in ms: of a successful refresh while it held the lease (its reads, the AS call, the
   * commit), and of an answer of POST …/token from arrival to sending (the lease's part, and before it the reads and
   * the claim's commit); undefined when there was none
   */
  refreshMs?: number;
  tokenMs?: number;
}

export function countsBetween(a: Counts, b: Counts, beforeWarmup: Counts): EngineCounts {
  return {
    asCalls: b.as.answered - a.as.answered,
    asRefreshCalls: b.as.refresh - a.as.refresh,
    asRefused: b.as.refused - a.as.refused,
    refreshes: b.tokenkeep.refreshes - a.tokenkeep.refreshes,
    refreshFailures: b.tokenkeep.refreshFailures - a.tokenkeep.refreshFailures,
    tokenOk: b.tokenkeep.tokenOk - a.tokenkeep.tokenOk,
    tokenOther: b.tokenkeep.tokenOther - a.tokenkeep.tokenOther,
    asCallsWithWarmup: b.as.answered - beforeWarmup.as.answered,
    ...mean('refreshMs', b.tokenkeep.refreshSeconds - a.tokenkeep.refreshSeconds, b.tokenkeep.refreshes - a.tokenkeep.refreshes),
    ...mean('tokenMs', b.tokenkeep.tokenSeconds - a.tokenkeep.tokenSeconds, b.tokenkeep.tokenTimed - a.tokenkeep.tokenTimed),
  };
}

const mean = (key: 'refreshMs' | 'tokenMs', seconds: number, count: number) => (count > 0 ? { [key]: (seconds / count) * 1000 } : {});
