#!/usr/bin/env node
/**
 * The `tokenkeep` command: `serve` (the default) and `migrate`. Settings come from the environment and can be
 * overridden with flags; see `tokenkeep --help` and the README's configuration table.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, settings } from './config.js';
import { startServer } from './server.js';
import { openStore } from './storage/open.js';

const usage = `Usage: tokenkeep [serve|migrate] [options]

Commands:
  serve     start the server (default)
  migrate   apply pending database migrations and exit

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
    if (err instanceof ConfigError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`tokenkeep: ${(err as Error).message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`tokenkeep: failed to start: ${(err as Error).message}\n`);
      process.exitCode = 1;
    }
  },
);
