/**
 * One profile: its engine status (`…/status`), its app, its token on request, re-connect by consent, delete, and
 * the data sources that use it (`…/stats`). Its name and app come from the profile list, which carries no token.
 */
import { useState } from 'preact/hooks';
import { apps as listApps } from '../api/apps';
import { ApiError } from '../api/client';
import { Perm } from '../api/permissions';
import { deleteProfile, profileStats, profileStatus, profiles, reconnectProfile } from '../api/profiles';
import type { AppSummary, AsError, ProfileStats, ProfileStatus, ProfileSummary } from '../api/types';
import { Badge } from '../components/badge';
import { BusyButton } from '../components/busy-button';
import { ConfirmDialog } from '../components/confirm-dialog';
import { RelativeTime } from '../components/relative-time';
import { useAction } from '../components/use-action';
import { useLoad, useReportFailure } from '../load';
import { useMessages } from '../messages';
import { navigate } from '../router';
import { holds, useSession } from '../session';
import { AccessTokenPanel } from './access-token';

interface Data {
  profile: ProfileSummary;
  app: AppSummary | undefined;
}

export function LastError({ error }: { error: AsError | null }) {
  if (error === null) return <>none</>;
  return (
    <>
      <code>{error.error}</code>
      {error.description ? `: ${error.description}` : ''}
      {error.httpStatus !== null ? ` (HTTP ${error.httpStatus})` : ''}, <RelativeTime iso={error.at} />
    </>
  );
}

function DataSources({ id }: { id: number }) {
  const [loaded] = useLoad<ProfileStats>(() => profileStats(id), [id]);
  useReportFailure(loaded, 'The data sources');
  return (
    <section class="panel" aria-labelledby="sources-heading" aria-busy={loaded.state === 'loading' ? 'true' : undefined}>
      <h2 id="sources-heading">Data sources</h2>
      {loaded.state === 'loading' && <p class="muted">Loading…</p>}
      {loaded.state === 'done' && loaded.value.dataSourcesLinked === 0 && <p>No data sources use this profile</p>}
      {loaded.state === 'done' && loaded.value.dataSourcesLinked > 0 && (
        <>
          <p>{loaded.value.dataSourcesLinked === 1 ? '1 data source uses' : `${loaded.value.dataSourcesLinked} data sources use`} this profile:</p>
          <ul>
            {loaded.value.dataSources.map((d) => (
              <li key={d.id}>
                {d.name}
                {d.description ? ` — ${d.description}` : ''}
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

export function ProfileDetail({ id }: { id: number }) {
  const session = useSession();
  const messages = useMessages();
  const reconnect = useAction();
  const remove = useAction();
  const [confirming, setConfirming] = useState(false);
  const [loaded] = useLoad<Data>(async () => {
    const [all, apps] = await Promise.all([profiles(), listApps().catch(() => [] as AppSummary[])]);
    const profile = all.find((p) => p.id === id);
    if (!profile) throw new ApiError(404, 222207710, `There is no profile ${id} among ${session.onBehalf ?? 'your'} profiles.`);
    return { profile, app: apps.find((a) => a.id === profile.oauthAppId) };
  }, [id]);
  const [status, reloadStatus] = useLoad<ProfileStatus>(() => profileStatus(id), [id]);
  useReportFailure(loaded, 'The profile');
  useReportFailure(status, 'The profile’s status');

  if (loaded.state === 'failed') {
    return <h1 tabIndex={-1}>{loaded.error instanceof ApiError && loaded.error.status === 404 ? 'Profile not found' : 'Profile'}</h1>;
  }
  if (loaded.state === 'loading') {
    return (
      <section aria-busy="true">
        <h1 tabIndex={-1}>Profile</h1>
        <p class="muted">Loading…</p>
      </section>
    );
  }
  const { profile, app } = loaded.value;
  const s = status.state === 'done' ? status.value : null;

  const startReconnect = () =>
    reconnect.run(async () => {
      try {
        const started = await reconnectProfile(profile.id);
        messages.say('Opening the provider’s sign-in…');
        location.assign(started.authorizationUrl);
        await new Promise((resolve) => setTimeout(resolve, 10_000));
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) return;
        messages.warn(`Re-connect did not start: ${err instanceof Error ? err.message : String(err)}`);
      }
    });

  const confirmDelete = () =>
    remove.run(async () => {
      try {
        await deleteProfile(profile.id);
      } catch (err) {
        setConfirming(false);
        if (err instanceof ApiError && err.status === 401) return;
        messages.warn(`The profile was not deleted: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
      setConfirming(false);
      navigate('#/profiles', () => messages.say('Profile deleted'));
    });

  return (
    <section>
      <h1 tabIndex={-1}>{profile.name}</h1>
      {profile.description && <p class="muted">{profile.description}</p>}
      <dl class="facts" aria-busy={status.state === 'loading' ? 'true' : undefined}>
        <dt>Status</dt>
        <dd>{s ? <Badge state={s.state} /> : '…'}</dd>
        <dt>App</dt>
        <dd>{app?.name ?? `App ${profile.oauthAppId}`}</dd>
        <dt>Expires</dt>
        <dd>{s ? <RelativeTime iso={s.expiresAt} /> : '…'}</dd>
        <dt>Failures</dt>
        <dd>{s ? s.failures : '…'}</dd>
        <dt>Last error</dt>
        <dd>{s ? <LastError error={s.lastError} /> : '…'}</dd>
      </dl>
      {s?.state === 'needs_reconsent' && <p class="notice">The provider no longer accepts this profile’s grant: re-connect to sign in and consent again.</p>}
      <AccessTokenPanel profileId={profile.id} onChange={() => void reloadStatus()} />
      <section class="panel" aria-labelledby="manage-heading">
        <h2 id="manage-heading">Manage</h2>
        <div class="actions">
          {holds(session, Perm.ModifyDataSource) && (
            <BusyButton action={reconnect} variant={s?.state === 'needs_reconsent' ? 'primary' : 'plain'} onClick={() => void startReconnect()}>
              Re-connect
            </BusyButton>
          )}
          {holds(session, Perm.DeleteDataSource) && (
            <button type="button" class="button button-danger" onClick={() => setConfirming(true)}>
              Delete profile
            </button>
          )}
        </div>
      </section>
      <DataSources id={profile.id} />
      {confirming && (
        <ConfirmDialog
          title={`Delete profile ${profile.name}?`}
          confirmLabel="Delete"
          action={remove}
          onConfirm={() => void confirmDelete()}
          onClose={() => setConfirming(false)}
        >
          <p>The profile’s tokens are removed from tokenkeep{app ? ` (and revoked at the provider when ${app.name} has a revocation URI)` : ''}.</p>
          <p>Data sources that use it lose it. This cannot be undone.</p>
        </ConfirmDialog>
      )}
    </section>
  );
}
