/**
 * The authorization server (AS) of the engine scenarios, in a child process of its own so that its CPU is neither
 * the tokenkeep server's nor the load generator's: the token-engine tests' AS (test/engine/as-support.ts —
 * oidc-provider 9.13.3, `rotateRefreshToken: true`, `openid offline_access`, the Map adapter, its login and consent
 * pages), on 127.0.0.1, with access tokens living BENCH_AS_ACCESS_TTL seconds (default 600).
 *
 * Beside it, on another 127.0.0.1 port, a control listener for the bench alone (never the AS's own port, so nothing
 * of it is counted as a token-endpoint call):
 *   GET  /info          the AS's URIs, its client_secret_basic client (id and secret) and that client's Authorization
 *                       header (so the bench process, the load generator, never loads oidc-provider)
 *   GET  /calls         token-endpoint requests received and answered, refresh-grant answers, refused answers
 *   POST /obtain?n=N    N grants through the AS's own login and consent screens driven over HTTP (the tests' user
 *                       agent), each its own account: [{ accessToken, refreshToken }]
 *
 *   node --import tsx bench/as-process.ts      (started by bench/processes.ts startAuthorizationServerProcess)
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basicAuthorization, startAuthorizationServer } from '../test/engine/as-support.js';

const accessTokenTTL = Number(process.env.BENCH_AS_ACCESS_TTL ?? 600);
const as = await startAuthorizationServer({ accessTokenTTL });
/** Grants obtained at once: the consent flow is about seven requests to the AS, each cheap. */
const OBTAIN_CONCURRENCY = 4;
let accounts = 0;

async function obtain(n: number): Promise<{ accessToken: string; refreshToken: string }[]> {
  const out: { accessToken: string; refreshToken: string }[] = new Array(n);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) {
      const t = await as.obtainTokens({ accountId: `bench-${++accounts}` });
      if (!t.refreshToken) throw new Error('the AS issued no refresh token');
      out[i] = { accessToken: t.accessToken, refreshToken: t.refreshToken };
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, OBTAIN_CONCURRENCY) }, worker));
  return out;
}

function calls() {
  const answered = as.tokenRequests();
  return {
    received: as.tokenCalls(),
    answered: answered.length,
    refresh: answered.filter((c) => c.grantType === 'refresh_token').length,
    refused: answered.filter((c) => c.status !== 200 || c.error !== undefined).length,
  };
}

const send = (res: ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  req.resume();
  const url = new URL(req.url ?? '/', 'http://control');
  if (req.method === 'GET' && url.pathname === '/info') {
    const { issuer, authorizeURI, tokenURI, client } = as;
    return send(res, 200, { issuer, authorizeURI, tokenURI, client, clientAuthorization: basicAuthorization(client), accessTokenTTL });
  }
  if (req.method === 'GET' && url.pathname === '/calls') return send(res, 200, calls());
  if (req.method === 'POST' && url.pathname === '/obtain') {
    const n = Number(url.searchParams.get('n'));
    if (!Number.isInteger(n) || n < 1 || n > 10_000) return send(res, 400, { error: 'n must be an integer 1–10000' });
    return send(res, 200, await obtain(n));
  }
  send(res, 404, { error: 'not found' });
}

const control = createServer((req, res) => {
  handle(req, res).catch((err: Error) => {
    console.error(`bench AS control: ${err.stack ?? err.message}`);
    if (!res.headersSent) send(res, 500, { error: err.message });
  });
});
control.listen(0, '127.0.0.1', () => {
  console.log(`bench AS ${as.issuer}, access tokens live ${accessTokenTTL} s`);
  console.log(`bench AS control listening on http://127.0.0.1:${(control.address() as AddressInfo).port}`);
});
process.on('SIGTERM', () => {
  control.close();
  as.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
