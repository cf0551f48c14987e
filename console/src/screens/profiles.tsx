/**
 * The effective user's profiles with their engine state (`GET /oauthprofiles/status`), joined with the names of
 * their apps (`GET /oauthapps`), and the way to connect a new one.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { apps as listApps } from '../api/apps';
import { Perm } from '../api/permissions';
import { profileStatuses } from '../api/profiles';
import type { AppSummary, ProfileStatusRow } from '../api/types';
import { Badge } from '../components/badge';
import { RelativeTime } from '../components/relative-time';
import { ScrollTable } from '../components/scroll-table';
import { useLoad, useReportFailure } from '../load';
import { holds, useSession } from '../session';
import { ConnectProfile } from './connect-profile';

interface Data {
  profiles: ProfileStatusRow[];
  apps: AppSummary[];
}

export function ProfilesScreen() {
  const session = useSession();
  const [connecting, setConnecting] = useState(false);
  const connectButton = useRef<HTMLButtonElement>(null);
  const wasConnecting = useRef(false);
  // Cancel puts the focus back on the button that opened the form.
  useEffect(() => {
    if (wasConnecting.current && !connecting) connectButton.current?.focus();
    wasConnecting.current = connecting;
  }, [connecting]);
  const [loaded] = useLoad<Data>(async () => {
    const [profiles, apps] = await Promise.all([profileStatuses(), listApps().catch(() => [] as AppSummary[])]);
    return { profiles, apps };
  }, []);
  useReportFailure(loaded, 'The profiles');
  const appName = (id: number) => (loaded.state === 'done' ? loaded.value.apps.find((a) => a.id === id)?.name : undefined) ?? `App ${id}`;

  return (
    <section aria-busy={loaded.state === 'loading' ? 'true' : undefined}>
      <h1 tabIndex={-1}>Profiles</h1>
      {holds(session, Perm.CreateDataSource) && !connecting && (
        <p>
          <button ref={connectButton} type="button" class="button button-primary" onClick={() => setConnecting(true)}>
            Connect a profile
          </button>
        </p>
      )}
      {connecting && <ConnectProfile apps={loaded.state === 'done' ? loaded.value.apps : null} onCancel={() => setConnecting(false)} />}
      {loaded.state === 'loading' && <p class="muted">Loading profiles…</p>}
      {loaded.state === 'done' && (
        <ScrollTable label="Profiles">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">App</th>
              <th scope="col">Status</th>
              <th scope="col">Expires</th>
              <th scope="col">Failures</th>
            </tr>
          </thead>
          <tbody>
            {loaded.value.profiles.length === 0 && (
              <tr>
                <td colSpan={5}>No profiles yet. Connect one, and tokenkeep keeps its tokens fresh.</td>
              </tr>
            )}
            {loaded.value.profiles.map((p) => (
              <tr key={p.id}>
                <td>
                  <a href={`#/profiles/${p.id}`}>{p.name}</a>
                </td>
                <td>{appName(p.oauthAppId)}</td>
                <td>
                  <Badge state={p.state} />
                </td>
                <td>
                  <RelativeTime iso={p.expiresAt} />
                </td>
                <td class="number">{p.failures}</td>
              </tr>
            ))}
          </tbody>
        </ScrollTable>
      )}
    </section>
  );
}
