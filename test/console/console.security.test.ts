/**
 * The console's defences as a real Chromium meets them (issue 15, api.md §10), against the real server process and
 * the tests' oidc-provider on 127.0.0.1 (console-stack.ts):
 *
 * - the session cookie's flags as the browser stored them, and the console's security headers as it received them;
 * - a cookie-authenticated write without the CSRF token (or with a wrong one) is refused and changes nothing, while
 *   the same write with the token goes through (so the refusal is the token's doing);
 * - a page of another origin on the same site (127.0.0.1, another port: the browser sends the cookie along) posts a
 *   form and sends fetches to tokenkeep's /api: refused with 403, nothing changes, the provider is never called;
 * - a page of another site (localhost): the browser withholds the SameSite=Strict cookie, so the post is a 401;
 * - after sign-out no secret (password, access or refresh token, session id, CSRF token) is in localStorage,
 *   sessionStorage, the tab's history, any URL the browser requested, the page's HTML or its fields.
 *
 * Each test ends with the browser having reported no CSP violation, page error, failed request (those a test causes
 * on purpose aside) or 5xx answer.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page, Request } from 'playwright-core';
import { expectRowState, openProfile, signIn, signOut } from './console-actions.js';
import { PASSWORDS, USER, startConsoleStack, type ConsoleStack } from './console-stack.js';
import { CONSOLE_CSP, browserSkip, launchChromium, newWatchedContext, until, type Watch } from './browser-support.js';
import { oauthAppBody } from '../engine/as-support.js';

const SESSION_COOKIE = 'tokenkeep_session';

describe('console security in Chromium', { skip: browserSkip(), timeout: 120_000 }, () => {
  let stack: ConsoleStack;
  let browser: Browser;
  /** another origin on 127.0.0.1 serving the attacker's pages; `/page?kind=…&target=…` */
  let attacker: Server;
  let attackerPort: number;
  /** d2cuser's profile the attacks aim at, with real tokens of the provider */
  let profileId: number;
  let profileName: string;

  before(async () => {
    [stack, browser] = await Promise.all([startConsoleStack(), launchChromium()]);
    attacker = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://attacker');
      res
        .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        .end(attackPage(url.searchParams.get('kind') ?? '', url.searchParams.get('target') ?? ''));
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    attackerPort = (attacker.address() as AddressInfo).port;

    const { as } = stack;
    const app = await stack.api('POST', '/api/mgmt/oauthapps', 'd2cadmin', oauthAppBody(as));
    assert.equal(app.status, 201, app.text);
    const tokens = await as.obtainTokens({ accountId: 'victim' });
    profileName = 'Victim_profile';
    const profile = await stack.api('POST', '/api/mgmt/oauthprofiles', USER, {
      name: profileName,
      oauthAppId: app.body.id,
      accessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken,
    });
    assert.equal(profile.status, 201, profile.text);
    profileId = profile.body.id;
  });

  after(async () => {
    await browser?.close();
    attacker?.closeAllConnections();
    await new Promise((resolve) => attacker?.close(resolve));
    await stack?.close();
  });

  /** A fresh browser context for `body`; it must end with nothing reported by the browser but `allowFailed`. */
  async function inBrowser(body: (page: Page, watch: Watch) => Promise<void>, allowFailed?: RegExp): Promise<void> {
    const { context, page, watch } = await newWatchedContext(browser);
    try {
      await body(page, watch);
      watch.assertClean({ allowFailed });
    } finally {
      await context.close();
    }
  }

  /** What the attacks must not have changed: the profile, its engine status, the provider's token endpoint. */
  async function snapshot(): Promise<unknown> {
    const profiles = await stack.api('GET', '/api/mgmt/oauthprofiles', USER);
    const status = await stack.api('GET', `/api/mgmt/oauthprofiles/${profileId}/status`, USER);
    return { profiles: profiles.body, status: status.body, tokenCalls: stack.as.tokenCalls() };
  }

  test('the session cookie is HttpOnly, SameSite=Strict, Path=/ and out of scripts’ reach; the console carries its CSP', async () => {
    await inBrowser(async (page) => {
      const response = await page.goto(stack.consoleUrl);
      assert.ok(response);
      const headers = response.headers();
      assert.equal(headers['content-security-policy'], CONSOLE_CSP);
      assert.equal(headers['x-content-type-options'], 'nosniff');
      assert.equal(headers['referrer-policy'], 'no-referrer');
      await signIn(page, stack.consoleUrl, USER);
      const cookie = (await page.context().cookies(stack.base)).find((c) => c.name === SESSION_COOKIE);
      assert.ok(cookie, 'the browser stored the session cookie');
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.sameSite, 'Strict');
      assert.equal(cookie.path, '/');
      assert.equal(cookie.secure, false, 'plain http on loopback: not Secure (Secure under TLS)');
      assert.ok(cookie.value.length >= 22, 'an opaque value of at least 128 bits');
      assert.ok(!(await page.evaluate(() => document.cookie)).includes(SESSION_COOKIE), 'scripts cannot read it');
    });
  });

  test('a cookie-authenticated write without the CSRF token, or with a wrong one, is refused and changes nothing', async () => {
    await inBrowser(async (page) => {
      await signIn(page, stack.consoleUrl, USER);
      const before = await snapshot();
      const send = (path: string, method: string, csrf?: string) =>
        page.evaluate(
          async ({ path, method, csrf }) => {
            const res = await fetch(path, { method, headers: csrf === undefined ? {} : { 'x-csrf-token': csrf } });
            return res.status;
          },
          { path, method, csrf },
        );
      assert.equal(await send(`/api/mgmt/oauthprofiles/${profileId}/token?force=true`, 'POST'), 403, 'forced refresh without a token');
      assert.equal(await send(`/api/mgmt/oauthprofiles/${profileId}`, 'DELETE'), 403, 'delete without a token');
      assert.equal(await send(`/api/mgmt/oauthprofiles/${profileId}`, 'DELETE', 'A'.repeat(43)), 403, 'delete with a wrong token');
      assert.equal(await send(`/api/mgmt/oauthprofiles/${profileId}`, 'DELETE', ''), 403, 'delete with an empty token');
      assert.deepEqual(await snapshot(), before, 'nothing changed');
      // The same cookie reads, and writes with the session's token: the refusals above were the token's doing.
      assert.equal(await send('/api/mgmt/oauthprofiles', 'GET'), 200);
      const csrf = await page.evaluate(async () => (await (await fetch('/console/session')).json()).csrfToken as string);
      assert.equal(await send(`/api/mgmt/oauthprofiles/${profileId}/token`, 'POST', csrf), 200, 'a write with the token goes through');
    });
  });

  for (const site of ['same-site', 'cross-site'] as const) {
    const expected = site === 'same-site' ? 403 : 401;
    test(`a ${site} page (${site === 'same-site' ? '127.0.0.1 on another port: the cookie goes along' : 'localhost: SameSite=Strict withholds the cookie'}) cannot write through the signed-in browser: ${expected}`, async () => {
      await inBrowser(
        async (page) => {
          await signIn(page, stack.consoleUrl, USER);
          await expectRowState(page, profileName, 'active');
          const before = await snapshot();
          const origin = `http://${site === 'same-site' ? '127.0.0.1' : 'localhost'}:${attackerPort}`;
          const apiRequests: Request[] = [];
          page.context().on('request', (r) => {
            if (r.url().startsWith(`${stack.base}/api/`)) apiRequests.push(r);
          });

          // An auto-submitting form: a forced refresh of the victim's profile. Whatever refuses it (the session
          // check, or the form's content type), nothing may change.
          const target = `${stack.base}/api/mgmt/oauthprofiles/${profileId}/token?force=true`;
          const formAnswer = page.waitForResponse((r) => r.url() === target);
          await page.goto(`${origin}/page?kind=form&target=${encodeURIComponent(target)}`);
          const formResponse = await formAnswer;
          assert.ok(
            formResponse.status() >= 400 && formResponse.status() < 500,
            `the form post is refused: ${formResponse.status()} ${await formResponse.text()}`,
          );
          const sentCookie = (await formResponse.request().allHeaders()).cookie ?? '';
          assert.equal(sentCookie.includes(`${SESSION_COOKIE}=`), site === 'same-site', 'the browser sent the cookie only to a same-site post');

          // fetch: the same forced refresh with no body at all (so no content type to refuse: only the session
          // check stands), a text/plain JSON create (both "simple" requests: no preflight), and a DELETE (preflighted).
          // The browser keeps the no-cors answers from the page (tokenkeep's Cross-Origin-Resource-Policy), so their
          // statuses are read from the server's own request log.
          const mark = stack.answers().length;
          await page.goto(`${origin}/page?kind=fetch&target=${encodeURIComponent(target)}`);
          await page.getByText('fetches done').waitFor();
          const path = `/api/mgmt/oauthprofiles/${profileId}`;
          const answers = await until('the server logged both posts', () => {
            const logged = stack.answers().slice(mark);
            const bare = logged.find((a) => a.method === 'POST' && a.path === `${path}/token`);
            const create = logged.find((a) => a.method === 'POST' && a.path === '/api/mgmt/oauthprofiles');
            return bare && create ? { bare, create, logged } : undefined;
          });
          assert.equal(answers.bare.status, expected, 'the bodiless forced refresh');
          assert.ok(answers.create.status >= 400 && answers.create.status < 500, `the text/plain create is refused: ${answers.create.status}`);
          assert.equal(answers.logged.filter((a) => a.method === 'DELETE').length, 0, 'the DELETE never left the browser (its preflight got no CORS grant)');
          assert.equal(await page.getByText(/^delete: /).textContent(), 'delete: refused by the browser');

          assert.deepEqual(await snapshot(), before, 'nothing changed, and the provider was not called');
          assert.ok(apiRequests.length >= 2, 'the attacks reached the server');
        },
        // On purpose: the DELETE's preflight gets no CORS grant; the no-cors answers are withheld from the page (and
        // a 401 to a cross-site one ends it as a refused authentication).
        new RegExp(
          `/api/mgmt/oauthprofiles(/${profileId}: net::ERR_FAILED|(/${profileId}/token\\?force=true)?: net::ERR_(BLOCKED_BY_RESPONSE|INVALID_AUTH_CREDENTIALS))`,
        ),
      );
    });
  }

  test('after sign-out no secret is left in web storage, the history, a URL or the page', async () => {
    await inBrowser(async (page) => {
      const secrets = new Map<string, string>([['password', PASSWORDS[USER]]]);
      const urls: string[] = [];
      page.context().on('request', (r) => urls.push(r.url()));
      const signInAnswer = page.waitForResponse((r) => r.url() === `${stack.base}/console/session` && r.request().method() === 'POST');
      await signIn(page, stack.consoleUrl, USER);
      secrets.set('csrf token', (await (await signInAnswer).json()).csrfToken);
      const cookie = (await page.context().cookies(stack.base)).find((c) => c.name === SESSION_COOKIE);
      assert.ok(cookie);
      secrets.set('session id', cookie.value);

      // Put a token on the screen, as a user would.
      await openProfile(page, profileName);
      await page.getByRole('button', { name: 'Get access token' }).click();
      await page.getByRole('button', { name: 'Show' }).click();
      const shown = await until('the token shown', async () => (await page.getByLabel('Access token', { exact: true }).inputValue()) || undefined);
      secrets.set('access token', shown);
      for (const call of stack.as.tokenRequests()) {
        if (call.issuedAccessToken) secrets.set(`issued access token ${call.issuedAccessToken.slice(0, 4)}`, call.issuedAccessToken);
        if (call.issuedRefreshToken) secrets.set(`issued refresh token ${call.issuedRefreshToken.slice(0, 4)}`, call.issuedRefreshToken);
      }

      const leaks = async (when: string): Promise<string[]> => {
        // No named functions inside evaluate(): tsx would wrap them in a helper the page does not have.
        const storage = await page.evaluate(() =>
          [localStorage, sessionStorage].map((s) => Array.from({ length: s.length }, (_, i) => `${s.key(i)}=${s.getItem(s.key(i) ?? '')}`).join('\n')),
        );
        const cdp = await page.context().newCDPSession(page);
        const history = (await cdp.send('Page.getNavigationHistory')).entries.map((e) => `${e.url} ${e.userTypedURL} ${e.title}`).join('\n');
        await cdp.detach();
        const fields = await page.evaluate(() =>
          Array.from(document.querySelectorAll('input, textarea'))
            .map((el) => (el as HTMLInputElement).value)
            .join('\n'),
        );
        const places: Record<string, string> = {
          localStorage: storage[0],
          sessionStorage: storage[1],
          history,
          'requested URLs': urls.join('\n'),
          "the page's address": page.url(),
        };
        if (when === 'after sign-out') Object.assign(places, { 'the page HTML': await page.content(), 'the page fields': fields });
        const found: string[] = [];
        for (const [what, value] of secrets) {
          for (const [where, text] of Object.entries(places)) if (text.includes(value)) found.push(`${what} in ${where} (${when})`);
        }
        return found;
      };
      assert.deepEqual(await leaks('while signed in'), []);
      await signOut(page);
      assert.deepEqual(await leaks('after sign-out'), []);
      // Back to where the token was: still signed out, and nothing comes back.
      await page.goBack();
      await page.getByRole('heading', { name: 'Sign in to tokenkeep' }).waitFor();
      assert.deepEqual(await leaks('after sign-out'), []);
    });
  });
});

/**
 * The attacker's pages, aimed at a profile's `…/token?force=true` (`target`). `form`: a form that posts itself to
 * `target` on load. `fetch`: a bodiless no-cors POST to `target` and a no-cors POST of a JSON profile as text/plain
 * to the profiles collection (both "simple" requests: no preflight, the cookie goes along on the same site), then a
 * DELETE of the profile with credentials (CORS makes the browser ask first).
 */
function attackPage(kind: string, target: string): string {
  const t = JSON.stringify(target);
  const script =
    kind === 'form'
      ? `document.forms[0].submit();`
      : `const base = new URL(${t}).origin;
const profile = new URL(${t}).pathname.replace(/\\/token$/, '');
const out = (text) => { const p = document.createElement('p'); p.textContent = text; document.body.append(p); };
(async () => {
  await fetch(${t}, { method: 'POST', mode: 'no-cors', credentials: 'include' }).catch(() => undefined);
  await fetch(base + '/api/mgmt/oauthprofiles', { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' },
    body: JSON.stringify({ name: 'Planted', oauthAppId: 1, refreshToken: 'planted' }) }).catch(() => undefined);
  try {
    const res = await fetch(base + profile, { method: 'DELETE', credentials: 'include' });
    out('delete: ' + res.status);
  } catch {
    out('delete: refused by the browser');
  }
  out('fetches done');
})();`;
  const form = kind === 'form' ? `<form method="post" action="${target.replace(/&/g, '&amp;').replace(/"/g, '&quot;')}"></form>` : '';
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>elsewhere</title></head><body><h1>Win a prize</h1>${form}<script>${script}</script></body></html>`;
}
