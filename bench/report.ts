/**
 * BENCHMARKS.md: the machine, the command, the results table, memory, the targets and whether each is met. The
 * hand-written "## Findings" section of an existing report is kept across re-runs (everything from that heading
 * to the end of the file), so re-measuring does not erase the analysis.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { EngineCounts } from './engine.js';
import { AS_ACCESS_TTL, ENGINE_CONCURRENCY, type LoadResult, type ScenarioKey } from './scenarios.js';

export interface ResultRow {
  backend: string;
  /** profiles stored; undefined for the bare server (for 'bare-pg', the size of the database it ran on) */
  size?: number;
  /**
   * 'bare': the bare node:http server; 'bare-pg': the bare node:http + pg server doing one UPDATE per request;
   * 'as-ref': the bench authorization server's refresh rate from a plain undici client (its "server CPU" is the AS's)
   */
  key: ScenarioKey | 'bare' | 'bare-pg' | 'as-ref';
  title: string;
  result: LoadResult;
  /** the engine scenarios: what the AS and tokenkeep counted over the measured run */
  engine?: EngineCounts;
}

export interface MemoryRow {
  backend: string;
  size: number;
  /** right after the listening line, before any request */
  rssStart: number;
  /** VmHWM at that moment: start-up's own peak (migrations, the scrypt of the dummy hash) */
  peakAtStart: number;
  /** after the first requests (one scrypt verification per user, then cached), before load */
  rssIdle: number;
  rssAfterLoad: number;
  peak: number;
  seedSeconds: number;
  dbBytes?: number;
}

export interface Machine {
  cpu: string;
  cores: number;
  memoryBytes: number;
  node: string;
  os: string;
}

export interface Report {
  date: string;
  command: string;
  /** the commit measured, and whether the working tree differed from it */
  code: string;
  machine: Machine;
  uptimeStart: string;
  uptimeEnd: string;
  settings: { durationSeconds: number; warmupSeconds: number; connections: number; logLevel: string; backends: string[]; sizes: number[] };
  rows: ResultRow[];
  memory: MemoryRow[];
  notes: string[];
}

export const FINDINGS_HEADING = '## Findings';

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '–');
const ms = (n: number) => fmt(n, n < 10 ? 2 : 1);
const mb = (bytes: number) => `${fmt(bytes / 2 ** 20)} MB`;
const sizeText = (n: number | undefined) => (n === undefined ? '–' : n >= 1_000_000 ? `${n / 1_000_000}M` : n >= 1000 ? `${n / 1000}k` : String(n));

/** Mean req/s of the bare server runs: the reference of every ratio. */
export function bareRps(rows: ResultRow[]): number {
  const bare = rows.filter((r) => r.key === 'bare');
  return bare.reduce((s, r) => s + r.result.rps, 0) / bare.length;
}

/** Mean server CPU per request of the bare runs: the reference of the CPU-based ratios. */
export function bareCpuPerRequest(rows: ResultRow[]): number {
  const bare = rows.filter((r) => r.key === 'bare');
  return bare.reduce((s, r) => s + r.result.cpuPerRequestUs, 0) / bare.length;
}

/** Mean refreshes/s of the AS reference runs: the reference of the token-refresh target. */
export function asReferenceRps(rows: ResultRow[]): number {
  const ref = rows.filter((r) => r.key === 'as-ref');
  return ref.reduce((s, r) => s + r.result.rps, 0) / ref.length;
}

export interface Target {
  name: string;
  measured: string;
  met: boolean | undefined;
}

export function evaluateTargets(report: Report): Target[] {
  const bare = bareRps(report.rows);
  const bareCpu = bareCpuPerRequest(report.rows);
  const sqlite = report.rows.filter((r) => r.backend === 'sqlite');
  const sizes = [...new Set(sqlite.map((r) => r.size!))].sort((a, b) => a - b);
  const base = sizes.includes(1000) ? 1000 : sizes[0];
  const row = (key: ScenarioKey, size = base) => sqlite.find((r) => r.key === key && r.size === size);
  const ratio = (key: ScenarioKey, min: number, name: string): Target => {
    const r = row(key);
    if (!r) return { name, measured: 'not measured', met: undefined };
    const x = r.result.rps / bare;
    const cpu = bareCpu / r.result.cpuPerRequestUs;
    return {
      name,
      measured: `${x.toFixed(2)} × (${fmt(r.result.rps)} req/s at ${sizeText(base)} profiles); by server CPU per request ${cpu.toFixed(2)} × (${fmt(r.result.cpuPerRequestUs)} µs vs ${fmt(bareCpu)} µs)`,
      met: x >= min,
    };
  };
  const targets = [
    ratio('get', 0.4, 'authenticated GET profile by id ≥ 0.40 × bare'),
    ratio('put', 0.25, 'durable PUT ≥ 0.25 × bare'),
    ratio('list', 0.1, 'GET list of 100 ≥ 0.10 × bare'),
  ];
  // A refresh waits for the AS: token-refresh has a latency target of its own (engineTargets).
  const timed = sqlite.filter((r) => r.key !== 'token-refresh');
  const worst = timed.reduce<ResultRow | undefined>((w, r) => (!w || r.result.p99 > w.result.p99 ? r : w), undefined);
  const over = timed.filter((r) => r.result.p99 > 50).map((r) => `${r.key} at ${sizeText(r.size)} ${ms(r.result.p99)} ms`);
  targets.push(
    worst
      ? {
          name: 'p99 of every scenario ≤ 50 ms',
          measured: over.length ? `over 50 ms: ${over.join(', ')}` : `worst ${ms(worst.result.p99)} ms (${worst.key} at ${sizeText(worst.size)})`,
          met: worst.result.p99 <= 50,
        }
      : { name: 'p99 of every scenario ≤ 50 ms', measured: 'not measured', met: undefined },
  );
  for (const key of ['get', 'put'] as const) {
    const name = `${key.toUpperCase()} latency at 1M vs 1k ≤ 1.5 × (p50 and p99)`;
    const small = row(key, 1000);
    const large = row(key, 1_000_000);
    if (!small || !large) {
      targets.push({ name, measured: 'not measured (needs sizes 1000 and 1000000)', met: undefined });
      continue;
    }
    const p50 = large.result.p50 / small.result.p50;
    const p99 = large.result.p99 / small.result.p99;
    targets.push({
      name,
      measured: `p50 ${p50.toFixed(2)} × (${ms(small.result.p50)} → ${ms(large.result.p50)} ms), p99 ${p99.toFixed(2)} × (${ms(small.result.p99)} → ${ms(large.result.p99)} ms)`,
      met: p50 <= 1.5 && p99 <= 1.5,
    });
  }
  const m = report.memory.find((r) => r.backend === 'sqlite' && r.size === 1_000_000);
  targets.push(
    m
      ? { name: 'RSS at 1M profiles after load ≤ 250 MB', measured: `${mb(m.rssAfterLoad)} (peak ${mb(m.peak)})`, met: m.rssAfterLoad <= 250 * 2 ** 20 }
      : { name: 'RSS at 1M profiles after load ≤ 250 MB', measured: 'not measured', met: undefined },
  );
  targets.push(pgPutTarget(report.rows));
  targets.push(...engineTargets(report));
  return targets;
}

/** The engine scenario of a backend, and GET by id at the same size (token-valid's comparison). */
function engineRows(rows: ResultRow[], backend: string) {
  const refresh = rows.find((r) => r.backend === backend && r.key === 'token-refresh');
  const valid = rows.find((r) => r.backend === backend && r.key === 'token-valid');
  const get = valid && rows.find((r) => r.backend === backend && r.key === 'get' && r.size === valid.size);
  return { refresh, valid, get };
}

/** Issue 13's targets, on each backend that ran the engine scenarios. */
export function engineTargets(report: Report): Target[] {
  const ref = asReferenceRps(report.rows);
  const targets: Target[] = [];
  for (const backend of report.settings.backends) {
    const { refresh, valid, get } = engineRows(report.rows, backend);
    if (refresh) {
      const x = refresh.result.rps / ref;
      targets.push({
        name: `${backend}: token-refresh ≥ 0.50 × the AS reference (refreshes/s, same run)`,
        measured: Number.isFinite(ref)
          ? `${x.toFixed(2)} × (${fmt(refresh.result.rps)} vs ${fmt(ref)} refreshes/s at ${ENGINE_CONCURRENCY} concurrent)`
          : 'no reference measured',
        met: Number.isFinite(ref) ? x >= 0.5 : undefined,
      });
      targets.push({
        name: `${backend}: token-refresh p99 ≤ 250 ms`,
        measured: `${ms(refresh.result.p99)} ms (p50 ${ms(refresh.result.p50)} ms)`,
        met: refresh.result.p99 <= 250,
      });
      const e = refresh.engine;
      targets.push(
        e
          ? {
              name: `${backend}: token-refresh makes exactly one AS call per refresh`,
              measured:
                `${fmt(e.asRefreshCalls)} AS refresh calls (${fmt(e.asCalls)} token-endpoint calls, ${e.asRefused} refused) for ${fmt(e.refreshes)} tokenkeep refreshes ` +
                `(${e.refreshFailures} failed); ${fmt(e.tokenOk)} answers 200 (${e.tokenOther} other)`,
              met:
                e.refreshes > 0 &&
                e.asRefreshCalls === e.refreshes &&
                e.asCalls === e.asRefreshCalls &&
                e.asRefused === 0 &&
                e.refreshFailures === 0 &&
                e.tokenOther === 0,
            }
          : { name: `${backend}: token-refresh makes exactly one AS call per refresh`, measured: 'not counted', met: undefined },
      );
    }
    if (valid) {
      const name = `${backend}: token-valid ≥ 0.80 × GET profile (by server CPU µs/req, same run)`;
      targets.push(
        get
          ? {
              name,
              measured:
                `${(get.result.cpuPerRequestUs / valid.result.cpuPerRequestUs).toFixed(2)} × (${fmt(valid.result.cpuPerRequestUs)} vs ${fmt(get.result.cpuPerRequestUs)} µs/req); ` +
                `by req/s ${(valid.result.rps / get.result.rps).toFixed(2)} × (${fmt(valid.result.rps)} vs ${fmt(get.result.rps)})`,
              met: get.result.cpuPerRequestUs / valid.result.cpuPerRequestUs >= 0.8,
            }
          : { name, measured: 'GET not measured in this run', met: undefined },
      );
      const e = valid.engine;
      targets.push({
        name: `${backend}: token-valid makes no AS call`,
        measured: e
          ? `${e.asCallsWithWarmup} token-endpoint calls during the scenario (warm-up included); ${fmt(e.tokenOk)} answers 200 (${e.tokenOther} other)`
          : 'not counted',
        met: e ? e.asCallsWithWarmup === 0 && e.tokenOther === 0 : undefined,
      });
    }
  }
  return targets;
}

/** The engine's section: the reference, each engine scenario with its ratio, latency, CPU and what both sides counted. */
function engineSection(report: Report): string {
  const refs = report.rows.filter((r) => r.key === 'as-ref');
  const backends = report.settings.backends.filter((b) => {
    const { refresh, valid } = engineRows(report.rows, b);
    return refresh || valid;
  });
  if (refs.length === 0 && backends.length === 0) return '';
  const ref = asReferenceRps(report.rows);
  const lines = [
    '| backend | scenario | req/s | ratio | p50 ms | p99 ms | server CPU µs/req | AS CPU | AS token calls (refresh) | tokenkeep refreshes | 200 answers: client / server (other) | server ms: answer / lease held |',
    '|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const r of refs) {
    lines.push(
      `| – | ${r.title} | ${fmt(r.result.rps)} | reference | ${ms(r.result.p50)} | ${ms(r.result.p99)} | – | ${r.result.serverCores.toFixed(2)} (${fmt(r.result.cpuPerRequestUs)} µs/refresh) | – | – | – | – |`,
    );
  }
  for (const b of backends) {
    const { refresh, valid, get } = engineRows(report.rows, b);
    for (const r of [valid, refresh]) {
      if (!r) continue;
      const x = r.result;
      const e = r.engine;
      const ratio =
        r === refresh
          ? `${(x.rps / ref).toFixed(2)} × reference`
          : get
            ? `${(get.result.cpuPerRequestUs / x.cpuPerRequestUs).toFixed(2)} × GET by CPU (${(x.rps / get.result.rps).toFixed(2)} × by req/s)`
            : '–';
      lines.push(
        `| ${b} | ${r.key} | ${fmt(x.rps)} | ${ratio} | ${ms(x.p50)} | ${ms(x.p99)} | ${fmt(x.cpuPerRequestUs)} | ${x.asCores === undefined ? '–' : x.asCores.toFixed(2)} | ` +
          `${e ? `${fmt(e.asCalls)} (${fmt(e.asRefreshCalls)})` : '–'} | ${e ? fmt(e.refreshes) : '–'} | ${e ? `${x.ok === undefined ? '–' : fmt(x.ok)} / ${fmt(e.tokenOk)} (${e.tokenOther})` : '–'} | ` +
          `${e?.tokenMs === undefined ? '–' : ms(e.tokenMs)} / ${e?.refreshMs === undefined ? '–' : ms(e.refreshMs)} |`,
      );
    }
  }
  return `
## Token engine

The authorization server (AS) is oidc-provider 9.13.3 as the engine tests run it (\`test/engine/as-support.ts\`: rotating
refresh tokens, \`openid offline_access\`, the Map adapter, access tokens living ${AS_ACCESS_TTL} s) in a child process of its own on
127.0.0.1 (\`bench/as-process.ts\`); every grant was obtained through its login and consent screens. **Reference:** a plain undici
client in the bench process refreshing ${ENGINE_CONCURRENCY} grants at once, each with the refresh token its previous answer rotated to:
${refs.map((r) => `${fmt(r.result.rps)} refreshes/s (${r.title.replace(/^.*\((\w+)\)$/, '$1')})`).join(', ')}; their mean, ${fmt(ref)} refreshes/s, is the reference.
**token-refresh** asks for a token valid ${AS_ACCESS_TTL * 6} s, longer than the AS's tokens live, so every request refreshes; ${ENGINE_CONCURRENCY}
connections, no two requests in flight on the same profile. **token-valid** asks (default \`minValidity\`, 60 s) for the token of
a profile drawn at random among profiles refreshed once just before (tokens stored by POST or PUT have no known expiry); it is compared
with GET profile by id on the same server by server CPU per request, and with req/s beside it.
Counts are over the measured run, read when both sides were idle: the AS's own count of its token endpoint's answers, tokenkeep's
\`/api/metrics\` (\`tokenkeep_refreshes_total\` by outcome, \`tokenkeep_http_requests_total\` of the token route) and the 2xx answers
autocannon received within the run. When autocannon stops, the requests in flight (one per connection) still finish at the server:
a refresh among them is counted by the AS and by tokenkeep, but its answer goes to a closed connection, which tokenkeep does not count
as an answer. So in token-refresh, refreshes = AS refresh calls = client answers + up to ${ENGINE_CONCURRENCY}. "server ms" are tokenkeep's own
means over the measured run (\`/api/metrics\` histograms): from a request's arrival to its answer, and of that the time a refresh held
the lease (the reads it needs, the AS call, the commit of the new tokens); the rest is the reads and the claim's commit before it.

${lines.join('\n')}
`;
}

/**
 * PostgreSQL's PUT against its own reference rather than the bare server: one bare UPDATE of one row per request
 * (bench/processes.ts BARE_PG_SERVER), on the same database at the same size, in the same run.
 */
function pgPutTarget(rows: ResultRow[]): Target {
  const name = 'PostgreSQL durable PUT ≥ bare pg UPDATE (req/s, same run)';
  const ref = rows.find((r) => r.backend === 'postgres' && r.key === 'bare-pg');
  const put = ref && rows.find((r) => r.backend === 'postgres' && r.key === 'put' && r.size === ref.size);
  if (!ref || !put) return { name, measured: 'not measured', met: undefined };
  const x = put.result.rps / ref.result.rps;
  return {
    name,
    measured: `${fmt(put.result.rps)} req/s vs ${fmt(ref.result.rps)} req/s (ratio ${x.toFixed(2)} ×) at ${sizeText(ref.size)} profiles`,
    met: put.result.rps >= ref.result.rps,
  };
}

/** The results table: one row per measurement, the bare server first and last. */
export function resultsTable(report: Report): string {
  const bare = bareRps(report.rows);
  const lines = [
    '| backend | profiles | scenario | req/s | p50 ms | p99 ms | max ms | × bare | non-2xx | errors | server CPU | CPU µs/req | client CPU | load1 |',
    '|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const r of report.rows) {
    const x = r.result;
    lines.push(
      `| ${r.backend} | ${sizeText(r.size)} | ${r.title} | ${fmt(x.rps)} | ${ms(x.p50)} | ${ms(x.p99)} | ${ms(x.max)} | ${(x.rps / bare).toFixed(2)} | ${x.non2xx} | ${x.errors} | ${x.serverCores.toFixed(2)} | ${fmt(x.cpuPerRequestUs)} | ${x.clientCores.toFixed(2)} | ${x.load1.toFixed(2)} |`,
    );
  }
  return lines.join('\n');
}

export function renderReport(report: Report, previous: string | undefined): string {
  const s = report.settings;
  const targets = evaluateTargets(report);
  const mark = (met: boolean | undefined) => (met === undefined ? 'not measured' : met ? '**met**' : '**missed**');
  const memory = report.memory.map(
    (m) =>
      `| ${m.backend} | ${sizeText(m.size)} | ${mb(m.rssStart)} (peak ${mb(m.peakAtStart)}) | ${mb(m.rssIdle)} | ${mb(m.rssAfterLoad)} | ${mb(m.peak)} | ${m.dbBytes === undefined ? '–' : mb(m.dbBytes)} | ${m.seedSeconds.toFixed(1)} s |`,
  );
  const findingsAt = previous?.indexOf(`\n${FINDINGS_HEADING}`) ?? -1;
  const findings =
    previous && findingsAt >= 0
      ? previous.slice(findingsAt + 1).trimEnd()
      : `${FINDINGS_HEADING}\n\n(No analysis written yet. Profile with \`npm run bench -- --cpu-prof <dir> …\` and summarise with \`node --import tsx bench/cpuprofile-top.ts <file>\`.)`;
  return `# tokenkeep benchmarks

Generated by \`${report.command}\` on ${report.date}, measuring ${report.code}.

- **Machine:** ${report.machine.cpu}, ${report.machine.cores} cores, ${mb(report.machine.memoryBytes)} memory, ${report.machine.os}, Node ${report.machine.node}.
- **Load on the machine** (\`uptime\`; other people's tests share it): at the start \`${report.uptimeStart}\`; at the end \`${report.uptimeEnd}\`. The
  \`load1\` column is the 1-minute load average when each run started.
- **Method:** every server is a real child process on 127.0.0.1 (\`node dist/cli.js serve\`, log level \`${s.logLevel}\`, logs to a file),
  driven by autocannon in the bench process with ${s.connections} connections, one request in flight per connection,
  ${s.warmupSeconds} s of warm-up and then ${s.durationSeconds} s measured per scenario. Authenticated requests send a precomputed
  \`Authorization: Basic …\` header; GET and PUT pick a random profile of the whole seeded pool for every request, and every PUT sends
  new tokens (sealed, written with \`synchronous=FULL\`). \`× bare\` is the ratio to a bare \`node:http\` server answering
  \`{"status":"active"}\` in its own child process, measured in the same run (before and after; their mean is the reference).
  For PostgreSQL the PUT has a second reference, "bare pg UPDATE of one row": a bare \`node:http\` server that runs one
  autocommit \`UPDATE … WHERE id = $2\` of a random row of a 1,000-row table per request through a \`pg\` pool of 10 (tokenkeep's
  pool size), with \`synchronous_commit\` on, on the same database under the same load after the tokenkeep server stopped.
  req/s counts 2xx answers only; "server CPU" is the server process's CPU time over the run's wall time (1.00 = one core,
  the most one Node process uses), and "CPU µs/req" that CPU time per answer. A server CPU well below 1.00 means the server
  was not the bottleneck: it waited (fsync, PostgreSQL) or did not get the core (other processes, the load generator).
  "client CPU" is the bench process itself (autocannon): near 1.00 it, not the server, limits the rate.

## Results

${resultsTable(report)}

## Memory and data

Server resident memory (\`VmRSS\` from \`/proc/<pid>/status\`): right after the listening line; after the first verified login of
each user (before load); after the load at that size. Peaks are \`VmHWM\` at those moments. Seeding writes the profiles straight into
the database file (one transaction per 20 000 rows, tokens sealed by worker threads).

| backend | profiles | RSS at start | RSS before load | RSS after load | peak RSS | database file | seeding |
|---|--:|--:|--:|--:|--:|--:|--:|
${memory.join('\n')}

## Targets (SQLite, the PostgreSQL PUT, and the token engine on each backend; ${s.connections} connections, ratios within this run)

A target is judged on req/s against the bare server. The CPU-based ratio beside it (bare server CPU per request over the
scenario's) does not depend on how much CPU other processes or the load generator left the server, so it is the steadier
of the two on a shared machine — steadier, not steady: on this 2-core machine it still moved by 20–30 % between runs of
the same build at different loads.

| target | measured | |
|---|---|---|
${targets.map((t) => `| ${t.name} | ${t.measured} | ${mark(t.met)} |`).join('\n')}
${s.connections !== 100 ? `\nThe targets are defined at 100 connections; this run used ${s.connections}.\n` : ''}${engineSection(report)}${report.notes.length ? `\n## Notes\n\n${report.notes.map((n) => `- ${n}`).join('\n')}\n` : ''}
${findings}
`;
}

export function readPrevious(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}
