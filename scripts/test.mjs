#!/usr/bin/env node
// Runs every test file under test/ (and its folders, which mirror src/: test/http, test/storage, …; test/system holds
// the real-process tests) with Node's test runner through tsx. Node 20 neither finds .ts files in a folder nor
// expands a quoted glob, so the files are listed here; a run that finds none fails instead of passing.
//
// `node scripts/test.mjs` (npm test) runs two passes: every test file on SQLite, then — when TOKENKEEP_TEST_PG_URL
// names a PostgreSQL server — the API test files again with TOKENKEEP_TEST_BACKEND=postgres, each harness on a fresh
// database of that server. An unreachable server fails the run; without the variable the second pass is skipped and
// the run says so at the end. `node scripts/test.mjs test/http/etag.test.ts …` runs the named files once, in the
// environment as it is (set TOKENKEEP_TEST_BACKEND=postgres and TOKENKEEP_TEST_PG_URL for PostgreSQL).
//
// The browser tests (every file under test/console/) drive Chromium (TOKENKEEP_CHROMIUM, else Debian's
// /usr/bin/chromium) and run in the SQLite pass whenever it is there. Without it they are left out and the run says
// "browser tests SKIPPED" at its start and its end — except under CI=true, where a missing browser fails the run.
import { accessSync, constants, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import pg from 'pg';

const find = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? find(path) : name.endsWith('.test.ts') ? [path] : [];
  });

const run = (files, env) => spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], { stdio: 'inherit', env }).status ?? 1;

// scripts/node24.sh says which Node it installed: a run that fell back to another node fails instead of passing.
const wantedNode = process.env.TOKENKEEP_TEST_NODE_VERSION;
if (wantedNode && process.version !== wantedNode) {
  console.error(`tests run under Node ${process.version}, but TOKENKEEP_TEST_NODE_VERSION asks for ${wantedNode}`);
  process.exit(1);
}

const only = process.argv.slice(2);
if (only.length > 0) process.exit(run(only, process.env));

const allFiles = find('test').sort();
if (allFiles.length === 0) {
  console.error('no test files found under test/');
  process.exit(1);
}

const chromium = process.env.TOKENKEEP_CHROMIUM || '/usr/bin/chromium';
const chromiumFound = (() => {
  try {
    accessSync(chromium, constants.X_OK);
    return true;
  } catch {
    return false;
  }
})();
const isBrowserTest = (file) => dirname(file) === join('test', 'console');
const browserFiles = allFiles.filter(isBrowserTest);
const browserNote =
  browserFiles.length === 0 || chromiumFound
    ? undefined
    : `browser tests SKIPPED: Chromium not found at ${chromium} (install Debian's chromium package or set TOKENKEEP_CHROMIUM); not run: ${browserFiles.join(', ')}`;
if (browserNote && process.env.CI === 'true') {
  console.error(`browser tests FAILED: Chromium not found at ${chromium}, and CI=true runs them or fails (.ci/run installs Debian's chromium)`);
  process.exit(1);
}
if (browserNote) console.log(browserNote);
const files = browserNote ? allFiles.filter((f) => !isBrowserTest(f)) : allFiles;

/** Files the PostgreSQL pass leaves out, and why; by file name, whatever folder of test/ holds the file. */
const SQLITE_ONLY = {
  'config.test.ts': 'no database involved',
  'blackbox.test.ts': 'real server processes on a SQLite file',
  'rotation.test.ts': 'real CLI processes and the raw SQLite file',
  'cli.test.ts': 'real CLI processes; runs its PostgreSQL variant itself in the first pass',
  'client-errors.test.ts': "Node's own answers to malformed requests; no database involved",
  'security-headers.test.ts': 'headers of every kind of answer; no database involved',
  'console-serving.test.ts': "the web console's files and their headers; no database involved",
  'console-boundary.test.ts': "reads the console's and the server's sources; no database involved",
  'openapi.test.ts': 'validates the served document; no database involved',
  'rekey.test.ts': 'real CLI processes; runs its PostgreSQL variant itself in the first pass',
  'sealed-start.test.ts': 'real server processes on a SQLite file',
  'tls.test.ts': 'real server processes on a SQLite file',
  'group-commit.test.ts': 'SQLite group commit',
  'unavailable.test.ts': 'makes SQLite unavailable through its file and connection; postgres.test.ts covers PostgreSQL',
  'postgres.test.ts': 'PostgreSQL-only; it ran in the first pass',
  'crash.test.ts': 'real server processes; runs its PostgreSQL variant itself in the first pass',
  'shutdown.test.ts': 'real server processes; runs its PostgreSQL variant itself in the first pass',
  'leak.test.ts': 'damages a row through the SQLite file; real server process',
  'bench-smoke.test.ts': 'benchmark smoke run on SQLite',
  'sealing.test.ts': 'runs its PostgreSQL variant itself in the first pass',
  'crypto.test.ts': 'the sealing primitives; no database involved',
  'token-response.test.ts': "the token engine's pure reader of AS answers; no database involved",
  'classify.test.ts': "the token engine's pure classification of AS answers; no database involved",
  'backoff.test.ts': "the token engine's pure retry timing; no database involved",
  'next-refresh.test.ts': "the token engine's pure planning of the next background refresh; no database involved",
  'retry-after.test.ts': 'pure Retry-After parsing; no database involved',
  'scrub.test.ts': 'the pure scrubbing of AS descriptions; no database involved',
  'address-policy.test.ts': 'the outbound address policy, pure functions; no database involved',
  'uri-policy.test.ts': 'the outbound URI policy, pure functions; no database involved',
  'outbound-ssrf.test.ts': 'the outbound client against loopback listeners; no database involved',
  'outbound-client.test.ts': 'the outbound client against loopback listeners; no database involved',
  'as-support.test.ts': 'no database: the test authorization servers',
  'engine-nodes.test.ts': 'real server processes on PostgreSQL; runs in the first pass',
  'browser-support.test.ts': "the browser tests' own instruments on static pages; no database involved",
  'console.e2e.test.ts': 'real Chromium against a real server process on a SQLite file (the session API runs on both backends in test/http)',
  'console.security.test.ts': 'real Chromium against a real server process on a SQLite file (the session API runs on both backends in test/http)',
};

// A name listed above must name one file only: a second file of that name in another folder would leave the pass too.
for (const name of Object.keys(SQLITE_ONLY)) {
  const holders = files.filter((f) => basename(f) === name);
  if (holders.length > 1) {
    console.error(`SQLITE_ONLY names ${name}, which several test files are called: ${holders.join(', ')}`);
    process.exit(1);
  }
}

const { TOKENKEEP_TEST_BACKEND: _ignored, ...baseEnv } = process.env;
console.log(`== test pass 1 (Node ${process.version}): every test file on SQLite ==`);
const sqliteStatus = run(files, baseEnv);
if (browserNote) console.log(`\n${browserNote}`);

const pgUrl = process.env.TOKENKEEP_TEST_PG_URL;
if (!pgUrl) {
  console.log('\nPostgreSQL pass skipped: set TOKENKEEP_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/postgres to run it');
  process.exit(sqliteStatus);
}

const redacted = (() => {
  try {
    const u = new URL(pgUrl);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
})();
const client = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 10_000 });
try {
  await client.connect();
  await client.query('SELECT 1');
} catch (err) {
  console.error(`\nPostgreSQL pass FAILED: the server at TOKENKEEP_TEST_PG_URL=${redacted} cannot be reached: ${err.code ?? ''} ${err.message}`);
  process.exit(1);
} finally {
  await client.end().catch(() => undefined);
}

const pgFiles = files.filter((f) => !(basename(f) in SQLITE_ONLY));
console.log(`\n== test pass 2 (Node ${process.version}): ${pgFiles.length} API test files on PostgreSQL (${redacted}) ==`);
for (const [file, why] of Object.entries(SQLITE_ONLY)) {
  if (files.some((f) => basename(f) === file)) console.log(`   not in this pass: ${file} (${why})`);
}
const pgStatus = run(pgFiles, { ...baseEnv, TOKENKEEP_TEST_BACKEND: 'postgres' });
if (browserNote) console.log(`\n${browserNote}`);

console.log(`\nSQLite pass: ${sqliteStatus === 0 ? 'passed' : 'FAILED'}; PostgreSQL pass: ${pgStatus === 0 ? 'passed' : 'FAILED'}`);
process.exit(sqliteStatus !== 0 ? sqliteStatus : pgStatus);
