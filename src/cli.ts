#!/usr/bin/env node
/**
 * The `tokenkeep` command. The whole command line is checked against the table `commands` (command words,
 * positional arguments, the flags each command takes) before any setting is loaded or any file touched: a typo is a
 * usage error (exit 2) that creates nothing. Settings come from the environment and can be overridden with flags;
 * see `tokenkeep --help` and the README's configuration table.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, settings } from './config.js';
import { startServer } from './server.js';
import { SealedError } from './sealing/key-ring.js';
import { openStore, peekKeyCheck } from './storage/open.js';
import { integrityRules } from './domain/integrity.js';
import { DatabaseFileError } from './storage/errors.js';
import { UnsealError, keySettingsOf, refuseWrongKey, unsealStore } from './keys/unseal.js';
import { damagedReport, reencryptAll, rotate } from './keys/rotation.js';
import { prepareRekey, rekey } from './keys/rekey.js';
import type { Config } from './config.js';
import { CommandFailed, resetPassword, unlockUser } from './users-command.js';

type Flags = Record<string, string | undefined>;

async function keysCommand(config: Config, args: string[], flags: Flags): Promise<number> {
  const batch = Number(flags.batch ?? '500');
  const keySettings = keySettingsOf(config);
  const rekeying = args[0] === 'rekey' ? await prepareRekey({ newKeyFile: flags['new-key-file'], generateKeyFile: flags['generate-key-file'] }) : undefined;
  refuseWrongKey(keySettings, peekKeyCheck(config.db));
  const store = openStore(config.db, integrityRules);
  try {
    await store.migrate();
    if (!(await store.keys.initialized())) throw new UnsealError('this database has no key ring yet: start the server once first');
    await unsealStore(store, keySettings);
    const progress = (done: number) => process.stdout.write(`re-encrypted ${done} rows\n`);
    switch (args[0]) {
      case 'status': {
        const versions = await store.keys.status();
        for (const v of versions) {
          process.stdout.write(`version ${v.version}${v.active ? ' (active)' : ''}: ${v.rows} rows, created ${v.createdAt ?? 'MISSING FROM THE KEY RING'}\n`);
        }
        const stale = versions.filter((v) => !v.active && v.rows > 0);
        if (stale.length > 0) process.stdout.write('rows remain under older versions: run `tokenkeep keys reencrypt`\n');
        return 0;
      }
      case 'rotate': {
        const { version, rows, damaged } = await rotate(store.keys, batch, progress);
        process.stdout.write(`key version ${version} is active; ${rows} rows re-encrypted\n`);
        if (damaged.length > 0) process.stderr.write(damagedReport(damaged));
        return damaged.length > 0 ? 1 : 0;
      }
      case 'reencrypt': {
        const { rows, damaged } = await reencryptAll(store.keys, batch, progress);
        process.stdout.write(`${rows} rows re-encrypted\n`);
        if (damaged.length > 0) process.stderr.write(damagedReport(damaged));
        return damaged.length > 0 ? 1 : 0;
      }
      case 'rekey': {
        process.stdout.write(await rekey(store.keys, rekeying!));
        return 0;
      }
      case 'retire': {
        const version = Number(args[1]);
        if (!Number.isInteger(version) || version < 1) throw new ConfigError('keys retire', 'needs a key version number');
        await store.keys.retire(version);
        process.stdout.write(`key version ${version} retired\n`);
        return 0;
      }
      default:
        throw new UsageError(`unknown keys command: ${args[0] ?? '(none)'}`);
    }
  } finally {
    await store.close();
  }
}

/** A command line that names no command of the table, or that a command does not accept: usage on stderr, exit 2. */
class UsageError extends Error {}

/** Flags of single commands, with the placeholder the usage shows for their value. */
const COMMAND_FLAGS: Record<string, string> = { batch: 'N', 'password-file': 'FILE', 'new-key-file': 'FILE', 'generate-key-file': 'FILE' };
const SETTING_FLAGS: string[] = settings.flatMap((s) => (s.flag ? [s.flag] : []));
const KEY_FLAGS = ['db', 'master-key-file'];

const positiveInteger = (text: string | undefined): boolean => text === undefined || /^[1-9]\d{0,8}$/.test(text);

interface Command {
  /** the words that name it */
  words: string[];
  /** its positional arguments, by the names the usage shows */
  args: string[];
  /** the flags it takes besides --help: settings' flags and COMMAND_FLAGS */
  flags: string[];
  help: string;
  /** a problem with its arguments, found before anything is opened */
  check?(args: string[], flags: Flags): string | undefined;
  run(config: Config, args: string[], flags: Flags): Promise<number>;
}

/** The grammar: adding a command is adding an entry. */
const commands: Command[] = [
  { words: ['serve'], args: [], flags: SETTING_FLAGS, help: 'start the server (the default command)', run: serve },
  { words: ['migrate'], args: [], flags: ['db'], help: 'apply pending database migrations and exit', run: migrate },
  {
    words: ['keys', 'status'],
    args: [],
    flags: KEY_FLAGS,
    help: 'key versions, which is active, and how many rows each still seals',
    run: (config, _args, flags) => keysCommand(config, ['status'], flags),
  },
  {
    words: ['keys', 'rotate'],
    args: [],
    flags: [...KEY_FLAGS, 'batch'],
    help: 'add a data-key version and re-encrypt every row under it (safe beside a running server)',
    check: (_args, flags) => (positiveInteger(flags.batch) ? undefined : '--batch must be a positive integer'),
    run: (config, _args, flags) => keysCommand(config, ['rotate'], flags),
  },
  {
    words: ['keys', 'reencrypt'],
    args: [],
    flags: [...KEY_FLAGS, 'batch'],
    help: 'finish an interrupted rotation: re-encrypt rows not under the active version',
    check: (_args, flags) => (positiveInteger(flags.batch) ? undefined : '--batch must be a positive integer'),
    run: (config, _args, flags) => keysCommand(config, ['reencrypt'], flags),
  },
  {
    words: ['keys', 'retire'],
    args: ['VERSION'],
    flags: KEY_FLAGS,
    help: 'remove a key version that no row uses any more',
    check: ([version]) => (positiveInteger(version) ? undefined : 'VERSION must be a key version number'),
    run: (config, args, flags) => keysCommand(config, ['retire', ...args], flags),
  },
  {
    words: ['keys', 'rekey'],
    args: [],
    flags: [...KEY_FLAGS, 'new-key-file', 'generate-key-file'],
    help: 're-wrap the data keys under a new master key: read from --new-key-file or standard input, or generated into --generate-key-file',
    check: (_args, flags) =>
      flags['new-key-file'] !== undefined && flags['generate-key-file'] !== undefined ? 'give --new-key-file or --generate-key-file, not both' : undefined,
    run: (config, _args, flags) => keysCommand(config, ['rekey'], flags),
  },
  {
    words: ['users', 'unlock'],
    args: ['NAME'],
    flags: ['db'],
    help: 'clear the lock and the failed-login count of a user (safe beside running servers)',
    run: (config, [name]) => unlockUser(config, name),
  },
  {
    words: ['users', 'reset-password'],
    args: ['NAME'],
    flags: ['db', 'password-file'],
    help: 'set a new password, read from standard input or --password-file (never the command line), and unlock',
    run: (config, [name], flags) => resetPassword(config, name, flags['password-file']),
  },
];

async function serve(config: Config): Promise<number> {
  const server = await startServer(config);
  const stop = (signal: string) => {
    server.app.log.info(`${signal} received: closing`);
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return -1; // keep running
}

async function migrate(config: Config): Promise<number> {
  const store = openStore(config.db, integrityRules);
  try {
    const applied = await store.migrate();
    process.stdout.write(applied.length ? `applied migrations: ${applied.join(', ')}\n` : 'database is up to date\n');
  } finally {
    await store.close();
  }
  return 0;
}

const synopsis = (c: Command): string =>
  [...c.words, ...c.args, ...c.flags.filter((f) => f in COMMAND_FLAGS).map((f) => `[--${f} ${COMMAND_FLAGS[f]}]`)].join(' ');
/** The commands that take a flag, by their first word, for the usage. */
const takenBy = (flag: string): string => [...new Set(commands.filter((c) => c.flags.includes(flag)).map((c) => c.words[0]))].join(', ');

const usage = `Usage: tokenkeep [COMMAND] [options]

Commands:
${commands.map((c) => `  ${synopsis(c)}\n      ${c.help}`).join('\n')}

Options (each overrides its environment variable; in brackets the commands that take it):
${settings
  .filter((s) => s.flag)
  .map((s) => `  --${(s.flag ?? '').padEnd(16)} ${s.env.padEnd(26)} ${s.help} Default: ${s.default} [${takenBy(s.flag ?? '')}]`)
  .join('\n')}
  --help, -h

Environment only:
${settings
  .filter((s) => !s.flag)
  .map((s) => `  ${s.env.padEnd(28)} ${s.help}`)
  .join('\n')}
`;

/** The command a command line names, with its arguments and flags; throws UsageError for anything else. */
function parse(argv: string[]): { help: true } | { help: false; command: Command; args: string[]; flags: Flags } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        ...Object.fromEntries([...SETTING_FLAGS, ...Object.keys(COMMAND_FLAGS)].map((f) => [f, { type: 'string' as const }])),
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { help, ...flags } = parsed.values as Flags & { help?: boolean };
  if (help) return { help: true };
  const words = parsed.positionals.length > 0 ? parsed.positionals : ['serve'];
  const command = commands.filter((c) => c.words.every((w, i) => words[i] === w)).sort((a, b) => b.words.length - a.words.length)[0];
  if (!command) {
    const group = commands.filter((c) => c.words.length > 1 && c.words[0] === words[0]);
    if (group.length === 0) throw new UsageError(`unknown command: ${words[0]}`);
    const choices = group.map((c) => c.words[1]).join(', ');
    throw new UsageError(words[1] === undefined ? `${words[0]} needs one of: ${choices}` : `unknown ${words[0]} command: ${words[1]} (one of: ${choices})`);
  }
  const name = command.words.join(' ');
  const args = words.slice(command.words.length);
  // The extra words are not repeated: one may be a password typed where it does not belong.
  if (args.length > command.args.length) {
    throw new UsageError(
      `${name} takes ${command.args.length ? command.args.join(' ') : 'no arguments'}, not ${args.length - command.args.length} more word(s)`,
    );
  }
  if (args.length < command.args.length) throw new UsageError(`${name} needs ${command.args.slice(args.length).join(' ')}`);
  if (args.some((a) => a.trim() === '')) throw new UsageError(`${name}: ${command.args.join(' ')} must not be empty`);
  const foreign = Object.keys(flags).filter((f) => flags[f] !== undefined && !command.flags.includes(f));
  if (foreign.length > 0) throw new UsageError(`${foreign.map((f) => `--${f}`).join(', ')} does not apply to ${name}`);
  const problem = command.check?.(args, flags);
  if (problem) throw new UsageError(`${name}: ${problem}`);
  return { help: false, command, args, flags };
}

async function main(argv: string[]): Promise<number> {
  const parsed = parse(argv);
  if (parsed.help) {
    process.stdout.write(usage);
    return 0;
  }
  const config = loadConfig(process.env, parsed.flags);
  return parsed.command.run(config, parsed.args, parsed.flags);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`tokenkeep: ${err.message}\n\n${usage}`);
      process.exitCode = 2;
    } else if (err instanceof ConfigError || err instanceof UnsealError || err instanceof SealedError) {
      process.stderr.write(`tokenkeep: ${err.message}\n`);
      process.exitCode = 2;
    } else if (err instanceof DatabaseFileError) {
      process.stderr.write(`tokenkeep: ${new ConfigError('TOKENKEEP_DB', err.message).message}\n`);
      process.exitCode = 2;
    } else if (err instanceof CommandFailed) {
      process.stderr.write(`tokenkeep: ${err.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`tokenkeep: failed: ${(err as Error).message}\n`);
      process.exitCode = 1;
    }
  },
);
