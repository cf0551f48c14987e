/**
 * Crash durability: the real server process under concurrent load is SIGKILLed at a random moment, restarted on the
 * same database (and the same master key), and every acknowledged (2xx) write is checked:
 *
 * - an acknowledged create is there with its acknowledged value, or with the value of a later acknowledged PUT;
 * - per object exactly {last acknowledged value, value of the one unacknowledged in-flight request} is accepted
 *   (each client owns its objects and sends one request at a time, so that set is exact);
 * - an acknowledged delete stays deleted; an unknown object may only be the in-flight create of some client;
 * - no object is half-written (every field comes from one request body: each body carries its own tag);
 * - every stored secret still opens: GET by id of every profile, app and data source answers 200, never 500;
 * - the list endpoints agree with the reads by id.
 *
 * Several rounds run on the same database; each round's surviving state is the next round's starting point.
 * Negative control: the same harness against test/fixtures/unsafe-server.ts (acknowledges before writing) must
 * find lost acknowledged writes, and must find nothing when that server is given time to write before the kill.
 *
 * The backend is a parameter: SQLite always; PostgreSQL when TOKENKEEP_TEST_PG_URL is set and the server accepts it.
 */
import { after, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import {
  ADMIN_AUTH,
  backends,
  call,
  ensureBuilt,
  killChildren,
  pool,
  prng,
  refusedBackend,
  sleep,
  sqliteBackend,
  startProcess,
  withTimeout,
  type Backend,
  type BackendInstance,
  type ServerKind,
  type ServerProcess,
} from '../durability-support.js';

const CLIENTS = 16;
const ROUNDS = 4;
/** live profiles a client keeps at most */
const MAX_PROFILES = 8;
const KILL_MIN_MS = 100;
const KILL_MAX_MS = 800;
/** a round only counts once this many writes were acknowledged before the kill */
const MIN_ACKED = 16;

type Kind = 'profile' | 'app' | 'ds';
type Body = Record<string, unknown>;
const PATH: Record<Kind, string> = { profile: '/api/mgmt/oauthprofiles', app: '/api/mgmt/oauthapps', ds: '/api/mgmt/datasources' };
const LIST_KEY: Record<Kind, string> = { profile: 'profiles', app: 'applications', ds: 'datasources' };

interface Obj {
  kind: Kind;
  id: number;
  client: number;
  /** 'base': the app a client's profiles use; never deleted */
  role?: 'base';
  /** the last acknowledged value; null once a delete was acknowledged */
  state: Body | null;
  /** tags of every acknowledged value, for the diagnosis of a lost write */
  history: string[];
  /** the client's unacknowledged request on this object when the server died */
  pending?: { op: 'put'; body: Body } | { op: 'delete' };
}

interface Client {
  index: number;
  seq: number;
  /** an unacknowledged create in flight when the server died: it may or may not have landed */
  pendingCreate?: { kind: Kind; body: Body };
}

interface Model {
  objects: Map<string, Obj>;
  clients: Client[];
}

const key = (kind: Kind, id: number) => `${kind}:${id}`;
const tagOf = (body: Body): string => String(body.name).slice(2);

// Every field of a body carries its tag: a stored object whose fields carry different tags is half-written.
const pad = (rand: () => number) => 'x'.repeat(Math.floor(rand() * 1500));
const profileBody = (tag: string, oauthAppId: number, rand: () => number): Body => ({
  name: `p_${tag}`,
  oauthAppId,
  description: `profile ${tag}`,
  accessToken: rand() < 0.15 ? null : `AT-${tag}-${pad(rand)}`,
  refreshToken: `RT-${tag}-${pad(rand)}`,
});
const appBody = (tag: string): Body => ({
  name: `a_${tag}`,
  dataStore: 54,
  tenantId: 1,
  description: `app ${tag}`,
  clientId: `client-${tag}`,
  clientSecret: `SECRET-${tag}`,
  authorizeURI: `https://accounts.example.com/${tag}/authorize`,
  tokenURI: `https://oauth2.example.com/${tag}/token`,
  scope: `scope_${tag}`,
});
const dsBody = (tag: string): Body => ({
  name: `d_${tag}`,
  dataStore: 54,
  description: `data source ${tag}`,
  options: { ViewId: tag, Secret: `S-${tag}` },
});

/** The object as GET by id presents it after `body` was written. */
function presented(kind: Kind, id: number, body: Body): Body {
  if (kind === 'ds') return { id, name: body.name, dataStore: body.dataStore, connectionType: 'Cloud', description: body.description, options: body.options };
  return { id, ...body };
}

/** Distinct tags found in the string fields of a stored object (the id, numbers and constants carry none). */
function tagsIn(value: Body): Set<string> {
  const tags = new Set<string>();
  const visit = (v: unknown) => {
    if (typeof v === 'string') for (const m of v.matchAll(/c\d+r\d+s\d+/g)) tags.add(m[0]);
    else if (v && typeof v === 'object') Object.values(v).forEach(visit);
  };
  visit(value);
  return tags;
}

// ---- load -------------------------------------------------------------------------------------------------------------

interface Load {
  stopped: boolean;
  acked: { create: number; put: number; delete: number };
  /** non-2xx answers: none is expected (every request is valid and owned by its client) */
  unexpected: string[];
}

function live(model: Model, client: number, kind: Kind, filter: (o: Obj) => boolean = () => true): Obj[] {
  return [...model.objects.values()].filter((o) => o.client === client && o.kind === kind && o.state !== null && filter(o));
}

/** One client: requests one at a time, on its own objects only, until the load stops or the server is gone. */
async function clientLoop(base: string, model: Model, c: Client, round: number, rand: () => number, load: Load): Promise<void> {
  const pick = <T>(items: T[]): T => items[Math.floor(rand() * items.length)];
  while (!load.stopped) {
    const tag = `c${c.index}r${round}s${c.seq++}`;
    const bases = live(model, c.index, 'app', (o) => o.role === 'base');
    const profiles = live(model, c.index, 'profile');
    const spareApps = live(model, c.index, 'app', (o) => o.role !== 'base');
    const sources = live(model, c.index, 'ds');
    const r = rand();
    let method: 'POST' | 'PUT' | 'DELETE';
    let kind: Kind;
    let target: Obj | undefined;
    let body: Body | undefined;
    if (r < 0.72) {
      kind = 'profile';
      const appId = pick(bases).id;
      if (profiles.length < 3 || (r < 0.25 && profiles.length < MAX_PROFILES)) [method, body] = ['POST', profileBody(tag, appId, rand)];
      else if (r < 0.62) [method, target, body] = ['PUT', pick(profiles), profileBody(tag, appId, rand)];
      else [method, target] = ['DELETE', pick(profiles)];
    } else if (r < 0.86) {
      kind = 'app';
      if (spareApps.length === 0 || r < 0.76) [method, body] = ['POST', appBody(tag)];
      else if (r < 0.82) [method, target, body] = ['PUT', pick([...spareApps, ...bases]), appBody(tag)];
      else [method, target] = ['DELETE', pick(spareApps)];
    } else {
      kind = 'ds';
      if (sources.length === 0 || r < 0.91) [method, body] = ['POST', dsBody(tag)];
      else if (r < 0.96) [method, target, body] = ['PUT', pick(sources), dsBody(tag)];
      else [method, target] = ['DELETE', pick(sources)];
    }
    if (method === 'POST') c.pendingCreate = { kind, body: body! };
    else target!.pending = method === 'PUT' ? { op: 'put', body: body! } : { op: 'delete' };

    let status: number;
    let answer: any;
    try {
      const res = await fetch(`${base}${target ? `${PATH[kind]}/${target.id}` : PATH[kind]}`, {
        method,
        headers: { authorization: ADMIN_AUTH, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(20_000),
      });
      const text = await res.text();
      status = res.status;
      answer = text === '' ? undefined : JSON.parse(text);
    } catch {
      return; // no answer: the request stays pending (it may or may not have been applied); the server is gone
    }
    if (status >= 500) {
      load.unexpected.push(`${method} ${kind} ${target?.id ?? ''} → ${status} ${JSON.stringify(answer).slice(0, 200)}`);
      return; // a 5xx does not say whether it was applied: leave it pending and stop this client
    }
    // Acknowledged (2xx) or refused (4xx: not applied). Either way the outcome is known.
    c.pendingCreate = undefined;
    if (target) target.pending = undefined;
    if (status < 200 || status > 299) {
      load.unexpected.push(`${method} ${kind} ${target?.id ?? ''} → ${status} ${JSON.stringify(answer).slice(0, 200)}`);
      continue;
    }
    if (method === 'POST') {
      const id = Number(answer?.id);
      model.objects.set(key(kind, id), { kind, id, client: c.index, state: body!, history: [tagOf(body!)] });
      load.acked.create++;
      if (!isDeepStrictEqual(answer, presented(kind, id, body!))) load.unexpected.push(`POST ${kind} ${id} answered ${JSON.stringify(answer).slice(0, 200)}`);
    } else if (method === 'PUT') {
      if (!isDeepStrictEqual(answer, presented(kind, target!.id, body!)))
        load.unexpected.push(`PUT ${kind} ${target!.id} answered ${JSON.stringify(answer).slice(0, 200)}`);
      target!.state = body!;
      target!.history.push(tagOf(body!));
      load.acked.put++;
    } else {
      target!.state = null;
      target!.history.push('deleted');
      load.acked.delete++;
    }
  }
}

/** Objects every client needs before the load, acknowledged before any kill: its base app and three profiles. */
async function setupClients(base: string, model: Model, round: number, rand: () => number): Promise<void> {
  await pool(model.clients, 4, async (c) => {
    if (live(model, c.index, 'app', (o) => o.role === 'base').length === 0) {
      const body = appBody(`c${c.index}r${round}s${c.seq++}`);
      const res = await call(base, 'POST', PATH.app, body);
      assert.equal(res.status, 201, res.text);
      model.objects.set(key('app', res.body.id), { kind: 'app', id: res.body.id, client: c.index, role: 'base', state: body, history: [tagOf(body)] });
    }
    const appId = live(model, c.index, 'app', (o) => o.role === 'base')[0].id;
    for (let n = live(model, c.index, 'profile').length; n < 3; n++) {
      const body = profileBody(`c${c.index}r${round}s${c.seq++}`, appId, rand);
      const res = await call(base, 'POST', PATH.profile, body);
      assert.equal(res.status, 201, res.text);
      model.objects.set(key('profile', res.body.id), { kind: 'profile', id: res.body.id, client: c.index, state: body, history: [tagOf(body)] });
    }
  });
}

interface RoundOutcome {
  load: Load;
  killedAtMs: number;
  /** requests without an answer when the server died */
  inFlight: number;
}

/**
 * Runs the clients against `server`; SIGKILLs it `killAfterMs` into the load (once MIN_ACKED writes are
 * acknowledged), or, with `graceful`, stops the clients first, waits, and only then kills.
 */
async function loadAndKill(server: ServerProcess, model: Model, round: number, seed: number, killAfterMs: number, graceful = false): Promise<RoundOutcome> {
  const load: Load = { stopped: false, acked: { create: 0, put: 0, delete: 0 }, unexpected: [] };
  const started = Date.now();
  const loops = model.clients.map((c) => clientLoop(server.base, model, c, round, prng(seed * 1000 + c.index), load));
  const ackedCount = () => load.acked.create + load.acked.put + load.acked.delete;
  await sleep(killAfterMs);
  const deadline = Date.now() + 30_000;
  while (ackedCount() < MIN_ACKED && Date.now() < deadline && load.unexpected.length === 0) await sleep(10);
  if (graceful) {
    load.stopped = true;
    await Promise.all(loops);
    await sleep(1500); // the unsafe server writes 300 ms after acknowledging: give it all the time it needs
  }
  const killedAtMs = Date.now() - started;
  server.signal('SIGKILL');
  load.stopped = true;
  const exit = await server.exited;
  assert.equal(exit.signal, 'SIGKILL', 'the server died of the SIGKILL');
  await Promise.all(loops);
  const inFlight = model.clients.filter((c) => c.pendingCreate).length + [...model.objects.values()].filter((o) => o.pending).length;
  return { load, killedAtMs, inFlight };
}

// ---- verification -----------------------------------------------------------------------------------------------------

interface Verification {
  violations: string[];
  checked: number;
  /** in-flight creates that turned out to have landed */
  landed: number;
  /** in-flight PUTs/DELETEs that turned out to have landed */
  pendingApplied: number;
}

/**
 * Reads everything back from a freshly started server and compares it with the model. Returns violations instead
 * of asserting, so the negative control can require that there are some. With `adopt`, the observed state becomes
 * the model's acknowledged state (for the next round).
 */
async function verify(base: string, model: Model, adopt: boolean): Promise<Verification> {
  const violations: string[] = [];
  const listed = new Map<Kind, Set<number>>();
  for (const kind of ['profile', 'app', 'ds'] as Kind[]) {
    const res = await call(base, 'GET', PATH[kind]);
    if (res.status !== 200) {
      violations.push(`GET ${PATH[kind]} → ${res.status} ${res.text.slice(0, 200)}`);
      listed.set(kind, new Set());
    } else {
      listed.set(kind, new Set((res.body[LIST_KEY[kind]] as { id: number }[]).map((o) => o.id)));
    }
  }
  const observed = new Map<string, Body | null>();
  let pendingApplied = 0;
  await pool([...model.objects.values()], 8, async (o) => {
    const res = await call(base, 'GET', `${PATH[o.kind]}/${o.id}`);
    const what = `${o.kind} ${o.id} (client ${o.client}; acknowledged: ${o.history.join(' → ')}; in flight: ${o.pending ? (o.pending.op === 'put' ? `PUT ${tagOf(o.pending.body)}` : 'DELETE') : 'nothing'})`;
    if (res.status !== 200 && res.status !== 404) {
      violations.push(`${what}: GET answered ${res.status} ${res.text.slice(0, 200)} (a secret that does not open, or worse)`);
      return;
    }
    const got = res.status === 200 ? (res.body as Body) : null;
    if ((got !== null) !== listed.get(o.kind)!.has(o.id)) violations.push(`${what}: GET by id says ${res.status} but the list ${got ? 'lacks' : 'has'} it`);
    const allowed: (Body | null)[] = [o.state === null ? null : presented(o.kind, o.id, o.state)];
    if (o.pending?.op === 'put') allowed.push(presented(o.kind, o.id, o.pending.body));
    if (o.pending?.op === 'delete') allowed.push(null);
    if (allowed.some((a) => isDeepStrictEqual(a, got))) {
      if (!isDeepStrictEqual(allowed[0], got)) pendingApplied++;
      observed.set(key(o.kind, o.id), got === null ? null : o.state && isDeepStrictEqual(got, allowed[0]) ? o.state : (o.pending as { body: Body }).body);
      return;
    }
    if (got === null) {
      violations.push(`LOST: ${what}: the acknowledged ${o.history.length === 1 ? 'create' : 'value'} ${o.history.at(-1)} is gone (404)`);
    } else if (o.state === null) {
      violations.push(`RESURRECTED: ${what}: an acknowledged delete did not hold; found ${[...tagsIn(got)].join(',')}`);
    } else {
      const tags = [...tagsIn(got)];
      if (tags.length > 1) violations.push(`HALF-WRITTEN: ${what}: fields from several requests: ${tags.join(', ')}`);
      else if (tags.length === 1 && o.history.includes(tags[0]))
        violations.push(`LOST: ${what}: holds the older value ${tags[0]} instead of the acknowledged ${o.history.at(-1)}`);
      else violations.push(`UNEXPECTED: ${what}: holds ${JSON.stringify(got).slice(0, 300)}`);
    }
  });

  // Objects the model does not know may only be in-flight creates of the client whose tag they carry.
  let landed = 0;
  const claimed = new Set<Client>();
  for (const kind of ['profile', 'app', 'ds'] as Kind[]) {
    for (const id of listed.get(kind)!) {
      if (model.objects.has(key(kind, id))) continue;
      const res = await call(base, 'GET', `${PATH[kind]}/${id}`);
      if (res.status !== 200) {
        violations.push(`${kind} ${id} is listed but GET answers ${res.status} ${res.text.slice(0, 200)}`);
        continue;
      }
      const owner = model.clients.find(
        (c) => c.pendingCreate?.kind === kind && !claimed.has(c) && isDeepStrictEqual(res.body, presented(kind, id, c.pendingCreate.body)),
      );
      if (!owner) {
        violations.push(`PHANTOM: ${kind} ${id} was never acknowledged nor in flight: ${JSON.stringify(res.body).slice(0, 300)}`);
        continue;
      }
      claimed.add(owner);
      landed++;
      if (adopt) {
        const body = owner.pendingCreate!.body;
        model.objects.set(key(kind, id), { kind, id, client: owner.index, state: body, history: [`${tagOf(body)} (landed unacknowledged)`] });
        observed.set(key(kind, id), body);
      }
    }
  }
  if (adopt) {
    for (const o of model.objects.values()) {
      const k = key(o.kind, o.id);
      if (observed.has(k)) {
        const now = observed.get(k)!;
        if (now !== o.state) o.history.push(now === null ? 'deleted (unacknowledged)' : `${tagOf(now)} (landed unacknowledged)`);
        o.state = now;
      }
      o.pending = undefined;
    }
    for (const c of model.clients) c.pendingCreate = undefined;
  }
  return { violations, checked: model.objects.size, landed, pendingApplied };
}

// ---- the tests --------------------------------------------------------------------------------------------------------

const newModel = (): Model => ({ objects: new Map(), clients: Array.from({ length: CLIENTS }, (_, index) => ({ index, seq: 0 })) });

/** Starts a server; for PostgreSQL, a server that refuses the URL skips the test (returns undefined). */
async function startOrSkip(t: TestContext, backend: Backend, kind: ServerKind, db: BackendInstance): Promise<ServerProcess | undefined> {
  try {
    return await startProcess(kind, db.env);
  } catch (err) {
    const reason = refusedBackend(backend, err);
    if (!reason) throw err;
    t.skip(reason);
    return undefined;
  }
}

/** A fresh server answers, and its first authenticated request (one scrypt) is behind us before the load starts. */
async function warmUp(server: ServerProcess): Promise<void> {
  const res = await call(server.base, 'GET', '/api/mgmt/oauthapps', undefined, 60_000);
  assert.equal(res.status, 200, res.text);
}

describe('crash durability (SIGKILL under load)', { timeout: 240_000 }, () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    killChildren();
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
  });

  for (const backend of backends) {
    test(`${backend.name}: ${ROUNDS} rounds of SIGKILL under load lose no acknowledged write`, { skip: backend.skip, timeout: 150_000 }, async (t) => {
      ensureBuilt();
      const db = await backend.create('crash');
      cleanups.push(db.cleanup);
      const seed = Math.floor(Math.random() * 1e6);
      const rand = prng(seed);
      const model = newModel();
      const summary: string[] = [];
      let inFlightTotal = 0;
      for (let round = 1; round <= ROUNDS + 1; round++) {
        const server = await startOrSkip(t, backend, 'cli', db);
        if (!server) return;
        await warmUp(server);
        if (round > 1) {
          const result = await verify(server.base, model, true);
          assert.deepEqual(result.violations, [], `after the kill of round ${round - 1} (seed ${seed}): ${summary.at(-1)}`);
          summary[summary.length - 1] +=
            `; after restart: ${result.checked} objects checked, ${result.landed} unacknowledged creates and ${result.pendingApplied} unacknowledged PUT/DELETEs had landed`;
        }
        if (round > ROUNDS) {
          server.signal('SIGTERM');
          assert.deepEqual(await withTimeout(server.exited, 30_000, 'exit after SIGTERM'), { code: 0, signal: null });
          break;
        }
        await setupClients(server.base, model, round, rand);
        const killAfter = KILL_MIN_MS + Math.floor(rand() * (KILL_MAX_MS - KILL_MIN_MS));
        const { load, killedAtMs, inFlight } = await loadAndKill(server, model, round, seed + round, killAfter);
        assert.deepEqual(load.unexpected, [], `round ${round}: every request of the load is valid`);
        const acked = load.acked.create + load.acked.put + load.acked.delete;
        assert.ok(acked >= MIN_ACKED, `round ${round}: ${acked} writes acknowledged before the kill`);
        // A fast server may, by chance, have answered everything at the instant of one kill; over all rounds, the
        // kills must have cut requests off.
        inFlightTotal += inFlight;
        summary.push(
          `round ${round}: killed at ${killedAtMs} ms with ${inFlight} requests in flight; acknowledged ${load.acked.create} creates, ${load.acked.put} PUTs, ${load.acked.delete} deletes`,
        );
      }
      t.diagnostic(`seed ${seed}\n${summary.join('\n')}`);
      assert.ok(inFlightTotal > 0, 'requests were in flight when the server was killed, in some round at least');
      const profiles = [...model.objects.values()].filter((o) => o.kind === 'profile' && o.state !== null).length;
      assert.ok(profiles >= CLIENTS, `the rounds left profiles to check (${profiles})`);
    });
  }

  test('negative control: a server that acknowledges before it writes is caught losing acknowledged writes', { timeout: 90_000 }, async (t) => {
    ensureBuilt();
    const db = await sqliteBackend.create('crash-unsafe');
    cleanups.push(db.cleanup);
    const seed = Math.floor(Math.random() * 1e6);
    const model = newModel();

    const unsafe = await startProcess('unsafe', db.env);
    await warmUp(unsafe);
    await setupClients(unsafe.base, model, 1, prng(seed + 7));
    await sleep(500); // the base apps are written
    const killAfter = KILL_MIN_MS + Math.floor(prng(seed)() * (KILL_MAX_MS - KILL_MIN_MS));
    const { load, inFlight } = await loadAndKill(unsafe, model, 1, seed, killAfter);
    assert.deepEqual(load.unexpected, [], 'the unsafe server answers like the real one');

    const checker = await startProcess('cli', db.env);
    await warmUp(checker);
    const result = await verify(checker.base, model, false);
    checker.signal('SIGTERM');
    await withTimeout(checker.exited, 30_000, 'checker exit');
    t.diagnostic(
      `seed ${seed}: killed with ${inFlight} in flight after ${load.acked.create} creates, ${load.acked.put} PUTs, ${load.acked.delete} deletes were acknowledged; ` +
        `the check found ${result.violations.length} violations, e.g.\n${result.violations.slice(0, 5).join('\n')}`,
    );
    assert.ok(result.violations.length > 0, 'the harness must FAIL for a server that acknowledges writes it has not made durable');
    assert.ok(
      result.violations.some((v) => v.startsWith('LOST:')),
      'and it names lost acknowledged writes',
    );
  });

  test('control of the control: the unsafe server, killed only after it has written everything, passes the same check', { timeout: 90_000 }, async () => {
    ensureBuilt();
    const db = await sqliteBackend.create('crash-unsafe-idle');
    cleanups.push(db.cleanup);
    const seed = Math.floor(Math.random() * 1e6);
    const model = newModel();

    const unsafe = await startProcess('unsafe', db.env);
    await warmUp(unsafe);
    await setupClients(unsafe.base, model, 1, prng(seed + 7));
    const { load } = await loadAndKill(unsafe, model, 1, seed, 400, true);
    assert.deepEqual(load.unexpected, []);
    assert.ok(load.acked.create + load.acked.put + load.acked.delete >= MIN_ACKED);

    const checker = await startProcess('cli', db.env);
    await warmUp(checker);
    const result = await verify(checker.base, model, false);
    checker.signal('SIGTERM');
    await withTimeout(checker.exited, 30_000, 'checker exit');
    assert.deepEqual(result.violations, [], `seed ${seed}: the fixture is faithful apart from its timing`);
  });
});
