/**
 * Durable writes without one fsync per request: concurrent writes share commits, each still resolves only after the
 * commit that holds it, and one failing write in a batch does not take the others down with it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Checkpointer } from '../../src/storage/sqlite/checkpointer.js';
import { harness, listProfiles, sqliteOnly, sqliteStoreOf, type Harness } from '../helpers.js';

describe('SQLite group commit', { skip: sqliteOnly('group commit and the database file are SQLite internals') }, () => {
  let h: Harness;
  let appId: number;
  before(async () => {
    h = await harness();
    const res = await h.call({
      method: 'POST',
      url: '/api/mgmt/oauthapps',
      as: 'd2cadmin',
      payload: {
        name: 'GC app',
        dataStore: 54,
        clientId: 'c',
        clientSecret: 's',
        authorizeURI: 'https://a.example/a',
        tokenURI: 'https://a.example/t',
      },
    });
    appId = res.json().id;
  });
  after(() => h.close());

  test('durability settings are WAL with synchronous=FULL', () => {
    const db = new Database(join(h.dir, 'tokenkeep.db'), { readonly: true });
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    } finally {
      db.close();
    }
    // synchronous is per connection: ask the server's own connection through the store's connection (`db`).
    assert.equal(sqliteStoreOf(h).db.synchronous(), 2, 'FULL');
  });

  test('100 concurrent creates are all acknowledged, in far fewer commits, and all visible to another connection', async () => {
    const before = sqliteStoreOf(h).db.commits;
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        h.app.inject({
          method: 'POST',
          url: '/api/mgmt/oauthprofiles',
          headers: { authorization: `Basic ${Buffer.from('d2cuser:User-Passw0rd').toString('base64')}` },
          payload: { name: `gc_${i}`, oauthAppId: appId, refreshToken: `rt-${i}` },
        }),
      ),
    );
    assert.deepEqual(
      results.map((r) => r.statusCode),
      Array(100).fill(201),
    );
    const commits = sqliteStoreOf(h).db.commits - before;
    assert.ok(commits >= 1 && commits < 50, `100 writes took ${commits} commits`);
    const db = new Database(join(h.dir, 'tokenkeep.db'), { readonly: true });
    try {
      const n = db.prepare("SELECT count(*) AS n FROM oauth_profiles WHERE name LIKE 'gc\\_%' ESCAPE '\\'").get() as { n: number };
      assert.equal(n.n, 100);
    } finally {
      db.close();
    }
  });

  test('a failing write in a batch fails alone', async () => {
    const auth = { authorization: `Basic ${Buffer.from('d2cuser:User-Passw0rd').toString('base64')}` };
    const [dup1, dup2, other] = await Promise.all([
      h.app.inject({ method: 'POST', url: '/api/mgmt/oauthprofiles', headers: auth, payload: { name: 'same', oauthAppId: appId, refreshToken: 'a' } }),
      h.app.inject({ method: 'POST', url: '/api/mgmt/oauthprofiles', headers: auth, payload: { name: 'SAME', oauthAppId: appId, refreshToken: 'b' } }),
      h.app.inject({ method: 'POST', url: '/api/mgmt/oauthprofiles', headers: auth, payload: { name: 'other', oauthAppId: appId, refreshToken: 'c' } }),
    ]);
    assert.deepEqual([dup1.statusCode, dup2.statusCode].sort(), [201, 409]);
    assert.equal(other.statusCode, 201);
    const names = (await listProfiles(h.store, 2)).map((p) => p.name.toLowerCase());
    assert.equal(names.filter((n) => n === 'same').length, 1);
    assert.ok(names.includes('other'));
  });
  test('WAL checkpoints run on the worker, not in a commit: soon after writes, the database file alone holds them', async () => {
    const { db } = sqliteStoreOf(h);
    const before = db.checkpoints;
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        h.app.inject({
          method: 'POST',
          url: '/api/mgmt/oauthprofiles',
          headers: { authorization: `Basic ${Buffer.from('d2cuser:User-Passw0rd').toString('base64')}` },
          payload: { name: `ckpt_${i}`, oauthAppId: appId, refreshToken: `rt-${i}` },
        }),
      ),
    );
    assert.deepEqual(
      results.map((r) => r.statusCode),
      Array(50).fill(201),
    );
    // A copy of the database file without its WAL sees only what a checkpoint copied into the file. The copy is taken
    // only while the worker is idle, in one synchronous step: a checkpoint starts only when this thread posts to the
    // worker, so none can write the file during the copy (a copy taken meanwhile can be torn: SQLITE_CORRUPT), and
    // `checkpoints` already counts the one that wrote what the copy sees. SQLite's backup API would not do: it reads
    // through a connection, which sees the WAL too, so the copy would hold every write, checkpointed or not.
    const checkpointer = db.checkpointer as unknown as { running?: unknown } | undefined;
    assert.equal(typeof checkpointer?.running, 'boolean', "the store's checkpointer says whether a checkpoint runs");
    const dir = mkdtempSync(join(tmpdir(), 'tokenkeep-ckpt-'));
    try {
      let inFile = 0;
      for (const deadline = Date.now() + 5000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
        if (checkpointer!.running) continue;
        copyFileSync(join(h.dir, 'tokenkeep.db'), join(dir, 'copy.db'));
        const copy = new Database(join(dir, 'copy.db'));
        try {
          inFile = (copy.prepare("SELECT count(*) AS n FROM oauth_profiles WHERE name LIKE 'ckpt\\_%' ESCAPE '\\'").get() as { n: number }).n;
        } finally {
          copy.close();
        }
        if (inFile === 50) break;
      }
      assert.equal(inFile, 50, 'every acknowledged write reached the database file');
      assert.ok(db.checkpoints > before, `the worker checkpointed (${db.checkpoints} > ${before})`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test("a checkpoint worker that cannot open the database reports the failure, with SQLite's code", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokenkeep-ckpt-'));
    try {
      // A folder where the database file should be: the worker cannot open it and ends with an error.
      const failure = await new Promise<Error>((resolve, reject) => {
        const checkpointer = new Checkpointer(dir, resolve);
        checkpointer.nudge();
        setTimeout(() => reject(new Error('no failure reported within 5 s')), 5000).unref();
      });
      assert.match(failure.message, /checkpoint worker failed: SQLITE_CANTOPEN/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
