/**
 * A slow action's state: `busy` from the start (its button refuses a second press and its region says aria-busy),
 * `slow` once it has taken longer than a blink (150 ms: its button then reads "Working…"). A quick action never
 * flickers.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

export const SLOW_MS = 150;

export interface Action {
  busy: boolean;
  slow: boolean;
  /** runs `work` unless this action is running already */
  run(work: () => Promise<void>): Promise<void>;
}

export function useAction(): Action {
  const [state, setState] = useState({ busy: false, slow: false });
  const running = useRef(false);
  const mounted = useRef(true);
  useEffect(
    () => () => {
      mounted.current = false;
    },
    [],
  );
  const run = useCallback(async (work: () => Promise<void>) => {
    if (running.current) return;
    running.current = true;
    setState({ busy: true, slow: false });
    const timer = setTimeout(() => mounted.current && setState({ busy: true, slow: true }), SLOW_MS);
    try {
      await work();
    } finally {
      clearTimeout(timer);
      running.current = false;
      if (mounted.current) setState({ busy: false, slow: false });
    }
  }, []);
  return { ...state, run };
}
