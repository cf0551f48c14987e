/**
 * The signed-in frame: a banner with the user and "Sign out", the main navigation, acting on behalf, the message
 * regions, and the screen of the current route. Moving to another screen clears the last screen's messages and
 * puts the focus on the new screen's heading.
 */
import { useEffect, useRef } from 'preact/hooks';
import { useMessages, MessageRegions } from '../messages';
import { takeAfterNavigation, useRoute, type Route } from '../router';
import { actsOnBehalf, managesApps, useSession } from '../session';
import { OnBehalfBanner, OnBehalfForm } from './on-behalf';
import { ProfilesScreen } from './profiles';
import { ProfileDetail } from './profile-detail';
import { AppsScreen } from './apps';
import { AppForm } from './app-form';

function Screen({ route }: { route: Route }) {
  switch (route.name) {
    case 'profiles':
      return <ProfilesScreen />;
    case 'profile':
      return <ProfileDetail id={route.id} />;
    case 'apps':
      return <AppsScreen />;
    case 'app-new':
      return <AppForm id={null} />;
    case 'app':
      return <AppForm id={route.id} />;
    default:
      return (
        <>
          <h1 tabIndex={-1}>Page not found</h1>
          <p>
            There is no screen at this address. Go to the <a href="#/profiles">list of profiles</a>.
          </p>
        </>
      );
  }
}

const section = (route: Route): 'profiles' | 'apps' | null =>
  route.name === 'profiles' || route.name === 'profile'
    ? 'profiles'
    : route.name === 'apps' || route.name === 'app' || route.name === 'app-new'
      ? 'apps'
      : null;

export function Shell() {
  const session = useSession();
  const messages = useMessages();
  const { route, visit } = useRoute();
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);

  useEffect(() => {
    if (first.current) {
      first.current = false;
    } else {
      messages.clear();
      main.current?.querySelector<HTMLElement>('h1')?.focus();
    }
    for (const then of takeAfterNavigation()) then();
    // Only a navigation (visit) runs this; messages.clear is stable.
  }, [visit]);

  const current = section(route);
  const showApps = managesApps(session);
  return (
    <div class="shell">
      <header class="topbar">
        <span class="brand">tokenkeep</span>
        <nav aria-label="Main" class="nav">
          <a href="#/profiles" aria-current={current === 'profiles' ? 'page' : undefined}>
            Profiles
          </a>
          {showApps && (
            <a href="#/apps" aria-current={current === 'apps' ? 'page' : undefined}>
              Apps
            </a>
          )}
        </nav>
        <div class="user">
          <p>Signed in as {session.userName}</p>
          <button type="button" class="button button-plain" onClick={() => void session.signOut()}>
            Sign out
          </button>
        </div>
      </header>
      {session.onBehalf !== null && <OnBehalfBanner userName={session.onBehalf} />}
      <main ref={main} class="content">
        <MessageRegions />
        {/* A new effective user: every screen reads its data again. */}
        <div key={`${session.onBehalf ?? ''}`}>
          <Screen route={route} />
        </div>
      </main>
      {actsOnBehalf(session) && session.onBehalf === null && (
        <aside class="on-behalf" aria-label="Act on behalf">
          <OnBehalfForm />
        </aside>
      )}
    </div>
  );
}
