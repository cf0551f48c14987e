/**
 * A moment as people say it — "in 52 minutes", "3 minutes ago" — kept current while shown, with the exact time
 * in a tooltip and in the element's datetime.
 */
import { useEffect, useState } from 'preact/hooks';

const format = new Intl.RelativeTimeFormat('en', { numeric: 'always' });
const exact = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['day', 86_400],
  ['hour', 3_600],
  ['minute', 60],
];

export function relativeTime(at: number, now: number): string {
  const seconds = Math.round((at - now) / 1000);
  const size = Math.abs(seconds);
  for (const [unit, length] of UNITS) {
    if (size >= length) return format.format(Math.trunc(seconds / length), unit);
  }
  return format.format(seconds, 'second');
}

export function RelativeTime({ iso, none = 'unknown' }: { iso: string | null; none?: string }) {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 15_000);
    return () => clearInterval(timer);
  }, []);
  if (iso === null) return <span>{none}</span>;
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return <span>{iso}</span>;
  return (
    <time dateTime={iso} title={exact.format(at)}>
      {relativeTime(at, now)}
    </time>
  );
}
