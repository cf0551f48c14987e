/**
 * When a proactive app's profile is refreshed next (api.md §8.7): `refreshMargin` before its expiry, earlier by a
 * jitter of up to 10 % of the token's lifetime so that tokens issued together are not refreshed together — but never
 * before half of the lifetime has passed, so that a margin longer than the lifetime cannot refresh in a loop.
 */
export const JITTER_SHARE = 0.1;

export function nextRefreshAt(expiresAt: number, now: number, marginMs: number, random: () => number): number {
  const lifetime = Math.max(0, expiresAt - now);
  const planned = expiresAt - marginMs - random() * JITTER_SHARE * lifetime;
  return Math.round(Math.max(planned, now + lifetime / 2));
}
