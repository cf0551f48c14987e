/**
 * The login and consent pages of the test authorization server, as koa middleware mounted with `provider.use`.
 *
 * oidc-provider leaves these pages to its deployer (its `devInteractions` are a quick-start that warns on every
 * start); this is the minimal deployer's version, built on the provider's interaction API like a real one is: the
 * authorization request, its cookies, the resume step, the grant, the code and PKCE are all the provider's own.
 *
 * GET  /interaction/:uid          → the login form (any login and password are accepted; the login becomes the
 *                                   account id) or the consent form (Allow, or Deny → `access_denied`)
 * POST /interaction/:uid/login    → finishes the login prompt
 * POST /interaction/:uid/confirm  → grants the scopes the request asked for and finishes the consent prompt
 * POST /interaction/:uid/abort    → finishes the interaction with `access_denied`
 * Each form is `<form id="login|consent|deny" method="post" action="…">`, which as-user-agent.ts reads.
 */
import type { IncomingMessage } from 'node:http';
import type Provider from 'oidc-provider';
import type { Interaction, KoaContext, Middleware } from 'oidc-provider';

const ROUTE = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?$/;
/** A login form is a few dozen bytes: anything much larger is not one. */
const MAX_FORM_BYTES = 16 * 1024;

export function interactionPages(provider: Provider): Middleware {
  return async (ctx, next) => {
    const match = ROUTE.exec(ctx.path);
    if (!match) return next();
    const [, uid, action] = match;
    try {
      const details = await provider.interactionDetails(ctx.req, ctx.res);
      // The interaction is found through its cookie; a path naming another one is a confused or replayed request.
      if (details.uid !== uid) throw new Error('the interaction in the path is not the one of this browser');
      if (ctx.method === 'GET' && action === undefined) return page(ctx, details);
      if (ctx.method !== 'POST' || action === undefined) throw new Error(`${ctx.method} is not served here`);
      const form = await readForm(ctx.req);
      ctx.respond = false; // interactionFinished answers the 303 to the resume URL on `res` itself
      if (action === 'login') {
        if (details.prompt.name !== 'login') throw new Error('no login is pending');
        const login = form.get('login');
        if (!login) throw new Error('the login form was sent without a login');
        return await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
      }
      if (action === 'abort') {
        const denied = { error: 'access_denied', error_description: 'End-User aborted interaction' };
        return await provider.interactionFinished(ctx.req, ctx.res, denied, { mergeWithLastSubmission: false });
      }
      if (details.prompt.name !== 'consent') throw new Error('no consent is pending');
      const grantId = await grantRequested(provider, details);
      return await provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    } catch (error) {
      if (ctx.res.headersSent) throw error;
      ctx.respond = true;
      ctx.status = 400;
      ctx.type = 'text';
      ctx.body = `interaction refused: ${(error as Error).message}`;
    }
  };
}

/** What oidc-provider's own devInteractions do on "Continue": add what the prompt found missing to the grant. */
async function grantRequested(provider: Provider, details: Interaction): Promise<string> {
  const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = details.prompt.details;
  const accountId = details.session?.accountId;
  if (!accountId) throw new Error('consent before login');
  const grant =
    (details.grantId && (await provider.Grant.find(details.grantId))) || new provider.Grant({ accountId, clientId: String(details.params.client_id) });
  if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
  if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
  return grant.save();
}

function page(ctx: KoaContext, details: Interaction): void {
  const base = `/interaction/${details.uid}`;
  let body: string;
  if (details.prompt.name === 'login') {
    body = `<h1>Sign in</h1>
<form id="login" method="post" action="${base}/login">
  <input type="text" name="login" required><input type="password" name="password" required>
  <button type="submit">Sign in</button>
</form>`;
  } else if (details.prompt.name === 'consent') {
    const scopes = details.prompt.details.missingOIDCScope ?? [];
    body = `<h1>Authorize ${escape(String(details.params.client_id))}</h1>
<p>Scopes asked for: ${scopes.map(escape).join(' ')}</p>
<form id="consent" method="post" action="${base}/confirm"><button type="submit">Allow</button></form>
<form id="deny" method="post" action="${base}/abort"><button type="submit">Deny</button></form>`;
  } else {
    throw new Error(`the ${details.prompt.name} prompt is not served`);
  }
  ctx.status = 200;
  ctx.type = 'html';
  ctx.body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>test AS</title></head><body>${body}</body></html>`;
}

const escape = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) throw new Error('the form is too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}
