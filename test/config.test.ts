/** loadConfig: defaults, precedence (flag over environment) and refusal of bad settings, each naming the setting. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { ConfigError, loadConfig, settings } from '../src/config.js';

/** Asserts that loading throws a ConfigError naming `setting` (in the error and its message). */
function assertRefused(env: NodeJS.ProcessEnv, setting: string, flags: Record<string, string | undefined> = {}): ConfigError {
  let caught: unknown;
  try {
    loadConfig(env, flags);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError for ${setting}, got ${String(caught)}`);
  assert.equal(caught.setting, setting);
  assert.match(caught.message, new RegExp(`\\b${setting}\\b`));
  return caught;
}

describe('loadConfig defaults', () => {
  test('an empty environment gives port 8080 on 127.0.0.1, ./data/tokenkeep.db resolved, log level info', () => {
    const config = loadConfig({});
    assert.equal(config.port, 8080);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.db.kind, 'sqlite');
    assert.ok(isAbsolute(config.db.file));
    assert.equal(config.db.file, join(process.cwd(), 'data', 'tokenkeep.db'));
    assert.equal(config.logLevel, 'info');
    assert.equal(config.adminPassword, undefined);
    assert.equal(config.userPassword, undefined);
  });

  test('unrelated environment variables are ignored', () => {
    const config = loadConfig({ HOME: '/root', NODE_ENV: 'production', DB: 'postgres://x' });
    assert.equal(config.port, 8080);
    assert.equal(config.db.file, resolve('./data/tokenkeep.db'));
  });

  test('the documented defaults match what loadConfig does', () => {
    const config = loadConfig({});
    const doc = (env: string) => settings.find((s) => s.env === env)!.default;
    assert.equal(String(config.port), doc('PORT'));
    assert.equal(config.host, doc('HOST'));
    assert.equal(config.db.file, resolve(doc('TOKENKEEP_DB')));
    assert.equal(config.logLevel, doc('TOKENKEEP_LOG_LEVEL'));
  });
});

describe('loadConfig from the environment and flags', () => {
  test('the environment sets every value', () => {
    const config = loadConfig({
      PORT: '9090',
      HOST: '0.0.0.0',
      TOKENKEEP_DB: 'relative/x.db',
      TOKENKEEP_LOG_LEVEL: 'warn',
      TOKENKEEP_ADMIN_PASSWORD: 'Admin-Passw0rd',
      TOKENKEEP_USER_PASSWORD: 'User-Passw0rd',
      TOKENKEEP_ALLOW_INSECURE_HTTP: '1',
      TOKENKEEP_ALLOW_LOOPBACK_HTTP_URIS: '1',
    });
    assert.equal(config.allowInsecureHttp, true);
    assert.equal(config.allowLoopbackHttpUris, true);
    assert.equal(config.port, 9090);
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.db.file, resolve('relative/x.db'));
    assert.equal(config.logLevel, 'warn');
    assert.equal(config.adminPassword, 'Admin-Passw0rd');
    assert.equal(config.userPassword, 'User-Passw0rd');
  });

  test('flags override the environment', () => {
    const env = { PORT: '9090', HOST: '0.0.0.0', TOKENKEEP_DB: '/tmp/env.db', TOKENKEEP_LOG_LEVEL: 'warn' };
    const config = loadConfig(env, { port: '7070', host: '::1', db: '/tmp/flag.db', 'log-level': 'debug' });
    assert.equal(config.port, 7070);
    assert.equal(config.host, '::1');
    assert.equal(config.db.file, '/tmp/flag.db');
    assert.equal(config.logLevel, 'debug');
  });

  test('an absent flag leaves the environment in charge', () => {
    const config = loadConfig({ PORT: '9090' }, { port: undefined, host: '127.0.0.2' });
    assert.equal(config.port, 9090);
    assert.equal(config.host, '127.0.0.2');
  });

  test('a bad flag is refused even when the environment is fine, and vice versa', () => {
    assertRefused({ PORT: '9090' }, 'PORT', { port: 'abc' });
    // A good flag replaces a bad environment value entirely.
    assert.equal(loadConfig({ PORT: 'abc' }, { port: '9090' }).port, 9090);
  });

  test('PORT 0 (pick a free port) and 65535 are accepted', () => {
    assert.equal(loadConfig({ PORT: '0' }).port, 0);
    assert.equal(loadConfig({ PORT: '65535' }).port, 65535);
  });

  test('every log level is accepted', () => {
    for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) {
      assert.equal(loadConfig({ TOKENKEEP_LOG_LEVEL: level }).logLevel, level);
    }
  });

  test('a relative database path is resolved against the working directory', () => {
    const config = loadConfig({ TOKENKEEP_DB: 'sub/dir/../tk.db' });
    assert.equal(config.db.file, join(process.cwd(), 'sub', 'tk.db'));
  });
});

describe('TOKENKEEP_DB selects the backend', () => {
  test('a postgres:// or postgresql:// URL (any case of the scheme) selects PostgreSQL, kept as given', () => {
    for (const [text, url] of [
      ['postgres://u:p@localhost/tk', 'postgres://u:p@localhost/tk'],
      ['postgresql://localhost:5433/tk?sslmode=require', 'postgresql://localhost:5433/tk?sslmode=require'],
      ['POSTGRES://host/db', 'postgres://host/db'],
      ['postgres:///tk?host=/var/run/postgresql', 'postgres:///tk?host=/var/run/postgresql'],
    ]) {
      const config = loadConfig({ TOKENKEEP_DB: text });
      assert.deepEqual(config.db, { kind: 'postgres', url });
    }
    assert.deepEqual(loadConfig({ TOKENKEEP_DB: '/tmp/env.db' }, { db: 'postgres://localhost/tk' }).db, { kind: 'postgres', url: 'postgres://localhost/tk' });
  });

  test('anything else is a SQLite file path', () => {
    assert.deepEqual(loadConfig({ TOKENKEEP_DB: 'postgres.db' }).db, { kind: 'sqlite', file: resolve('postgres.db') });
    assert.deepEqual(loadConfig({ TOKENKEEP_DB: ':memory:' }).db, { kind: 'sqlite', file: ':memory:' });
  });
});

describe('loadConfig refuses bad settings, naming them', () => {
  test('an invalid PORT', () => {
    for (const port of ['abc', '70000', '-1', '65536', '80.5', '1e3', '0x50', '', ' ', '80 ']) {
      const err = assertRefused({ PORT: port }, 'PORT');
      assert.ok(err.message.length < 300);
    }
  });

  test('TOKENKEEP_DB naming another URL, a malformed PostgreSQL URL, or nothing', () => {
    for (const db of ['mysql://localhost/tk', 'file:///tmp/x.db', 'postgres:localhost/tk', 'postgres://', 'postgresql://[::1/tk', '', '   ']) {
      assertRefused({ TOKENKEEP_DB: db }, 'TOKENKEEP_DB');
    }
    assertRefused({}, 'TOKENKEEP_DB', { db: 'mysql://localhost/tk' });
  });

  test('TOKENKEEP_DB that SQLite cannot use: a directory, a file in a missing folder outside the working directory, a file below a file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokenkeep-config-'));
    try {
      mkdirSync(join(dir, 'folder'));
      writeFileSync(join(dir, 'plain'), 'x');
      assert.match(assertRefused({ TOKENKEEP_DB: join(dir, 'folder') }, 'TOKENKEEP_DB').message, /names a directory/);
      assert.match(
        assertRefused({ TOKENKEEP_DB: join(dir, 'missing', 'deeper', 'tk.db') }, 'TOKENKEEP_DB').message,
        /folder .*missing\/deeper, which does not exist; create it first/,
      );
      assert.match(assertRefused({ TOKENKEEP_DB: join(dir, 'plain', 'tk.db') }, 'TOKENKEEP_DB').message, /cannot be used: ENOTDIR/);
      assert.deepEqual(readdirSync(dir).sort(), ['folder', 'plain'], 'loading the configuration creates nothing');
      // Existing folders anywhere, and missing ones inside the working directory (created when the store opens).
      assert.equal(loadConfig({ TOKENKEEP_DB: join(dir, 'folder', 'tk.db') }).db.file, join(dir, 'folder', 'tk.db'));
      assert.equal(loadConfig({ TOKENKEEP_DB: 'not-yet/here/tk.db' }).db.file, resolve('not-yet/here/tk.db'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a malformed PostgreSQL URL with credentials is not echoed', () => {
    const err = assertRefused({ TOKENKEEP_DB: 'postgres://admin:S3cret-pw@[db.example/tk' }, 'TOKENKEEP_DB');
    assert.doesNotMatch(err.message, /S3cret-pw/);
  });

  test('an empty HOST', () => {
    assertRefused({ HOST: '' }, 'HOST');
    assertRefused({ HOST: '  ' }, 'HOST');
  });

  test('an unknown log level', () => {
    for (const level of ['verbose', 'INFO', 'warning', '', '1']) assertRefused({ TOKENKEEP_LOG_LEVEL: level }, 'TOKENKEEP_LOG_LEVEL');
    assertRefused({}, 'TOKENKEEP_LOG_LEVEL', { 'log-level': 'loud' });
  });

  for (const setting of ['TOKENKEEP_ADMIN_PASSWORD', 'TOKENKEEP_USER_PASSWORD'] as const) {
    const userName = setting === 'TOKENKEEP_ADMIN_PASSWORD' ? 'd2cadmin' : 'd2cuser';
    test(`${setting} that violates the password policy`, () => {
      const bad = [
        'Sh0rt!', // under 8 characters
        'alllowercaseletters', // one class
        'lowercase123', // two classes
        `X-${userName}-9`, // contains the user name
        `X-${userName.toUpperCase()}-9`, // ... in any case
        `Aa1-${'x'.repeat(130)}`, // over 128 characters
      ];
      for (const password of bad) {
        const err = assertRefused({ [setting]: password }, setting);
        assert.ok(!err.message.includes(password), 'the message does not echo the password');
      }
    });

    test(`${setting} that meets the policy is accepted`, () => {
      for (const password of ['Good-Passw0rd', 'Pässwörd-1€x', 'abcDEF12', 'abc-DEF-ghi']) {
        const config = loadConfig({ [setting]: password });
        assert.equal(setting === 'TOKENKEEP_ADMIN_PASSWORD' ? config.adminPassword : config.userPassword, password);
      }
    });
  }

  test('the policy applies to each password against its own user name', () => {
    // "d2cuser" in the admin password is fine (it is not the admin's name), and the reverse.
    assert.equal(loadConfig({ TOKENKEEP_ADMIN_PASSWORD: 'X-d2cuser-9' }).adminPassword, 'X-d2cuser-9');
    assert.equal(loadConfig({ TOKENKEEP_USER_PASSWORD: 'X-d2cadmin-9' }).userPassword, 'X-d2cadmin-9');
  });

  test('TOKENKEEP_PUBLIC_URL: an https origin, or http on a loopback host, kept as its origin; anything else refused', () => {
    assert.equal(loadConfig({}).publicUrl, undefined, 'consent is off by default');
    assert.equal(loadConfig({ TOKENKEEP_PUBLIC_URL: '' }).publicUrl, undefined);
    for (const [given, origin] of [
      ['https://tokenkeep.example.com', 'https://tokenkeep.example.com'],
      ['https://tokenkeep.example.com/', 'https://tokenkeep.example.com'],
      ['HTTPS://TokenKeep.Example.com:443', 'https://tokenkeep.example.com'],
      ['https://tokenkeep.example.com:8443', 'https://tokenkeep.example.com:8443'],
      ['http://127.0.0.1:8080', 'http://127.0.0.1:8080'],
      ['http://localhost:8080/', 'http://localhost:8080'],
      ['http://[::1]:8080', 'http://[::1]:8080'],
    ]) {
      assert.equal(loadConfig({ TOKENKEEP_PUBLIC_URL: given }).publicUrl, origin, given);
    }
    for (const bad of [
      'http://tokenkeep.example.com', // plain http off loopback
      'http://10.0.0.5:8080',
      'ftp://tokenkeep.example.com',
      'tokenkeep.example.com', // no scheme
      'https:tokenkeep.example.com', // no "//"
      'https://tokenkeep.example.com/tokenkeep', // a path
      'https://tokenkeep.example.com/?x=1', // a query
      'https://tokenkeep.example.com/#top', // a fragment
      'https://user:pw@tokenkeep.example.com', // credentials
      'https://tokenkeep.example.com\\@evil.example', // a backslash
      'https://tokenkeep .example.com', // a space
      'https://tökenkeep.example.com', // not ASCII
      'not a url',
    ]) {
      const err = assertRefused({ TOKENKEEP_PUBLIC_URL: bad }, 'TOKENKEEP_PUBLIC_URL');
      assert.ok(!err.message.includes('pw@'), 'credentials are not echoed');
    }
  });

  test('ConfigError is an Error with a readable message', () => {
    const err = assertRefused({ PORT: 'abc' }, 'PORT');
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'ConfigError');
    assert.match(err.message, /abc/);
  });
});
