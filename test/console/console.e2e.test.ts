/**
 * The web console end to end in a real headless Chromium (issue 15), against the real server process and a real
 * oidc-provider, both on 127.0.0.1 (console-stack.ts):
 *
 * 1. d2cadmin signs in with the keyboard only, creates the app for the provider on the Apps screen (a field error
 *    first), opens it, and acts on behalf of d2cuser for a moment;
 * 2. d2cuser connects a profile through the provider's own login and consent pages, sees it `active`, gets its access
 *    token (masked, shown, copied), forces a refresh, meets the 429 of a second one, loses the grant at the provider
 *    and sees `needs_reconsent` after "Refresh now", re-connects through the provider, deletes the profile through
 *    its dialog, signs out — and the old session cookie is refused afterwards;
 * 3. the console at 360 px wide: no screen scrolls sideways.
 *
 * On every screen axe-core finds no serious or critical violation, and a screenshot is saved (.tmp/screenshots/
 * console-e2e/, printed). Every test ends with the browser having reported no CSP violation, page error, failed
 * request or 5xx answer. Console elements are found only by the roles and names of CONSOLE-UI.md.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { fetchT } from '../process-support.js';
import {
  alertMessage,
  assertFocusVisible,
  expectRowState,
  goToProfiles,
  openProfile,
  passAuthorizationServer,
  profileRow,
  signIn,
  signOut,
  statusMessage,
  tabTo,
} from './console-actions.js';
import { ADMIN, PASSWORDS, USER, startConsoleStack, type ConsoleStack } from './console-stack.js';
import {
  browserSkip,
  checkScreen,
  launchChromium,
  newWatchedContext,
  pageOverflowsHorizontally,
  screenshotFolder,
  until,
  type Watch,
} from './browser-support.js';

const APP_NAME = 'Local AS';
const PROFILE = 'Analytics_1';
const SESSION_COOKIE = 'tokenkeep_session';

describe('console end to end in Chromium', { skip: browserSkip(), timeout: 150_000 }, () => {
  let stack: ConsoleStack;
  let browser: Browser;
  let shots: string;

  before(async () => {
    shots = screenshotFolder('console-e2e');
    [stack, browser] = await Promise.all([startConsoleStack(), launchChromium()]);
  });

  after(async () => {
    await browser?.close();
    await stack?.close();
    if (shots) console.log(`console screenshots: ${shots}`);
  });

  /** A fresh browser context for `body`; it must end with nothing reported by the browser. */
  async function inBrowser(body: (page: Page, watch: Watch) => Promise<void>, options: Parameters<typeof newWatchedContext>[1] = {}): Promise<void> {
    const { context, page, watch } = await newWatchedContext(browser, options);
    try {
      await body(page, watch);
      watch.assertClean();
    } finally {
      await context.close();
    }
  }

  test('an administrator signs in with the keyboard only, creates the app on the Apps screen and acts on behalf of d2cuser', async () => {
    await inBrowser(async (page) => {
      await page.goto(stack.consoleUrl);
      await page.getByRole('heading', { name: 'Sign in to tokenkeep' }).waitFor();
      await checkScreen(page, shots, 'sign-in');

      // Keyboard only: Tab to each field, type, Tab to the button, Enter.
      const userName = page.getByLabel('User name', { exact: true });
      await tabTo(page, userName);
      await assertFocusVisible(userName, 'the User name field');
      await page.keyboard.type(ADMIN);
      const password = page.getByLabel('Password', { exact: true });
      await tabTo(page, password, 3);
      await page.keyboard.type(PASSWORDS[ADMIN]);
      const signInButton = page.getByRole('button', { name: 'Sign in' });
      await tabTo(page, signInButton, 3);
      await assertFocusVisible(signInButton, 'the Sign in button');
      await page.keyboard.press('Enter');
      await page.getByText(`Signed in as ${ADMIN}`).waitFor();
      await page.getByRole('heading', { name: 'Profiles', exact: true }).waitFor();

      // The Apps screen.
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Apps', exact: true }).click();
      await page.getByRole('heading', { name: 'Apps', exact: true }).waitFor();
      await page.getByRole('table', { name: 'Apps' }).waitFor();
      await checkScreen(page, shots, 'apps list');

      await page.getByRole('button', { name: 'New app' }).click();
      await page.getByRole('heading', { name: 'New app' }).waitFor();
      await checkScreen(page, shots, 'app form');
      const { as } = stack;
      const field = (label: string) => page.getByLabel(label, { exact: true });
      await field('Name').fill(APP_NAME);
      await page.getByRole('combobox', { name: 'Data store' }).selectOption({ label: 'Autonomous REST Connector' });
      await field('Client ID').fill(as.client.clientId);
      await field('Client secret').fill(as.client.clientSecret);
      await field('Authorize URI').fill(as.authorizeURI);
      await field('Token URI').fill('ftp://127.0.0.1/token');
      await field('Scope').fill('openid offline_access');
      await field('Description').fill('the tests’ oidc-provider');
      const engine = page.getByRole('group', { name: 'Engine settings' });
      await engine.getByLabel('Issuer', { exact: true }).fill(as.issuer);
      await engine.getByLabel('Revocation URI', { exact: true }).fill(as.revocationURI);
      // oidc-provider drops offline_access (so issues no refresh token) unless the request says prompt=consent.
      await engine.getByLabel('Authorize parameters', { exact: true }).fill('prompt=consent');

      // A field the API refuses is marked and named.
      await page.getByRole('button', { name: 'Save' }).click();
      const tokenUri = field('Token URI');
      await until('Token URI marked invalid', async () => (await tokenUri.getAttribute('aria-invalid')) === 'true');
      const describedBy = await tokenUri.getAttribute('aria-describedby');
      assert.ok(describedBy, 'the invalid field names its error text');
      const errorText = await page.locator(`[id="${describedBy.split(' ')[0]}"]`).textContent();
      assert.match(errorText ?? '', /Token URI/, 'the error text names the field');
      await checkScreen(page, shots, 'app form with a field error');

      await tokenUri.fill(as.tokenURI);
      await page.getByRole('button', { name: 'Save' }).click();
      await until('the app stored', async () => {
        const apps = await stack.api('GET', '/api/mgmt/oauthapps', ADMIN);
        return apps.body?.applications?.find((a: { name: string }) => a.name === APP_NAME);
      });
      const app = (await stack.api('GET', '/api/mgmt/oauthapps', ADMIN)).body.applications.find((a: { name: string }) => a.name === APP_NAME);
      assert.equal(app.tokenURI, as.tokenURI);
      assert.equal(app.dataStore, 63);
      const settings = (await stack.api('GET', `/api/mgmt/oauthapps/${app.id}/engine`, ADMIN)).body;
      assert.equal(new URL(settings.issuer).href, new URL(as.issuer).href);
      assert.equal(new URL(settings.revocationURI).href, new URL(as.revocationURI).href);
      assert.deepEqual(settings.authorizeParams, { prompt: 'consent' });

      // The app's edit screen: its status, and its secret for a manager who asks.
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Apps', exact: true }).click();
      await page.getByRole('table', { name: 'Apps' }).getByRole('link', { name: APP_NAME, exact: true }).click();
      await page.getByRole('heading', { name: `Edit app ${APP_NAME}` }).waitFor();
      assert.equal(await page.getByText(as.client.clientSecret).count(), 0, 'the secret is not shown unasked');
      await page.getByRole('button', { name: 'Show client secret' }).click();
      await until(
        'the secret shown',
        async () => (await field('Client secret').inputValue()) === as.client.clientSecret || (await page.getByText(as.client.clientSecret).count()) > 0,
      );
      await checkScreen(page, shots, 'app edit');

      // Acting on behalf of d2cuser, visible while it lasts.
      await goToProfiles(page);
      await page.getByLabel('Act on behalf of user', { exact: true }).fill(USER);
      await page.getByRole('button', { name: 'Act on behalf', exact: true }).click();
      const banner = page.getByRole('region', { name: 'On behalf' });
      await banner.getByText(`Acting on behalf of ${USER}`).waitFor();
      await checkScreen(page, shots, 'on-behalf banner');
      await banner.getByRole('button', { name: 'Stop acting on behalf' }).click();
      await banner.waitFor({ state: 'detached' });
      await signOut(page);
    });
  });

  test('d2cuser connects a profile at the provider, refreshes it, loses and re-connects the grant, deletes it and signs out', async () => {
    await inBrowser(
      async (page) => {
        const { as, base } = stack;
        await signIn(page, stack.consoleUrl, USER);
        await page.getByRole('heading', { name: 'Profiles', exact: true }).waitFor();
        assert.equal(
          await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Apps' }).count(),
          0,
          'no Apps link without permission 28 or 12',
        );
        await checkScreen(page, shots, 'profiles (none yet)');

        // Connect through the provider's own login and consent pages.
        await page.getByRole('button', { name: 'Connect a profile' }).click();
        await page.getByRole('heading', { name: 'Connect a profile' }).waitFor();
        await page.getByRole('combobox', { name: 'App' }).selectOption({ label: APP_NAME });
        await page.getByLabel('Profile name', { exact: true }).fill(PROFILE);
        await page.getByLabel('Description', { exact: true }).fill('connected in the browser test');
        await checkScreen(page, shots, 'connect form');
        await page.getByRole('button', { name: 'Continue to sign-in' }).click();
        await passAuthorizationServer(page, new URL(as.issuer).origin);
        await statusMessage(page, 'Connected').waitFor();
        await until('the outcome removed from the address', () => {
          const url = new URL(page.url());
          return url.search === '' && url.hash === '#/profiles' ? url : undefined;
        });
        await expectRowState(page, PROFILE, 'active');
        assert.match(
          (await profileRow(page, PROFILE).textContent()) ?? '',
          /in (\d+ minutes|an hour|1 hour|59 minutes|60 minutes)/,
          'expiry as a relative time',
        );
        await checkScreen(page, shots, 'profiles');
        const consented = as.tokenRequests().filter((c) => c.grantType === 'authorization_code');
        assert.equal(consented.length, 1, 'one code exchange at the provider');

        // The profile's screen: data sources, then its access token, masked until shown.
        await openProfile(page, PROFILE);
        await page.getByRole('heading', { name: 'Data sources' }).waitFor();
        await page.getByText('No data sources use this profile').waitFor();
        await page.getByRole('button', { name: 'Get access token' }).click();
        const tokenBox = page.getByLabel('Access token', { exact: true });
        await tokenBox.waitFor();
        const issued = consented[0].issuedAccessToken!;
        assert.equal(await tokenBox.getAttribute('readonly'), '', 'the token box is read-only');
        assert.ok((await tokenBox.getAttribute('type')) === 'password' || (await tokenBox.inputValue()) !== issued, 'the token is masked');
        await page.getByRole('button', { name: 'Show' }).click();
        await until('the token shown', async () => (await tokenBox.getAttribute('type')) !== 'password' && (await tokenBox.inputValue()) === issued);
        await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
        await page.getByRole('button', { name: 'Copy' }).click();
        await until('the token copied', async () => (await page.evaluate(() => navigator.clipboard.readText())) === issued);
        await checkScreen(page, shots, 'profile detail with the token shown');
        await page.getByRole('button', { name: 'Hide' }).click();
        await until('the token masked again', async () => (await tokenBox.getAttribute('type')) === 'password' || (await tokenBox.inputValue()) !== issued);

        // A forced refresh at the provider; a second one at once meets the 429 and its message.
        const profileId = (await stack.api('GET', '/api/mgmt/oauthprofiles', USER)).body.profiles.find((p: { name: string }) => p.name === PROFILE).id;
        const statusOf = async () => (await stack.api('GET', `/api/mgmt/oauthprofiles/${profileId}/status`, USER)).body;
        const before = await statusOf();
        await page.getByRole('button', { name: 'Refresh now' }).click();
        await until('the refresh at the provider', () => as.refreshCalls() === 1);
        const refreshed = await until('the refresh stored', async () => {
          const s = await statusOf();
          return s.generation > before.generation && s.refreshedAt !== null ? s : undefined;
        });
        assert.equal(refreshed.state, 'active');
        await page.getByText('active', { exact: true }).first().waitFor();
        await page.getByRole('button', { name: 'Refresh now' }).click();
        await alertMessage(page, /less than 10 seconds ago/).waitFor();
        assert.equal(as.refreshCalls(), 1, 'the refused refresh reached no provider');

        // The grant dies at the provider (the user withdrew consent there).
        const last = as
          .tokenRequests()
          .filter((c) => c.grantType === 'refresh_token')
          .at(-1)!;
        await as.revokeGrant(last.issuedRefreshToken!);
        assert.equal(await as.isActive(last.issuedRefreshToken!), false);
        // The forced refresh waits 10 s after the last one (api.md §8.2).
        const wait = Date.parse(refreshed.refreshedAt) + 10_500 - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        await page.getByRole('button', { name: 'Refresh now' }).click();
        await page.getByText('needs_reconsent', { exact: true }).first().waitFor();
        assert.equal((await statusOf()).state, 'needs_reconsent');
        await checkScreen(page, shots, 'profile needs re-consent');

        // Re-connect through the provider (its session remembers the login; the consent is asked again).
        await page.getByRole('button', { name: 'Re-connect' }).click();
        await passAuthorizationServer(page, new URL(as.issuer).origin);
        await statusMessage(page, 'Connected').waitFor();
        await expectRowState(page, PROFILE, 'active');
        assert.equal((await statusOf()).state, 'active');
        assert.equal(as.tokenRequests().filter((c) => c.grantType === 'authorization_code').length, 2, 'a second code exchange');

        // Delete it through its dialog.
        await openProfile(page, PROFILE);
        await page.getByRole('button', { name: 'Delete profile' }).click();
        const dialog = page.getByRole('dialog', { name: `Delete profile ${PROFILE}?` });
        await dialog.waitFor();
        await checkScreen(page, shots, 'delete dialog');
        await dialog.getByRole('button', { name: 'Delete' }).click();
        await statusMessage(page, 'Profile deleted').waitFor();
        await page.getByRole('heading', { name: 'Profiles', exact: true }).waitFor();
        await profileRow(page, PROFILE).waitFor({ state: 'detached' });
        assert.equal((await stack.api('GET', `/api/mgmt/oauthprofiles/${profileId}`, USER)).status, 404);

        // Sign out: the session ends on the server, not only in this browser.
        const cookie = (await page.context().cookies(base)).find((c) => c.name === SESSION_COOKIE);
        assert.ok(cookie, 'the session cookie was set');
        await signOut(page);
        assert.equal(
          (await page.context().cookies(base)).find((c) => c.name === SESSION_COOKIE),
          undefined,
          'the browser dropped the cookie',
        );
        const withOldCookie = { headers: { cookie: `${SESSION_COOKIE}=${cookie.value}` } };
        assert.equal((await fetchT(`${base}/console/session`, withOldCookie)).status, 401, 'GET /console/session refuses the old cookie');
        assert.equal((await fetchT(`${base}/api/mgmt/oauthprofiles`, withOldCookie)).status, 401, 'the API refuses the old cookie');
      },
      { viewport: { width: 1280, height: 800 } },
    );
  });

  test('at 360 px wide no screen scrolls sideways', async () => {
    // A profile with long values makes the table as wide as it gets.
    const tokens = await stack.as.obtainTokens({ accountId: 'narrow' });
    const app = (await stack.api('GET', '/api/mgmt/oauthapps', USER)).body.applications.find((a: { name: string }) => a.name === APP_NAME);
    const created = await stack.api('POST', '/api/mgmt/oauthprofiles', USER, {
      name: 'A_rather_long_profile_name_for_a_narrow_window',
      oauthAppId: app.id,
      description: 'a description',
      accessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken,
    });
    assert.equal(created.status, 201, created.text);
    await inBrowser(
      async (page) => {
        const fits = async (screen: string) => {
          const { overflows, scrollWidth, clientWidth } = await pageOverflowsHorizontally(page);
          assert.equal(overflows, false, `the ${screen} screen fits 360 px (scrollWidth ${scrollWidth} > ${clientWidth})`);
          await checkScreen(page, shots, `${screen} at 360 px`);
        };
        await page.goto(stack.consoleUrl);
        await page.getByRole('heading', { name: 'Sign in to tokenkeep' }).waitFor();
        await fits('sign-in');
        await signIn(page, stack.consoleUrl, USER);
        await page.getByRole('table', { name: 'Profiles' }).waitFor();
        await expectRowState(page, created.body.name, 'active');
        await fits('profiles');
        await openProfile(page, created.body.name);
        await fits('profile detail');
        await goToProfiles(page);
        await page.getByRole('button', { name: 'Connect a profile' }).click();
        await page.getByRole('heading', { name: 'Connect a profile' }).waitFor();
        await fits('connect form');
      },
      { viewport: { width: 360, height: 740 } },
    );
  });
});
