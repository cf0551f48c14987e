/**
 * The process: config → storage (migrated, bootstrapped) → app → listen. Closes gracefully on SIGTERM/SIGINT:
 * stops accepting, lets in-flight requests finish, closes the database.
 */
import type { FastifyInstance } from 'fastify';
import { buildApp, redactPaths } from './app.js';
import { ConfigError, type Config } from './config.js';
import { OWASP_SCRYPT, hashPassword } from './crypto/passwords.js';
import { integrityRules } from './domain/integrity.js';
import { generatePassword } from './domain/password-policy.js';
import { seed } from './domain/seed.js';
import { openStore, peekKeyCheck } from './storage/open.js';
import { keySettingsOf, refuseWrongKey, unsealStore } from './keys/unseal.js';
import { permissionWarnings } from './storage/sqlite/permissions.js';
import type { Store } from './domain/ports/index.js';

export interface RunningServer {
  app: FastifyInstance;
  store: Store;
  url: string;
  close(): Promise<void>;
}

/** First start: the default users get the configured passwords, or generated ones printed once to stderr. */
async function bootstrap(store: Store, config: Config): Promise<void> {
  const adminPassword = config.adminPassword ?? generatePassword();
  const userPassword = config.userPassword ?? generatePassword();
  const created = await store.bootstrap(
    seed({
      adminPasswordHash: await hashPassword(adminPassword, OWASP_SCRYPT),
      userPasswordHash: await hashPassword(userPassword, OWASP_SCRYPT),
    }),
  );
  if (!created) return;
  const generated = [
    config.adminPassword === undefined ? `  d2cadmin: ${adminPassword}` : undefined,
    config.userPassword === undefined ? `  d2cuser:  ${userPassword}` : undefined,
  ].filter(Boolean);
  if (generated.length > 0) {
    // Deliberately not through the logger: this is the one time a password is shown, to the operator's terminal.
    process.stderr.write(`\nFirst start: generated passwords (shown once; change them):\n${generated.join('\n')}\n\n`);
  }
}

export async function startServer(config: Config): Promise<RunningServer> {
  const keySettings = keySettingsOf(config);
  refuseWrongKey(keySettings, peekKeyCheck(config.db));
  const store = openStore(config.db, integrityRules);
  let app: FastifyInstance | undefined;
  try {
    await store.migrate();
    const sealing = await unsealStore(store, keySettings);
    await bootstrap(store, config);
    app = await buildApp({
      store,
      allowLoopbackHttpUris: config.allowLoopbackHttpUris,
      ...(config.outboundCa ? { outboundCa: config.outboundCa } : {}),
      ...(config.backgroundRefresh ? { background: {}, outbox: {} } : {}),
      ...(config.publicUrl ? { publicUrl: config.publicUrl } : {}),
      https: config.tls,
      logger: { level: config.logLevel, redact: { paths: redactPaths, censor: '[redacted]' } },
    });
    const log = app.log;
    store.keys.onWarning = (message) => log.warn(message);
    if (sealing.generated) {
      app.log.warn(
        `FIRST START: generated a new master key in ${sealing.source}. BACK IT UP NOW, apart from the database: ` +
          'without it every stored token and secret is lost. Consider moving it out of the data folder (TOKENKEEP_MASTER_KEY_FILE).',
      );
    } else {
      app.log.info(`secrets unsealed with the master key from ${sealing.source}`);
    }
    if (sealing.warning) app.log.warn(sealing.warning);
    if (config.db.kind === 'sqlite') for (const warning of permissionWarnings(config.db.file)) app.log.warn(warning);
    await listen(app, config);
  } catch (err) {
    // Nothing may keep the process alive after a failed start: the checkpoint worker, the pool, the socket.
    await app?.close();
    await store.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `${config.tls ? 'https' : 'http'}://${host}:${port}`;
  app.log.info(`tokenkeep listening on ${url}`);

  const running = app;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await running.close();
      await store.close();
    })());
  return { app: running, store, url, close };
}

/** Socket errors of listen() that are the configuration's fault: the setting to change, and why. */
const LISTEN_PROBLEMS: Record<string, (c: Config) => [setting: string, problem: string]> = {
  EADDRINUSE: (c) => ['PORT', `${c.port} on ${c.host} is already in use (EADDRINUSE): stop the other process or choose another PORT`],
  EACCES: (c) => ['PORT', `${c.port} on ${c.host} needs privileges this process lacks (EACCES): choose a PORT above 1023`],
  EADDRNOTAVAIL: (c) => ['HOST', `${c.host} is not an address of this machine (EADDRNOTAVAIL)`],
};

async function listen(app: FastifyInstance, config: Config): Promise<void> {
  // Fastify logs its own "Server listening at …" (once per interface for 0.0.0.0); the one ready line is ours, logged
  // by the caller. Raising the level for the listen call alone silences Fastify's: no request runs meanwhile.
  const level = app.log.level;
  if (!['warn', 'error', 'fatal', 'silent'].includes(level)) app.log.level = 'warn';
  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (err) {
    const problem = LISTEN_PROBLEMS[(err as NodeJS.ErrnoException).code ?? '']?.(config);
    if (!problem) throw err;
    throw new ConfigError(...problem);
  } finally {
    app.log.level = level;
  }
}
