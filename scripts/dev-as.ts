/**
 * A local OAuth authorization server to try consent with (README, "Walkthrough: connect a profile by consent"): the
 * tests' oidc-provider (test/engine/as-support.ts) on http://127.0.0.1:9400 — rotating refresh tokens, PKCE required,
 * `offline_access`, RFC 9207 `iss`, a login page that takes any name and password and a consent page with Allow and
 * Deny — registered for tokenkeep's redirect URI. It prints what the walkthrough needs and runs until Ctrl-C.
 *
 *   node --import tsx scripts/dev-as.ts [--port 9400] [--public-url http://127.0.0.1:8080]
 *
 * For development only: plain http on loopback, its state in memory, a client secret made at each start.
 */
import { parseArgs } from 'node:util';
import { oauthAppBody, startAuthorizationServer } from '../test/engine/as-support.js';

const { values } = parseArgs({ options: { port: { type: 'string', default: '9400' }, 'public-url': { type: 'string', default: 'http://127.0.0.1:8080' } } });
const publicUrl = values['public-url'].replace(/\/$/, '');
const as = await startAuthorizationServer({
  port: Number(values.port),
  redirectUris: [`${publicUrl}/hdpui/oauth2callback`],
  accessTokenTTL: 300,
});
const app = oauthAppBody(as);
const engine = { issuer: as.issuer, revocationURI: as.revocationURI, authorizeParams: { prompt: 'consent' } };
process.stdout.write(`Authorization server at ${as.issuer} (redirect URI ${publicUrl}/hdpui/oauth2callback); Ctrl-C stops it.
APP='${JSON.stringify(app)}'
ENGINE='${JSON.stringify(engine)}'
`);
const stop = () => void as.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
