/**
 * A profile's access token on request (`POST …/token`): masked until "Show", copied with "Copy", never kept
 * beyond this screen. "Refresh now" forces a refresh (`?force=true`; within 10 s of the last refresh, a 429 whose
 * message is shown).
 */
import { useState } from 'preact/hooks';
import { ApiError } from '../api/client';
import { Perm } from '../api/permissions';
import { accessToken } from '../api/profiles';
import type { AccessToken } from '../api/types';
import { BusyButton } from '../components/busy-button';
import { RelativeTime } from '../components/relative-time';
import { useAction } from '../components/use-action';
import { useMessages } from '../messages';
import { holds, useSession } from '../session';

/** As many dots as the token has characters, up to a line's worth: the length is no secret worth hiding. */
const masked = (token: string) => '•'.repeat(Math.min(token.length, 40));

export function AccessTokenPanel({ profileId, onChange }: { profileId: number; onChange(): void }) {
  const session = useSession();
  const messages = useMessages();
  const get = useAction();
  const refresh = useAction();
  const [token, setToken] = useState<AccessToken | null>(null);
  const [shown, setShown] = useState(false);

  const fetchToken = (force: boolean) => async () => {
    try {
      const answer = await accessToken(profileId, force);
      setToken(answer);
      setShown(false);
      messages.say(force ? 'Access token refreshed' : 'Access token ready');
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return;
      const wait = err instanceof ApiError && err.retryAfter !== null ? ` Try again in ${err.retryAfter} s.` : '';
      messages.warn(`${err instanceof Error ? err.message : String(err)}${wait}`);
    } finally {
      // A refresh (or its failure) changes the status shown above.
      onChange();
    }
  };

  const copy = async () => {
    if (!token) return;
    try {
      await navigator.clipboard.writeText(token.accessToken);
      messages.say('Access token copied');
    } catch {
      messages.warn('The browser did not allow copying: press Show, then select the token and copy it.');
    }
  };

  return (
    <section class="panel" aria-labelledby="token-heading" aria-busy={get.busy || refresh.busy ? 'true' : undefined}>
      <h2 id="token-heading">Token</h2>
      <div class="actions">
        <BusyButton action={get} onClick={() => void get.run(fetchToken(false))}>
          Get access token
        </BusyButton>
        {holds(session, Perm.ModifyDataSource) && (
          <BusyButton action={refresh} onClick={() => void refresh.run(fetchToken(true))}>
            Refresh now
          </BusyButton>
        )}
      </div>
      {token && (
        <div class="token">
          <label for="access-token">Access token</label>
          <div class="token-row">
            <input
              id="access-token"
              type="text"
              readOnly
              class="mono"
              spellcheck={false}
              autocomplete="off"
              aria-describedby="access-token-expiry"
              value={shown ? token.accessToken : masked(token.accessToken)}
            />
            <button type="button" class="button button-plain" onClick={() => setShown(!shown)}>
              {shown ? 'Hide' : 'Show'}
            </button>
            <button type="button" class="button button-plain" onClick={() => void copy()}>
              Copy
            </button>
          </div>
          <p id="access-token-expiry" class="help">
            {token.tokenType} token, expires <RelativeTime iso={token.expiresAt} none="at an unknown time" />
            {token.scope ? `, scope ${token.scope}` : ''}.
          </p>
        </div>
      )}
    </section>
  );
}
