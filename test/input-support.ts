/** Helpers for the tests of strict input: what a JSON value holds that the server must refuse. */

/** A lone surrogate anywhere in a JSON value, keys included: UTF-8 cannot hold it, so the server answers 400. */
export function hasLoneSurrogate(value: unknown): boolean {
  if (typeof value === 'string') return /\p{Cs}/u.test(value);
  if (Array.isArray(value)) return value.some(hasLoneSurrogate);
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).some(([k, v]) => hasLoneSurrogate(k) || hasLoneSurrogate(v));
  }
  return false;
}

/** A `__proto__` or `constructor` key anywhere: Fastify's parser refuses the body as not valid JSON before any other check. */
export function hasPoisonKey(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasPoisonKey);
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).some(([k, v]) => k === '__proto__' || k === 'constructor' || hasPoisonKey(v));
  }
  return false;
}
