/**
 * Serving the web console (issue 15; the contract's "Served by the server"): index.html for /console/ and its client
 * routes, revalidated on every load; hashed assets cached for a year; /console redirected; the console's own
 * Content-Security-Policy on every console answer while the API and the consent callback keep theirs; no inline
 * script or style in the page; no credentials needed; and a server without a built console still starts and says
 * how to build it. The console is built for this test by scripts/build-console.mjs into a folder of its own.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { harness, type Harness } from '../helpers.js';
import { ASSET_CACHE_CONTROL, CONSOLE_CSP, consoleDir } from '../../src/http/routes/console.js';
import { CONSENT_PAGE_CSP } from '../../src/http/consent-page.js';
import { securityHeaders } from '../../src/http/security-headers.js';

const CONTRACT_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

function assertConsoleHeaders(headers: Record<string, unknown>, what: string): void {
  assert.equal(headers['content-security-policy'], CONTRACT_CSP, `${what}: the console's CSP`);
  assert.equal(headers['x-content-type-options'], 'nosniff', what);
  assert.equal(headers['referrer-policy'], 'no-referrer', what);
}

describe('the built console', () => {
  let dir: string;
  let h: Harness;
  let html: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tokenkeep-console-'));
    const started = Date.now();
    const built = spawnSync(process.execPath, ['scripts/build-console.mjs', '--out', join(dir, 'console'), '--quiet'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(built.status, 0, built.stderr);
    // The contract asks for a fast build; a generous bound keeps a loaded machine from failing it.
    assert.ok(Date.now() - started < 15_000, `the console build took ${Date.now() - started} ms`);
    h = await harness({ consoleDir: join(dir, 'console') });
    html = readFileSync(join(dir, 'console', 'index.html'), 'utf8');
  });
  after(async () => {
    await h?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the contract CSP is the one the server sends', () => {
    assert.equal(CONSOLE_CSP, CONTRACT_CSP);
  });

  test('the build writes one hashed script, one hashed style sheet, and an index.html naming both', () => {
    const assets = readdirSync(join(dir, 'console', 'assets')).sort();
    assert.equal(assets.length, 2, assets.join(', '));
    assert.match(assets.find((a) => a.endsWith('.css')) ?? '', /^app\.[A-Z0-9]{8,}\.css$/);
    assert.match(assets.find((a) => a.endsWith('.js')) ?? '', /^app\.[A-Z0-9]{8,}\.js$/);
    for (const asset of assets) assert.ok(html.includes(`"/console/assets/${asset}"`), `index.html names ${asset}`);
  });

  test('GET /console/ answers index.html without credentials, revalidated on each load, with the console headers', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/console/' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/html; charset=utf-8/);
    assert.equal(res.headers['cache-control'], 'no-cache');
    assertConsoleHeaders(res.headers, 'index.html');
    assert.equal(res.body, html);
    assert.ok(res.headers.etag, 'an ETag to revalidate with');
    const again = await h.app.inject({ method: 'GET', url: '/console/', headers: { 'if-none-match': String(res.headers.etag) } });
    assert.equal(again.statusCode, 304);
    const head = await h.app.inject({ method: 'HEAD', url: '/console/' });
    assert.equal(head.statusCode, 200);
    assertConsoleHeaders(head.headers, 'HEAD index.html');
  });

  test('the page holds no inline script, no inline style and no event-handler attribute', () => {
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
    assert.equal(scripts.length, 1);
    for (const [, attributes, body] of scripts) {
      assert.match(attributes, /\bsrc="\/console\/assets\/app\.[A-Z0-9]+\.js"/);
      assert.equal(body.trim(), '');
    }
    assert.doesNotMatch(html, /<style\b/i);
    assert.doesNotMatch(html, /\sstyle\s*=/i);
    assert.doesNotMatch(html, /\son[a-z]+\s*=/i);
    assert.doesNotMatch(html, /javascript:/i);
    assert.doesNotMatch(html, /https?:\/\//i, 'nothing from another origin (no CDN)');
  });

  test('every asset index.html names is served with its type, a year of immutable caching and the console headers', async () => {
    const named = [...html.matchAll(/(?:src|href)="(\/console\/assets\/[^"]+)"/g)].map((m) => m[1]);
    assert.equal(named.length, 2);
    for (const url of named) {
      const res = await h.app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 200, url);
      assert.equal(res.headers['cache-control'], ASSET_CACHE_CONTROL, url);
      assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable', url);
      assert.match(String(res.headers['content-type']), url.endsWith('.js') ? /^(?:application|text)\/javascript/ : /^text\/css/, url);
      assertConsoleHeaders(res.headers, url);
      assert.equal(res.rawPayload.length, readFileSync(join(dir, 'console', url.replace('/console/', ''))).length, url);
    }
  });

  test('/console redirects to /console/', async () => {
    for (const url of ['/console', '/console?x=1']) {
      const res = await h.app.inject({ method: 'GET', url });
      assert.ok(res.statusCode === 301 || res.statusCode === 302, `${url}: ${res.statusCode}`);
      assert.equal(res.headers.location, '/console/');
      assertConsoleHeaders(res.headers, url);
    }
  });

  test('a client route under /console/ answers index.html too; the consent return (/console/?consent=…) as well', async () => {
    for (const url of ['/console/profiles', '/console/apps/3', '/console/?consent=connected&profileId=7']) {
      const res = await h.app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 200, url);
      assert.equal(res.body, html, url);
      assert.equal(res.headers['cache-control'], 'no-cache', url);
    }
  });

  test('a missing asset, the assets folder, a dot file and an escape from the folder are 404, with the console headers', async () => {
    for (const url of ['/console/assets/app.NOPE.js', '/console/assets/', '/console/assets/.env', '/console/assets/..%2findex.html']) {
      const res = await h.app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 404, url);
      assert.equal(res.headers['cache-control'], 'no-store', url);
      assertConsoleHeaders(res.headers, url);
    }
  });

  test('the API keeps its own policy, and the consent callback its own', async () => {
    const api = await h.app.inject({ method: 'GET', url: '/api/healthcheck' });
    assert.equal(api.headers['content-security-policy'], securityHeaders(false)['content-security-policy']);
    assert.equal(api.headers['cache-control'], 'no-store');
    const callback = await h.app.inject({ method: 'GET', url: '/hdpui/oauth2callback?state=x&code=y' });
    assert.equal(callback.headers['content-security-policy'], CONSENT_PAGE_CSP);
  });

  test("the console's page and files are not part of the API document", async () => {
    const doc = await h.app.inject({
      method: 'GET',
      url: '/api/openapi.json',
      headers: { authorization: `Basic ${Buffer.from('d2cadmin:Admin-Passw0rd').toString('base64')}` },
    });
    assert.equal(doc.statusCode, 200);
    const consolePaths = Object.keys(JSON.parse(doc.body).paths).filter((p) => p.startsWith('/console'));
    // The session resource (api.md §10) is API; the console's page and files are not.
    assert.deepEqual(
      consolePaths.filter((p) => p !== '/console/session'),
      [],
    );
  });
});

describe('a server without a built console', () => {
  let dir: string;
  let h: Harness;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tokenkeep-console-missing-'));
    h = await harness({ consoleDir: join(dir, 'console') });
  });
  after(async () => {
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('starts, answers the API, and says at /console/ how to build the console (503, not 500)', async () => {
    assert.equal((await h.app.inject({ method: 'GET', url: '/api/healthcheck' })).statusCode, 200);
    for (const url of ['/console/', '/console/profiles']) {
      const res = await h.app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 503, url);
      assert.match(res.body, /npm run build/);
      assert.equal(res.headers['cache-control'], 'no-store');
      assertConsoleHeaders(res.headers, url);
    }
    assert.equal((await h.app.inject({ method: 'GET', url: '/console/assets/app.X.js' })).statusCode, 404);
  });
});

test('by default the console is found in the checkout’s dist/console when the server runs from source', () => {
  assert.equal(consoleDir(), resolve('dist', 'console'));
  if (existsSync(resolve('dist', 'console', 'index.html'))) assert.ok(existsSync(join(consoleDir(), 'index.html')));
});
