/**
 * What a person does in the console, written once for the browser tests. Console elements are found only by role
 * and accessible name, label or visible text as CONSOLE-UI.md names them (never by CSS class); the authorization
 * server's own login and consent pages (test/engine/as-interactions.ts) are found by their form fields and buttons.
 */
import assert from 'node:assert/strict';
import type { Locator, Page } from 'playwright-core';
import { PASSWORDS } from './console-stack.js';

/** Signs in with the sign-in form (opening the console first unless the page shows it) and waits for the shell. */
export async function signIn(page: Page, consoleUrl: string, user: string, password = PASSWORDS[user]): Promise<void> {
  if (!page.url().startsWith(consoleUrl)) await page.goto(consoleUrl);
  await page.getByRole('heading', { name: 'Sign in to tokenkeep' }).waitFor();
  await page.getByLabel('User name', { exact: true }).fill(user);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText(`Signed in as ${user}`).waitFor();
}

export async function signOut(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to tokenkeep' }).waitFor();
}

/** Whether `locator` is the focused element and shows a focus indicator (an outline, as :focus-visible draws it). */
export const focusShown = (locator: Locator): Promise<{ focused: boolean; outline: string }> =>
  locator.evaluate((el) => {
    const style = getComputedStyle(el);
    return { focused: el === document.activeElement, outline: `${style.outlineStyle} ${style.outlineWidth}` };
  });

/** Presses Tab until `target` has the focus (at most `max` times); fails otherwise. */
export async function tabTo(page: Page, target: Locator, max = 15): Promise<void> {
  for (let i = 0; i < max; i++) {
    if ((await focusShown(target)).focused) return;
    await page.keyboard.press('Tab');
  }
  assert.ok((await focusShown(target)).focused, `Tab reaches ${target}`);
}

/** Asserts the focused element draws a visible outline. */
export async function assertFocusVisible(target: Locator, what: string): Promise<void> {
  const { focused, outline } = await focusShown(target);
  assert.ok(focused, `${what} has the focus`);
  assert.ok(!/^none /.test(outline) && !/ 0px$/.test(outline), `${what} shows its focus (outline: ${outline})`);
}

/** The status region's message (role=status) that contains `text`. */
export const statusMessage = (page: Page, text: string | RegExp): Locator => page.getByRole('status').filter({ hasText: text });

/** The alert (role=alert) that contains `text`. */
export const alertMessage = (page: Page, text: string | RegExp): Locator => page.getByRole('alert').filter({ hasText: text });

export const profilesTable = (page: Page): Locator => page.getByRole('table', { name: 'Profiles' });

/** The Profiles table's row of the profile named `name`. */
export const profileRow = (page: Page, name: string): Locator =>
  profilesTable(page)
    .getByRole('row')
    .filter({ has: page.getByRole('link', { name, exact: true }) });

/** Waits until the profile's row shows the state badge `state`. */
export async function expectRowState(page: Page, name: string, state: string): Promise<void> {
  await profileRow(page, name).getByText(state, { exact: true }).waitFor();
}

export async function goToProfiles(page: Page): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Profiles', exact: true }).click();
  await page.getByRole('heading', { name: 'Profiles', exact: true }).waitFor();
}

export async function openProfile(page: Page, name: string): Promise<void> {
  await profilesTable(page).getByRole('link', { name, exact: true }).click();
  await page.getByRole('heading', { name, exact: true }).waitFor();
}

/**
 * On the authorization server's pages: signs in (any login) when it asks, then presses Allow on its consent page.
 * Returns when the browser has left the AS.
 */
export async function passAuthorizationServer(page: Page, asOrigin: string, login = 'alice'): Promise<void> {
  await page.waitForURL((url) => url.origin === asOrigin);
  const loginField = page.locator('form#login input[name="login"]');
  const allow = page.getByRole('button', { name: 'Allow' });
  await loginField.or(allow).first().waitFor();
  if (await loginField.isVisible()) {
    await loginField.fill(login);
    await page.locator('form#login input[name="password"]').fill('any password');
    await page.getByRole('button', { name: 'Sign in' }).click();
  }
  await allow.click();
  await page.waitForURL((url) => url.origin !== asOrigin);
}
