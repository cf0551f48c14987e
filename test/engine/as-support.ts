/**
 * The real authorization server (AS) the token-engine tests run against: oidc-provider 9.13.3 in this process, on
 * 127.0.0.1 and a port of the system's choosing, over plain http (the engine reaches it under
 * TOKENKEEP_ALLOW_LOOPBACK_HTTP_URIS=1, §8.5).
 *
 * Configured as a rotating AS: `rotateRefreshToken: true` (every refresh consumes the refresh token and issues a new
 * one; presenting a consumed one revokes the whole grant), scopes `openid offline_access`, refresh tokens issued
 * for `offline_access` with `prompt=consent`, PKCE (S256) required of every client, revocation and introspection
 * enabled, a Map storage adapter that never evicts (map-adapter.ts), its own login and consent pages
 * (as-interactions.ts). Two confidential clients: one authenticating with client_secret_basic, one with
 * client_secret_post.
 *
 * Plain http needs nothing of the provider: the issuer is an http URL, cookies are marked Secure only on https
 * requests, and `proxy` stays off because nothing sits in front of it.
 *
 * Every call to the token endpoint is counted and recorded by a koa middleware (`tokenCalls`, `refreshCalls`,
 * `tokenRequests`); the records hold token values for the tests' assertions and are never logged.
 */
import { createHash, generateKeyPairSync, randomBytes, type JsonWebKey } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import { Agent, request } from 'undici';
import { interactionPages } from './as-interactions.js';
import { followAuthorization, type ConsentChoice } from './as-user-agent.js';
import { MapStore, mapAdapterFactory } from './map-adapter.js';

export interface AuthorizationServerOptions {
  /** access token lifetime in seconds (default 60); `setAccessTokenTTL` changes it for tokens issued afterwards */
  accessTokenTTL?: number;
  /** refresh token, grant and session lifetime in seconds (default 30 days) */
  refreshTokenTTL?: number;
  /** default true; false makes a non-rotating AS (the refresh token stays the same and can be reused) */
  rotateRefreshToken?: boolean;
  /** redirect URIs registered for both clients (default one on the discard port, which nothing reaches) */
  redirectUris?: string[];
  /** the port on 127.0.0.1 (default 0: one the system picks); scripts/dev-as.ts gives a fixed one for the README */
  port?: number;
  /**
   * Awaited after the AS has handled a token request and before its answer is sent: a test delays the answer here
   * (the AS has already rotated the refresh token — "the AS answers just before the lease ends").
   */
  beforeTokenResponse?: (call: TokenCall) => Promise<void> | void;
}

export interface TestClient {
  clientId: string;
  clientSecret: string;
  authMethod: 'client_secret_basic' | 'client_secret_post';
}

/** One token-endpoint request as the AS handled it. */
export interface TokenCall {
  grantType: string | undefined;
  status: number;
  /** the OAuth error code of a refused request */
  error: string | undefined;
  /** the refresh token a refresh request presented */
  presentedRefreshToken: string | undefined;
  issuedAccessToken: string | undefined;
  issuedRefreshToken: string | undefined;
}

export interface Tokens {
  accessToken: string;
  /** undefined when the AS issued none (a scope without offline_access) */
  refreshToken: string | undefined;
  expiresIn: number;
  scope: string;
  tokenType: string;
  idToken: string | undefined;
}

export interface ObtainOptions extends ConsentChoice {
  /** default the client_secret_basic one */
  client?: TestClient;
  /** default `openid offline_access` */
  scope?: string;
  /** default `consent`, which oidc-provider requires before it honours offline_access */
  prompt?: string;
}

/** An answer of the AS to a request of ours, parsed when it is JSON. */
export interface AsAnswer {
  status: number;
  body: any;
}

export interface AuthorizationServer {
  issuer: string;
  authorizeURI: string;
  tokenURI: string;
  revocationURI: string;
  introspectionURI: string;
  redirectUri: string;
  /** authenticates with client_secret_basic */
  client: TestClient;
  /** authenticates with client_secret_post */
  postClient: TestClient;
  /** token-endpoint requests received, counted on arrival */
  tokenCalls(): number;
  /** token-endpoint requests with grant_type=refresh_token the AS has answered */
  refreshCalls(): number;
  /** every answered token-endpoint request, in the order answered */
  tokenRequests(): TokenCall[];
  setAccessTokenTTL(seconds: number): void;
  /** the whole authorization-code flow by HTTP (login, consent, code, PKCE, token request) */
  obtainTokens(options?: ObtainOptions): Promise<Tokens>;
  /** follows an authorization URL built elsewhere (the engine's consent flow) through login and consent */
  authorize(authorizeUrl: string, choice?: ConsentChoice): Promise<URL>;
  /** a plain refresh request, as any client would send it; counted like any other */
  refresh(refreshToken: string, client?: TestClient): Promise<AsAnswer>;
  /** revokes a refresh token at the revocation endpoint, which revokes its whole grant (the user withdrew consent) */
  revokeGrant(refreshToken: string, client?: TestClient): Promise<void>;
  /** whether the AS still honours a token (RFC 7662 introspection) */
  isActive(token: string, client?: TestClient): Promise<boolean>;
  /** entries held per model of the storage adapter (e.g. `RefreshToken`) */
  stored(model: string): number;
  close(): Promise<void>;
}

const TOKEN_PATH = '/token';
const DAY = 24 * 60 * 60;

export async function startAuthorizationServer(options: AuthorizationServerOptions = {}): Promise<AuthorizationServer> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const redirectUris = options.redirectUris ?? ['http://127.0.0.1:9/callback'];
  const client: TestClient = { clientId: 'tokenkeep-basic', clientSecret: randomBytes(32).toString('base64url'), authMethod: 'client_secret_basic' };
  const postClient: TestClient = { clientId: 'tokenkeep-post', clientSecret: randomBytes(32).toString('base64url'), authMethod: 'client_secret_post' };
  let accessTokenTTL = options.accessTokenTTL ?? 60;
  const refreshTokenTTL = options.refreshTokenTTL ?? 30 * DAY;
  const store = new MapStore();

  const provider = new Provider(issuer, {
    adapter: mapAdapterFactory(store),
    clients: [client, postClient].map((c) => ({
      client_id: c.clientId,
      client_secret: c.clientSecret,
      token_endpoint_auth_method: c.authMethod,
      redirect_uris: redirectUris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    })),
    scopes: ['openid', 'offline_access'],
    rotateRefreshToken: options.rotateRefreshToken ?? true,
    // The provider's default asks PKCE of public clients only; the engine sends it to every AS, so this one checks it.
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true, allowedPolicy: sameClient },
      introspection: { enabled: true, allowedPolicy: sameClient },
    },
    ttl: {
      AccessToken: () => accessTokenTTL,
      AuthorizationCode: 60,
      RefreshToken: () => refreshTokenTTL,
      Grant: refreshTokenTTL,
      Session: refreshTokenTTL,
      Interaction: 10 * 60,
      IdToken: 60 * 60,
    },
    findAccount: async (_ctx: unknown, sub: string) => ({ accountId: sub, claims: async () => ({ sub }) }),
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    // An error page as JSON, readable in a failed test's message (the default is an HTML page).
    renderError: async (ctx: { type: string; body: unknown }, out: Record<string, string>) => {
      ctx.type = 'json';
      ctx.body = out;
    },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    jwks: { keys: [signingKey()] },
  });

  let arrivals = 0;
  const calls: TokenCall[] = [];
  provider.use(async (ctx, next) => {
    if (ctx.method !== 'POST' || ctx.path !== TOKEN_PATH) return next();
    arrivals++;
    await next();
    const params = ctx.oidc?.params ?? {};
    const body = (typeof ctx.body === 'object' && ctx.body !== null ? ctx.body : {}) as Record<string, unknown>;
    const grantType = text(params.grant_type);
    const call: TokenCall = {
      grantType,
      status: ctx.status,
      error: text(body.error),
      presentedRefreshToken: grantType === 'refresh_token' ? text(params.refresh_token) : undefined,
      issuedAccessToken: text(body.access_token),
      issuedRefreshToken: text(body.refresh_token),
    };
    calls.push(call);
    await options.beforeTokenResponse?.(call);
  });
  provider.use(interactionPages(provider));
  server.on('request', provider.callback());

  // Our own requests (the user agent, refresh, revocation) go through one agent, closed with the server.
  const agent = new Agent();
  const tokenURI = `${issuer}${TOKEN_PATH}`;
  const revocationURI = `${issuer}/token/revocation`;
  const introspectionURI = `${issuer}/token/introspection`;
  const authorizeURI = `${issuer}/auth`;

  const post = async (uri: string, form: Record<string, string>, as: TestClient): Promise<AsAnswer> => {
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    const fields = { ...form };
    if (as.authMethod === 'client_secret_basic') headers.authorization = basicAuthorization(as);
    else Object.assign(fields, { client_id: as.clientId, client_secret: as.clientSecret });
    const res = await request(uri, { method: 'POST', headers, body: new URLSearchParams(fields).toString(), dispatcher: agent });
    const raw = await res.body.text();
    return { status: res.statusCode, body: raw === '' ? undefined : JSON.parse(raw) };
  };

  const authorize = (authorizeUrl: string, choice?: ConsentChoice): Promise<URL> => followAuthorization(authorizeUrl, agent, choice);

  return {
    issuer,
    authorizeURI,
    tokenURI,
    revocationURI,
    introspectionURI,
    redirectUri: redirectUris[0],
    client,
    postClient,
    tokenCalls: () => arrivals,
    refreshCalls: () => calls.filter((c) => c.grantType === 'refresh_token').length,
    tokenRequests: () => [...calls],
    setAccessTokenTTL: (seconds) => {
      accessTokenTTL = seconds;
    },
    authorize,
    async obtainTokens(opts = {}) {
      const as = opts.client ?? client;
      const verifier = randomBytes(32).toString('base64url');
      const state = randomBytes(16).toString('base64url');
      const url = new URL(authorizeURI);
      url.search = new URLSearchParams({
        client_id: as.clientId,
        response_type: 'code',
        redirect_uri: redirectUris[0],
        scope: opts.scope ?? 'openid offline_access',
        prompt: opts.prompt ?? 'consent',
        state,
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
      }).toString();
      const back = await authorize(url.href, opts);
      const error = back.searchParams.get('error');
      if (error) throw new Error(`the authorization ended with ${error}`);
      if (back.searchParams.get('state') !== state) throw new Error('the authorization came back with another state');
      const code = back.searchParams.get('code');
      if (!code) throw new Error('the authorization came back without a code');
      const res = await post(tokenURI, { grant_type: 'authorization_code', code, redirect_uri: redirectUris[0], code_verifier: verifier }, as);
      if (res.status !== 200) throw new Error(`the code exchange answered ${res.status} ${res.body?.error}`);
      return {
        accessToken: res.body.access_token,
        refreshToken: res.body.refresh_token,
        expiresIn: res.body.expires_in,
        scope: res.body.scope,
        tokenType: res.body.token_type,
        idToken: res.body.id_token,
      };
    },
    refresh: (refreshToken, as = client) => post(tokenURI, { grant_type: 'refresh_token', refresh_token: refreshToken }, as),
    async revokeGrant(refreshToken, as = client) {
      const res = await post(revocationURI, { token: refreshToken, token_type_hint: 'refresh_token' }, as);
      if (res.status !== 200) throw new Error(`the revocation answered ${res.status} ${res.body?.error}`);
    },
    async isActive(token, as = client) {
      const res = await post(introspectionURI, { token }, as);
      if (res.status !== 200) throw new Error(`the introspection answered ${res.status} ${res.body?.error}`);
      return res.body.active === true;
    },
    stored: (model) => store.size(model),
    async close() {
      // destroy, not close: a request of ours still waiting on a held answer (beforeTokenResponse) must not keep it open
      await agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The body of `POST /api/mgmt/oauthapps` that registers tokenkeep as this AS's client (scripts/dev-as.ts, the console's tests). */
export function oauthAppBody(as: AuthorizationServer, name = 'Local AS'): Record<string, unknown> {
  return {
    name,
    dataStore: 63,
    clientId: as.client.clientId,
    clientSecret: as.client.clientSecret,
    authorizeURI: as.authorizeURI,
    tokenURI: as.tokenURI,
    scope: 'openid offline_access',
  };
}

/** RFC 6749 §2.3.1: the client id and secret are form-encoded before they are joined and base64-encoded. */
export function basicAuthorization(c: Pick<TestClient, 'clientId' | 'clientSecret'>): string {
  const enc = (s: string): string => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(c.clientId)}:${enc(c.clientSecret)}`).toString('base64')}`;
}

/** Revocation and introspection of a token are for the client it was issued to only. */
async function sameClient(_ctx: unknown, client: { clientId: string }, token: { clientId: string }): Promise<boolean> {
  return token.clientId === client.clientId;
}

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** The AS signs ID tokens (scope openid) with RS256; one RSA key per test process is enough and saves ~50 ms a start. */
let key: JsonWebKey | undefined;
function signingKey(): JsonWebKey {
  key ??= { ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }), kid: 'test-as', use: 'sig' };
  return key;
}
