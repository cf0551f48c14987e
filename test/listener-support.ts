/**
 * Loopback listeners that count what reaches them, for the outbound client's tests: how many connections were
 * accepted, how many requests were read, how many bytes arrived. "Zero connections" is then a fact measured on a
 * real socket, not an assumption about the client. They bind 127.0.0.1 or ::1 on port 0 only.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';

export type LoopbackHost = '127.0.0.1' | '::1';

export interface Counted {
  port: number;
  /** accepted TCP connections */
  connections: number;
  /** bytes read from every connection so far (raw listeners only: an HTTP server's parser reads the socket itself) */
  bytes: number;
  /** complete HTTP requests read (HTTP listeners only) */
  requests: number;
  /** `http://127.0.0.1:PORT` or `http://[::1]:PORT` (scheme as asked) */
  origin(scheme?: 'http' | 'https'): string;
  close(): Promise<void>;
}

const originOf = (host: LoopbackHost, port: number, scheme: string): string => `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;

async function listen(server: Server | HttpServer, host: LoopbackHost): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

/** Ends every connection still open (a hung one too) and stops listening. */
function closer(server: Server | HttpServer, sockets: Set<Socket>): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
}

/** A TCP listener that counts connections and bytes; `onSocket` decides what to do with one (default: nothing — a hung peer). */
export async function rawListener(host: LoopbackHost, onSocket: (socket: Socket) => void = () => undefined): Promise<Counted> {
  const sockets = new Set<Socket>();
  const server = createNetServer();
  const counted: Counted = {
    port: 0,
    connections: 0,
    bytes: 0,
    requests: 0,
    origin: (s = 'http') => originOf(host, counted.port, s),
    close: closer(server, sockets),
  };
  server.on('connection', (socket) => {
    counted.connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('data', (chunk: Buffer) => (counted.bytes += chunk.length));
    socket.on('error', () => undefined);
    onSocket(socket);
  });
  counted.port = await listen(server, host);
  return counted;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

/** An HTTP (or, given a certificate, HTTPS) listener that counts connections and requests; `handler` answers. */
export async function httpListener(host: LoopbackHost, handler: Handler, tls?: { cert: Buffer; key: Buffer }): Promise<Counted> {
  const sockets = new Set<Socket>();
  const server = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }) : createHttpServer();
  const counted: Counted = {
    port: 0,
    connections: 0,
    bytes: 0,
    requests: 0,
    origin: (s = tls ? 'https' : 'http') => originOf(host, counted.port, s),
    close: closer(server, sockets),
  };
  // 'connection' is the TCP accept for both; a TLS handshake that fails still counts as a connection.
  server.on('connection', (socket: Socket) => {
    counted.connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      counted.requests += 1;
      handler(req, res, Buffer.concat(chunks));
    });
  });
  counted.port = await listen(server, host);
  return counted;
}
