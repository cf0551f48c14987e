/**
 * THE error catalogue. Every error the API can answer with is declared here once: a stable numeric code, the HTTP
 * status it travels with and a message template. HDP's documented codes (2222xxxxx) keep HDP's meaning; codes of
 * our own live in 2230xxxxx. The README lists this table; `test/readme.test.ts` checks that it stays in sync.
 *
 * Messages are built only from ids, names and field paths, never from a token, secret or password.
 */

export interface ErrorDef {
  readonly code: number;
  readonly status: number;
  readonly message: (detail: string) => string;
}

const def = (code: number, status: number, message: (detail: string) => string): ErrorDef => ({ code, status, message });

export const catalogue = {
  // HDP's documented codes
  invalidJson: def(222207007, 400, (d) => `Invalid JSON Input: ${d}`),
  profileNotFound: def(222207710, 404, (id) => `Invalid OAuthProfileId: ${id}`),
  appNotFound: def(222207711, 404, (id) => `Invalid OAuthApplicationId: ${id}`),
  appReferenceInvalid: def(222207711, 400, (id) => `Invalid OAuthApplicationId: ${id}`),
  dataSourceNotFound: def(222207004, 404, (id) => `There is no DataSource with that id: ${id}.`),
  invalidOption: def(222207002, 400, (d) => `Invalid DataSource Option: ${d}.`),
  connectionTypeChanged: def(222207008, 400, () => 'connectionType is not allowed to be changed.'),
  forbidden: def(222208103, 403, () => 'You lack the permissions to access this url.'),
  permissionNotFound: def(222208553, 404, (id) => `There is no Permission with that id: ${id}`),
  tenantNotFound: def(222208573, 404, (id) => `There is no Tenant with that id: ${id}.`),
  // tokenkeep's own codes
  badRequest: def(223000400, 400, (d) => `The request is not valid HTTP/1.1: ${d}.`),
  unauthorized: def(223000401, 401, () => 'Authentication required: a valid user name and password.'),
  notFound: def(223000404, 404, (path) => `No such resource: ${path}`),
  methodNotAllowed: def(223000405, 405, (method) => `Method ${method} is not allowed on this resource.`),
  requestTimeout: def(223000408, 408, () => 'The request did not arrive in time.'),
  preconditionFailed: def(223000412, 412, (d) => `If-Match does not match the current version of ${d}; read it again.`),
  payloadTooLarge: def(223000413, 413, (limit) => `The request body is larger than ${limit} bytes.`),
  unsupportedMediaType: def(223000415, 415, () => 'The request body must be application/json.'),
  tooManyAttempts: def(223000429, 429, () => 'Too many authentication attempts; retry later.'),
  headersTooLarge: def(223000431, 431, (limit) => `The request headers are larger than ${limit} bytes.`),
  internal: def(223000500, 500, () => 'Internal server error.'),
  unavailable: def(223000503, 503, () => 'The database is unavailable; retry later.'),
  secretUnreadable: def(223000520, 500, (d) => `The stored secrets of ${d} cannot be read: they fail their integrity check.`),
  cannotWrite: def(223001503, 503, (reason) => `The database cannot write (${reason}); retry later.`),
  userNotFound: def(223001404, 404, (id) => `There is no User with that id or name: ${id}`),
  roleNotFound: def(223002404, 404, (id) => `There is no Role with that id: ${id}`),
  limitNotFound: def(223003404, 404, (id) => `There is no Limit with that id: ${id}`),
  invalidReference: def(223004400, 400, (d) => `Invalid reference: ${d}`),
  passwordPolicy: def(223005400, 400, (d) => `The password does not meet the password policy: ${d}`),
  duplicateName: def(223006409, 409, (d) => `The name is already in use: ${d}`),
  conflict: def(223007409, 409, (d) => `The request conflicts with the current state: ${d}`),
  // the token engine (api.md §8)
  retiredRefreshToken: def(223008409, 409, () => 'This refresh token was already rotated away by a refresh; write the current one, or connect again.'),
  needsReconsent: def(223009409, 409, (d) => `OAuth profile ${d}; its grant is dead and it needs a new consent.`),
  appClientError: def(
    223010409,
    409,
    (id) => `The authorization server refused the client credentials of OAuth application ${id}; correct them to resume refreshing.`,
  ),
  originChanged: def(
    223011409,
    409,
    (id) => `OAuth profile ${id}: its application's token URI moved to another origin; its tokens are sent nowhere until new ones are stored.`,
  ),
  tokenEndpointRefused: def(223012409, 409, (d) => `The token URI cannot be called: ${d}.`),
  refreshTooSoon: def(223013429, 429, (id) => `OAuth profile ${id} was refreshed less than 10 seconds ago; a forced refresh waits for Retry-After.`),
  refreshUnavailable: def(223014503, 503, (d) => `The authorization server did not refresh the tokens (${d}); retry later.`),
  // consent (api.md §9)
  consentNotConfigured: def(
    223015400,
    400,
    () => 'Consent is off on this server: set TOKENKEEP_PUBLIC_URL to its external origin (the redirect URI is that origin + /hdpui/oauth2callback).',
  ),
  consentStateInvalid: def(223016400, 400, (d) => `The consent cannot be completed: ${d}; start it again.`),
  consentIssuerMismatch: def(
    223017400,
    400,
    (d) => `The authorization response does not come from the application's authorization server (RFC 9207): ${d}; nothing was changed.`,
  ),
  consentOtherUser: def(
    223018403,
    403,
    () => 'This consent was started by another user than the one signed in here; it was cancelled and nothing was changed.',
  ),
  consentDenied: def(223019403, 403, (d) => `The authorization server reports that the consent was refused (${d}); nothing was changed.`),
  consentAsError: def(223020502, 502, (d) => `The authorization server did not grant tokens (${d}); nothing was changed.`),
  consentNoRefreshToken: def(
    223021502,
    502,
    () =>
      "The authorization server granted no refresh token, so nothing was stored; ask it for offline access in the application's authorizeParams " +
      '(Google: access_type=offline and prompt=consent) and connect again.',
  ),
  // console sessions (api.md §10)
  csrfTokenInvalid: def(
    223022403,
    403,
    () => "A request signed in with a console session that changes something must carry the session's X-CSRF-Token (GET /console/session gives it).",
  ),
  originRejected: def(223023403, 403, () => "The request comes from another origin than this server's (its Origin header); it was refused."),
} as const satisfies Record<string, ErrorDef>;

export type ErrorKind = keyof typeof catalogue;

/** An error that the HTTP layer renders as HDP's envelope. Thrown by routes and domain rules alike. */
export class ApiError extends Error {
  readonly kind: ErrorKind;
  readonly code: number;
  readonly status: number;
  readonly headers: Record<string, string>;

  constructor(kind: ErrorKind, detail: string | number = '', headers: Record<string, string> = {}) {
    const entry = catalogue[kind];
    super(entry.message(String(detail)));
    this.name = 'ApiError';
    this.kind = kind;
    this.code = entry.code;
    this.status = entry.status;
    this.headers = headers;
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: { lang: 'en-US', value: this.message } } };
  }
}

export interface ErrorBody {
  error: { code: number; message: { lang: 'en-US'; value: string } };
}

/** Shorthand used everywhere: `throw fail('profileNotFound', id)`. */
export const fail = (kind: ErrorKind, detail: string | number = '', headers?: Record<string, string>): ApiError => new ApiError(kind, detail, headers);
