/**
 * The browser tests' own instruments, checked on small pages served from loopback under the console's CSP: each
 * must be able to fail. The CSP recorder sees an inline script, an inline style and a foreign image refused; the
 * page-error and failed-request lists fill; axe (injected without weakening the CSP) finds a missing label and
 * stays silent on a clean page; the overflow check tells a too-wide page from a table scrolling in its own box.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import {
  CONSOLE_CSP,
  axeViolations,
  browserSkip,
  launchChromium,
  newWatchedContext,
  pageOverflowsHorizontally,
  screenshot,
  screenshotFolder,
  until,
} from './browser-support.js';

const page = (title: string, body: string, head = ''): string =>
  `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${title}</title><link rel="stylesheet" href="/app.css">${head}</head><body><main>${body}</main><script src="/app.js"></script></body></html>`;

const PAGES: Record<string, { type: string; body: string }> = {
  '/clean': { type: 'text/html', body: page('clean', '<h1>Clean</h1><label>Name <input type="text"></label><p id="out">waiting</p>') },
  '/app.js': { type: 'text/javascript', body: "const out = document.getElementById('out'); if (out) out.textContent = 'script ran';" },
  '/app.css': { type: 'text/css', body: 'body { font-family: sans-serif; color: #111; background: #fff; } .scroll { overflow-x: auto; }' },
  '/dirty': {
    type: 'text/html',
    body: page(
      'dirty',
      '<h1 style="color: red">Dirty</h1><img alt="x" src="http://127.0.0.1:9/foreign.png"><p id="out">waiting</p>',
      '<script>document.title = "inline ran";</script>',
    ),
  },
  '/unlabelled': { type: 'text/html', body: page('unlabelled', '<h1>Form</h1><input type="text"><img src="/app.css">') },
  '/throws': { type: 'text/html', body: page('throws', '<h1>Throws</h1>', '<script src="/throw.js"></script>') },
  '/throw.js': { type: 'text/javascript', body: "throw new Error('thrown by the page'); " },
  '/wide': { type: 'text/html', body: page('wide', '<h1>Wide</h1><canvas width="900" height="10"></canvas>') },
  '/scrolling': {
    type: 'text/html',
    body: page(
      'scrolling',
      '<h1>Scrolling</h1><div class="scroll" role="region" aria-label="Table" tabindex="0"><canvas width="900" height="10"></canvas></div>',
    ),
  },
};

describe('browser test support', { skip: browserSkip(), timeout: 60_000 }, () => {
  let server: Server;
  let base: string;
  let browser: Browser;

  before(async () => {
    server = createServer((req, res) => {
      const found = PAGES[req.url ?? ''];
      res.setHeader('content-security-policy', CONSOLE_CSP);
      if (!found) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': `${found.type}; charset=utf-8` }).end(found.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  test('a clean page under the console CSP: its own script runs, nothing is reported, axe finds nothing serious', async () => {
    const { context, page, watch } = await newWatchedContext(browser);
    try {
      await page.goto(`${base}/clean`);
      await page.getByText('script ran').waitFor();
      assert.deepEqual(await axeViolations(page), []);
      watch.assertClean();
    } finally {
      await context.close();
    }
  });

  test('inline script, inline style and a foreign image are refused and each is recorded', async () => {
    const { context, page, watch } = await newWatchedContext(browser);
    try {
      await page.goto(`${base}/dirty`);
      await page.getByText('script ran').waitFor();
      await until('three violations', () => watch.cspViolations.filter((v) => !v.startsWith('console:')).length >= 3);
      assert.notEqual(await page.title(), 'inline ran', 'the inline script did not run');
      const events = watch.cspViolations.filter((v) => !v.startsWith('console:')).join('\n');
      assert.match(events, /script-src-elem blocked inline/);
      assert.match(events, /style-src-attr blocked inline/);
      assert.match(events, /img-src blocked http:\/\/127\.0\.0\.1:9\/foreign\.png/);
      assert.ok(
        watch.cspViolations.some((v) => v.startsWith('console:')),
        'the console lines report it as well',
      );
      assert.throws(() => watch.assertClean(), /cspViolations/);
    } finally {
      await context.close();
    }
  });

  test('axe evaluated into a CSP page causes no violation and finds a missing label and alt text', async () => {
    const { context, page, watch } = await newWatchedContext(browser);
    try {
      await page.goto(`${base}/unlabelled`);
      const ids = (await axeViolations(page)).map((f) => f.id).sort();
      assert.ok(ids.includes('label'), `axe reports the unlabelled input: ${ids.join(', ')}`);
      assert.ok(ids.includes('image-alt'), `axe reports the image without alt: ${ids.join(', ')}`);
      assert.deepEqual(watch.cspViolations, [], 'injecting axe broke no rule of the page');
    } finally {
      await context.close();
    }
  });

  test('page errors and failed requests are recorded', async () => {
    const { context, page, watch } = await newWatchedContext(browser);
    try {
      await page.goto(`${base}/throws`);
      await until('the page error', () => watch.pageErrors.length > 0);
      assert.match(watch.pageErrors.join('\n'), /thrown by the page/);
      // A request the CSP lets through to a port nothing listens on fails at the network level.
      await page.goto(`http://127.0.0.1:9/`).catch(() => undefined);
      await until('the failed request', () => watch.failedRequests.length > 0);
      assert.match(watch.failedRequests.join('\n'), /127\.0\.0\.1:9\/: net::ERR_/);
      // The allowed failure is left out; the page error still fails the check.
      assert.throws(
        () => watch.assertClean({ allowFailed: /127\.0\.0\.1:9\// }),
        (err: Error) => /pageErrors/.test(err.message) && !/127\.0\.0\.1:9/.test(err.message),
      );
    } finally {
      await context.close();
    }
  });

  test('the overflow check tells a too-wide page from a box that scrolls; screenshots land in .tmp/screenshots', async (t) => {
    const { context, page } = await newWatchedContext(browser, { viewport: { width: 360, height: 640 } });
    try {
      await page.goto(`${base}/wide`);
      assert.equal((await pageOverflowsHorizontally(page)).overflows, true);
      await page.goto(`${base}/scrolling`);
      assert.equal((await pageOverflowsHorizontally(page)).overflows, false);
      const folder = screenshotFolder('browser-support');
      const path = await screenshot(page, folder, 'scrolling at 360 px');
      assert.ok(existsSync(path) && statSync(path).size > 100, `a PNG at ${path}`);
      t.diagnostic(`screenshots: ${folder}`);
    } finally {
      await context.close();
    }
  });
});
