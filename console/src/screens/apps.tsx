/**
 * The OAuth applications the effective user may use or manage (`GET /oauthapps`), each with its standing at its
 * authorization server (the engine resource's status, for those who may manage it).
 */
import { apps as listApps, dataStores, engine } from '../api/apps';
import { ApiError } from '../api/client';
import type { AppStatus, AppSummary, DataStore } from '../api/types';
import { Badge } from '../components/badge';
import { ScrollTable } from '../components/scroll-table';
import { useLoad, useReportFailure } from '../load';
import { navigate } from '../router';
import { managesApps, useSession } from '../session';

interface Row {
  app: AppSummary;
  /** null: not shown to this user (it may not manage the app) */
  status: AppStatus | null;
}

export function AppsScreen() {
  const session = useSession();
  const manager = managesApps(session);
  const [loaded] = useLoad<{ rows: Row[]; stores: DataStore[] }>(async () => {
    const [apps, stores] = await Promise.all([listApps(), dataStores().catch(() => [] as DataStore[])]);
    const rows = await Promise.all(
      apps.map(async (app) => {
        if (!manager) return { app, status: null };
        try {
          return { app, status: (await engine(app.id)).status };
        } catch (err) {
          // An app of a tenant this user does not administer: listed, not managed.
          if (err instanceof ApiError && (err.status === 403 || err.status === 404)) return { app, status: null };
          throw err;
        }
      }),
    );
    return { rows, stores };
  }, []);
  useReportFailure(loaded, 'The apps');
  const storeName = (id: number) => (loaded.state === 'done' ? loaded.value.stores.find((s) => s.id === id)?.name : undefined) ?? `Data store ${id}`;

  return (
    <section aria-busy={loaded.state === 'loading' ? 'true' : undefined}>
      <h1 tabIndex={-1}>Apps</h1>
      {manager && (
        <p>
          <button type="button" class="button button-primary" onClick={() => navigate('#/apps/new')}>
            New app
          </button>
        </p>
      )}
      {loaded.state === 'loading' && <p class="muted">Loading apps…</p>}
      {loaded.state === 'done' && (
        <ScrollTable label="Apps">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Data store</th>
              <th scope="col">Tenant</th>
              <th scope="col">Token URI</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {loaded.value.rows.length === 0 && (
              <tr>
                <td colSpan={5}>No apps yet.</td>
              </tr>
            )}
            {loaded.value.rows.map(({ app, status }) => (
              <tr key={app.id}>
                <td>
                  <a href={`#/apps/${app.id}`}>{app.name}</a>
                </td>
                <td>{storeName(app.dataStore)}</td>
                <td class="number">{app.tenantId}</td>
                <td class="mono break">{app.tokenURI}</td>
                <td>{status ? <Badge state={status.state} /> : <span class="muted">—</span>}</td>
              </tr>
            ))}
          </tbody>
        </ScrollTable>
      )}
    </section>
  );
}
