/**
 * Hash routes (`#/profiles`, `#/profiles/7`, `#/apps`, `#/apps/new`, `#/apps/3`); `#/profiles` by default. The server
 * serves one page at /console/, so a route never reaches it and a reload stays where it was.
 */
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { name: 'profiles' }
  | { name: 'profile'; id: number }
  | { name: 'apps' }
  | { name: 'app-new' }
  | { name: 'app'; id: number }
  | { name: 'unknown'; hash: string };

const ID = '([1-9][0-9]{0,15})';

export function parseHash(hash: string): Route {
  const path = hash.replace(/^#/, '');
  if (path === '' || path === '/' || path === '/profiles') return { name: 'profiles' };
  let m = new RegExp(`^/profiles/${ID}$`).exec(path);
  if (m) return { name: 'profile', id: Number(m[1]) };
  if (path === '/apps') return { name: 'apps' };
  if (path === '/apps/new') return { name: 'app-new' };
  m = new RegExp(`^/apps/${ID}$`).exec(path);
  if (m) return { name: 'app', id: Number(m[1]) };
  return { name: 'unknown', hash: path };
}

/** What to do once the next route has been shown (say what an action did, after the screen changed). */
let afterNavigation: (() => void)[] = [];
const listeners = new Set<() => void>();

/** Goes to `hash` (`#/profiles`); `then` runs once the new screen is shown. */
export function navigate(hash: string, then?: () => void): void {
  if (then) afterNavigation.push(then);
  if (location.hash === hash) {
    // No hashchange for the same hash: the screen is shown already.
    listeners.forEach((l) => l());
  } else {
    location.hash = hash;
  }
}

/** The callbacks navigate() was given, taken once (the shell runs them after clearing the last screen's messages). */
export function takeAfterNavigation(): (() => void)[] {
  const pending = afterNavigation;
  afterNavigation = [];
  return pending;
}

/** The current route and a counter that moves on each navigation (also to the same route). */
export function useRoute(): { route: Route; visit: number } {
  const [state, setState] = useState(() => ({ route: parseHash(location.hash), visit: 0 }));
  useEffect(() => {
    const update = () => setState((s) => ({ route: parseHash(location.hash), visit: s.visit + 1 }));
    window.addEventListener('hashchange', update);
    listeners.add(update);
    return () => {
      window.removeEventListener('hashchange', update);
      listeners.delete(update);
    };
  }, []);
  return state;
}
