/**
 * Which URIs tokenkeep may call (api.md §8.5), judged before any connection: `https:` only; `http:` only with
 * TOKENKEEP_ALLOW_LOOPBACK_HTTP_URIS=1 and only to a loopback host. A host that is an IP literal is judged by its
 * address under the address policy. The URI is read by WHATWG URL — the parser undici itself uses — which writes
 * every IPv4 notation (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`, percent-encoded or full-width digits) as
 * dotted decimal and every IPv6 literal in its compressed form, so the literal judged here is the address undici
 * would connect to. A host that is a name is left to the connected-socket check (guarded-connector.ts), except the
 * `localhost` names of RFC 6761, which are loopback by definition and refused early when loopback is not allowed.
 *
 * Answers are typed refusals (never a thrown catalogue error): the domain names the catalogue error, later.
 */
import { isIP } from 'node:net';
import { addressRefusal } from './address-policy.js';

/** Why a URI may not be called: not an absolute URL (or one carrying credentials), its scheme, or its host's address. */
export interface UriRefusal {
  refused: 'invalid' | 'scheme' | 'address';
  /** names the scheme, the host or the address and why; never the path or query, which may carry parameters */
  detail: string;
}

export interface UriRule {
  /** TOKENKEEP_ALLOW_LOOPBACK_HTTP_URIS=1 */
  allowLoopback: boolean;
}

/** The address of a literal host as WHATWG URL or undici spells it (`[::1]` or `::1`, `127.0.0.1`), or undefined for a name. */
export function literalAddress(hostname: string): string | undefined {
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  return isIP(bare) !== 0 ? bare : undefined;
}

/** RFC 6761 §6.3: `localhost` and every name under it are loopback, whatever a resolver says. */
const isLocalhostName = (hostname: string): boolean => /(^|\.)localhost\.?$/i.test(hostname);

/**
 * The refusal for a connection to `hostname` over `protocol` (`'https:'`, `'http:'`), judged before connecting, or
 * undefined. Shared by the URI check and the connector, which sees the host as undici hands it over.
 */
export function hostRefusal(protocol: string, hostname: string, rule: UriRule): UriRefusal | undefined {
  if (protocol !== 'https:' && protocol !== 'http:') return { refused: 'scheme', detail: `${protocol} is not https:` };
  if (protocol === 'http:' && !rule.allowLoopback) {
    return { refused: 'scheme', detail: 'http: is allowed only to loopback and only with TOKENKEEP_ALLOW_LOOPBACK_HTTP_URIS=1' };
  }
  const address = literalAddress(hostname);
  if (address !== undefined) return addressRefusal(address, { allowLoopback: rule.allowLoopback, loopbackOnly: protocol === 'http:' });
  if (isLocalhostName(hostname)) {
    return rule.allowLoopback ? undefined : { refused: 'address', detail: `${hostname} is loopback, allowed only with TOKENKEEP_ALLOW_LOOPBACK_HTTP_URIS=1` };
  }
  // A name: over http: only `localhost` names are loopback hosts; over https: the connected address decides.
  if (protocol === 'http:') return { refused: 'scheme', detail: `http: is allowed only to a loopback host, and ${hostname} is a name` };
  return undefined;
}

/** The refusal for calling `uri`, or undefined when it may be called (the connected address is checked again then). */
export function uriRefusal(uri: string | URL, rule: UriRule): UriRefusal | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return { refused: 'invalid', detail: 'not an absolute URL' };
  }
  // Credentials in a URI are a secret kept in a setting that is shown and logged, and undici drops them silently, so
  // the call would not authenticate as the URI seems to say.
  if (url.username !== '' || url.password !== '') return { refused: 'invalid', detail: 'the URL carries credentials' };
  return hostRefusal(url.protocol, url.hostname, rule);
}
