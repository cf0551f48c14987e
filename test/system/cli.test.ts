/**
 * The `tokenkeep` command as a real process (`node dist/cli.js`, in temporary folders as working directory): the
 * grammar refuses a typo before touching any file, a port in use ends the start at once naming PORT, an unusable
 * TOKENKEEP_DB is named with exit 2, the SQLite folder and files are private, stdout carries JSON lines only with one
 * ready line, and `users unlock` / `users reset-password` work beside a running server on SQLite and PostgreSQL.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, ROOT, api, basic, childEnv, ensureBuilt, killAll, startServer, withTimeout, type Running } from '../process-support.js';
import { backends } from '../durability-support.js';

const ADMIN_PW = 'Cli-Adm1n-Pw!';
const USER_PW = 'Cli-Us3r-Pw!';
const FIRST_START = { TOKENKEEP_ADMIN_PASSWORD: ADMIN_PW, TOKENKEEP_USER_PASSWORD: USER_PW };

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

const spawned = new Set<ReturnType<typeof spawn>>();

/** Runs `node dist/cli.js <args>` in `cwd`, feeding `input` to standard input; SIGKILLed after `timeoutMs`. */
function run(args: string[], opts: { cwd: string; env?: Record<string, string>; input?: string | Buffer; timeoutMs?: number }): Promise<Result> {
  const started = Date.now();
  const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd, env: childEnv(opts.env ?? {}), stdio: ['pipe', 'pipe', 'pipe'] });
  spawned.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  child.stdin.on('error', () => undefined); // a command that exits before reading its input
  child.stdin.end(opts.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  return new Promise((resolve) =>
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      spawned.delete(child);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    }),
  );
}

const temps: string[] = [];
const tempDir = (label: string): string => {
  const dir = mkdtempSync(join(tmpdir(), `tokenkeep-cli-${label}-`));
  temps.push(dir);
  return dir;
};
const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);

before(() => ensureBuilt());
after(() => {
  for (const child of spawned) child.kill('SIGKILL');
  killAll();
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

describe('the command line is checked whole before any file is touched', { timeout: 300_000 }, () => {
  const usageErrors: [string[], RegExp][] = [
    [['keys', 'frob'], /unknown keys command: frob/],
    [['serve', 'extra'], /serve takes no arguments/],
    [['frob'], /unknown command: frob/],
    [['keys'], /keys needs one of: status, rotate, reencrypt, retire, rekey/],
    [['users', 'unlock'], /users unlock needs NAME/],
    [['users', 'frob', 'x'], /unknown users command: frob/],
    [['users', 'unlock', 'a', 'b'], /users unlock takes NAME, not 1 more word/],
    [['keys', 'retire', 'one'], /VERSION must be a key version number/],
    [['keys', 'rotate', '--batch', '0'], /--batch must be a positive integer/],
    [['keys', 'rekey', '--new-key-file', 'a', '--generate-key-file', 'b'], /not both/],
    [['migrate', '--port', '9000'], /--port does not apply to migrate/],
    [['users', 'unlock', 'x', '--password-file', 'f'], /--password-file does not apply to users unlock/],
    [['serve', '--frob'], /Unknown option '--frob'/],
    [['serve', '--port'], /--port/],
  ];
  for (const [args, message] of usageErrors) {
    test(`tokenkeep ${args.join(' ')}: usage on stderr, exit 2, the folder stays empty`, async () => {
      const dir = tempDir('usage');
      const res = await run(args, { cwd: dir });
      assert.equal(res.code, 2, `${res.stdout}${res.stderr}`);
      assert.match(res.stderr, message);
      assert.match(res.stderr, /Usage: tokenkeep/);
      assert.equal(res.stdout, '');
      assert.deepEqual(readdirSync(dir), [], 'no file or folder was created');
    });
  }

  test('a password given on the command line is refused and not echoed', async () => {
    const dir = tempDir('argv');
    const res = await run(['users', 'reset-password', 'd2cuser', 'Argv-Secr3t-Pw'], { cwd: dir });
    assert.equal(res.code, 2);
    assert.doesNotMatch(res.stdout + res.stderr, /Argv-Secr3t-Pw/);
    assert.deepEqual(readdirSync(dir), []);
  });

  test('--help lists every command and exits 0 without touching a file', async () => {
    const dir = tempDir('help');
    const res = await run(['--help'], { cwd: dir });
    assert.equal(res.code, 0);
    for (const line of [
      'serve',
      'migrate',
      'keys status',
      'keys rotate [--batch N]',
      'keys reencrypt',
      'keys retire VERSION',
      'keys rekey [--new-key-file FILE] [--generate-key-file FILE]',
      'users unlock NAME',
      'users reset-password NAME [--password-file FILE]',
    ]) {
      assert.ok(res.stdout.includes(`\n  ${line}`), `--help lists ${line}`);
    }
    assert.deepEqual(readdirSync(dir), []);
  });
});

describe('serve on a port in use', { timeout: 120_000 }, () => {
  let holder: Server;
  before(async () => {
    holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  });
  after(() => holder.close());

  test('exits by itself with 2, naming PORT, the host and the port, without a stack', async () => {
    const port = (holder.address() as { port: number }).port;
    const dir = tempDir('port');
    const res = await run(['serve'], { cwd: dir, env: { ...FIRST_START, PORT: String(port), HOST: '127.0.0.1' }, timeoutMs: 45_000 });
    assert.notEqual(res.signal, 'SIGKILL', `still running after 45 s:\n${res.stdout}${res.stderr}`);
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stderr, /\bPORT\b/);
    assert.match(res.stderr, new RegExp(`\\b${port} on 127\\.0\\.0\\.1 is already in use \\(EADDRINUSE\\)`));
    assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
    assert.doesNotMatch(res.stdout, /listening on/);
  });
});

describe('TOKENKEEP_DB that cannot be used is named, exit 2', { timeout: 120_000 }, () => {
  test('a directory', async () => {
    const dir = tempDir('dbdir');
    mkdirSync(join(dir, 'db'));
    for (const args of [['serve'], ['migrate'], ['users', 'unlock', 'd2cadmin']]) {
      const res = await run(args, { cwd: dir, env: { ...FIRST_START, PORT: '0', TOKENKEEP_DB: join(dir, 'db') } });
      assert.equal(res.code, 2, `${args.join(' ')}: ${res.stderr}`);
      assert.match(res.stderr, /\bTOKENKEEP_DB\b.*directory/);
      assert.deepEqual(readdirSync(join(dir, 'db')), [], 'nothing was created inside it');
    }
  });

  test('a missing folder outside the working directory is refused, and not created', async () => {
    const cwd = tempDir('cwd');
    const elsewhere = tempDir('elsewhere');
    const res = await run(['migrate'], { cwd, env: { TOKENKEEP_DB: join(elsewhere, 'missing', 'tk.db') } });
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stderr, /\bTOKENKEEP_DB\b.*does not exist; create it first/);
    assert.deepEqual(readdirSync(elsewhere), []);
    assert.deepEqual(readdirSync(cwd), []);
  });

  test('a file that is not a database', async () => {
    const dir = tempDir('notadb');
    writeFileSync(join(dir, 'tk.db'), 'this is not a database, it is a text file of some length\n'.repeat(100));
    const res = await run(['migrate'], { cwd: dir, env: { TOKENKEEP_DB: join(dir, 'tk.db') } });
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stderr, /\bTOKENKEEP_DB\b.*SQLITE_NOTADB/);
  });
});

describe('the SQLite folder and files are private', { timeout: 300_000 }, () => {
  test('./data is made 0700, the database, -wal and -shm 0600; looser modes found at start are warned about', async () => {
    const dir = tempDir('modes');
    // The default path, inside the working directory: its missing folder is created.
    const migrated = await run(['migrate'], { cwd: dir });
    assert.equal(migrated.code, 0, migrated.stderr);
    const data = join(dir, 'data');
    const db = join(data, 'tokenkeep.db');
    assert.equal(mode(data), '700');
    assert.equal(mode(db), '600');

    const server = await startServer({ ...FIRST_START, TOKENKEEP_DB: db });
    try {
      const created = await api(server.base, 'POST', '/api/admin/users', basic('d2cadmin', ADMIN_PW), {
        userName: 'modes',
        statusInfo: { status: 1 },
        passwordInfo: { password: 'Private-Passw0rd' },
        permissions: { roles: [2] },
      });
      assert.equal(created.status, 201, created.text);
      for (const file of [db, `${db}-wal`, `${db}-shm`]) assert.equal(mode(file), '600', file);
      assert.doesNotMatch(server.output(), /accessible by group or others/);
    } finally {
      assert.deepEqual(await server.stop(), { code: 0, signal: null });
    }

    chmodSync(db, 0o644);
    chmodSync(data, 0o755);
    const loose = await startServer({ TOKENKEEP_DB: db });
    try {
      const output = loose.output();
      assert.ok(output.includes(`the database file ${db} is accessible by group or others (mode 0644)`), output);
      assert.ok(output.includes(`chmod 600 ${db}`));
      assert.ok(output.includes(`the database folder ${data} is accessible by group or others (mode 0755)`));
      assert.ok(output.includes(`chmod 700 ${data}`));
    } finally {
      assert.deepEqual(await loose.stop(), { code: 0, signal: null });
    }
  });
});

describe('serve keeps stdout machine-readable', { timeout: 120_000 }, () => {
  test('stdout holds only JSON lines with one ready line; the generated-password banner goes to stderr', async () => {
    const dir = tempDir('stdout');
    const child = spawn(process.execPath, [CLI, 'serve'], { cwd: dir, env: childEnv({ PORT: '0', HOST: '127.0.0.1' }), stdio: ['ignore', 'pipe', 'pipe'] });
    spawned.add(child);
    let stdout = '';
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    const ready = new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => {
        stdout += c.toString('utf8');
        const m = /tokenkeep listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
        if (m) resolve(m[1]);
      });
      void exited.then(() => reject(new Error(`exited before listening:\n${stdout}${stderr}`)));
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const base = await withTimeout(ready, 60_000, 'server start');
    const health = await fetch(`${base}/api/healthcheck`, { signal: AbortSignal.timeout(30_000) });
    assert.equal(health.status, 200);
    child.kill('SIGTERM');
    assert.equal(await withTimeout(exited, 30_000, 'exit after SIGTERM'), 0);
    spawned.delete(child);

    const lines = stdout.split('\n').filter((l) => l !== '');
    for (const line of lines) assert.doesNotThrow(() => JSON.parse(line), `not a JSON line on stdout: ${line}`);
    const readyLines = lines.filter((l) => /listening/i.test(l));
    assert.equal(readyLines.length, 1, `one ready line, got:\n${readyLines.join('\n')}`);
    assert.match(stderr, /First start: generated passwords \(shown once; change them\):\n {2}d2cadmin: \S+\n {2}d2cuser: {2}\S+/);
    assert.doesNotMatch(stdout, /generated passwords|d2cadmin: /);
  });
});

for (const backend of backends) {
  describe(`users unlock and reset-password beside a running server (${backend.name})`, { skip: backend.skip, timeout: 600_000 }, () => {
    let instance: Awaited<ReturnType<typeof backend.create>>;
    let server: Running;
    let cwd: string;
    const USER = basic('d2cuser', USER_PW);
    const cli = (args: string[], input?: string) => run(args, { cwd, env: instance.env, input });
    const status = async (auth: string) => (await api(server.base, 'GET', '/api/mgmt/permissions', auth)).status;
    const lockOut = async (user: string) => {
      for (let i = 0; i < 3; i++) assert.equal(await status(basic(user, `Wrong-Passw0rd-${i}`)), 401);
    };

    before(async () => {
      cwd = tempDir(`users-${backend.name}`);
      instance = await backend.create('cli-users');
      server = await startServer({ ...instance.env, ...FIRST_START });
    });
    after(async () => {
      if (server) await server.stop();
      await instance?.cleanup();
    });

    test('unlock: a user locked by three wrong logins logs in again; the name is case-insensitive', async () => {
      await lockOut('d2cuser');
      assert.equal(await status(USER), 401, 'locked: the right password is refused');
      const res = await cli(['users', 'unlock', 'D2CUSER']);
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stdout, /^user d2cuser \(id \d+\): unlocked it \(it was locked until \S+\); failed-login count reset/);
      assert.equal(await status(USER), 200, 'the running server admits the user at its next request');
    });

    test('unlock of a user who is not locked says so', async () => {
      const res = await cli(['users', 'unlock', 'd2cuser']);
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stdout, /it was not locked; failed-login count reset \(it was 0\)/);
    });

    test('an unknown user: exit 1 with a clear message', async () => {
      for (const args of [
        ['users', 'unlock', 'nosuchuser'],
        ['users', 'reset-password', 'nosuchuser'],
      ]) {
        const res = await cli(args, 'Unused-Passw0rd\n');
        assert.equal(res.code, 1, res.stderr);
        assert.equal(res.stderr, 'tokenkeep: no user named "nosuchuser"\n');
      }
    });

    test('reset-password from standard input: the old password is refused at once, the new one admitted, the lock cleared', async () => {
      assert.equal(await status(USER), 200, "the old password works (and is in the server's verified cache)");
      await lockOut('d2cuser');
      const res = await cli(['users', 'reset-password', 'd2cuser'], 'Fresh-Passw0rd-1\n');
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stdout, /^user d2cuser \(id \d+\): password replaced; unlocked it/);
      assert.doesNotMatch(res.stdout + res.stderr, /Fresh-Passw0rd-1/);
      assert.equal(await status(basic('d2cuser', 'Fresh-Passw0rd-1')), 200);
      assert.equal(await status(USER), 401, 'the old password is refused');
    });

    test('reset-password from --password-file, input without a final newline', async () => {
      const file = join(cwd, 'pw.txt');
      writeFileSync(file, 'Second-Passw0rd-2', { mode: 0o600 });
      const res = await run(['users', 'reset-password', 'd2cuser', '--password-file', file], { cwd, env: instance.env, input: 'Ignored-Passw0rd-9\n' });
      assert.equal(res.code, 0, res.stderr);
      assert.equal(await status(basic('d2cuser', 'Second-Passw0rd-2')), 200);
      assert.equal(await status(basic('d2cuser', 'Ignored-Passw0rd-9')), 401, 'standard input is not read when a file is given');
    });

    test('reset-password refuses an empty, weak, multi-line or non-UTF-8 password and changes nothing', async () => {
      const refusals: [string | Buffer, RegExp][] = [
        ['', /the new password is empty/],
        ['\n', /the new password is empty/],
        ['weakpass\n', /does not meet the password policy/],
        ['X-d2cuser-Pw1\n', /does not meet the password policy: it must not contain the user name/],
        ['Line-One-Pw1\nLine-Two-Pw2\n', /more than one line/],
        [Buffer.from([0x41, 0x62, 0x31, 0x2d, 0xff, 0xfe, 0x41, 0x62, 0x31]), /not valid UTF-8/],
        ['A'.repeat(5000), /longer than 4096 bytes/],
      ];
      for (const [input, message] of refusals) {
        const res = await run(['users', 'reset-password', 'd2cuser'], { cwd, env: instance.env, input });
        assert.equal(res.code, 1, `${JSON.stringify(String(input).slice(0, 40))}: ${res.stderr}`);
        assert.match(res.stderr, message);
        assert.match(res.stderr, /nothing was changed/);
      }
      const missing = await cli(['users', 'reset-password', 'd2cuser', '--password-file', join(cwd, 'absent.txt')]);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /--password-file cannot be read: ENOENT/);
      assert.equal(await status(basic('d2cuser', 'Second-Passw0rd-2')), 200, 'the password is unchanged');
    });
  });
}

describe('users commands do not create a database', { timeout: 60_000 }, () => {
  test('a SQLite path that does not exist is named and stays absent', async () => {
    const dir = tempDir('nodb');
    const res = await run(['users', 'unlock', 'd2cadmin'], { cwd: dir, env: { TOKENKEEP_DB: join(dir, 'tk.db') } });
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stderr, /\bTOKENKEEP_DB\b names no database/);
    assert.deepEqual(readdirSync(dir), []);
  });
});

describe('npm start', () => {
  test('starts the built server at once: npm ci builds (prepare), npm start does not compile', () => {
    const { scripts } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.equal(scripts.prestart, undefined, 'no build before every start');
    assert.equal(scripts.start, 'node dist/cli.js serve');
    assert.match(scripts.prepare, /npm run build/);
  });
});
