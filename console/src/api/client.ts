/**
 * The one way the console talks to the server: same-origin fetch with the session cookie, the CSRF token on every
 * write, `?user=` on the resources that take it while acting on behalf, and HDP's error envelope read into ApiError.
 * The CSRF token and the on-behalf user live in this module's memory only — never in web storage or a URL — and a
 * reload gets the token again from `GET /console/session`.
 */

/** HDP's error envelope (src/http/error-handler.ts): `{"error":{"code":n,"message":{"lang","value"}}}`. */
interface Envelope {
  error?: { code?: unknown; message?: { value?: unknown } };
}

export class ApiError extends Error {
  constructor(
    /** the HTTP status; 0 when the server could not be reached */
    readonly status: number,
    /** the catalogue's code (README's error table), 0 when the answer carried none */
    readonly code: number,
    message: string,
    /** seconds, from Retry-After */
    readonly retryAfter: number | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

let csrfToken: string | null = null;
let actingFor: string | null = null;
let unauthorizedListener: (() => void) | null = null;

/** The session's CSRF token (from `POST`/`GET /console/session`), or null when signed out. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** The user named by `?user=` on every profile, application and data-source call; null: the signed-in user. */
export function setOnBehalf(userName: string | null): void {
  actingFor = userName;
}

/** Called on any 401 (the session ended, expired or was never there), except where the caller expects one. */
export function onUnauthorized(listener: (() => void) | null): void {
  unauthorizedListener = listener;
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  body?: unknown;
  query?: Record<string, string | number | boolean | undefined>;
  /** add `?user=` while acting on behalf (api.md §4: profiles, applications, data sources) */
  onBehalf?: boolean;
  /** a 401 is this call's answer to show (signing in), not the end of the session */
  expect401?: boolean;
}

function errorOf(status: number, data: unknown, retryAfter: string | null): ApiError {
  const envelope = (data ?? {}) as Envelope;
  const code = typeof envelope.error?.code === 'number' ? envelope.error.code : 0;
  const text = envelope.error?.message?.value;
  const seconds = retryAfter !== null && /^\d+$/.test(retryAfter) ? Number(retryAfter) : null;
  const message = typeof text === 'string' && text !== '' ? text : `The server answered ${status} without an explanation.`;
  return new ApiError(status, code, message, seconds);
}

export async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const method = options.method ?? 'GET';
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(options.query ?? {})) if (value !== undefined) params.set(name, String(value));
  if (options.onBehalf && actingFor !== null) params.set('user', actingFor);
  const search = params.toString();
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken !== null) headers['x-csrf-token'] = csrfToken;

  let response: Response;
  try {
    response = await fetch(search === '' ? path : `${path}?${search}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 0, 'The server cannot be reached: check the connection and try again.');
  }
  const text = await response.text();
  let data: unknown = undefined;
  if (text !== '') {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
  }
  if (!response.ok) {
    const error = errorOf(response.status, data, response.headers.get('retry-after'));
    if (response.status === 401 && !options.expect401) unauthorizedListener?.();
    throw error;
  }
  return data as T;
}
