/**
 * What the load generator sends. Every authenticated request carries a precomputed `Authorization: Basic …` header,
 * as a real client does; ids are drawn at random from the whole pool of seeded profiles (not one hot row), and
 * every PUT carries new token values. The token engine's scenarios (`engine`) run on the profiles holding real grants
 * of the bench's authorization server (bench/engine.ts).
 */
import autocannon from 'autocannon';
import { cpuSecondsOf } from './processes.js';
import { AUTH, accessToken, profileName, refreshToken, type Dataset } from './seed.js';

export type ScenarioKey = 'health' | 'get' | 'list' | 'put' | 'create-delete' | 'token-valid' | 'token-refresh';

export interface Scenario {
  key: ScenarioKey;
  title: string;
  /** called for each run of autocannon (warm-up, measured run): a scenario's state is then that run's alone */
  requests(d: Dataset): autocannon.Request[];
  /** the token engine's: `valid` answers the stored token, `refresh` makes every request refresh (bench/engine.ts) */
  engine?: 'valid' | 'refresh';
  /** connections of its own, whatever --connections says */
  connections?: number;
}

/** The token-refresh scenario's concurrency (issue 13: 50 concurrent profiles), and its reference's. */
export const ENGINE_CONCURRENCY = 50;
/**
 * The access token's lifetime at the bench AS, in seconds; token-refresh asks for a token valid this long, so every
 * request needs a refresh (a minValidity above the lifetime), while token-valid's default 60 s is met for 540 s.
 */
export const AS_ACCESS_TTL = 600;
const ALWAYS_REFRESH = `?minValidity=${AS_ACCESS_TTL * 6}`;

const engineIds = (d: Dataset): number[] => {
  if (!d.engine) throw new Error('the engine scenarios need the engine profiles (bench/engine.ts setupEngine)');
  return d.engine.profileIds;
};

const JSON_TYPE = { 'content-type': 'application/json' };
const pick = (d: Dataset): number => d.firstId + Math.floor(Math.random() * d.count);
let generation = 0;
let created = 0;
const runTag = Date.now().toString(36);

export const SCENARIOS: Scenario[] = [
  {
    key: 'health',
    title: 'GET /api/healthcheck (no auth)',
    requests: () => [{ method: 'GET', path: '/api/healthcheck' }],
  },
  {
    key: 'get',
    title: 'GET /api/mgmt/oauthprofiles/{id}',
    requests: (d) => [
      {
        method: 'GET',
        headers: { authorization: AUTH.user },
        setupRequest: (req) => ({ ...req, path: `/api/mgmt/oauthprofiles/${pick(d)}` }),
      },
    ],
  },
  {
    key: 'list',
    title: 'GET /api/mgmt/oauthprofiles (100 profiles)',
    requests: () => [{ method: 'GET', path: '/api/mgmt/oauthprofiles', headers: { authorization: AUTH.list } }],
  },
  {
    key: 'put',
    title: 'PUT /api/mgmt/oauthprofiles/{id} (new tokens)',
    requests: (d) => [
      {
        method: 'PUT',
        headers: { authorization: AUTH.user, ...JSON_TYPE },
        setupRequest: (req) => {
          const id = pick(d);
          const gen = ++generation;
          return {
            ...req,
            path: `/api/mgmt/oauthprofiles/${id}`,
            body: JSON.stringify({
              name: profileName(id),
              oauthAppId: d.appId,
              description: `Tokens rotated (${gen})`,
              accessToken: accessToken(id, gen),
              refreshToken: refreshToken(id, gen),
            }),
          };
        },
      },
    ],
  },
  {
    key: 'create-delete',
    title: 'POST /api/mgmt/oauthprofiles, then DELETE it',
    requests: (d) => [
      {
        method: 'POST',
        path: '/api/mgmt/oauthprofiles',
        headers: { authorization: AUTH.user, ...JSON_TYPE },
        setupRequest: (req) => {
          const n = ++created;
          return {
            ...req,
            body: JSON.stringify({
              name: `new_${runTag}_${n}`,
              oauthAppId: d.appId,
              description: 'Created by the benchmark',
              accessToken: accessToken(n),
              refreshToken: refreshToken(n),
            }),
          };
        },
        onResponse: (status, body, context) => {
          if (status === 201) (context as { id?: number }).id = (JSON.parse(body) as { id: number }).id;
        },
      },
      {
        method: 'DELETE',
        headers: { authorization: AUTH.user },
        // Without an id (the POST failed) this deletes id 0: a 404, counted as a failure, not hidden.
        setupRequest: (req, context) => ({ ...req, path: `/api/mgmt/oauthprofiles/${(context as { id?: number }).id ?? 0}` }),
      },
    ],
  },
  {
    key: 'token-valid',
    title: 'POST /api/mgmt/oauthprofiles/{id}/token (valid token, no AS call)',
    engine: 'valid',
    requests: (d) => {
      const ids = engineIds(d);
      return [
        {
          method: 'POST',
          headers: { authorization: AUTH.user },
          setupRequest: (req) => ({ ...req, path: `/api/mgmt/oauthprofiles/${ids[Math.floor(Math.random() * ids.length)]}/token` }),
        },
      ];
    },
  },
  {
    key: 'token-refresh',
    title: `POST /api/mgmt/oauthprofiles/{id}/token${ALWAYS_REFRESH} (a refresh each, ${ENGINE_CONCURRENCY} profiles)`,
    engine: 'refresh',
    connections: ENGINE_CONCURRENCY,
    requests: (d) => {
      // A pool of as many profiles as connections: a request takes a free one and gives it back with its answer, so
      // no two requests in flight share a profile (they would share one refresh). autocannon's context lives for
      // one request when the sequence has one; a request that fails without an answer keeps its profile, and
      // should the pool run dry, a random profile is taken (the AS-call count then shows the sharing).
      const all = engineIds(d).slice(0, ENGINE_CONCURRENCY);
      const free = [...all];
      return [
        {
          method: 'POST',
          headers: { authorization: AUTH.user },
          setupRequest: (req, context) => {
            const id = free.pop() ?? all[Math.floor(Math.random() * all.length)];
            (context as { id?: number }).id = id;
            return { ...req, path: `/api/mgmt/oauthprofiles/${id}/token${ALWAYS_REFRESH}` };
          },
          onResponse: (_status, _body, context) => {
            const { id } = context as { id?: number };
            if (id !== undefined && !free.includes(id)) free.push(id);
          },
        },
      ];
    },
  },
];

export interface LoadResult {
  /** 2xx responses per second */
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  total: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** CPU the server process used during the measured run, in cores (1.0 = one core busy all the time) */
  serverCores: number;
  /** CPU of this process (autocannon, the load generator) during the run, in cores */
  clientCores: number;
  /** the server's CPU time per answered request, in µs: less sensitive than req/s to CPU taken by other processes */
  cpuPerRequestUs: number;
  /** 1-minute load average when the run started */
  load1: number;
  /** CPU of the authorization server's process during the run, in cores (the engine scenarios) */
  asCores?: number;
  /** 2xx answers counted by the load generator in the measured run */
  ok?: number;
}

export interface LoadOptions {
  base: string;
  /** the requests, or what makes them afresh for each run of autocannon */
  requests: autocannon.Request[] | (() => autocannon.Request[]);
  connections: number;
  warmupSeconds: number;
  durationSeconds: number;
  serverPid: number;
  load1: () => number;
  /** a second process whose CPU is measured over the run (the authorization server) */
  asPid?: number;
  /** awaited between the warm-up and the measured run */
  beforeMeasure?: () => Promise<void>;
}

interface Measured {
  result: autocannon.Result;
  /** latencies of the 2xx answers in ms, at full resolution (autocannon's own histogram rounds to whole ms) */
  latencies: Float64Array;
}

function cannon(o: LoadOptions, seconds: number): Promise<Measured> {
  let latencies = new Float64Array(1 << 16);
  let n = 0;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: o.base,
        connections: o.connections,
        duration: seconds,
        pipelining: 1,
        timeout: 30,
        requests: typeof o.requests === 'function' ? o.requests() : o.requests,
      },
      (err, result) => (err ? reject(err) : resolve({ result, latencies: latencies.subarray(0, n) })),
    );
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status < 200 || status > 299) return;
      if (n === latencies.length) {
        const bigger = new Float64Array(latencies.length * 2);
        bigger.set(latencies);
        latencies = bigger;
      }
      latencies[n++] = ms;
    });
  });
}

/** Nearest-rank percentile of sorted values. */
export const percentile = (sorted: Float64Array, p: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];

/** A warm-up (results dropped), then the measured run. */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  if (o.warmupSeconds > 0) await cannon(o, o.warmupSeconds);
  await o.beforeMeasure?.();
  const load1 = o.load1();
  const cpuBefore = cpuSecondsOf(o.serverPid);
  const asBefore = o.asPid === undefined ? 0 : cpuSecondsOf(o.asPid);
  const started = process.hrtime.bigint();
  const clientBefore = process.cpuUsage();
  const { result: r, latencies } = await cannon(o, o.durationSeconds);
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = cpuSecondsOf(o.serverPid) - cpuBefore;
  const asCpu = o.asPid === undefined ? undefined : cpuSecondsOf(o.asPid) - asBefore;
  const client = process.cpuUsage(clientBefore);
  latencies.sort();
  return {
    rps: r['2xx'] / r.duration,
    p50: percentile(latencies, 50),
    p90: percentile(latencies, 90),
    p99: percentile(latencies, 99),
    max: percentile(latencies, 100),
    total: r.requests.total,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    serverCores: cpu / elapsed,
    clientCores: (client.user + client.system) / 1e6 / elapsed,
    cpuPerRequestUs: (cpu / Math.max(1, r.requests.total)) * 1e6,
    load1,
    ...(asCpu === undefined ? {} : { asCores: asCpu / elapsed }),
    ok: r['2xx'],
  };
}
