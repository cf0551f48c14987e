/**
 * Reading a screen's data: the state of a load (loading, its value, or the error to show), read again on demand.
 * A 401 is not shown (api/client.ts returns to sign-in); other errors go to the alert region by the screen.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api/client';
import { useMessages } from './messages';

export type Loaded<T> = { state: 'loading' } | { state: 'done'; value: T } | { state: 'failed'; error: Error };

export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): [Loaded<T>, () => Promise<void>] {
  const [loaded, setLoaded] = useState<Loaded<T>>({ state: 'loading' });
  const serial = useRef(0);
  const reload = useCallback(async () => {
    const mine = ++serial.current;
    try {
      const value = await load();
      if (mine === serial.current) setLoaded({ state: 'done', value });
    } catch (err) {
      if (mine === serial.current) setLoaded({ state: 'failed', error: err instanceof Error ? err : new Error(String(err)) });
    }
    // The caller names what the load depends on.
  }, deps);
  useEffect(() => {
    void reload();
    return () => {
      serial.current++;
    };
  }, [reload]);
  return [loaded, reload];
}

/** Says in the alert region why a load failed (not for a 401: the console is back at sign-in). */
export function useReportFailure(loaded: Loaded<unknown>, what: string): void {
  const messages = useMessages();
  useEffect(() => {
    if (loaded.state !== 'failed') return;
    const error = loaded.error;
    if (error instanceof ApiError && error.status === 401) return;
    messages.warn(`${what} could not be loaded: ${error.message}`);
  }, [loaded]);
}
