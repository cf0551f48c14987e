/**
 * The connector undici's Agent calls for every new connection of the outbound client. It is where §8.5's address
 * rule is enforced on the address actually connected to, which is the only place that defeats DNS rebinding (a name
 * that resolved to a public address when a URI was saved may resolve to 169.254.169.254 when it is called) and every
 * literal notation at once: a custom DNS `lookup` alone is not enough, because Node skips it for IP-literal hosts.
 *
 * 1. Before connecting: a literal host (and a `localhost` name) is judged by the URI policy; a refused one opens no
 *    connection at all.
 * 2. TCP connect (net.connect, the resolver of the OS or the `lookup` given), then `socket.remoteAddress` is judged
 *    by the address policy, before a single byte is written: a refused address gets its socket destroyed — for
 *    `https:` before the TLS ClientHello, which is why the TLS handshake is a second step on the checked socket
 *    (undici's own buildConnector, handed the socket as `httpSocket`) instead of one `tls.connect`.
 * 3. One deadline covers both steps (§8.5: connect 5 s), so a server that accepts and then stalls the handshake
 *    cannot stretch it.
 */
import { connect as netConnect, type LookupFunction, type Socket } from 'node:net';
import { rootCertificates } from 'node:tls';
import { buildConnector, errors } from 'undici';
import { addressRefusal } from './address-policy.js';
import { hostRefusal, type UriRefusal } from './uri-policy.js';

/** The error the connector fails a connection with when §8.5 refuses it; the client turns it into an outcome. */
export class RefusedConnectionError extends Error {
  readonly code = 'TOKENKEEP_OUTBOUND_REFUSED';
  constructor(readonly refusal: UriRefusal) {
    // The detail names a scheme, a host or an address and its class, never a path, header or body.
    super(`outbound connection refused: ${refusal.detail}`);
    this.name = 'RefusedConnectionError';
  }
}

export interface GuardedConnectorOptions {
  /** TOKENKEEP_ALLOW_LOOPBACK_HTTP_URIS=1 */
  allowLoopback: boolean;
  /** TCP connect plus TLS handshake, in milliseconds */
  connectTimeoutMs: number;
  /** extra trusted CA certificates (PEM), in addition to Node's bundled roots (TOKENKEEP_OUTBOUND_CA_FILE) */
  extraCa?: string | Buffer;
  /** a resolver in place of the OS's (tests simulate rebinding resolvers with it); Node skips it for literal hosts */
  lookup?: LookupFunction;
}

/** Socket options buildConnector would set on a socket it opened itself. */
const KEEP_ALIVE_DELAY_MS = 60_000;

export function guardedConnector(options: GuardedConnectorOptions): buildConnector.connector {
  const rule = { allowLoopback: options.allowLoopback };
  // `ca` replaces Node's trust store, so the extra certificates are added to the bundled roots, not put in their place.
  const ca = options.extraCa === undefined ? undefined : [...rootCertificates, options.extraCa.toString()];
  // The deadline below is the only connect timer (0 turns buildConnector's own off, which would start late).
  const upgradeToTls = buildConnector({ timeout: 0, ...(ca ? { ca } : {}) });

  return (connectOptions, callback) => {
    const { protocol, hostname } = connectOptions;
    const early = hostRefusal(protocol, hostname, rule);
    if (early) {
      callback(new RefusedConnectionError(early), null);
      return;
    }

    // Connecting starts here and goes on asynchronously: the deadline and the listeners below are set in this tick.
    const port = Number(connectOptions.port) || (protocol === 'https:' ? 443 : 80);
    const raw = netConnect({ host: hostname, port, ...(options.lookup ? { lookup: options.lookup } : {}) });
    let settled = false;
    const finish = (...args: Parameters<buildConnector.Callback>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      callback(...args);
    };
    const fail = (err: Error): void => {
      raw.destroy();
      finish(err, null);
    };
    const deadline = setTimeout(() => fail(new errors.ConnectTimeoutError()), options.connectTimeoutMs);
    // Stays attached: an error after the hand-over finds the connection settled and only destroys what is broken.
    raw.on('error', fail);
    raw.once('connect', () => {
      const socket: Socket = raw;
      const refusal = addressRefusal(socket.remoteAddress ?? '', { allowLoopback: options.allowLoopback, loopbackOnly: protocol === 'http:' });
      if (refusal) {
        fail(new RefusedConnectionError(refusal));
        return;
      }
      socket.setNoDelay(true).setKeepAlive(true, KEEP_ALIVE_DELAY_MS);
      if (protocol !== 'https:') {
        finish(null, socket);
        return;
      }
      upgradeToTls({ ...connectOptions, httpSocket: socket }, (err, tlsSocket) => {
        if (err) {
          fail(err);
          return;
        }
        finish(null, tlsSocket);
      });
    });
  };
}
