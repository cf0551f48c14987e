#!/usr/bin/env node
/**
 * The `tokenkeep` command: `serve` (the default) and `migrate`. Settings come from the environment and can be
 * overridden with flags; see `tokenkeep --help` and the README's configuration table.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, settings } from './config.js';
import { startServer } from './server.js';
import { SealedError } from './crypto/keyring.js';
import { openStore, peekKeyCheck } from './storage/open.js';
import { UnsealError, keySettingsOf, refuseWrongKey, unsealStore } from './crypto/unseal.js';
import { damagedReport, reencryptAll, rotate } from './crypto/rotation.js';
import { prepareRekey, rekey, type NewKeyOptions } from './crypto/rekey.js';
import type { Config } from './config.js';

async function keysCommand(config: Config, args: string[], batchText: string | undefined, newKey: NewKeyOptions): Promise<number> {
  const batch = Number(batchText ?? '500');
  if (!Number.isInteger(batch) || batch < 1) throw new ConfigError('--batch', 'must be a positive integer');
  const keySettings = keySettingsOf(config);
  const rekeying = args[0] === 'rekey' ? await prepareRekey(newKey) : undefined;
  refuseWrongKey(keySettings, peekKeyCheck(config.db));
  const store = openStore(config.db);
  try {
    await store.migrate();
    if (!(await store.keyringInitialized())) throw new UnsealError('this database has no key ring yet: start the server once first');
    await unsealStore(store, keySettings);
    const progress = (done: number) => process.stdout.write(`re-encrypted ${done} rows\n`);
    switch (args[0]) {
      case 'status': {
        const versions = await store.keyStatus();
        for (const v of versions) {
          process.stdout.write(`version ${v.version}${v.active ? ' (active)' : ''}: ${v.rows} rows, created ${v.createdAt ?? 'MISSING FROM THE KEY RING'}\n`);
        }
        const stale = versions.filter((v) => !v.active && v.rows > 0);
        if (stale.length > 0) process.stdout.write('rows remain under older versions: run `tokenkeep keys reencrypt`\n');
        return 0;
      }
      case 'rotate': {
        const { version, rows, damaged } = await rotate(store, batch, progress);
        process.stdout.write(`key version ${version} is active; ${rows} rows re-encrypted\n`);
        if (damaged.length > 0) process.stderr.write(damagedReport(damaged));
        return damaged.length > 0 ? 1 : 0;
      }
      case 'reencrypt': {
        const { rows, damaged } = await reencryptAll(store, batch, progress);
        process.stdout.write(`${rows} rows re-encrypted\n`);
        if (damaged.length > 0) process.stderr.write(damagedReport(damaged));
        return damaged.length > 0 ? 1 : 0;
      }
      case 'rekey': {
        process.stdout.write(await rekey(store, rekeying!));
        return 0;
      }
      case 'retire': {
        const version = Number(args[1]);
        if (!Number.isInteger(version) || version < 1) throw new ConfigError('keys retire', 'needs a key version number');
        await store.retireKeyVersion(version);
        process.stdout.write(`key version ${version} retired\n`);
        return 0;
      }
      default:
        process.stderr.write(`Unknown keys command: ${args[0] ?? '(none)'}\n\n${usage}`);
        return 2;
    }
  } finally {
    await store.close();
  }
}

const usage = `Usage: tokenkeep [serve|migrate|keys …] [options]

Commands:
  serve                     start the server (default)
  migrate                   apply pending database migrations and exit
  keys status               key versions, which is active, and how many rows each still seals
  keys rotate [--batch N]   add a data-key version and re-encrypt every row under it (safe beside a running server)
  keys reencrypt [--batch N] finish an interrupted rotation: re-encrypt rows not under the active version
  keys retire VERSION       remove a version that no row uses any more
  keys rekey [--new-key-file FILE | --generate-key-file FILE]
                            re-wrap the key ring under a new master key (from FILE, generated into a new FILE, or
                            from standard input); restart every server with the new key afterwards

Options (each overrides its environment variable):
${settings.filter((s) => s.flag).map((s) => `  --${(s.flag ?? "").padEnd(12)} ${s.env.padEnd(26)} ${s.help} Default: ${s.default}`).join('\n')}
  --help

Environment only:
${settings.filter((s) => !s.flag).map((s) => `  ${s.env.padEnd(28)} ${s.help}`).join('\n')}
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      db: { type: 'string' },
      'log-level': { type: 'string' },
      'master-key-file': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      batch: { type: 'string' },
      'new-key-file': { type: 'string' },
      'generate-key-file': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  const command = positionals[0] ?? 'serve';
  const config = loadConfig(process.env, values as Record<string, string | undefined>);

  switch (command) {
    case 'serve': {
      const server = await startServer(config);
      const stop = (signal: string) => {
        server.app.log.info(`${signal} received: closing`);
        server.close().then(() => process.exit(0), () => process.exit(1));
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
      return -1; // keep running
    }
    case 'migrate': {
      const store = openStore(config.db);
      try {
        const applied = await store.migrate();
        process.stdout.write(applied.length ? `applied migrations: ${applied.join(', ')}\n` : 'database is up to date\n');
      } finally {
        await store.close();
      }
      return 0;
    }
    case 'keys':
      return keysCommand(config, positionals.slice(1), values.batch, { newKeyFile: values['new-key-file'], generateKeyFile: values['generate-key-file'] });
    default:
      process.stderr.write(`Unknown command: ${command}\n\n${usage}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ConfigError || err instanceof UnsealError || err instanceof SealedError
      || String((err as { code?: unknown } | undefined)?.code).startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`tokenkeep: ${(err as Error).message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`tokenkeep: failed to start: ${(err as Error).message}\n`);
      process.exitCode = 1;
    }
  },
);
