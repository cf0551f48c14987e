/**
 * What the load generator sends. Every authenticated request carries a precomputed `Authorization: Basic …` header,
 * as a real client does; ids are drawn at random from the whole pool of seeded profiles (not one hot row), and
 * every PUT carries new token values.
 */
import autocannon from 'autocannon';
import { cpuSecondsOf } from './processes.js';
import { AUTH, accessToken, profileName, refreshToken, type Dataset } from './seed.js';

export type ScenarioKey = 'health' | 'get' | 'list' | 'put' | 'create-delete';

export interface Scenario {
  key: ScenarioKey;
  title: string;
  requests(d: Dataset): autocannon.Request[];
}

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
}

export interface LoadOptions {
  base: string;
  requests: autocannon.Request[];
  connections: number;
  warmupSeconds: number;
  durationSeconds: number;
  serverPid: number;
  load1: () => number;
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
        requests: o.requests,
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
const percentile = (sorted: Float64Array, p: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];

/** A warm-up (results dropped), then the measured run. */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  if (o.warmupSeconds > 0) await cannon(o, o.warmupSeconds);
  const load1 = o.load1();
  const cpuBefore = cpuSecondsOf(o.serverPid);
  const started = process.hrtime.bigint();
  const clientBefore = process.cpuUsage();
  const { result: r, latencies } = await cannon(o, o.durationSeconds);
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = cpuSecondsOf(o.serverPid) - cpuBefore;
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
  };
}
