/**
 * buildApp(deps): the whole HTTP face as one Fastify instance, used by server.ts and by every test. It receives its
 * storage and clock; it opens nothing and listens on nothing itself.
 */
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import cookie from '@fastify/cookie';
import { Authenticator } from './domain/authenticator.js';
import { Principals } from './domain/principals.js';
import { fail } from './errors.js';
import { OWASP_SCRYPT, type ScryptParams } from './crypto/passwords.js';
import type { Store } from './domain/ports/index.js';
import { checkBodyId, validatorCompiler } from './http/validation.js';
import { decodeUtf8, jsonTextProblem } from './http/json-body.js';
import { BODY_LIMIT, installErrorHandler } from './http/error-handler.js';
import { installNotFound } from './http/not-found.js';
import { securityHeaders } from './http/security-headers.js';
import { clientErrorHandler } from './http/client-errors.js';
import { installAuth } from './http/auth.js';
import './http/context.js';
import { healthRoutes } from './http/routes/health.js';
import { openapiRoutes } from './http/routes/openapi.js';
import { permissionRoutes } from './http/routes/permissions.js';
import { tenantRoutes } from './http/routes/tenants.js';
import { roleRoutes } from './http/routes/roles.js';
import { userRoutes } from './http/routes/users.js';
import { limitRoutes } from './http/routes/limits.js';
import { oauthAppRoutes } from './http/routes/oauthapps.js';
import { oauthProfileRoutes } from './http/routes/oauthprofiles.js';
import { dataSourceRoutes } from './http/routes/datasources.js';
import { tokenRoutes } from './http/routes/tokens.js';
import { consentRoutes } from './http/routes/consent.js';
import { consoleDir, consoleRoutes } from './http/routes/console.js';
import { ConsentFlow } from './engine/consent.js';
import { codeExchange } from './engine/code-exchange.js';
import { TokenEngine, type EngineOptions } from './engine/refresh.js';
import { BackgroundRefresh, type BackgroundOptions } from './engine/background.js';
import { RevocationOutbox, type OutboxOptions } from './engine/revocation-outbox.js';
import { Metrics } from './engine/metrics.js';
import { profilesByState } from './engine/status.js';
import { installRequestMetrics, metricsRoutes } from './http/routes/metrics.js';
import { tokenExchange } from './engine/exchange.js';
import { tokenRevocation } from './engine/revoke.js';
import { createOutboundClient } from './outbound/client.js';
import type { AppRules } from './domain/oauth-apps.js';
import { parsePublicUrl } from './config.js';
import { ConsoleSessions } from './domain/console-sessions.js';
import { SESSION_COOKIE, type CookiePolicy } from './http/session-cookie.js';
import { consoleSessionRoutes } from './http/routes/console-session.js';

export interface AppDeps {
  store: Store;
  /** scrypt parameters for new hashes; tests lower them, production keeps OWASP's */
  hashParams?: ScryptParams;
  clock?: () => number;
  logger?: FastifyServerOptions['logger'];
  /** failed logins per address per minute before 429 */
  failuresPerAddress?: number;
  /** PEM certificate and key: serve HTTPS */
  https?: { cert: Buffer; key: Buffer };
  /** accept `http:` authorize/token URIs on loopback hosts (development against a local authorization server) */
  allowLoopbackHttpUris?: boolean;
  /** CA certificates (PEM) trusted for outbound calls besides Node's roots: TOKENKEEP_OUTBOUND_CA_FILE */
  outboundCa?: Buffer;
  /** the token engine's timing, and its calls to token endpoints (by default through src/outbound's client) */
  engine?: Partial<EngineOptions>;
  /** run the background refresh of proactive apps (api.md §8.7) while the app is ready; off unless given */
  background?: Partial<BackgroundOptions>;
  /** run the revocation outbox's worker (api.md §9) while the app is ready; off unless given */
  outbox?: Partial<OutboxOptions>;
  /** TOKENKEEP_PUBLIC_URL: the origin browsers reach this server at; consent (api.md §9) is off without it */
  publicUrl?: string;
  /** the built web console (index.html, assets/); by default dist/console, found from this module's location */
  consoleDir?: string;
  /** a request that took this many ms or more is logged at info whatever it was (default SLOW_REQUEST_MS) */
  slowRequestMs?: number;
}

export interface Services {
  store: Store;
  authenticator: Authenticator;
  hashParams: ScryptParams;
  clock: () => number;
  appRules: AppRules;
  engine: TokenEngine;
  /** TOKENKEEP_PUBLIC_URL, or undefined: consent is off */
  publicUrl: string | undefined;
  /** consent (api.md §9): its start and its callback */
  consent: ConsentFlow;
  /** console sessions (api.md §10): sign-in, the check of every cookie-authenticated request, sign-out */
  sessions: ConsoleSessions;
}

declare module 'fastify' {
  interface FastifyInstance {
    services: Services;
  }
}

/**
 * Never log a credential: headers are not serialized, and any path to one is redacted anyway — the Authorization
 * header, the console session's cookie and CSRF token (request and answer), a password.
 */
export const redactPaths = [
  'req.headers.authorization',
  'headers.authorization',
  'authorization',
  'req.headers.cookie',
  'headers.cookie',
  'cookie',
  'req.headers["x-csrf-token"]',
  'headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  'headers["set-cookie"]',
  'csrfToken',
  '*.csrfToken',
  'password',
  '*.password',
];

/**
 * Graceful close: Fastify closes idle keep-alive connections when close() starts, but a connection busy with a
 * request at that moment would stay open after its answer until the keep-alive timeout (72 s). While closing,
 * every answer says `Connection: close`, so the process exits as soon as the requests in flight are answered.
 */
function installGracefulClose(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
}

/** A request that took this long (ms) or longer is logged at info whatever its method and status. */
export const SLOW_REQUEST_MS = 1000;

/**
 * One line per request when it is answered: method, path (never the query, which may name a user), status and time;
 * nothing from headers or bodies. At info only what an operator needs: answers with a 4xx or 5xx status, writes
 * (any method but GET and HEAD) and requests that took SLOW_REQUEST_MS or more; at debug every request. Writing the
 * line was 9 % of a health check's CPU and 4-5 % of a GET's (profiles, BENCHMARKS.md "Issue 16, part 1"), so the
 * quick successful reads that make most of the traffic pay only the test below at info.
 * A 5xx is also logged by the error handler, at level error.
 */
function installRequestLog(app: FastifyInstance, slowMs: number): void {
  // At debug level, also when a request arrives. Hooks on every request are callback style: no promise each.
  if (app.log.level === 'debug' || app.log.level === 'trace') {
    app.addHook('onRequest', (request, _reply, done) => {
      request.log.debug({ method: request.method, path: pathOf(request.url) }, 'incoming request');
      done();
    });
  }
  app.addHook('onResponse', (request, reply, done) => {
    const { method } = request;
    const status = reply.statusCode;
    const ms = reply.elapsedTime;
    const notable = status >= 400 || (method !== 'GET' && method !== 'HEAD') || ms >= slowMs;
    if (notable || DEBUG_LEVELS.has(request.log.level)) {
      const line = { method, path: pathOf(request.url), status, ms: Math.round(ms * 10) / 10 };
      if (notable) request.log.info(line, 'request');
      else request.log.debug(line, 'request');
    }
    done();
  });
}

const DEBUG_LEVELS = new Set(['debug', 'trace']);

/** The URL without its query. */
function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const hashParams = deps.hashParams ?? OWASP_SCRYPT;
  const clock = deps.clock ?? Date.now;
  const tls = deps.https !== undefined;
  /** Every answer's no-store and security headers, computed once (src/http/security-headers.ts). */
  const answerHeaders = { ...securityHeaders(tls), 'cache-control': 'no-store' };
  const app = Fastify({
    ...(deps.https ? { https: deps.https } : {}),
    logger: deps.logger ?? false,
    bodyLimit: BODY_LIMIT,
    // Ids in paths are numbers and names are short; anything longer is not a request to us.
    routerOptions: { maxParamLength: 200, ignoreTrailingSlash: true },
    return503OnClosing: true,
    // One log line per request, written when it is answered (see installRequestLog), instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    // A URL the router cannot even decode (`/api/%zz`) still gets the envelope, no-store and the security headers
    // (no hook runs for it, helmet's included).
    frameworkErrors: (_err, request, reply: FastifyReply) => {
      const error = fail('notFound', request.url.split('?')[0].slice(0, 200));
      reply.headers(answerHeaders).code(error.status).send(error.toBody());
    },
    // What Node's parser refuses (431, unknown method, Content-Length with Transfer-Encoding) gets the envelope too.
    clientErrorHandler: clientErrorHandler(tls),
  });
  const principals = new Principals(deps.store.logins);
  const authenticator = new Authenticator({ store: deps.store, principals, hashParams, clock, failuresPerAddress: deps.failuresPerAddress });
  // The one client that leaves the machine (§8.5); its pooled connections close with the app.
  const outbound = createOutboundClient({ allowLoopback: deps.allowLoopbackHttpUris ?? false, ...(deps.outboundCa ? { extraCa: deps.outboundCa } : {}) });
  const metrics = new Metrics({ profilesByState: () => profilesByState(deps.store) });
  const engine = new TokenEngine(deps.store, { exchange: tokenExchange(outbound), log: app.log, metrics, ...deps.engine });
  const publicUrl = deps.publicUrl === undefined ? undefined : parsePublicUrl(deps.publicUrl);
  const consent = new ConsentFlow({ store: deps.store, publicUrl, clock, exchange: codeExchange(outbound), log: app.log });
  const sessions = new ConsoleSessions({ store: deps.store, principals, authenticator, clock });
  // Secure also behind a TLS-terminating proxy, which TOKENKEEP_PUBLIC_URL's https: tells.
  const cookies: CookiePolicy = { secure: tls || publicUrl?.startsWith('https:') === true, publicOrigin: publicUrl, tls };
  app.decorate('services', {
    store: deps.store,
    authenticator,
    hashParams,
    clock,
    appRules: { allowLoopbackHttp: deps.allowLoopbackHttpUris ?? false },
    engine,
    publicUrl,
    consent,
    sessions,
  });

  app.setValidatorCompiler(validatorCompiler);
  app.removeContentTypeParser('text/plain');
  // A DELETE has no body: clients that send Content-Type: application/json with Content-Length: 0 on every request
  // (python-requests, Postman collections) must not get "the body is empty". Other bodies are decoded as strict
  // UTF-8, parsed by Fastify's parser (which refuses prototype poisoning), then checked for what it cannot see.
  const defaultJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, bytes, done) => {
    if (request.method === 'DELETE' && bytes.length === 0) return done(null, undefined);
    const text = decodeUtf8(bytes as Buffer);
    if (typeof text !== 'string') return done(text, undefined);
    defaultJson(request, text, (err, body) => done(err ?? jsonTextProblem(text) ?? null, err ? undefined : body));
  });
  installErrorHandler(app);
  installNotFound(app);
  // Before authentication's hook, so that a 401 (or any error an onRequest hook throws) carries them too.
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(answerHeaders);
    done();
  });
  // The session cookie is read only where it counts (http/auth.ts, the /console/session routes): no parsing hook.
  await app.register(cookie, { hook: false });
  installAuth(app, { principals, authenticator, sessions, cookies });
  installGracefulClose(app);
  app.addHook('onClose', () => outbound.close());
  if (deps.background) {
    const background = new BackgroundRefresh(deps.store, engine, { log: app.log, ...deps.background });
    app.addHook('onReady', async () => background.start());
    // Before the outbound client and the store close: no new look, and the refreshes in flight may end.
    app.addHook('preClose', () => background.stop());
  }
  if (deps.outbox) {
    const outbox = new RevocationOutbox(deps.store, tokenRevocation(outbound), { log: app.log, ...deps.outbox });
    app.addHook('onReady', async () => outbox.start());
    app.addHook('preClose', () => outbox.stop());
  }
  installRequestLog(app, deps.slowRequestMs ?? SLOW_REQUEST_MS);
  installRequestMetrics(app, metrics);
  app.addHook('preHandler', (request, _reply, done) => {
    try {
      checkBodyId(request.params, request.body);
      done();
    } catch (err) {
      done(err as Error);
    }
  });

  await app.register(swagger, {
    openapi: {
      // 3.1: its schemas are JSON Schema, so the document can say what the routes validate (`propertyNames` of a
      // data source's options has no OpenAPI 3.0 form).
      openapi: '3.1.0',
      info: {
        title: 'tokenkeep',
        description: 'Hybrid Data Pipeline management API for OAuth applications and OAuth profiles.',
        version: '0.1.0',
        license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      },
      // Relative: the origin that served this document. Not the request's Host, which the client chooses (and a
      // proxy in front may rewrite), and the document is built once and cached.
      servers: [{ url: '/', description: 'This server: the origin that served this document' }],
      components: {
        securitySchemes: {
          basic: { type: 'http', scheme: 'basic' },
          // api.md §10: a request other than GET/HEAD also sends X-CSRF-Token.
          consoleSession: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE },
        },
      },
      security: [{ basic: [] }, { consoleSession: [] }],
    },
    // A schema with an `$id` (the HDP error envelope) becomes one component under that name, not `def-N`.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });

  await app.register(healthRoutes);
  await app.register(openapiRoutes);
  await app.register(permissionRoutes);
  await app.register(tenantRoutes);
  await app.register(roleRoutes);
  await app.register(userRoutes);
  await app.register(limitRoutes);
  await app.register(oauthAppRoutes);
  await app.register(oauthProfileRoutes);
  await app.register(dataSourceRoutes);
  await app.register(tokenRoutes);
  await app.register(consentRoutes);
  await app.register(consoleSessionRoutes, { cookies });
  await app.register(metricsRoutes, { metrics });
  await app.register(consoleRoutes, { dir: deps.consoleDir ?? consoleDir() });
  return app;
}
