/**
 * The web console's files (issue 15): `/console/` and every client route under it answer dist/console/index.html
 * (revalidated on each load: `no-cache`), `/console/assets/*` the hashed bundle (`immutable` for a year: a new build
 * has new names), `/console` redirects to `/console/`. No authentication: the page holds nothing secret, and its data
 * comes from the API with the session cookie. Every answer here carries the console's own Content-Security-Policy,
 * which lets the page load its script and style from this origin and nothing else; the API's stricter one stays on
 * everything outside /console.
 *
 * The files are built by `npm run build` (scripts/build-console.mjs). A server started without them still starts:
 * the console then answers 503 with a message saying to build it.
 */
import { existsSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';

/** What the console's page may load: its own script, style and data; images of its own or inline (data:). */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
export const INDEX_CACHE_CONTROL = 'no-cache';
export const ASSET_CACHE_CONTROL = 'public, max-age=31536000, immutable';

const NOT_BUILT =
  'The tokenkeep web console is not built on this server: run `npm run build` (or `npm ci`) in the tokenkeep folder, then reload this page. The API under /api works without it.\n';

/**
 * Where the build put the console: `dist/console` beside the compiled module (dist/http/routes/console.js, so that
 * `npm start` from dist works wherever the package lives), or, when this module runs from its source (tests through
 * tsx), the checkout's dist/console. The first that holds an index.html; else the one the build would write.
 */
export function consoleDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const besideBuild = join(here, '..', '..', 'console');
  const checkoutBuild = join(here, '..', '..', '..', 'dist', 'console');
  const candidates = [besideBuild, checkoutBuild];
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? (here.split(/[\\/]/).includes('dist') ? besideBuild : checkoutBuild);
}

export const consoleRoutes: FastifyPluginAsync<{ dir: string }> = async (app, { dir }) => {
  const index = join(dir, 'index.html');
  const assets = join(dir, 'assets');
  if (!existsSync(index)) app.log.warn({ dir }, 'the web console is not built (no index.html): run npm run build; /console/ answers 503 until then');

  // Public files: the API's authentication hook lets every route of this plugin through.
  app.addHook('onRoute', (route) => {
    route.config = { ...(route.config as object), auth: false } as typeof route.config;
  });
  app.addHook('onRequest', (_request, reply, done) => {
    reply.header('content-security-policy', CONSOLE_CSP);
    done();
  });

  await app.register(fastifyStatic, {
    root: assets,
    prefix: '/console/assets/',
    index: false,
    list: false,
    dotfiles: 'ignore',
    // One Cache-Control of our own (send's would say max-age only); ETag and Last-Modified still revalidate. The
    // plugin's reply.sendFile sends index.html through this too.
    cacheControl: false,
    setHeaders: (reply, path) => reply.header('cache-control', path.startsWith(assets + sep) ? ASSET_CACHE_CONTROL : INDEX_CACHE_CONTROL),
    suppressWarning: true,
  });

  const page = async (request: FastifyRequest, reply: FastifyReply) => {
    // The assets' folder itself is no page (a file under it is the static route's).
    if (request.url.startsWith('/console/assets/')) return reply.callNotFound();
    if (!existsSync(index)) {
      return reply.code(503).header('cache-control', 'no-store').header('retry-after', '60').type('text/plain; charset=utf-8').send(NOT_BUILT);
    }
    return reply.sendFile('index.html', dir, { cacheControl: false });
  };

  // `/console` and `/console/` are one route (the router ignores a trailing slash): the first is sent to the second,
  // so that the page's relative addresses and the consent's returnTo (`/console/`) mean one place.
  // The query is not carried over: nothing the console reads arrives at /console (the consent returns to /console/).
  app.get('/console', { schema: { hide: true } }, async (request, reply) => {
    if (request.url.split('?')[0] === '/console') return reply.redirect('/console/', 301);
    return page(request, reply);
  });
  // Any other page under /console/ is a route of the console's own (they are hash routes, but a pasted or bookmarked
  // path still finds the console).
  app.get('/console/*', { schema: { hide: true } }, async (request, reply) => page(request, reply));
};
