/**
 * The background refresh's database cost at scale (issue 13, api.md §8.7): N profiles of a proactive app, of which D
 * are due, the rest planned an hour or more ahead.
 *
 *   npm run bench:scheduler -- [--profiles 1000000] [--due 1000] [--backend sqlite|postgres] [--idle 10]
 *
 * It runs the real BackgroundRefresh (src/engine/background.ts) on the real store, with an engine that does a
 * refresh's database work without an authorization server: the lease claim, then the commit of new (made-up) tokens
 * with the next refresh an hour ahead, sealed as the store seals them. Measured: each look's due query, each claim,
 * how many profiles were claimed (exactly the due ones), the due queries per second of an idle node, and the
 * resident memory before and after (no per-profile timers: it must stay flat).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { BackgroundRefresh } from '../src/engine/background.js';
import { MasterKey } from '../src/crypto/master-key.js';
import { hashPassword } from '../src/crypto/passwords.js';
import { integrityRules } from '../src/domain/integrity.js';
import { seed } from '../src/domain/seed.js';
import type { Due, Store } from '../src/domain/ports/index.js';
import { SqliteStore } from '../src/storage/sqlite/store.js';
import { PostgresStore } from '../src/storage/postgres/store.js';

const { values } = parseArgs({
  options: {
    profiles: { type: 'string', default: '1000000' },
    due: { type: 'string', default: '1000' },
    backend: { type: 'string', default: 'sqlite' },
    idle: { type: 'string', default: '10' },
    'pg-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
  },
});
const PROFILES = Number(values.profiles);
const DUE = Number(values.due);
const IDLE_SECONDS = Number(values.idle);
if (!(PROFILES >= DUE && DUE >= 0) || !(IDLE_SECONDS > 0) || !['sqlite', 'postgres'].includes(values.backend!)) {
  console.error('usage: npm run bench:scheduler -- [--profiles N] [--due D ≤ N] [--backend sqlite|postgres] [--idle S]');
  process.exit(2);
}

const HOUR = 3_600_000;
const CHUNK = 50_000;
const log = (message: string) => console.error(`[scheduler bench] ${message}`);
const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const ms = (n: number) => `${n.toFixed(2)} ms`;
const mb = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MiB`;

async function open(): Promise<{ store: Store; insert: (rows: unknown[][]) => Promise<void>; dispose(): Promise<void> }> {
  if (values.backend === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'tokenkeep-scheduler-'));
    const store = new SqliteStore(join(dir, 'tokenkeep.db'), integrityRules);
    const insert = async (rows: unknown[][]) => {
      const db = store.db.connection;
      const statement = db.prepare(
        `INSERT INTO oauth_profiles (owner_id, app_id, name, name_key, refresh_token, key_version, next_refresh_at)
        VALUES (?, ?, ?, ?, ?, 1, ?)`,
      );
      db.transaction(() => {
        for (const row of rows) statement.run(...row);
      })();
    };
    return { store, insert, dispose: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const name = 'tokenkeep_bench_scheduler';
  const admin = new pg.Client({ connectionString: values['pg-url'] });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name}`);
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(values['pg-url']!);
  url.pathname = `/${name}`;
  const store = new PostgresStore(url.toString(), integrityRules, { max: 8 });
  const insert = async (rows: unknown[][]) => {
    const columns = [0, 1, 2, 3, 4, 5].map((i) => rows.map((r) => r[i]));
    await store.db.pool.query(
      `INSERT INTO oauth_profiles (owner_id, app_id, name, name_key, refresh_token, key_version, next_refresh_at)
      SELECT o, a, n, k, r, 1, t FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::bytea[], $6::bigint[]) AS v(o, a, n, k, r, t)`,
      columns,
    );
  };
  const dispose = async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${name}`);
    await admin.end();
  };
  return { store, insert, dispose };
}

async function main(): Promise<void> {
  const { store, insert, dispose } = await open();
  try {
    await store.migrate();
    await store.keys.init(new MasterKey(MasterKey.generate()));
    const fast = { logN: 10, r: 8, p: 1 };
    const hash = await hashPassword('Bench-Passw0rd!', fast);
    await store.bootstrap(seed({ adminPasswordHash: hash, userPasswordHash: hash }));
    const owner = (await store.users.byName('d2cadmin'))!.id;
    const app = await store.apps.create({
      name: 'Scheduler bench app',
      dataStore: 54,
      clientId: 'bench-client',
      clientSecret: 'bench-secret',
      authorizeURI: 'https://as.example/authorize',
      tokenURI: 'https://as.example/token',
      scope: null,
      description: null,
      tenantId: 1,
    });
    if ('refused' in app) throw new Error(`app: ${JSON.stringify(app)}`);

    const now = Date.now();
    const started = Date.now();
    const sealedDummy = Buffer.alloc(64, 1); // never opened: the bench engine writes new tokens, it reads none
    for (let from = 0; from < PROFILES; from += CHUNK) {
      const rows: unknown[][] = [];
      for (let i = from; i < Math.min(PROFILES, from + CHUNK); i++) {
        // Every (PROFILES / DUE)-th profile is due (spread over the table, not a block); the others an hour or more ahead.
        const due = DUE > 0 && i % Math.floor(PROFILES / DUE) === 0 && Math.floor(i / Math.floor(PROFILES / DUE)) < DUE;
        rows.push([owner, app.id, `p${i}`, `p${i}`, sealedDummy, due ? now - 60_000 + (i % 1000) : now + HOUR + i]);
      }
      await insert(rows);
      if ((from / CHUNK) % 4 === 0) log(`seeded ${Math.min(PROFILES, from + CHUNK)} of ${PROFILES} profiles`);
    }
    // As autovacuum would after a bulk load (then it does not run during the measurement): statistics, visibility map.
    if (values.backend === 'postgres') await (store as PostgresStore).db.pool.query('VACUUM ANALYZE oauth_profiles');
    // The seed's write-ahead log folded into the database first, so that its checkpoint is not measured as the claims'.
    else (store as SqliteStore).db.connection.pragma('wal_checkpoint(TRUNCATE)');
    log(`seeded ${PROFILES} profiles (${DUE} due) in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    await store.appEngines.set(app.id, {
      clientAuth: 'client_secret_basic',
      defaultExpiresIn: 3600,
      refreshMargin: 300,
      proactive: true,
      maxConcurrentRefreshes: 4, // the default
      revocationURI: null,
      issuer: null,
      authorizeParams: {},
    });

    // Measure every due query and every claim through the store the background refresh is given.
    const lookTimes: number[] = [];
    const claimTimes: number[] = [];
    let looks = 0;
    const measured: Store = Object.create(store);
    const tokens = Object.create(store.tokens) as Store['tokens'];
    tokens.due = async (limit, skip) => {
      const t = performance.now();
      const rows = await store.tokens.due(limit, skip);
      lookTimes.push(performance.now() - t);
      looks++;
      return rows;
    };
    Object.defineProperty(measured, 'tokens', { value: tokens });
    const claimed = new Set<number>();
    const engine = {
      owner: 'bench-node',
      async refreshDue(due: Due): Promise<void> {
        const t = performance.now();
        const claim = await store.tokens.claim(due.profileId, due.generation, 'bench-node', 60_000);
        claimTimes.push(performance.now() - t);
        if (!claim.claimed) return;
        claimed.add(due.profileId);
        const expiresAt = Date.now() + HOUR;
        await store.tokens.complete(due.profileId, due.generation, 'bench-node', {
          accessToken: `at-${due.profileId}`,
          refreshToken: `rt-${due.profileId}`,
          expiresAt,
          nextRefreshAt: expiresAt - 300_000,
          retired: undefined,
        });
      },
    };

    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    const background = new BackgroundRefresh(measured, engine);
    const t0 = Date.now();
    background.start();
    while (claimed.size < DUE && Date.now() - t0 < 120_000) await new Promise((r) => setTimeout(r, 20));
    const drained = Date.now() - t0;
    const busyLooks = looks;
    const busyLookTimes = [...lookTimes];
    // Idle: nothing is due any more.
    await new Promise((r) => setTimeout(r, 1_500));
    const idleFrom = looks;
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    const idleRate = (looks - idleFrom) / IDLE_SECONDS;
    await background.stop();
    global.gc?.();
    const rssAfter = process.memoryUsage().rss;

    // The due profiles are the (PROFILES / DUE)-th rows, ids from 1 in insertion order: exactly those were claimed.
    const step = Math.floor(PROFILES / Math.max(DUE, 1));
    const strays = [...claimed].filter((id) => (id - 1) % step !== 0 || (id - 1) / step >= DUE).length;
    const claimedDue = claimed.size - strays;
    const result = {
      backend: values.backend,
      profiles: PROFILES,
      due: DUE,
      claimed: claimedDue,
      claimedNotDue: strays,
      secondsToRefreshAllDue: drained / 1000,
      looksWhileBusy: busyLooks,
      lookP50: quantile(busyLookTimes, 0.5),
      lookP99: quantile(busyLookTimes, 0.99),
      idleLookP99: quantile(lookTimes.slice(busyLooks), 0.99),
      claimP50: quantile(claimTimes, 0.5),
      claimP99: quantile(claimTimes, 0.99),
      idleQueriesPerSecond: idleRate,
      rssBefore,
      rssAfter,
    };
    console.log(JSON.stringify(result));
    log(
      `${values.backend}, ${PROFILES} profiles, ${DUE} due: claimed ${claimedDue} (${strays} not due) in ${(drained / 1000).toFixed(1)} s; due query p50 ${ms(result.lookP50)} ` +
        `p99 ${ms(result.lookP99)} (idle p99 ${ms(result.idleLookP99)}); claim p50 ${ms(result.claimP50)} p99 ${ms(result.claimP99)}; ` +
        `idle ${idleRate.toFixed(2)} queries/s; RSS ${mb(rssBefore)} → ${mb(rssAfter)}`,
    );
    if (claimedDue !== DUE || strays > 0) process.exitCode = 1;
  } finally {
    await store.close();
    await dispose();
  }
}

await main();
