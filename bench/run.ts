/**
 * `npm run bench`: load benchmarks of real tokenkeep server processes on loopback, against a bare node:http server
 * measured in the same run. See BENCHMARKS.md for the method and the last results.
 *
 *   npm run bench -- [--duration 10] [--warmup 3] [--connections 100] [--sizes 1000,100000,1000000]
 *                    [--backend sqlite,postgres] [--scenarios health,get,list,put,create-delete,token-valid,token-refresh]
 *                    [--out BENCHMARKS.md]
 *                    [--json results.json] [--log-level info] [--cpu-prof DIR] [--pg-url URL] [--from-json results.json]
 *                    [--server-dist DIR]
 *
 * PostgreSQL: a fresh database is created on TOKENKEEP_BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres)
 * for each size and dropped afterwards; if the server refuses postgres:// URLs, that backend is skipped with a note.
 * At the first size, with the put scenario, a bare node:http + pg server doing one UPDATE per request is measured on
 * that database too: the reference of the PostgreSQL PUT target.
 *
 * The token engine's scenarios (token-valid, token-refresh; at the first size only) run against an authorization server
 * in a child process of its own (bench/engine.ts); its bare refresh rate from a plain undici client is measured at the
 * start and at the end of the run, the reference of the token-refresh target.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem, type } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { StartError, snapshotBuild, installExitHandlers, isAlive, memoryOf, onExit, startBare, startBarePg, startServer, type Child } from './processes.js';
import { ENGINE_CONCURRENCY, SCENARIOS, runLoad, type ScenarioKey } from './scenarios.js';
import { ADMIN_PASSWORD, USER_PASSWORD, seedPostgres, seedSqlite, setupThroughApi, verifySeeded, type Dataset, type EngineDataset } from './seed.js';
import { countsBetween, primeExpiry, refreshReference, setupEngine, settledCounts, startBenchAs, type BenchAs, type Counts } from './engine.js';
import { bareRps, evaluateTargets, readPrevious, renderReport, resultsTable, type MemoryRow, type Report, type ResultRow } from './report.js';

const BACKENDS = ['sqlite', 'postgres'] as const;
type Backend = (typeof BACKENDS)[number];
/** Sizes above the first run only these scenarios: the question there is what the amount of data costs. */
const SCALE_SCENARIOS: ScenarioKey[] = ['get', 'put'];
/** Profiles holding grants of the bench AS: token-refresh uses ENGINE_CONCURRENCY of them, token-valid draws from all. */
const ENGINE_PROFILES = 100;

function usageError(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

function options() {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '3' },
      connections: { type: 'string', default: '100' },
      sizes: { type: 'string', default: '1000,100000,1000000' },
      backend: { type: 'string', default: 'sqlite,postgres' },
      scenarios: { type: 'string', default: SCENARIOS.map((s) => s.key).join(',') },
      out: { type: 'string', default: 'BENCHMARKS.md' },
      json: { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
      'cpu-prof': { type: 'string' },
      'pg-url': { type: 'string' },
      'from-json': { type: 'string' },
      'server-dist': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${readHeader()}\n`);
    process.exit(0);
  }
  const num = (name: string, text: string, min: number) => {
    const n = Number(text);
    if (!Number.isFinite(n) || n < min) usageError(`--${name} must be a number ≥ ${min}, got "${text}"`);
    return n;
  };
  const sizes = values.sizes
    .split(',')
    .map((s) => num('sizes', s.trim(), 1))
    .map(Math.floor)
    .sort((a, b) => a - b);
  const backends = values.backend.split(',').map((b) => b.trim());
  for (const b of backends) if (!BACKENDS.includes(b as Backend)) usageError(`--backend must be sqlite, postgres or both, got "${b}"`);
  const scenarios = values.scenarios.split(',').map((s) => s.trim());
  for (const s of scenarios) if (!SCENARIOS.some((x) => x.key === s)) usageError(`unknown scenario "${s}" (${SCENARIOS.map((x) => x.key).join(', ')})`);
  return {
    durationSeconds: num('duration', values.duration, 0.5),
    warmupSeconds: num('warmup', values.warmup, 0),
    connections: Math.floor(num('connections', values.connections, 1)),
    sizes,
    backends: backends as Backend[],
    scenarios: scenarios as ScenarioKey[],
    out: resolve(values.out),
    json: values.json === undefined ? undefined : resolve(values.json),
    logLevel: values['log-level'],
    cpuProfDir: values['cpu-prof'] === undefined ? undefined : resolve(values['cpu-prof']),
    serverDist: values['server-dist'] === undefined ? undefined : resolve(values['server-dist']),
    fromJson: values['from-json'] === undefined ? undefined : resolve(values['from-json']),
    pgUrl: values['pg-url'] ?? process.env.TOKENKEEP_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  };
}

function readHeader(): string {
  return (
    'usage: npm run bench -- [--duration S] [--warmup S] [--connections N] [--sizes 1000,100000,1000000]\n' +
    '  [--backend sqlite,postgres] [--scenarios health,get,list,put,create-delete,token-valid,token-refresh]\n' +
    '  [--out BENCHMARKS.md] [--json FILE]\n' +
    '  [--log-level info] [--cpu-prof DIR] [--pg-url URL] [--from-json FILE (re-render a saved run)]\n' +
    '  [--server-dist DIR (measure another build of dist/, e.g. an older commit)]'
  );
}

const log = (line: string) => process.stdout.write(`${line}\n`);
const uptime = () => {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim().replace(/\s+/g, ' ');
  } catch {
    return `load average: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(', ')}`;
  }
};

/** The commit the build came from, and whether src/ had uncommitted changes. */
function codeVersion(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).trim() !== '';
    return `commit ${commit}${dirty ? ' with uncommitted changes in src/' : ''}`;
  } catch {
    return 'an unknown commit (no git)';
  }
}

/** PostgreSQL: one fresh database per size, dropped at the end (also when the bench is interrupted). */
async function withPg<T>(adminUrl: string, fn: (client: import('pg').Client) => Promise<T>): Promise<T> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates a fresh database; first drops those an interrupted earlier bench left behind (their process is gone). */
async function createPgDatabase(adminUrl: string, name: string): Promise<string> {
  await withPg(adminUrl, async (c) => {
    const left = await c.query("SELECT datname FROM pg_database WHERE datname LIKE 'tokenkeep\\_bench\\_%'");
    for (const { datname } of left.rows as { datname: string }[]) {
      const pid = Number(/^tokenkeep_bench_(\d+)_/.exec(datname)?.[1]);
      if (datname === name || (pid && pid !== process.pid && !isAlive(pid))) await c.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
    }
    await c.query(`CREATE DATABASE ${name}`);
  });
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

const dropPgDatabase = (adminUrl: string, name: string) =>
  withPg(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).catch((err: Error) =>
    log(`  (could not drop database ${name}: ${err.message})`),
  );

async function main(): Promise<void> {
  const o = options();
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  if (o.fromJson) {
    // Re-render a saved run (--json) into --out: the report's text changed, or its Findings were edited.
    const saved = JSON.parse(readFileSync(o.fromJson, 'utf8')) as Report;
    saved.notes = [...saved.notes, `This report was rendered again from the saved results with \`${command}\`.`];
    writeFileSync(o.out, renderReport(saved, readPrevious(o.out)));
    log(`rendered ${o.fromJson} into ${o.out}`);
    return;
  }
  installExitHandlers();
  const work = mkdtempSync(join(tmpdir(), 'tokenkeep-bench-'));
  onExit(() => rmSync(work, { recursive: true, force: true }));
  if (o.cpuProfDir) mkdirSync(o.cpuProfDir, { recursive: true });

  await snapshotBuild(log, o.serverDist);
  const report: Report = {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    command,
    code: o.serverDist ? `the build in ${o.serverDist}` : codeVersion(),
    machine: { cpu: cpus()[0]?.model ?? 'unknown CPU', cores: cpus().length, memoryBytes: totalmem(), node: process.version, os: `${type()} ${release()}` },
    uptimeStart: uptime(),
    uptimeEnd: '',
    settings: {
      durationSeconds: o.durationSeconds,
      warmupSeconds: o.warmupSeconds,
      connections: o.connections,
      logLevel: o.logLevel,
      backends: o.backends,
      sizes: o.sizes,
    },
    rows: [],
    memory: [],
    notes: [],
  };
  log(`tokenkeep bench: ${o.connections} connections, ${o.warmupSeconds} s warm-up + ${o.durationSeconds} s per scenario; ${report.uptimeStart}`);
  const load = { durationSeconds: o.durationSeconds, warmupSeconds: o.warmupSeconds, connections: o.connections, load1: () => loadavg()[0] };
  const show = (r: ResultRow) =>
    log(
      `  ${`${r.title}`.padEnd(50)} ${r.result.rps.toFixed(0).padStart(7)} req/s  p50 ${r.result.p50.toFixed(2)} ms  p99 ${r.result.p99.toFixed(2)} ms` +
        `${r.result.non2xx || r.result.errors ? `  (${r.result.non2xx} non-2xx, ${r.result.errors} errors)` : ''}  server CPU ${r.result.serverCores.toFixed(2)} (${r.result.cpuPerRequestUs.toFixed(0)} µs/req), client CPU ${r.result.clientCores.toFixed(2)}`,
    );

  const measureBare = async (when: string) => {
    const bare = await startBare(join(work, `bare-${when}.log`));
    try {
      const result = await runLoad({ ...load, base: bare.base, serverPid: bare.pid, requests: [{ method: 'GET', path: '/' }] });
      const row: ResultRow = { backend: '–', key: 'bare', title: `bare node:http, small JSON (${when})`, result };
      report.rows.push(row);
      show(row);
    } finally {
      await bare.stop();
    }
  };
  await measureBare('start');

  // The token engine's authorization server, for the whole run, and its reference rate.
  const engineWanted = o.scenarios.some((k) => SCENARIOS.find((s) => s.key === k)!.engine);
  let as: BenchAs | undefined;
  let chains: string[] = [];
  const measureAsReference = async (when: string) => {
    const result = await refreshReference(as!, chains, load);
    const row: ResultRow = {
      backend: '–',
      key: 'as-ref',
      title: `AS reference: oidc-provider refresh from plain undici, ${ENGINE_CONCURRENCY} concurrent (${when})`,
      result,
    };
    report.rows.push(row);
    show(row);
  };
  if (engineWanted) {
    const started = Date.now();
    as = await startBenchAs(join(work, 'as.log'));
    chains = (await as.obtain(ENGINE_CONCURRENCY)).map((g) => g.refreshToken);
    log(`  authorization server ${as.tokenURI} up, ${ENGINE_CONCURRENCY} grants for the reference obtained in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await measureAsReference('start');
  }

  /**
   * The PostgreSQL reference of the durable PUT: one bare UPDATE per request on the same database and the same load,
   * after the tokenkeep server has stopped (so the two do not share the machine or the database's connections).
   */
  const measureBarePg = async (db: string, size: number, dir: string) => {
    const ref = await startBarePg(db, join(dir, 'bare-pg.log'));
    try {
      const result = await runLoad({ ...load, base: ref.base, serverPid: ref.pid, requests: [{ method: 'PUT', path: '/' }] });
      const row: ResultRow = { backend: 'postgres', size, key: 'bare-pg', title: 'bare pg UPDATE of one row (node:http + pg pool of 10)', result };
      report.rows.push(row);
      show(row);
    } catch (err) {
      process.stderr.write(`bare pg output (last lines):\n${ref.output().split('\n').slice(-20).join('\n')}\n`);
      throw err;
    } finally {
      const exit = await ref.stop();
      if (exit !== '0') log(`  (bare pg server exited with ${exit})`);
    }
  };

  for (const backend of o.backends) {
    for (const size of o.sizes) {
      const keys = size === o.sizes[0] ? o.scenarios : o.scenarios.filter((k) => SCALE_SCENARIOS.includes(k));
      if (keys.length === 0) continue;
      log(`${backend}, ${size.toLocaleString('en-US')} profiles`);
      const dir = mkdtempSync(join(work, `${backend}-${size}-`));
      const masterKey = randomBytes(32);
      const pgName = `tokenkeep_bench_${process.pid}_${size}`;
      let db: string;
      if (backend === 'sqlite') db = join(dir, 'tk.db');
      else {
        try {
          db = await createPgDatabase(o.pgUrl, pgName);
        } catch (err) {
          report.notes.push(`PostgreSQL skipped: cannot create a database on ${redactUrl(o.pgUrl)}: ${(err as Error).message}`);
          log(`  skipped: ${report.notes.at(-1)}`);
          break;
        }
      }
      const engineKeys = keys.filter((k) => SCENARIOS.find((s) => s.key === k)!.engine);
      const settings = {
        db,
        masterKey: masterKey.toString('base64'),
        adminPassword: ADMIN_PASSWORD,
        userPassword: USER_PASSWORD,
        // the bench AS is http:// on 127.0.0.1 (api.md §8.5)
        allowLoopbackHttpUris: engineKeys.length > 0,
      };
      try {
        // 1. First start: creates the schema, the key ring and the default users; the app and the list user via the API.
        let setup: Child;
        try {
          setup = await startServer({ ...settings, logLevel: 'warn', logFile: join(dir, 'setup.log') });
        } catch (err) {
          if (backend === 'postgres' && err instanceof StartError) {
            const reason = err.output.trim().split('\n').filter(Boolean).at(-1) ?? err.message;
            report.notes.push(`PostgreSQL skipped: the server refuses \`TOKENKEEP_DB=postgres://…\` (exit ${err.exitCode}: "${reason}").`);
            log(`  skipped: ${report.notes.at(-1)}`);
            break;
          }
          throw err;
        }
        let appId: number;
        let engine: EngineDataset | undefined;
        try {
          appId = await setupThroughApi(setup.base);
          if (engineKeys.length > 0) {
            const started = Date.now();
            engine = await setupEngine(setup.base, as!, ENGINE_PROFILES);
            log(`  ${ENGINE_PROFILES} engine profiles with grants of the AS created in ${((Date.now() - started) / 1000).toFixed(1)} s`);
          }
        } finally {
          await setup.stop();
        }

        // 2. Seed the profiles straight into the database.
        const seedStart = process.hrtime.bigint();
        let lastShown = 0;
        const progress = (done: number, total: number) => {
          if (done === total || Date.now() - lastShown > 5000) {
            lastShown = Date.now();
            log(`  seeded ${done.toLocaleString('en-US')} / ${total.toLocaleString('en-US')} profiles`);
          }
        };
        let dataset: Dataset;
        try {
          dataset = backend === 'sqlite' ? await seedSqlite(db, masterKey, appId, size, progress) : await seedPostgres(db, masterKey, appId, size, progress);
        } catch (err) {
          if (backend !== 'postgres') throw err;
          report.notes.push(
            `PostgreSQL at ${size} profiles skipped: seeding failed (${(err as Error).message}); bench/seed.ts assumes the SQLite table layout.`,
          );
          log(`  skipped: ${report.notes.at(-1)}`);
          continue;
        }
        if (engine) dataset = { ...dataset, engine };
        const seedSeconds = Number(process.hrtime.bigint() - seedStart) / 1e9;
        log(`  seeding took ${seedSeconds.toFixed(1)} s`);
        const dbBytes = backend === 'sqlite' ? statSync(db).size : undefined;

        // 3. The measured server.
        const server = await startServer({
          ...settings,
          logLevel: o.logLevel,
          logFile: join(dir, 'server.log'),
          cpuProfDir: o.cpuProfDir,
          cpuProfName: `${backend}-${size}-${keys.join('+')}.cpuprofile`,
        });
        try {
          const atStart = memoryOf(server.pid);
          await verifySeeded(server.base, dataset);
          const rssIdle = memoryOf(server.pid).rss;
          for (const key of keys) {
            const scenario = SCENARIOS.find((s) => s.key === key)!;
            const run = { ...load, base: server.base, serverPid: server.pid, requests: () => scenario.requests(dataset) };
            let row: ResultRow;
            if (!scenario.engine) {
              row = { backend, size, key, title: scenario.title, result: await runLoad(run) };
            } else {
              // The AS's token-endpoint calls and tokenkeep's refreshes, counted while both are idle: before the
              // warm-up, between it and the measured run, and after the requests left in flight have finished.
              if (scenario.engine === 'valid') await primeExpiry(server.base, dataset.engine!.profileIds);
              const atStart = await settledCounts(server.base, as!);
              let measuredFrom: Counts | undefined;
              const result = await runLoad({
                ...run,
                connections: scenario.connections ?? o.connections,
                asPid: as!.pid,
                beforeMeasure: async () => {
                  measuredFrom = await settledCounts(server.base, as!);
                },
              });
              const engineCounts = countsBetween(measuredFrom!, await settledCounts(server.base, as!), atStart);
              row = { backend, size, key, title: scenario.title, result, engine: engineCounts };
            }
            report.rows.push(row);
            show(row);
            if (row.engine) {
              const e = row.engine;
              log(
                `    AS: ${e.asRefreshCalls} refresh calls (${e.asCalls} token-endpoint calls, ${e.asRefused} refused; ${e.asCallsWithWarmup} with the warm-up); ` +
                  `tokenkeep: ${e.refreshes} refreshes (${e.refreshFailures} failed), ${e.tokenOk} answers 200 (${e.tokenOther} other), ` +
                  `mean ${e.tokenMs?.toFixed(1)} ms per answer, ${e.refreshMs?.toFixed(1) ?? '–'} ms holding the lease; AS CPU ${row.result.asCores?.toFixed(2)}`,
              );
            }
            server.truncateLog();
          }
          const mem = memoryOf(server.pid);
          const m: MemoryRow = {
            backend,
            size,
            rssStart: atStart.rss,
            peakAtStart: atStart.hwm,
            rssIdle,
            rssAfterLoad: mem.rss,
            peak: mem.hwm,
            seedSeconds,
            dbBytes,
          };
          report.memory.push(m);
          log(`  RSS ${(rssIdle / 2 ** 20).toFixed(0)} MB before load, ${(mem.rss / 2 ** 20).toFixed(0)} MB after, peak ${(mem.hwm / 2 ** 20).toFixed(0)} MB`);
        } catch (err) {
          process.stderr.write(`server output (last lines):\n${server.output().split('\n').slice(-20).join('\n')}\n`);
          throw err;
        } finally {
          const exit = await server.stop();
          if (exit !== '0') log(`  (server exited with ${exit})`);
        }
        // The reference for PostgreSQL's PUT target, on this database while it exists: at the first size only, where it is judged.
        if (backend === 'postgres' && size === o.sizes[0] && keys.includes('put')) await measureBarePg(db, size, dir);
      } finally {
        if (backend === 'postgres') await dropPgDatabase(o.pgUrl, pgName);
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }

  if (as) {
    await measureAsReference('end');
    const exit = await as.stop();
    if (exit !== '0') log(`  (authorization server exited with ${exit})`);
  }
  await measureBare('end');
  report.uptimeEnd = uptime();
  const previous = readPrevious(o.out);
  writeFileSync(o.out, renderReport(report, previous));
  if (o.json) writeFileSync(o.json, `${JSON.stringify({ ...report, bareRps: bareRps(report.rows), targets: evaluateTargets(report) }, null, 2)}\n`);
  log(`\n${resultsTable(report)}\n`);
  for (const t of evaluateTargets(report)) log(`${t.met === undefined ? 'n/a   ' : t.met ? 'met   ' : 'MISSED'} ${t.name}: ${t.measured}`);
  for (const n of report.notes) log(`note: ${n}`);
  log(`\nwrote ${o.out}${o.json ? ` and ${o.json}` : ''}; ${report.uptimeEnd}`);
}

const redactUrl = (url: string) => url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');

main().then(
  () => process.exit(0),
  (err: unknown) => {
    if (err instanceof StartError) process.stderr.write(`output of the process:\n${err.output.split('\n').slice(-30).join('\n')}\n`);
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
