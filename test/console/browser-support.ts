/**
 * The real browser of the console tests: Debian's Chromium driven by playwright-core (which never downloads a
 * browser), headless, in a fresh temporary profile that Playwright makes and deletes with each launch.
 *
 * - Where Chromium is: TOKENKEEP_CHROMIUM, else /usr/bin/chromium. Without it the suites skip with a reason that says
 *   where it was looked for — except under CI=true, where they fail: CI installs it (.ci/run).
 * - watchContext() records, for every page of a browser context, each Content-Security-Policy violation the browser
 *   reports (the `securitypolicyviolation` event, through an init script, and the console's "Refused to …" lines),
 *   each uncaught page error, each request that failed at the network level and each 5xx answer.
 * - axeViolations() runs axe-core in the page — its source evaluated through the DevTools protocol, which the page's
 *   CSP does not govern, so the page keeps its own CSP (no bypassCSP) — and returns the serious and critical findings.
 * - screenshot() saves a PNG per screen under .tmp/screenshots/<suite>/ (ignored by git) for a reviewer.
 */
import assert from 'node:assert/strict';
import { accessSync, constants, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { ROOT } from '../process-support.js';

/** Where the browser is looked for. */
export const CHROMIUM = process.env.TOKENKEEP_CHROMIUM || '/usr/bin/chromium';

/** CI runs the browser tests or fails: a missing browser there is a broken machine, not a reason to skip. */
export const IN_CI = process.env.CI === 'true';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The console's Content-Security-Policy (CONSOLE-UI.md): what every console answer carries. */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/** How long one browser action or wait may take before the test fails (the suite's budget is ~2 minutes). */
export const ACTION_TIMEOUT_MS = 10_000;

export function chromiumFound(): boolean {
  try {
    accessSync(CHROMIUM, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The `skip` option of a browser suite: a reason when Chromium is missing, false when it is there — and false under
 * CI=true whatever happens, so that launchChromium() fails the suite instead.
 */
export function browserSkip(): string | false {
  if (chromiumFound() || IN_CI) return false;
  return `browser tests SKIPPED: Chromium not found at ${CHROMIUM} (install Debian's chromium, or set TOKENKEEP_CHROMIUM)`;
}

export async function launchChromium(): Promise<Browser> {
  assert.ok(chromiumFound(), `Chromium not found at ${CHROMIUM}${IN_CI ? ' (CI=true: the browser tests must run; .ci/run installs it)' : ''}`);
  // launch() makes a fresh temporary user data dir and removes it at close(); it adds --no-sandbox itself as well.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
}

/** What the browser reported while a context was open. Each list holds one readable line per event. */
export interface Watch {
  cspViolations: string[];
  pageErrors: string[];
  failedRequests: string[];
  serverErrors: string[];
  /** fails unless every list is empty (failed requests matching `allowFailed` aside: e.g. a fetch a navigation aborted) */
  assertClean(options?: { allowFailed?: RegExp }): void;
}

const CSP_BINDING = '__tokenkeepCspViolation';

/** Runs in every document of the context before its own scripts; it reports to the binding installed below. */
const CSP_LISTENER = `document.addEventListener('securitypolicyviolation', (e) => {
  const report = globalThis[${JSON.stringify(CSP_BINDING)}];
  if (typeof report === 'function') report({ directive: e.effectiveDirective, blocked: e.blockedURI, source: e.sourceFile,
    line: e.lineNumber, sample: e.sample, document: e.documentURI, disposition: e.disposition });
}, true);`;

/** A console line in which Chromium reports a refused load or script, naming the policy. */
const CSP_CONSOLE = /Content[ -]Security[ -]Policy/i;

export async function watchContext(context: BrowserContext): Promise<Watch> {
  const watch: Watch = {
    cspViolations: [],
    pageErrors: [],
    failedRequests: [],
    serverErrors: [],
    assertClean(options = {}) {
      const failed = watch.failedRequests.filter((line) => !options.allowFailed?.test(line));
      assert.deepEqual(
        { cspViolations: watch.cspViolations, pageErrors: watch.pageErrors, failedRequests: failed, serverErrors: watch.serverErrors },
        { cspViolations: [], pageErrors: [], failedRequests: [], serverErrors: [] },
        'the browser reported no CSP violation, page error, failed request or 5xx answer',
      );
    },
  };
  await context.exposeBinding(CSP_BINDING, (_source, v: Record<string, unknown>) => {
    watch.cspViolations.push(`${v.disposition} ${v.directive} blocked ${v.blocked || '(inline)'} in ${v.document} at ${v.source}:${v.line} ${v.sample ?? ''}`);
  });
  await context.addInitScript({ content: CSP_LISTENER });
  context.on('console', (message) => {
    if (CSP_CONSOLE.test(message.text())) watch.cspViolations.push(`console: ${message.text()}`);
  });
  context.on('weberror', (error) => watch.pageErrors.push(String(error.error())));
  context.on('requestfailed', (request) => watch.failedRequests.push(`${request.method()} ${request.url()}: ${request.failure()?.errorText}`));
  context.on('response', (response) => {
    if (response.status() >= 500) watch.serverErrors.push(`${response.request().method()} ${response.url()}: ${response.status()}`);
  });
  return watch;
}

/** A context (own cookies and storage) with its watch; actions and waits time out after ACTION_TIMEOUT_MS. */
export async function newWatchedContext(browser: Browser, options: BrowserContextOptions = {}): Promise<{ context: BrowserContext; page: Page; watch: Watch }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  context.setDefaultTimeout(ACTION_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(ACTION_TIMEOUT_MS);
  const watch = await watchContext(context);
  const page = await context.newPage();
  return { context, page, watch };
}

/** One axe finding, readable in a failure message. */
export interface AxeFinding {
  id: string;
  impact: string;
  help: string;
  targets: string[];
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core's serious and critical findings on the page as it is now (every rule axe runs by default). */
export async function axeViolations(page: Page): Promise<AxeFinding[]> {
  const loaded = await page.evaluate(() => typeof (window as unknown as { axe?: unknown }).axe === 'object');
  // A string is evaluated as a script through the DevTools protocol: no <script> element, nothing the CSP governs.
  if (!loaded) await page.evaluate(AXE_SOURCE);
  const findings = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(context: Document, options: object): Promise<any> } }).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return (result.violations as any[]).map((v) => ({
      id: String(v.id),
      impact: String(v.impact),
      help: String(v.help),
      targets: (v.nodes as any[]).slice(0, 5).map((n) => JSON.stringify(n.target)),
    }));
  });
  return findings.filter((f) => f.impact === 'serious' || f.impact === 'critical');
}

export async function assertAccessible(page: Page, screen: string): Promise<void> {
  const findings = await axeViolations(page);
  assert.deepEqual(findings, [], `axe: no serious or critical violation on the ${screen} screen`);
}

/** The folder a suite's screenshots go to, emptied when the suite starts. */
export function screenshotFolder(suite: string): string {
  const dir = join(ROOT, '.tmp', 'screenshots', suite);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Saves the whole page as `<folder>/<NN>-<name>.png`, numbered in the order taken; returns the file's path. */
export async function screenshot(page: Page, folder: string, name: string): Promise<string> {
  shots.set(folder, (shots.get(folder) ?? 0) + 1);
  const path = join(folder, `${String(shots.get(folder)).padStart(2, '0')}-${name.replace(/[^A-Za-z0-9_-]+/g, '-')}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
const shots = new Map<string, number>();

/** axe, then a screenshot, of one screen. */
export async function checkScreen(page: Page, folder: string, name: string): Promise<void> {
  await screenshot(page, folder, name);
  await assertAccessible(page, name);
}

/** Whether the page scrolls sideways (the layout is wider than the window). */
export const pageOverflowsHorizontally = (page: Page): Promise<{ scrollWidth: number; clientWidth: number; overflows: boolean }> =>
  page.evaluate(() => {
    const { scrollWidth, clientWidth } = document.documentElement;
    return { scrollWidth, clientWidth, overflows: scrollWidth > clientWidth || document.body.scrollWidth > clientWidth };
  });

/** Polls `check` until it returns a value other than undefined/false, or fails after `ms`. */
export async function until<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, ms = ACTION_TIMEOUT_MS): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${last instanceof Error ? last.message : String(last)})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
