/**
 * Consent (api.md §9): a user gets a profile — or new tokens for one whose grant died — by consenting once in a
 * browser, instead of pasting tokens obtained with Postman.
 *
 * start(): checks the request as a create or an update of the profile would be checked, then makes the authorization
 * request (RFC 6749 §4.1.1) with PKCE (RFC 7636, S256) and a state of 256 random bits. The state is stored only as
 * its SHA-256, with what it is bound to: the effective user, the caller, the app, the target (a new profile's name and
 * description, or a profile id), the returnTo, the verifier (sealed) and its end (10 minutes). It lives in the
 * database, so the callback may reach any node.
 *
 * complete(): the callback takes the state out of the store (one DELETE … RETURNING: of two racing callbacks one
 * gets it), checks it (its end, who is signed in, RFC 9207's `iss`), exchanges the code with the verifier at the
 * app's token endpoint (./code-exchange.ts) and stores the tokens through the domain's rules of a create or an update
 * (src/domain/oauth-profiles.ts): a new generation, state active, pinned to the token URI's origin, and the expiry
 * the AS gave. An AS error consumes the state and changes nothing; an answer without a refresh token stores nothing.
 *
 * Nothing here logs a state, a code, a verifier or a token.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ApiError, fail } from '../errors.js';
import { holds, type Identity } from '../domain/access.js';
import { CONSENT_LIFETIME_MS, checkReturnTo, expired, mayComplete, redirectUriOf } from '../domain/consent.js';
import { usableBy } from '../domain/oauth-apps.js';
import { createProfile, reachableProfile, updateProfile } from '../domain/oauth-profiles.js';
import { revokeUnused } from '../domain/revocation.js';
import { Perm } from '../domain/permissions.js';
import { settle } from '../domain/refusals.js';
import type { ConsentState, ConsentTarget, EngineSettings, OAuthAppHeader, Store } from '../domain/ports/index.js';
import type { CodeExchange } from './code-exchange.js';
import { nextRefreshAt } from './next-refresh.js';
import { settingsOf } from './settings.js';

/** A start's body (api.md §9): a new profile (`oauthAppId`, `name`, `description`) or a re-consent (`profileId`). */
export interface ConsentRequest {
  oauthAppId?: number;
  name?: string;
  description?: string | null;
  profileId?: number;
  returnTo?: string;
}

/** What the callback came with: each parameter once, or undefined when absent (a repeated one is refused before). */
export interface CallbackParams {
  state: string | undefined;
  code: string | undefined;
  iss: string | undefined;
  error: string | undefined;
}

export type ConsentResult =
  { ok: true; profileId: number; name: string; created: boolean; returnTo: string | null } | { ok: false; error: ApiError; returnTo: string | null };

export interface ConsentOptions {
  store: Store;
  /** TOKENKEEP_PUBLIC_URL; undefined: consent is off */
  publicUrl: string | undefined;
  /** the app's clock: a state's lifetime is measured by it */
  clock: () => number;
  exchange: CodeExchange;
  /** the engine's clock, for the background refresh's plan (as ./refresh.ts) */
  now?: () => number;
  random?: () => number;
  log?: { info(fields: object, message: string): void; warn(fields: object, message: string): void };
}

/** SHA-256 (hex) of a state: what the store keys a consent by. */
export const stateDigest = (state: string): string => createHash('sha256').update(state, 'utf8').digest('hex');

/** A state as start() makes them: 32 random bytes in base64url. Anything else is no state of ours. */
const STATE_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/** An AS's error code shown back to the user: RFC 6749's characters only, short; anything else is not repeated. */
const AS_ERROR_CODE = /^[A-Za-z0-9_.-]{1,64}$/;

/** An update that lost to a concurrent change of the profile is made again from the profile as it is, this often. */
const UPDATE_ATTEMPTS = 3;

export class ConsentFlow {
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(private readonly options: ConsentOptions) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  private get store(): Store {
    return this.options.store;
  }

  /**
   * The authorization URL for `user` (the effective user), started by `caller`. Checked before any URL is made, in
   * the order of every write: the setting, the shape of the request, the caller's permission for it (11 + 1 for a new
   * profile, 11 + 3 for new tokens), the body's values, the references (the app usable by the owner's tenant, the
   * profile reachable), the name (409 when the user has a profile of that name).
   */
  async start(user: Identity, caller: Identity, input: ConsentRequest): Promise<{ authorizationUrl: string; expiresAt: string }> {
    const { publicUrl, clock } = this.options;
    if (publicUrl === undefined) throw fail('consentNotConfigured');
    const reconsent = input.profileId !== undefined;
    if (reconsent && (input.oauthAppId !== undefined || input.name !== undefined || input.description !== undefined)) {
      throw fail('invalidJson', 'profileId: new tokens for an existing profile name only profileId (and returnTo); a new profile names oauthAppId and name');
    }
    if (!reconsent && input.oauthAppId === undefined) throw fail('invalidJson', 'oauthAppId: required (or profileId, to give an existing profile new tokens)');
    if (!reconsent && input.name === undefined) throw fail('invalidJson', 'name: required for a new profile');
    if (!holds(caller, Perm.MgmtAPI, reconsent ? Perm.ModifyDataSource : Perm.CreateDataSource)) throw fail('forbidden');
    const returnTo = input.returnTo === undefined ? null : checkReturnTo(input.returnTo);

    let app: OAuthAppHeader;
    let target: ConsentTarget;
    if (input.profileId !== undefined) {
      const profile = await reachableProfile(this.store, user, input.profileId);
      app = await this.usableApp(profile.oauthAppId, profile.ownerTenantId);
      target = { kind: 'reconsent', profileId: profile.id };
    } else {
      const name = input.name!;
      app = await this.usableApp(input.oauthAppId!, user.tenantId);
      // Names are unique per owner, case-insensitively (api.md §6): refused now rather than after the user consented.
      const owned = await this.store.tokens.list(user.id);
      if (owned.some((p) => p.ownerId === user.id && p.name.toLowerCase() === name.toLowerCase())) throw fail('duplicateName', `OAuth profile ${name}`);
      target = { kind: 'create', name, description: input.description ?? null };
    }
    const engine = await settingsOf(this.store, app.id);
    if (!engine) throw fail('appReferenceInvalid', app.id); // deleted since it was read

    const state = randomBytes(32).toString('base64url');
    const verifier = randomBytes(32).toString('base64url');
    const expiresAt = clock() + CONSENT_LIFETIME_MS;
    const url = authorizationUrl(app, engine.settings, { redirectUri: redirectUriOf(publicUrl), state, verifier });
    await settle(
      this.store.consentStates.add(
        { digest: stateDigest(state), userId: user.id, actorId: caller.id, appId: app.id, target, returnTo, verifier, expiresAt },
        clock(),
      ),
    );
    this.options.log?.info({ appId: app.id, userId: user.id, reconsent }, 'consent started');
    return { authorizationUrl: url, expiresAt: new Date(expiresAt).toISOString() };
  }

  /** The app's header (client id, URIs, scope; no secret opened) when the tenant may use it; else 400 `222207711`. */
  private async usableApp(appId: number, tenantId: number): Promise<OAuthAppHeader> {
    const app = await this.store.apps.header(appId);
    if (!app || !usableBy(app, tenantId)) throw fail('appReferenceInvalid', appId);
    return app;
  }

  /**
   * The callback. `signedIn`: the user the browser authenticated as, when it sent credentials. Never throws an
   * ApiError: every refusal is the result, with the returnTo once the state is known.
   */
  async complete(params: CallbackParams, signedIn: Identity | undefined): Promise<ConsentResult> {
    let state: ConsentState | undefined;
    try {
      const { publicUrl } = this.options;
      // A node that cannot name the redirect URI cannot exchange the code: the state is left for one that can.
      if (publicUrl === undefined) throw fail('consentNotConfigured');
      if (params.state === undefined) throw fail('consentStateInvalid', 'the callback carries no state');
      if (!STATE_SHAPE.test(params.state)) throw fail('consentStateInvalid', 'its state is unknown or was already used');
      state = await this.store.consentStates.take(stateDigest(params.state));
      if (!state) throw fail('consentStateInvalid', 'its state is unknown or was already used');
      const result = await this.completeTaken(state, params, signedIn, publicUrl);
      this.options.log?.info(
        { appId: state.appId, userId: state.userId, profileId: result.profileId, outcome: result.created ? 'created' : 'reconsented' },
        'consent completed',
      );
      return { ok: true, ...result, returnTo: state.returnTo };
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      this.options.log?.info({ appId: state?.appId, userId: state?.userId, outcome: err.kind, code: err.code }, 'consent not completed');
      return { ok: false, error: err, returnTo: state?.returnTo ?? null };
    }
  }

  private async completeTaken(
    state: ConsentState,
    params: CallbackParams,
    signedIn: Identity | undefined,
    publicUrl: string,
  ): Promise<{ profileId: number; name: string; created: boolean }> {
    if (expired(state, this.options.clock())) throw fail('consentStateInvalid', 'its state expired (a consent must be completed within 10 minutes)');
    if (!mayComplete(state, signedIn)) throw fail('consentOtherUser');
    const engine = await settingsOf(this.store, state.appId);
    if (!engine) throw fail('appReferenceInvalid', state.appId);
    // RFC 9207: when the app names its issuer, the response must say it comes from there (error responses too).
    const issuer = engine.settings.issuer;
    if (issuer !== null && !sameIssuer(params.iss, issuer)) {
      throw fail('consentIssuerMismatch', params.iss === undefined ? 'it carries no iss' : 'its iss is not the issuer of the application');
    }
    if (params.error !== undefined) {
      const code = AS_ERROR_CODE.test(params.error) ? params.error : 'an error';
      throw params.error === 'access_denied' ? fail('consentDenied', code) : fail('consentAsError', `the authorization response is ${code}`);
    }
    if (params.code === undefined) throw fail('consentStateInvalid', 'the authorization response carries no code');

    const [user, actor] = await Promise.all([this.activeIdentity(state.userId), this.activeIdentity(state.actorId)]);
    const perm = state.target.kind === 'create' ? Perm.CreateDataSource : Perm.ModifyDataSource;
    if (!holds(actor, Perm.MgmtAPI, perm)) throw fail('forbidden');
    const app = await this.store.apps.get(state.appId);
    if (!app) throw fail('appReferenceInvalid', state.appId);

    const outcome = await this.options.exchange({
      tokenURI: app.tokenURI,
      clientId: app.clientId,
      clientSecret: app.clientSecret,
      clientAuth: engine.settings.clientAuth,
      code: params.code,
      redirectUri: redirectUriOf(publicUrl),
      codeVerifier: state.verifier,
      defaultExpiresIn: engine.settings.defaultExpiresIn,
    });
    if (outcome.kind === 'failed') {
      const { error, description } = outcome.lastError;
      throw fail('consentAsError', description ? `${error}: ${description}` : error);
    }
    if (outcome.refreshToken === undefined) throw fail('consentNoRefreshToken');
    const tokens = { accessToken: outcome.accessToken, refreshToken: outcome.refreshToken };

    let profile: { id: number; name: string };
    try {
      if (state.target.kind === 'create') {
        const { name, description } = state.target;
        profile = await createProfile(this.store, user, actor, { name, oauthAppId: app.id, description, ...tokens });
      } else {
        profile = await this.replaceTokens(user, state.target.profileId, app.id, tokens);
      }
    } catch (err) {
      // Not stored (a name taken meanwhile, the profile gone): the grant just made is revoked, not left alive at the AS.
      const profileId = state.target.kind === 'create' ? null : state.target.profileId;
      const client = { clientId: app.clientId, clientSecret: app.clientSecret, clientAuth: engine.settings.clientAuth };
      await revokeUnused(this.store, engine.settings.revocationURI, { profileId, appId: app.id, ...client, ...tokens }).catch((queueErr: unknown) =>
        this.options.log?.warn({ appId: app.id, err: queueErr }, 'consent tokens not stored could not be queued for revocation'),
      );
      throw err;
    }
    await this.recordExpiry(profile.id, tokens, outcome.expiresAt, engine.settings);
    return { profileId: profile.id, name: profile.name, created: state.target.kind === 'create' };
  }

  /** A user the state names, as it is now: gone or inactive (or its tenant inactive) ends the consent. */
  private async activeIdentity(userId: number): Promise<Identity> {
    const user = await this.store.users.get(userId);
    const principal = user && (await this.store.logins.principal(user.userName));
    if (!principal || principal.id !== userId || principal.status !== 1 || principal.tenantStatus !== 1) throw fail('userNotFound', userId);
    return principal;
  }

  /**
   * A re-consent: the profile's tokens replaced as a PUT replaces them, its name, description and app kept — only while
   * it is still the one read (If-Match on its version; a concurrent change makes it read again), and still of the app
   * the consent was for (tokens of one app in a profile of another would be sent to the wrong token endpoint).
   */
  private async replaceTokens(
    user: Identity,
    profileId: number,
    appId: number,
    tokens: { accessToken: string; refreshToken: string },
  ): Promise<{ id: number; name: string }> {
    for (let attempt = 1; ; attempt++) {
      const current = await reachableProfile(this.store, user, profileId);
      if (current.oauthAppId !== appId) throw fail('conflict', `OAuth profile ${profileId} moved to another application since the consent started`);
      try {
        const input = { name: current.name, oauthAppId: appId, description: current.description, ...tokens };
        return await updateProfile(this.store, user, profileId, input, [current.version]);
      } catch (err) {
        if (!(err instanceof ApiError && err.kind === 'preconditionFailed') || attempt >= UPDATE_ATTEMPTS) throw err;
      }
    }
  }

  /**
   * The expiry the AS gave, for the tokens just stored (a create or a PUT stores them with an unknown one), and a
   * proactive app's next background refresh planned from it. Skipped when a refresh or a PUT came first: its record stands.
   */
  private async recordExpiry(profileId: number, tokens: { accessToken: string; refreshToken: string }, expiresAt: number, settings: EngineSettings) {
    try {
      const status = await this.store.tokens.status(profileId);
      if (!status) return;
      const next = settings.proactive ? nextRefreshAt(expiresAt, this.now(), settings.refreshMargin * 1000, this.random) : null;
      await this.store.tokens.setExpiry(profileId, status.generation, tokens, expiresAt, next);
    } catch (err) {
      // The tokens are stored: an unknown expiry only makes the first token request refresh (api.md §8.2).
      this.options.log?.warn({ profileId, err }, 'consent stored the tokens but not their expiry');
    }
  }
}

/** The authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3): the app's URI with its own query kept, then ours. */
function authorizationUrl(app: OAuthAppHeader, settings: EngineSettings, request: { redirectUri: string; state: string; verifier: string }): string {
  const url = new URL(app.authorizeURI);
  const params = url.searchParams;
  params.set('response_type', 'code');
  params.set('client_id', app.clientId);
  params.set('redirect_uri', request.redirectUri);
  if (app.scope !== null && app.scope !== '') params.set('scope', app.scope);
  params.set('state', request.state);
  params.set('code_challenge', createHash('sha256').update(request.verifier, 'ascii').digest('base64url'));
  params.set('code_challenge_method', 'S256');
  // Reserved names (the ones above) are refused when the settings are written (./settings.ts).
  for (const [name, value] of Object.entries(settings.authorizeParams)) params.set(name, value);
  return url.href;
}

/**
 * RFC 9207 §2.4: the response's `iss` against the app's issuer. Both in WHATWG's normal form (the stored issuer is kept
 * normalised, `https://as.example/`; providers send `https://as.example`): the forms name the same server. An iss with
 * anything but visible ASCII, which URL parsing would drop or rewrite, never matches.
 */
function sameIssuer(iss: string | undefined, issuer: string): boolean {
  if (iss === undefined || !/^[\x21-\x7e]+$/.test(iss)) return false;
  try {
    return new URL(iss).href === new URL(issuer).href;
  } catch {
    return false;
  }
}
