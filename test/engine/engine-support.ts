/** What the token engine's tests share: fast retries, unique names, and a harness beside a misbehaving AS. */
import { after, before } from 'node:test';
import { randomBytes } from 'node:crypto';
import { harness, type Harness } from '../helpers.js';
import { startBadAuthorizationServer, type BadAuthorizationServer } from './bad-as.js';

/** Retries within milliseconds, so a test of three attempts takes no time. */
export const FAST = { backoff: { baseMs: 5, capMs: 20, maxAttempts: 3 }, pollMs: 10 };

let n = 0;
export const unique = (tag: string): string => `${tag}${++n}${randomBytes(4).toString('hex')}`;

/**
 * In the calling describe block: a harness (the loopback flag as given) and a misbehaving AS, handed to `set` before
 * the tests and both closed after them.
 */
export function withBadAs(set: (h: Harness, as: BadAuthorizationServer) => void, allowLoopbackHttpUris = true): void {
  let h: Harness | undefined;
  let as: BadAuthorizationServer | undefined;
  before(async () => {
    as = await startBadAuthorizationServer();
    h = await harness({ allowLoopbackHttpUris, engine: FAST });
    set(h, as);
  });
  after(async () => {
    await h?.close();
    await as?.close();
  });
}
