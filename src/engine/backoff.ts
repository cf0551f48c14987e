/**
 * Exponential backoff with full jitter ("Exponential Backoff and Jitter", AWS Architecture Blog, 2015): before retry n
 * wait a uniformly random time in [0, min(cap, base · 2^(n−1))]. Full jitter rather than a fixed exponential delay so
 * that profiles which failed together (an AS outage) do not come back together. Pure: the random source is a
 * parameter, so tests choose it.
 *
 * The number of attempts is bounded, and so is every wait between them — also a `Retry-After` that came with a
 * transient answer (503): one longer than the policy's cap ends the retries of this refresh instead of being waited
 * out (the profile goes `retrying` with its next attempt at that time). So `worstCaseDelayMs` is a true bound, which
 * the lease needs: it must outlast the whole outbound deadline including retries (§8.3).
 */

export interface BackoffPolicy {
  /** The upper bound of the first wait, ms. */
  readonly baseMs: number;
  /** No wait is longer, ms. */
  readonly capMs: number;
  /** Calls in all, the first one included (3: one call and up to two retries). */
  readonly maxAttempts: number;
}

/** A number in [0, 1), as Math.random. */
export type Random = () => number;

/** The retries inside one refresh (§8.4: bounded, then `retrying`): three calls at most, waits under 0.5 s and 1 s. */
export const TOKEN_CALL_BACKOFF: BackoffPolicy = { baseMs: 500, capMs: 4_000, maxAttempts: 3 };

/** The ceiling of the wait before retry `retry` (1 for the first retry): min(cap, base · 2^(retry−1)). */
export function backoffCeiling(policy: BackoffPolicy, retry: number): number {
  return Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(retry - 1, 0));
}

/** The wait before retry `retry`, whole ms, uniform in [0, ceiling]. A random source that strays outside [0, 1) is clamped. */
export function backoffDelay(policy: BackoffPolicy, retry: number, random: Random = Math.random): number {
  const r = random();
  const unit = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 0;
  return Math.floor(unit * backoffCeiling(policy, retry));
}

export type NextAttempt = { retry: true; delayMs: number } | { retry: false };

/**
 * After `attemptsMade` calls of one refresh failed transiently: call again after `delayMs`, or stop. A `Retry-After`
 * the answer carried is honoured as the least wait; one beyond the cap stops the retries (see above).
 */
export function nextAttempt(policy: BackoffPolicy, attemptsMade: number, options: { random?: Random; retryAfterMs?: number } = {}): NextAttempt {
  if (attemptsMade >= policy.maxAttempts) return { retry: false };
  const jittered = backoffDelay(policy, attemptsMade, options.random);
  const floor = options.retryAfterMs ?? 0;
  if (floor > policy.capMs) return { retry: false };
  return { retry: true, delayMs: Math.max(jittered, floor) };
}

/**
 * The longest the waits of one refresh can add up to: the cap for every retry the policy allows, since a
 * `Retry-After` up to the cap may lengthen any wait beyond its jitter ceiling.
 */
export function worstCaseDelayMs(policy: BackoffPolicy): number {
  return Math.max(policy.maxAttempts - 1, 0) * policy.capMs;
}
