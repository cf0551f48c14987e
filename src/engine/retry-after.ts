/**
 * `Retry-After` (RFC 9110 §10.2.3) read into a delay in milliseconds: delay-seconds or an HTTP-date in any of the
 * three forms recipients must accept (IMF-fixdate, RFC 850, asctime). Written by hand because `Date.parse` accepts far
 * more than HTTP-dates (`Date.parse('1')` is a day in 2001) and reads asctime, which carries no zone, as local time.
 *
 * An HTTP-date is measured against the answer's own `Date` header when it has a valid one, so that a skew between the
 * AS's clock and ours does not lengthen or shorten the wait the AS asked for; otherwise against when the answer
 * arrived. A date in the past means no wait. Every delay is capped at MAX_RETRY_AFTER_MS: a single answer must not
 * park a profile for longer than a day (one probe a day is no burden on any AS), and the cap keeps the value far
 * below what timers and database columns hold.
 */

export const MAX_RETRY_AFTER_MS = 24 * 60 * 60 * 1000;

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const IMF_FIXDATE = /^(?:mon|tue|wed|thu|fri|sat|sun), (\d{2}) ([a-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) gmt$/i;
const RFC850 = /^(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday), (\d{2})-([a-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) gmt$/i;
const ASCTIME = /^(?:mon|tue|wed|thu|fri|sat|sun) ([a-z]{3}) (\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/i;

function utc(year: number, monthName: string, day: number, h: number, m: number, s: number): number | undefined {
  const month = MONTHS.indexOf(monthName.toLowerCase());
  if (month < 0 || day < 1 || h > 23 || m > 59 || s > 60) return undefined;
  const daysInMonth = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  if (day > daysInMonth) return undefined;
  const d = new Date(0);
  // setUTCFullYear, not Date.UTC: Date.UTC reads the years 0–99 as 1900–1999.
  d.setUTCFullYear(year, month, day);
  d.setUTCHours(h, m, s, 0);
  return d.getTime();
}

/** An HTTP-date as epoch milliseconds, or undefined. `now` places RFC 850's two-digit years (RFC 9110 §5.6.7). */
export function parseHttpDate(value: string, now: number): number | undefined {
  const v = value.trim().replace(/\s+/g, ' ');
  let m = IMF_FIXDATE.exec(v);
  if (m) return utc(Number(m[3]), m[2], Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  m = RFC850.exec(v);
  if (m) {
    // A two-digit year that would lie more than 50 years ahead is the most recent past year with those digits.
    const thisYear = Number.isFinite(now) ? new Date(now).getUTCFullYear() : 2000;
    let year = Math.floor(thisYear / 100) * 100 + Number(m[3]);
    if (year > thisYear + 50) year -= 100;
    return utc(year, m[2], Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  }
  m = ASCTIME.exec(v);
  if (m) return utc(Number(m[6]), m[1], Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]));
  return undefined;
}

/**
 * The delay a `Retry-After` value asks for, in ms within [0, MAX_RETRY_AFTER_MS], or undefined when the header is
 * absent or not one of its two forms. `dateHeader` is the answer's `Date`; `receivedAt` is when it arrived (epoch ms).
 */
export function retryAfterMs(value: string | undefined, dateHeader: string | undefined, receivedAt: number): number | undefined {
  if (value === undefined) return undefined;
  const seconds = /^\s*(\d+)\s*$/.exec(value);
  if (seconds) return Math.min(Number(seconds[1]) * 1000, MAX_RETRY_AFTER_MS);
  const until = parseHttpDate(value, receivedAt);
  if (until === undefined) return undefined;
  const reference = (dateHeader === undefined ? undefined : parseHttpDate(dateHeader, receivedAt)) ?? receivedAt;
  const delay = until - reference;
  if (!Number.isFinite(delay)) return undefined;
  return Math.min(Math.max(delay, 0), MAX_RETRY_AFTER_MS);
}
