/**
 * A profile's engine status as its owner or creator sees it (api.md §8.1), and the status list of the effective
 * user's profiles. A profile whose app the AS refused shows `app_error` while the app is in `client_error`.
 */
import type { Identity } from '../domain/access.js';
import { reachableProfile } from '../domain/oauth-profiles.js';
import type { AsError, Store, TokenState } from '../domain/ports/index.js';
import { fail } from '../errors.js';

export interface StatusView {
  state: TokenState;
  expiresAt: string | null;
  refreshedAt: string | null;
  nextRefreshAt: string | null;
  failures: number;
  lastError: AsError | null;
  generation: number;
}

export interface StatusListEntry {
  id: number;
  name: string;
  oauthAppId: number;
  state: TokenState;
  expiresAt: string | null;
  failures: number;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** The state to show: a profile that could refresh otherwise is held up by its app's refused credentials (derived, not stored). */
const shown = (state: TokenState, appRefused: boolean): TokenState => (appRefused && (state === 'active' || state === 'retrying') ? 'app_error' : state);

async function refusedApps(store: Store, appIds: Iterable<number>): Promise<Set<number>> {
  const refused = new Set<number>();
  for (const appId of new Set(appIds)) if ((await store.appEngines.get(appId))?.status.state === 'client_error') refused.add(appId);
  return refused;
}

export async function statusFor(store: Store, actor: Identity, id: number): Promise<StatusView> {
  await reachableProfile(store, actor, id);
  const status = await store.tokens.status(id);
  if (!status) throw fail('profileNotFound', id); // deleted since the check
  const refused = await refusedApps(store, [status.oauthAppId]);
  return {
    state: shown(status.state, refused.has(status.oauthAppId)),
    expiresAt: iso(status.expiresAt),
    refreshedAt: iso(status.refreshedAt),
    nextRefreshAt: iso(status.nextRefreshAt),
    failures: status.failures,
    lastError: status.lastError,
    generation: status.generation,
  };
}

export async function statusList(store: Store, actor: Identity, state?: TokenState): Promise<StatusListEntry[]> {
  const statuses = await store.tokens.list(actor.id);
  const refused = await refusedApps(
    store,
    statuses.map((s) => s.oauthAppId),
  );
  return statuses
    .map((s) => ({
      id: s.profileId,
      name: s.name,
      oauthAppId: s.oauthAppId,
      state: shown(s.state, refused.has(s.oauthAppId)),
      expiresAt: iso(s.expiresAt),
      failures: s.failures,
    }))
    .filter((s) => state === undefined || s.state === state);
}

/** Every profile by the state it shows (a refused app's active or retrying profiles as app_error), for the metrics. */
export async function profilesByState(store: Store): Promise<Partial<Record<TokenState, number>>> {
  const counts: Partial<Record<TokenState, number>> = {};
  for (const c of await store.tokens.census()) {
    const state = shown(c.state, c.appRefused);
    counts[state] = (counts[state] ?? 0) + c.count;
  }
  return counts;
}
