/** A state as a coloured badge whose text is the state itself (`active`, `needs_reconsent`, `client_error`, …). */

/** The badge's colour family; an unknown state is neutral. */
const TONES: Record<string, 'good' | 'warn' | 'bad' | 'info'> = {
  active: 'good',
  ok: 'good',
  refreshing: 'info',
  retrying: 'warn',
  failing: 'warn',
  origin_changed: 'warn',
  needs_reconsent: 'bad',
  app_error: 'bad',
  client_error: 'bad',
};

export function Badge({ state }: { state: string }) {
  return <span class={`badge badge-${TONES[state] ?? 'neutral'}`}>{state}</span>;
}
