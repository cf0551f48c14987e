/**
 * The two authorization servers the token-engine tests run against, proved before anything relies on them:
 * - the real one (oidc-provider, as-support.ts) issues tokens through its real authorization-code flow, rotates the
 *   refresh token on every refresh, treats a rotated-away refresh token presented again as theft and revokes the
 *   whole grant (so of 20 parallel refreshes with one token exactly one succeeds, and its new token is dead too),
 *   counts the token-endpoint calls, and keeps every grant however many tokens it stores;
 * - the misbehaving one (bad-as.ts) answers each scripted shape, records what it was sent, counts connections.
 * Requests here are plain undici requests, as any client would send them; nothing leaves 127.0.0.1.
 */
// Every assert.ok here carries a message: without one, Node 20 rebuilds the message from the source of the call,
// which under tsx can hang the test process instead of failing the test.
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { request, errors } from 'undici';
import { basicAuthorization, startAuthorizationServer, type AuthorizationServer, type AuthorizationServerOptions } from './as-support.js';
import { answers, startBadAuthorizationServer, type BadAuthorizationServer } from './bad-as.js';

async function realAS(t: TestContext, options?: AuthorizationServerOptions): Promise<AuthorizationServer> {
  const as = await startAuthorizationServer(options);
  t.after(() => as.close());
  return as;
}

async function badAS(t: TestContext): Promise<BadAuthorizationServer> {
  const bad = await startBadAuthorizationServer();
  t.after(() => bad.close());
  return bad;
}

/** Status and OAuth error of an answer, for assertion messages: never its tokens. */
const brief = (res: { status: number; text?: string; body?: any }): string => {
  let body = res.body;
  if (body === undefined && res.text) {
    try {
      body = JSON.parse(res.text);
    } catch {
      body = undefined;
    }
  }
  return `${res.status} ${body?.error ?? ''} ${body?.error_description ?? ''}`;
};

/** `promise`, or a failure naming `what` after `ms`: a hook that is never called must fail the test, not hang it. */
async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`waited ${ms} ms for ${what}`)), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A refresh request as the engine will send it: form body, client_secret_basic. */
async function refreshAt(uri: string, refreshToken: string, client: { clientId: string; clientSecret: string }) {
  const res = await request(uri, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuthorization(client) },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }).toString(),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) };
}

describe('the real authorization server (oidc-provider)', () => {
  test('obtainTokens goes through login, consent, code and PKCE, and returns a live access token and a refresh token', async (t) => {
    const as = await realAS(t, { accessTokenTTL: 42 });
    const tokens = await as.obtainTokens();
    assert.equal(tokens.tokenType, 'Bearer');
    assert.equal(tokens.expiresIn, 42, 'the configured access token lifetime');
    assert.equal(tokens.scope, 'openid offline_access');
    assert.ok(tokens.refreshToken, 'offline_access with prompt=consent gives a refresh token');
    assert.ok(tokens.idToken, 'scope openid gives an ID token');
    assert.equal(await as.isActive(tokens.accessToken), true);
    assert.equal(await as.isActive(tokens.refreshToken), true);
    assert.deepEqual(
      as.tokenRequests().map((c) => [c.grantType, c.status]),
      [['authorization_code', 200]],
    );
    assert.equal(as.tokenCalls(), 1);
    assert.equal(as.refreshCalls(), 0);
  });

  test('the second client uses client_secret_post; oidc-provider takes either method from either client', async (t) => {
    const as = await realAS(t);
    const tokens = await as.obtainTokens({ client: as.postClient });
    assert.ok(tokens.refreshToken, 'the post client gets a refresh token too');
    const post = await as.refresh(tokens.refreshToken, as.postClient);
    assert.equal(post.status, 200, brief(post));
    assert.equal(as.tokenRequests()[1].grantType, 'refresh_token');
    // Its client authentication accepts Basic for a client registered with client_secret_post (and the other way
    // round): a test that must know which method the engine used reads the misbehaving AS's records instead.
    const basic = await refreshAt(as.tokenURI, post.body.refresh_token, as.postClient);
    assert.equal(basic.status, 200, brief(basic));
    const wrong = await refreshAt(as.tokenURI, basic.json().refresh_token, { clientId: as.postClient.clientId, clientSecret: as.client.clientSecret });
    assert.deepEqual([wrong.status, wrong.json().error], [401, 'invalid_client'], 'the secret is checked either way');
  });

  test('the AS requires PKCE, and a user who denies consent sends the browser back with access_denied', async (t) => {
    const as = await realAS(t);
    const url = new URL(as.authorizeURI);
    const params = { client_id: as.client.clientId, response_type: 'code', redirect_uri: as.redirectUri, scope: 'openid offline_access', prompt: 'consent' };
    url.search = new URLSearchParams(params).toString();
    const withoutPkce = await as.authorize(url.href);
    assert.equal(withoutPkce.searchParams.get('error'), 'invalid_request');
    assert.match(withoutPkce.searchParams.get('error_description') ?? '', /PKCE/);

    url.search = new URLSearchParams({ ...params, code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }).toString();
    const denied = await as.authorize(url.href, { decision: 'deny' });
    assert.equal(`${denied.origin}${denied.pathname}`, as.redirectUri);
    assert.equal(denied.searchParams.get('error'), 'access_denied');
    assert.equal(denied.searchParams.get('code'), null);
    assert.equal(as.tokenCalls(), 0);
  });

  test('a refresh rotates the refresh token, and the chain goes on with the new one', async (t) => {
    const as = await realAS(t);
    const first = await as.obtainTokens();
    const r1 = await refreshAt(as.tokenURI, first.refreshToken!, as.client);
    assert.equal(r1.status, 200, brief(r1));
    const b1 = r1.json();
    assert.equal(b1.token_type, 'Bearer');
    assert.equal(b1.expires_in, 60);
    assert.ok(b1.refresh_token, 'a rotating AS answers a refresh with a refresh token');
    assert.notEqual(b1.refresh_token, first.refreshToken, 'rotated');
    assert.notEqual(b1.access_token, first.accessToken);
    assert.equal(await as.isActive(b1.access_token), true);
    assert.equal(await as.isActive(first.refreshToken!), false, 'the presented one is consumed');

    const r2 = await refreshAt(as.tokenURI, b1.refresh_token, as.client);
    assert.equal(r2.status, 200, brief(r2));
    assert.notEqual(r2.json().refresh_token, b1.refresh_token);
    assert.deepEqual(
      as.tokenRequests().map((c) => [c.grantType, c.presentedRefreshToken === undefined ? undefined : c.presentedRefreshToken === first.refreshToken]),
      [
        ['authorization_code', undefined],
        ['refresh_token', true],
        ['refresh_token', false],
      ],
    );
    assert.equal(as.refreshCalls(), 2);
  });

  test('a rotated-away refresh token presented again is invalid_grant, and the AS revokes the whole grant', async (t) => {
    const as = await realAS(t);
    const first = await as.obtainTokens();
    const rotated = (await refreshAt(as.tokenURI, first.refreshToken!, as.client)).json();
    const again = await refreshAt(as.tokenURI, first.refreshToken!, as.client);
    assert.equal(again.status, 400);
    assert.equal(again.json().error, 'invalid_grant');
    // oidc-provider's reuse detection: the consumed token is destroyed and the grant revoked with all its tokens.
    const next = await refreshAt(as.tokenURI, rotated.refresh_token, as.client);
    assert.equal(next.status, 400, 'the rotated token died with the grant');
    assert.equal(next.json().error, 'invalid_grant');
    assert.equal(await as.isActive(rotated.access_token), false, 'and so did the access token issued with it');
    assert.deepEqual([as.stored('RefreshToken'), as.stored('AccessToken')], [0, 0], 'the adapter dropped every token of the grant');
    assert.deepEqual(
      as.tokenRequests().map((c) => [c.grantType, c.status, c.error]),
      [
        ['authorization_code', 200, undefined],
        ['refresh_token', 200, undefined],
        ['refresh_token', 400, 'invalid_grant'],
        ['refresh_token', 400, 'invalid_grant'],
      ],
    );
  });

  test('20 parallel refreshes with one refresh token: exactly one succeeds, and the winner’s new refresh token is dead', async (t) => {
    const as = await realAS(t);
    const { refreshToken } = await as.obtainTokens();
    const results = await Promise.all(Array.from({ length: 20 }, () => refreshAt(as.tokenURI, refreshToken!, as.client)));
    const won = results.filter((r) => r.status === 200);
    assert.equal(won.length, 1, `statuses: ${results.map((r) => r.status).join(' ')}`);
    for (const lost of results.filter((r) => r.status !== 200)) assert.deepEqual([lost.status, lost.json().error], [400, 'invalid_grant']);
    const after = await refreshAt(as.tokenURI, won[0].json().refresh_token, as.client);
    assert.deepEqual([after.status, after.json().error], [400, 'invalid_grant']);
    assert.equal(as.refreshCalls(), 21);
    assert.equal(as.tokenCalls(), 22);
  });

  test('the counters count every token-endpoint request, the refused and the unparseable too', async (t) => {
    const as = await realAS(t);
    const { refreshToken } = await as.obtainTokens();
    const wrongSecret = await refreshAt(as.tokenURI, refreshToken!, { clientId: as.client.clientId, clientSecret: 'wrong' });
    assert.equal(wrongSecret.status, 401);
    const unknownGrant = await request(as.tokenURI, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuthorization(as.client) },
      body: 'grant_type=password&username=a&password=b',
    });
    assert.equal(unknownGrant.statusCode, 400);
    await unknownGrant.body.dump();
    const notForm = await request(as.tokenURI, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    assert.equal(notForm.statusCode, 400);
    await notForm.body.dump();
    // A GET is no token request: not counted.
    await (await request(as.tokenURI)).body.dump();
    assert.equal(as.tokenCalls(), 4);
    assert.equal(as.refreshCalls(), 1, 'the refresh with the wrong secret');
    assert.deepEqual(
      as.tokenRequests().map((c) => [c.grantType, c.status, c.error]),
      [
        ['authorization_code', 200, undefined],
        ['refresh_token', 401, 'invalid_client'],
        ['password', 400, 'unsupported_grant_type'],
        [undefined, 400, 'invalid_request'],
      ],
    );
    assert.equal((await as.refresh(refreshToken!)).status, 200, 'the refused requests did not touch the grant');
  });

  test('revokeGrant withdraws the grant: its refresh and access tokens die', async (t) => {
    const as = await realAS(t);
    const tokens = await as.obtainTokens();
    await as.revokeGrant(tokens.refreshToken!);
    assert.equal(await as.isActive(tokens.accessToken), false);
    const res = await as.refresh(tokens.refreshToken!);
    assert.deepEqual([res.status, res.body.error], [400, 'invalid_grant']);
  });

  test('the access token lifetime is set per server and changed while it runs', async (t) => {
    const as = await realAS(t, { accessTokenTTL: 7 });
    const { refreshToken } = await as.obtainTokens();
    as.setAccessTokenTTL(3);
    const res = await as.refresh(refreshToken!);
    assert.equal(res.body.expires_in, 3);
  });

  test('rotateRefreshToken: false makes an AS that hands the same refresh token back', async (t) => {
    const as = await realAS(t, { rotateRefreshToken: false });
    const { refreshToken } = await as.obtainTokens();
    const [a, b] = [await as.refresh(refreshToken!), await as.refresh(refreshToken!)];
    assert.deepEqual([a.status, b.status], [200, 200]);
    assert.equal(a.body.refresh_token, refreshToken);
  });

  test('beforeTokenResponse holds an answer after the AS rotated the token and before the client sees it', async (t) => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let holding: ((issued: string | undefined) => void) | undefined;
    const reached = new Promise<string | undefined>((resolve) => (holding = resolve));
    const as = await realAS(t, {
      beforeTokenResponse: async (call) => {
        if (call.grantType !== 'refresh_token') return;
        holding?.(call.issuedRefreshToken);
        await held;
      },
    });
    t.after(() => release()); // a failed assertion below must not leave the answer held
    const { refreshToken } = await as.obtainTokens();
    let answered = false;
    const pending = as.refresh(refreshToken!).then((res) => ((answered = true), res));
    const issued = await within(5000, reached, 'the AS to reach beforeTokenResponse');
    assert.ok(issued, 'the held answer carries a new refresh token');
    assert.equal(await as.isActive(issued), true, 'the new refresh token exists at the AS already');
    assert.equal(await as.isActive(refreshToken!), false, 'and the presented one is consumed');
    assert.equal(answered, false, 'while the client still waits');
    release();
    assert.equal((await pending).body.refresh_token, issued);
  });

  test('the Map adapter evicts nothing: a grant still refreshes after 2,400 other tokens were stored', async (t) => {
    const as = await realAS(t);
    const kept = await as.obtainTokens();
    // oidc-provider's memory adapter is an LRU of two generations of 1,000 entries: an entry nobody reads is gone
    // after at most 2,000 newer writes. Each rotation writes a refresh token and an access token, so 1,200 rotations
    // (four chains of 300, side by side) would evict the kept grant there.
    const chain = async (): Promise<void> => {
      let { refreshToken } = await as.obtainTokens();
      for (let i = 0; i < 300; i++) {
        const res = await as.refresh(refreshToken!);
        assert.equal(res.status, 200, `refresh ${i}: ${brief(res)}`);
        refreshToken = res.body.refresh_token;
      }
    };
    await Promise.all([chain(), chain(), chain(), chain()]);
    assert.ok(as.stored('RefreshToken') + as.stored('AccessToken') > 2400, `stored: ${as.stored('RefreshToken')} + ${as.stored('AccessToken')}`);
    const res = await as.refresh(kept.refreshToken!);
    assert.equal(res.status, 200, brief(res));
  });
});

describe('the misbehaving authorization server', () => {
  test('by default it answers fresh rotated tokens, and records each request with its client authentication', async (t) => {
    const bad = await badAS(t);
    const client = { clientId: 'app one', clientSecret: 's3cr:et+/=' };
    const r1 = await refreshAt(bad.tokenURI, 'rt-given', client);
    const r2 = await refreshAt(bad.tokenURI, r1.json().refresh_token, client);
    assert.equal(r1.status, 200);
    assert.match(String(r1.headers['content-type']), /^application\/json/);
    const [b1, b2] = [r1.json(), r2.json()];
    assert.equal(b1.token_type, 'Bearer');
    assert.equal(b1.expires_in, 3600);
    assert.notEqual(b1.access_token, b2.access_token);
    assert.notEqual(b1.refresh_token, b2.refresh_token);
    assert.deepEqual(
      bad.issued().map((i) => i.refreshToken),
      [b1.refresh_token, b2.refresh_token],
    );
    const [q1, q2] = bad.requests();
    assert.deepEqual([q1.method, q1.path, q1.form], ['POST', '/token', { grant_type: 'refresh_token', refresh_token: 'rt-given' }]);
    assert.deepEqual(q1.basic, client, 'Basic credentials decoded as RFC 6749 §2.3.1 encodes them');
    assert.equal(q2.form.refresh_token, b1.refresh_token);

    const post = await request(bad.tokenURI, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=refresh_token&refresh_token=x&client_id=c&client_secret=s&scope=a&scope=b',
    });
    await post.body.dump();
    const q3 = bad.requests()[2];
    assert.equal(q3.basic, undefined);
    assert.deepEqual([q3.form.client_id, q3.form.client_secret], ['c', 's']);
    assert.deepEqual(
      q3.formEntries.filter(([k]) => k === 'scope'),
      [
        ['scope', 'a'],
        ['scope', 'b'],
      ],
    );
  });

  test('each scripted shape, in order, then the default again', async (t) => {
    const bad = await badAS(t);
    const other = await badAS(t);
    const client = { clientId: 'c', clientSecret: 'the-client-secret' };
    bad.script(
      answers.noExpiresIn(),
      answers.expiresInString('1800'),
      answers.formEncoded(),
      answers.errorIn200(),
      answers.html502(),
      answers.oversize(),
      answers.tooManyRequests(7),
      answers.unavailable(),
      answers.redirect(other.tokenURI),
      answers.tokens(),
      answers.sameAccessToken(),
      answers.noRefreshToken(),
      answers.oauthError(400, 'invalid_grant', 'token {refresh_token} unknown to client with secret {client_secret}'),
    );
    assert.deepEqual(bad.pending(), { token: 13, revocation: 0 });
    const next = () => refreshAt(bad.tokenURI, 'rt-sent', client);

    const noExpiry = await next();
    assert.equal(noExpiry.status, 200);
    assert.ok(noExpiry.json().access_token, 'tokens without expires_in');
    assert.equal('expires_in' in noExpiry.json(), false);

    assert.equal((await next()).json().expires_in, '1800', 'a string on the wire');

    const form = await next();
    assert.match(String(form.headers['content-type']), /^application\/x-www-form-urlencoded/);
    const fields = new URLSearchParams(form.text);
    assert.ok(fields.get('access_token') && fields.get('refresh_token'), 'tokens in the form body');
    assert.equal(fields.get('expires_in'), '3600');

    const error200 = await next();
    assert.equal(error200.status, 200);
    assert.deepEqual(error200.json(), { error: 'invalid_grant' });

    const html = await next();
    assert.equal(html.status, 502);
    assert.match(String(html.headers['content-type']), /^text\/html/);
    assert.match(html.text, /<html>/);

    const big = await next();
    assert.equal(Buffer.byteLength(big.text), 70 * 1024);
    assert.ok(big.json().access_token, 'well-formed: only its size is wrong');

    const tooMany = await next();
    assert.deepEqual([tooMany.status, tooMany.headers['retry-after']], [429, '7']);

    assert.equal((await next()).status, 503);

    const moved = await next();
    assert.deepEqual([moved.status, moved.headers.location], [302, other.tokenURI]);
    assert.equal(other.connections(), 0, 'a client that does not follow redirects never reaches the other origin');

    const fresh = (await next()).json();
    const same = (await next()).json();
    assert.equal(same.access_token, fresh.access_token);
    assert.notEqual(same.refresh_token, fresh.refresh_token);

    const noRefresh = (await next()).json();
    assert.ok(noRefresh.access_token, 'an access token without a refresh token');
    assert.equal('refresh_token' in noRefresh, false);

    const echo = await next();
    assert.equal(echo.status, 400);
    assert.equal(echo.json().error_description, 'token rt-sent unknown to client with secret the-client-secret');

    assert.deepEqual(bad.pending(), { token: 0, revocation: 0 });
    const back = await next();
    assert.equal(back.status, 200);
    assert.equal(back.json().expires_in, 3600);
    assert.equal(bad.requests().length, 14);
  });

  test('the redirect target counts the connection of a client that does follow', async (t) => {
    const bad = await badAS(t);
    const other = await badAS(t);
    bad.script(answers.redirect(other.tokenURI, 307));
    const res = await fetch(bad.tokenURI, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'rt-x' }) });
    assert.equal(res.status, 200);
    await res.text();
    assert.equal(other.connections(), 1);
    assert.equal(other.requests()[0].form.refresh_token, 'rt-x', 'which is what the engine must never let happen');
  });

  test('a hung socket: the connection is accepted and never answered, and close() still ends it', async (t) => {
    const bad = await badAS(t);
    bad.script(answers.hang(), answers.stallBody());
    await assert.rejects(
      request(bad.tokenURI, { method: 'POST', body: 'grant_type=refresh_token', headersTimeout: 300 }),
      (e: unknown) => e instanceof errors.HeadersTimeoutError,
    );
    const stalled = await request(bad.tokenURI, { method: 'POST', body: 'grant_type=refresh_token', bodyTimeout: 300 });
    assert.equal(stalled.statusCode, 200);
    await assert.rejects(stalled.body.text(), (e: unknown) => e instanceof errors.BodyTimeoutError);
    assert.equal(bad.requests().length, 2);
    assert.ok(bad.connections() >= 1, `connections: ${bad.connections()}`);

    // A client still waiting on a hung answer is cut off by close(), not left for the test runner to time out.
    bad.script(answers.hang());
    const waiting = request(bad.tokenURI, { method: 'POST', body: 'x', headersTimeout: 60_000 });
    while (bad.requests().length < 3) await new Promise((resolve) => setTimeout(resolve, 5));
    await within(2000, bad.close(), 'close() with a hung connection open');
    await assert.rejects(waiting);
  });

  test('a scripted delay, the revocation endpoint, and an unknown path', async (t) => {
    const bad = await badAS(t);
    bad.script({ ...answers.unavailable(), delayMs: 200 });
    const started = Date.now();
    assert.equal((await refreshAt(bad.tokenURI, 'rt', { clientId: 'c', clientSecret: 's' })).status, 503);
    assert.ok(Date.now() - started >= 190, `answered after ${Date.now() - started} ms`);

    const revoked = await request(bad.revocationURI, { method: 'POST', body: 'token=rt' });
    assert.deepEqual([revoked.statusCode, await revoked.body.text()], [200, '']);
    bad.scriptRevocation(answers.oauthError(400, 'unsupported_token_type'));
    const refused = await request(bad.revocationURI, { method: 'POST', body: 'token=rt' });
    assert.equal(refused.statusCode, 400);
    await refused.body.dump();
    const unknown = await request(`${bad.origin}/elsewhere`, { method: 'POST', body: '' });
    assert.equal(unknown.statusCode, 404);
    await unknown.body.dump();
    assert.deepEqual(
      bad.requests().map((r) => r.path),
      ['/token', '/revoke', '/revoke', '/elsewhere'],
    );
  });

  test('property: any client id and secret sent with basicAuthorization are decoded as sent', async (t) => {
    const bad = await badAS(t);
    const credential = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 });
    await fc.assert(
      fc.asyncProperty(credential, credential, async (clientId, clientSecret) => {
        const res = await request(bad.tokenURI, { method: 'POST', headers: { authorization: basicAuthorization({ clientId, clientSecret }) }, body: '' });
        await res.body.dump();
        assert.deepEqual(bad.requests().at(-1)!.basic, { clientId, clientSecret });
      }),
      { numRuns: 60 },
    );
  });
});
