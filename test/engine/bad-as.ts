/**
 * A misbehaving token endpoint on loopback, for the answers oidc-provider never gives (§8.4, §8.5): a test scripts
 * the next answer(s), sends the engine at it, and then reads what the engine sent.
 *
 *   const bad = await startBadAuthorizationServer();
 *   bad.script(answers.unavailable(), answers.tokens());   // 503, then 200 with fresh tokens
 *   … the engine refreshes …
 *   bad.requests()[1].form.refresh_token                   // which refresh token the second call presented
 *
 * `tokenURI` (/token) and `revocationURI` (/revoke) each answer from their own queue; an empty queue answers with
 * the path's default (fresh rotated tokens for /token, an empty 200 for /revoke). Any other path is a 404.
 * Every request is recorded — method, path, headers, raw and parsed form body, Basic client credentials — and every
 * accepted TCP connection is counted, so a second instance serves as the "other origin" a redirect points to and
 * proves that nothing connected to it. Token values are made up here (`at-…`, `rt-…`) and never logged.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What the server answers to one request. `delayMs` waits before answering (any kind). */
export type Answer = { delayMs?: number } & (
  | {
      kind: 'tokens';
      status?: number;
      /** 'new' (default), 'same' (the access token of the previous tokens answer again), or a literal */
      accessToken?: 'new' | 'same' | { literal: string };
      /** 'rotate' (default: a new one), 'none' (the answer carries no refresh_token), or a literal */
      refreshToken?: 'rotate' | 'none' | { literal: string };
      /** a number or a string as it goes on the wire; null leaves expires_in out (default 3600) */
      expiresIn?: number | string | null;
      /** JSON (default) or application/x-www-form-urlencoded */
      encoding?: 'json' | 'form';
      /** more fields of the answer (`scope`, a stray `error`) */
      extra?: Record<string, string | number>;
      /** adds a `padding` field of x's that makes the body exactly this many bytes */
      padTo?: number;
      headers?: Record<string, string>;
    }
  | {
      kind: 'raw';
      status: number;
      /** default application/json */
      contentType?: string;
      /** `{refresh_token}` and `{client_secret}` in it are replaced by what the request presented (leak tests) */
      body: string;
      headers?: Record<string, string>;
    }
  /** reads the request and never answers: the socket stays open until the test closes the server */
  | { kind: 'hang' }
  /** answers 200 with the headers and the first bytes of a JSON body, then nothing more */
  | { kind: 'stall-body' }
);

/** The scripted shapes by name. */
export const answers = {
  /** 200, JSON, a new access token, a rotated refresh token, expires_in 3600 */
  tokens: (overrides: Partial<Extract<Answer, { kind: 'tokens' }>> = {}): Answer => ({ kind: 'tokens', ...overrides }),
  noExpiresIn: (): Answer => ({ kind: 'tokens', expiresIn: null }),
  expiresInString: (value = '3600'): Answer => ({ kind: 'tokens', expiresIn: value }),
  formEncoded: (): Answer => ({ kind: 'tokens', encoding: 'form' }),
  /** the access token of the previous tokens answer, returned again */
  sameAccessToken: (): Answer => ({ kind: 'tokens', accessToken: 'same' }),
  noRefreshToken: (): Answer => ({ kind: 'tokens', refreshToken: 'none' }),
  /** an RFC 6749 §5.2 error answer; `description` may hold `{refresh_token}` / `{client_secret}` placeholders */
  oauthError: (status: number, error: string, description?: string): Answer => ({ kind: 'raw', status, body: errorBody(error, description) }),
  /** 200 whose JSON body is an error: still an error (§8.4) */
  errorIn200: (error = 'invalid_grant', description?: string): Answer => ({ kind: 'raw', status: 200, body: errorBody(error, description) }),
  html502: (): Answer => ({
    kind: 'raw',
    status: 502,
    contentType: 'text/html',
    body: '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>',
  }),
  /** a well-formed tokens answer padded to `bytes` (default 70 KiB): only its size is wrong */
  oversize: (bytes = 70 * 1024): Answer => ({ kind: 'tokens', padTo: bytes }),
  hang: (): Answer => ({ kind: 'hang' }),
  stallBody: (): Answer => ({ kind: 'stall-body' }),
  /** 429 with Retry-After (seconds, or an HTTP date as a string) */
  tooManyRequests: (retryAfter: number | string = 30): Answer => ({
    kind: 'raw',
    status: 429,
    contentType: 'text/plain',
    body: 'Too Many Requests',
    headers: { 'retry-after': String(retryAfter) },
  }),
  unavailable: (status = 503): Answer => ({ kind: 'raw', status, contentType: 'text/plain', body: 'Service Unavailable' }),
  /** a redirect (default 302) to `location`, e.g. another instance's tokenURI */
  redirect: (location: string, status = 302): Answer => ({ kind: 'raw', status, contentType: 'text/plain', body: '', headers: { location } }),
};

/** One request as the server received it. */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** the raw body */
  body: string;
  /** the body's fields when it was form-encoded (the first of repeated names; `formEntries` has them all) */
  form: Record<string, string>;
  formEntries: [string, string][];
  /** the client credentials of an `Authorization: Basic` header, decoded as RFC 6749 §2.3.1 says */
  basic: { clientId: string; clientSecret: string } | undefined;
  /** which accepted connection (1, 2, …) carried it */
  connection: number;
}

/** Tokens the server made up, in order. */
export interface IssuedTokens {
  accessToken: string;
  refreshToken: string | undefined;
}

export interface BadAuthorizationServer {
  origin: string;
  tokenURI: string;
  revocationURI: string;
  /** queues answers for the token endpoint, answered in order before the default resumes */
  script(...next: Answer[]): void;
  /** queues answers for the revocation endpoint */
  scriptRevocation(...next: Answer[]): void;
  /** scripted answers not yet given, per endpoint */
  pending(): { token: number; revocation: number };
  requests(): RecordedRequest[];
  /** TCP connections accepted */
  connections(): number;
  /** the most requests that were open at once (received, not yet answered), on both endpoints */
  mostOpen(): number;
  issued(): IssuedTokens[];
  close(): Promise<void>;
}

const TOKEN_PATH = '/token';
const REVOCATION_PATH = '/revoke';
/** The engine sends a few hundred bytes; a request body beyond this is not one of its requests. */
const MAX_REQUEST_BYTES = 64 * 1024;

/** `port`: a given loopback port (a test that starts the AS only after the engine found it down); default any free one. */
export async function startBadAuthorizationServer(port = 0): Promise<BadAuthorizationServer> {
  const queues = new Map<string, Answer[]>([
    [TOKEN_PATH, []],
    [REVOCATION_PATH, []],
  ]);
  const recorded: RecordedRequest[] = [];
  const issued: IssuedTokens[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let connections = 0;
  let open = 0;
  let mostOpen = 0;
  let closing = false;
  let seq = 0;

  const server = createServer((req, res) => {
    const connection = (req.socket as Socket & { tokenkeepConnection?: number }).tokenkeepConnection ?? 0;
    mostOpen = Math.max(mostOpen, ++open);
    res.on('close', () => open--);
    readBody(req)
      .then(async (body) => {
        const path = new URL(req.url ?? '/', 'http://x').pathname;
        const request = record(req, path, body, connection);
        recorded.push(request);
        const queue = queues.get(path);
        if (!queue) return send(res, { kind: 'raw', status: 404, contentType: 'text/plain', body: 'not found' }, request);
        const answer = queue.shift() ?? (path === REVOCATION_PATH ? ({ kind: 'raw', status: 200, body: '' } as Answer) : answers.tokens());
        if (answer.delayMs) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              timers.delete(timer);
              resolve();
            }, answer.delayMs);
            timers.add(timer);
          });
        }
        if (!closing) send(res, answer, request);
      })
      .catch(() => req.socket.destroy());
  });

  server.on('connection', (socket: Socket & { tokenkeepConnection?: number }) => {
    socket.tokenkeepConnection = ++connections;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  function send(res: ServerResponse, answer: Answer, request: RecordedRequest): void {
    if (answer.kind === 'hang') return;
    if (answer.kind === 'stall-body') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '4096' });
      res.write('{"access_token":"');
      return;
    }
    if (answer.kind === 'raw') {
      const body = answer.body.replaceAll('{refresh_token}', request.form.refresh_token ?? '').replaceAll('{client_secret}', secretOf(request));
      res.writeHead(answer.status, { 'content-type': answer.contentType ?? 'application/json', 'cache-control': 'no-store', ...answer.headers });
      res.end(body);
      return;
    }
    const previous = issued.at(-1);
    const accessToken =
      typeof answer.accessToken === 'object' ? answer.accessToken.literal : answer.accessToken === 'same' && previous ? previous.accessToken : makeToken('at');
    const refreshToken = typeof answer.refreshToken === 'object' ? answer.refreshToken.literal : answer.refreshToken === 'none' ? undefined : makeToken('rt');
    issued.push({ accessToken, refreshToken });
    const fields: Record<string, string | number> = { access_token: accessToken, token_type: 'Bearer' };
    const expiresIn = answer.expiresIn === undefined ? 3600 : answer.expiresIn;
    if (expiresIn !== null) fields.expires_in = expiresIn;
    if (refreshToken !== undefined) fields.refresh_token = refreshToken;
    Object.assign(fields, answer.extra);
    const form = answer.encoding === 'form';
    const encode = (): string => (form ? new URLSearchParams(Object.entries(fields).map(([k, v]) => [k, String(v)])).toString() : JSON.stringify(fields));
    if (answer.padTo !== undefined) {
      // An x is one byte in either encoding: measure the body with an empty padding, then fill the difference.
      fields.padding = '';
      fields.padding = 'x'.repeat(Math.max(0, answer.padTo - Buffer.byteLength(encode())));
    }
    const body = encode();
    const contentType = form ? 'application/x-www-form-urlencoded' : 'application/json';
    res.writeHead(answer.status ?? 200, { 'content-type': contentType, 'cache-control': 'no-store', ...answer.headers });
    res.end(body);
  }

  const makeToken = (prefix: string): string => `${prefix}-${++seq}-${randomBytes(12).toString('base64url')}`;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    origin,
    tokenURI: `${origin}${TOKEN_PATH}`,
    revocationURI: `${origin}${REVOCATION_PATH}`,
    script: (...next) => queues.get(TOKEN_PATH)!.push(...next),
    scriptRevocation: (...next) => queues.get(REVOCATION_PATH)!.push(...next),
    pending: () => ({ token: queues.get(TOKEN_PATH)!.length, revocation: queues.get(REVOCATION_PATH)!.length }),
    requests: () => [...recorded],
    connections: () => connections,
    mostOpen: () => mostOpen,
    issued: () => [...issued],
    async close() {
      closing = true;
      for (const timer of timers) clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function errorBody(error: string, description?: string): string {
  return JSON.stringify(description === undefined ? { error } : { error, error_description: description });
}

function record(req: IncomingMessage, path: string, body: string, connection: number): RecordedRequest {
  const isForm = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase() === 'application/x-www-form-urlencoded';
  const formEntries = isForm ? [...new URLSearchParams(body)] : [];
  const form: Record<string, string> = {};
  for (const [name, value] of formEntries) form[name] ??= value;
  return { method: req.method ?? '', path, headers: req.headers, body, form, formEntries, basic: basicCredentials(req.headers.authorization), connection };
}

function basicCredentials(authorization: string | undefined): RecordedRequest['basic'] {
  const m = /^Basic\s+(\S+)$/i.exec(authorization ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const dec = (s: string): string => decodeURIComponent(s.replace(/\+/g, ' '));
  try {
    return { clientId: dec(decoded.slice(0, colon)), clientSecret: dec(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

const secretOf = (request: RecordedRequest): string => request.basic?.clientSecret ?? request.form.client_secret ?? '';

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_REQUEST_BYTES) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
