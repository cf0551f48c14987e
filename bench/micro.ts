/**
 * Where the time of one request goes, measured in-process (no sockets, no load generator): the real app through
 * `app.inject()` with and without request logging, sequential versus concurrent PUTs (one fsync each versus group
 * commit), a valid token (`POST …/token`) against GET of the same profiles, and the parts of the request path on their
 * own — credential lookup, profile read, the token path's reads, AES-GCM, HMAC, a durable commit. Numbers are µs per operation, the median of several rounds; on a shared machine compare
 * rows of one run with each other, not with another run.
 *
 *   node --import tsx bench/micro.ts [--rounds 5]
 */
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import pino from 'pino';
import { buildApp, redactPaths } from '../src/app.js';
import { MasterKey } from '../src/crypto/master-key.js';
import { KeyRing } from '../src/sealing/key-ring.js';
import { hashPassword, type ScryptParams } from '../src/crypto/passwords.js';
import { parseBasic } from '../src/http/auth.js';
import { SqliteStore } from '../src/storage/sqlite/store.js';
import { integrityRules } from '../src/domain/integrity.js';
import { settle } from '../src/domain/refusals.js';
import { seed } from '../src/domain/seed.js';
import { accessToken, profileName, refreshToken } from './tokens.js';

const FAST: ScryptParams = { logN: 10, r: 8, p: 1 };
const PASSWORD = 'Micro-Us3r-Passw0rd!';
const AUTH = `Basic ${Buffer.from(`d2cuser:${PASSWORD}`).toString('base64')}`;

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const ROUNDS = Number(values.rounds);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** µs per call of fn, median over rounds of n calls (after one warm-up round). */
async function perOp(n: number, fn: (i: number) => unknown): Promise<number> {
  const rounds: number[] = [];
  for (let r = 0; r <= ROUNDS; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const v = fn(i) as { then?: unknown } | undefined;
      // inject() returns a thenable chain, not a Promise
      if (typeof v?.then === 'function') await v;
    }
    if (r > 0) rounds.push(Number(process.hrtime.bigint() - t) / 1e3 / n);
  }
  return median(rounds);
}

/** Two variants timed in alternating rounds, so a change in the machine's load hits both alike. */
async function perOpPair(n: number, a: (i: number) => unknown, b: (i: number) => unknown): Promise<[number, number]> {
  const ra: number[] = [];
  const rb: number[] = [];
  const time = async (fn: (i: number) => unknown) => {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const v = fn(i) as { then?: unknown } | undefined;
      if (typeof v?.then === 'function') await v;
    }
    return Number(process.hrtime.bigint() - t) / 1e3 / n;
  };
  await time(a);
  await time(b);
  for (let r = 0; r < ROUNDS * 2; r++) {
    ra.push(await time(a));
    rb.push(await time(b));
  }
  return [median(ra), median(rb)];
}

/** µs per request when `width` requests are in flight at once (what group commit sees under load). */
async function perOpConcurrent(n: number, width: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  const rounds: number[] = [];
  for (let r = 0; r <= ROUNDS; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i += width) await Promise.all(Array.from({ length: Math.min(width, n - i) }, (_, j) => fn(i + j)));
    if (r > 0) rounds.push(Number(process.hrtime.bigint() - t) / 1e3 / n);
  }
  return median(rounds);
}

const rows: [string, number, string][] = [];
const row = (what: string, us: number, note = '') => {
  rows.push([what, us, note]);
  process.stdout.write(`${us.toFixed(1).padStart(9)} µs  ${what}${note ? `  (${note})` : ''}\n`);
};

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tokenkeep-micro-'));
  try {
    process.stdout.write(
      `${cpus().length} cores, load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}, Node ${process.version}\n\n`,
    );
    const store = new SqliteStore(join(dir, 'tk.db'), integrityRules);
    await store.migrate();
    await store.keys.init(new MasterKey(MasterKey.generate()));
    await store.bootstrap(seed({ adminPasswordHash: await hashPassword('Micro-Adm1n-Passw0rd!', FAST), userPasswordHash: await hashPassword(PASSWORD, FAST) }));
    const user = (await store.logins.principal('d2cuser'))!;
    const admin = (await store.logins.principal('d2cadmin'))!;
    const app = await settle(
      store.apps.create({
        name: 'Micro app',
        dataStore: 54,
        tenantId: admin.tenantId,
        description: null,
        clientId: 'c',
        clientSecret: 's',
        authorizeURI: 'https://a.example.com/auth',
        tokenURI: 'https://a.example.com/token',
        scope: null,
      }),
    );
    const ids: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const p = await settle(
        store.profiles.create({
          name: profileName(i),
          oauthAppId: app.id,
          description: 'd',
          accessToken: accessToken(i),
          refreshToken: refreshToken(i),
          tokenOrigin: 'https://a.example.com',
          ownerId: user.id,
          creatorId: user.id,
        }),
      );
      ids.push(p.id);
    }
    const pick = (i: number) => ids[(i * 7919) % ids.length];

    // ---- the whole request, in-process ------------------------------------------------------------------------------
    const devnull = pino.destination({ dest: '/dev/null', sync: true });
    const quiet = await buildApp({ store, hashParams: FAST, logger: false });
    const logging = await buildApp({
      store,
      hashParams: FAST,
      logger: { level: 'info', stream: devnull, redact: { paths: redactPaths, censor: '[redacted]' } } as never,
    });
    for (const a of [quiet, logging]) {
      await a.ready();
      await a.inject({ url: `/api/mgmt/oauthprofiles/${ids[0]}`, headers: { authorization: AUTH } }); // fills the credential cache
    }
    const get = (a: typeof quiet) => (i: number) => a.inject({ url: `/api/mgmt/oauthprofiles/${pick(i)}`, headers: { authorization: AUTH } });
    const put = (a: typeof quiet) => (i: number) => {
      const id = pick(i);
      return a.inject({
        method: 'PUT',
        url: `/api/mgmt/oauthprofiles/${id}`,
        headers: { authorization: AUTH, 'content-type': 'application/json' },
        payload: JSON.stringify({ name: profileName(ids.indexOf(id)), oauthAppId: app.id, accessToken: accessToken(i, 1), refreshToken: refreshToken(i, 1) }),
      });
    };
    const health = (a: typeof quiet) => () => a.inject({ url: '/api/healthcheck' });
    const probe = await put(quiet)(0);
    if (probe.statusCode !== 200) throw new Error(`PUT answered ${probe.statusCode}: ${probe.body}`);

    process.stdout.write('whole requests through app.inject (no socket):\n');
    const [hq, hl] = await perOpPair(2000, health(quiet), health(logging));
    row('GET /api/healthcheck, logger off', hq);
    row('GET /api/healthcheck, logger info (2 lines/request to /dev/null)', hl, `logging +${(hl - hq).toFixed(1)} µs`);
    const [gq, gl] = await perOpPair(2000, get(quiet), get(logging));
    row('GET profile, logger off', gq);
    row('GET profile, logger info', gl, `logging +${(gl - gq).toFixed(1)} µs`);
    // Each profile as after its first refresh (after the PUT probe above, which makes the expiry unknown again): an
    // expiry an hour ahead, so POST …/token answers the stored token.
    for (const [i, id] of ids.entries()) {
      const { generation } = (await store.tokens.status(id))!;
      if (!(await store.tokens.claim(id, generation, 'micro', 60_000)).claimed) throw new Error(`no lease on profile ${id}`);
      const next = { accessToken: accessToken(i), refreshToken: refreshToken(i), expiresAt: Date.now() + 3_600_000, nextRefreshAt: null, retired: undefined };
      if (!(await store.tokens.complete(id, generation, 'micro', next))) throw new Error(`no refresh commit on profile ${id}`);
    }
    const token = (i: number) => quiet.inject({ method: 'POST', url: `/api/mgmt/oauthprofiles/${pick(i)}/token`, headers: { authorization: AUTH } });
    const probeToken = await token(0);
    if (probeToken.statusCode !== 200) throw new Error(`POST token answered ${probeToken.statusCode}: ${probeToken.body}`);
    const [gt, tq] = await perOpPair(2000, get(quiet), token);
    row('GET profile, logger off (paired with the next row)', gt);
    row('POST profile token, still valid (no AS call), logger off', tq, `${(gt / tq).toFixed(2)} × GET`);
    const pSeq = await perOp(300, put(quiet));
    row('PUT profile, one at a time (one commit + fsync each), logger off', pSeq);
    const pConc = await perOpConcurrent(2000, 100, put(quiet));
    row('PUT profile, 100 in flight (group commit), logger off', pConc);
    const pConcLog = await perOpConcurrent(2000, 100, put(logging));
    row('PUT profile, 100 in flight (group commit), logger info', pConcLog, `logging +${(pConcLog - pConc).toFixed(1)} µs`);

    // ---- parts of the request path ----------------------------------------------------------------------------------
    process.stdout.write('\nparts of the request path:\n');
    row('parse the Basic header', await perOp(100_000, () => parseBasic(AUTH)));
    const macKey = randomBytes(32);
    row(
      'HMAC-SHA256 of the password (credential-cache check, every request)',
      await perOp(100_000, () => createHmac('sha256', macKey).update(PASSWORD).digest()),
    );
    row('store.logins.principal (user + 4 sub-selects, every authenticated request)', await perOp(20_000, () => store.logins.principal('d2cuser')));
    row('store.profiles.get(id) (SQL + 2 AES-GCM opens)', await perOp(20_000, (i) => store.profiles.get(pick(i))));
    row('store.apps.get(id) (SQL + 1 AES-GCM open; PUT and POST check the app)', await perOp(20_000, () => store.apps.get(app.id)));
    // A valid token's reads (src/http/routes/tokens.ts, then TokenEngine.accessToken): reachability, then four.
    row('token path: store.profiles.header(id) (reachability)', await perOp(20_000, (i) => store.profiles.header(pick(i))));
    row('token path: store.tokens.status(id)', await perOp(20_000, (i) => store.tokens.status(pick(i))));
    row('token path: store.appEngines.get(appId) (settingsOf)', await perOp(20_000, () => store.appEngines.get(app.id)));
    row('token path: store.apps.summary(appId)', await perOp(20_000, () => store.apps.summary(app.id)));
    row('token path: store.profiles.get(id) (both tokens opened; the answer needs the access token)', await perOp(20_000, (i) => store.profiles.get(pick(i))));
    const ring = new KeyRing();
    ring.set(1, MasterKey.generate());
    const ctx = { table: 'oauth_profiles', rowId: 1, column: 'access_token' };
    const sealed = ring.seal(accessToken(1), ctx);
    row('AES-256-GCM seal of a 200-character token', await perOp(100_000, () => ring.seal(accessToken(1), ctx)));
    row('AES-256-GCM open of a 200-character token', await perOp(100_000, () => ring.open(sealed, ctx)));
    const log = pino({ level: 'info', redact: { paths: redactPaths, censor: '[redacted]' } }, devnull);
    const req = { method: 'GET', url: '/api/mgmt/oauthprofiles/1', host: '127.0.0.1:8080', remoteAddress: '127.0.0.1', remotePort: 50000 };
    row(
      "one pino line with the server's redact paths (Fastify writes 2 per request)",
      await perOp(100_000, () => log.child({ reqId: 'req-1' }).info({ req }, 'incoming request')),
    );

    // A durable commit on this disk: what one fsync per request would cost.
    const raw = new Database(join(dir, 'tk.db'));
    raw.pragma('synchronous = FULL');
    const upd = raw.prepare('UPDATE oauth_profiles SET description = ? WHERE id = ?');
    // A new value every time: a commit that changes no byte is cheaper (no fsync was seen for it).
    let serial = 0;
    row('SQLite UPDATE + COMMIT, WAL, synchronous=FULL (fsync)', await perOp(300, (i) => raw.transaction(() => upd.run(`d${++serial}`, pick(i))).immediate()));
    raw.pragma('synchronous = NORMAL');
    row(
      'SQLite UPDATE + COMMIT, WAL, synchronous=NORMAL (no fsync)',
      await perOp(3000, (i) => raw.transaction(() => upd.run(`d${++serial}`, pick(i))).immediate()),
    );
    row('better-sqlite3: wrapping a function with db.transaction() (group commit does it per write)', await perOp(100_000, () => raw.transaction(() => 1)));
    raw.close();

    await quiet.close();
    await logging.close();
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`micro failed: ${(err as Error).stack}\n`);
    process.exit(1);
  },
);
