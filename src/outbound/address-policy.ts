/**
 * Which IP addresses tokenkeep may connect to (api.md §8.5), decided by an allow-list: an address is public only
 * when ipaddr.js files it under no special range at all (`range() === 'unicast'`), and an IPv6 address moreover
 * only inside 2000::/3, the block IANA hands out as global unicast. Everything else is refused, so a range that
 * neither list names (a future RFC, an IPv4-compatible `::7f00:1`, which ipaddr.js calls `unicast`) fails closed.
 *
 * IPv6 forms that carry an IPv4 address are unwrapped only where the kernel really connects to that IPv4 address:
 * IPv4-mapped (::ffff:0:0/96) is judged as the IPv4 address it maps. The other carriers — IPv4-compatible
 * (::/96), NAT64 (64:ff9b::/96, 64:ff9b:1::/48), IPv4-translated (::ffff:0:0:0/96), 6to4 (2002::/16), Teredo
 * (2001::/32) — reach their IPv4 address through a translator or tunnel that may sit inside the network, so they
 * are refused whatever they carry: no authorization server needs them.
 *
 * Loopback (127/8, ::1, and 127/8 mapped) is a class of its own: the caller allows it for development and tests
 * (TOKENKEEP_ALLOW_LOOPBACK_HTTP_URIS=1). No other private range is ever allowed; 0.0.0.0 and :: (which the kernel
 * routes to this machine) are refused even then.
 */
import { isIPv4, isIPv6 } from 'node:net';
import ipaddr from 'ipaddr.js';

/** What an address is, for the outbound rules: `range` names why a blocked one is blocked (ipaddr.js's range names). */
export type AddressClass = { kind: 'public' } | { kind: 'loopback' } | { kind: 'blocked'; range: string };

/** A refused address, in the shape of the project's typed refusals; `detail` names the address and its range. */
export interface AddressRefusal {
  refused: 'address';
  detail: string;
}

export interface AddressRule {
  /** TOKENKEEP_ALLOW_LOOPBACK_HTTP_URIS=1: loopback is allowed too */
  allowLoopback: boolean;
  /** plain `http:` may reach loopback only: a public address is refused as well */
  loopbackOnly?: boolean;
}

/** 2000::/3: the first three bits of the first group are 001. */
const isGlobalUnicastBlock = (address: ipaddr.IPv6): boolean => (address.parts[0] & 0xe000) === 0x2000;

function classifyIPv4(address: ipaddr.IPv4, prefix = ''): AddressClass {
  const range = address.range();
  if (range === 'unicast') return { kind: 'public' };
  if (range === 'loopback') return { kind: 'loopback' };
  return { kind: 'blocked', range: prefix + range };
}

function classifyIPv6(address: ipaddr.IPv6): AddressClass {
  const range = address.range();
  if (range === 'ipv4Mapped') return classifyIPv4(address.toIPv4Address(), 'ipv4Mapped ');
  if (range === 'loopback') return { kind: 'loopback' };
  if (range !== 'unicast') return { kind: 'blocked', range };
  if (!isGlobalUnicastBlock(address)) {
    // ::/96 other than :: and ::1 is the deprecated IPv4-compatible form; the rest of the space outside 2000::/3 is
    // unassigned or special-purpose.
    const compatible = address.parts.slice(0, 6).every((p) => p === 0);
    return { kind: 'blocked', range: compatible ? 'ipv4Compatible' : 'notGlobalUnicast' };
  }
  return { kind: 'public' };
}

/**
 * Classifies one address as text: the strict notations a socket reports (`socket.remoteAddress`) and WHATWG URL
 * writes (dotted-decimal IPv4; IPv6 without brackets). Anything else — IPv4 in hex, octal or as one number, an IPv6
 * zone id, a name — is `blocked` as `notAnAddress`: a caller with another notation must normalise it first.
 *
 * IPv6 text is normalised by WHATWG URL before ipaddr.js reads it, because ipaddr.js reads `::a.b.c.d` (the
 * IPv4-compatible form) as IPv4-mapped `::ffff:a.b.c.d`, which would unwrap `::127.0.0.1` to a loopback address
 * that the kernel never connects it to.
 */
export function classifyAddress(text: string): AddressClass {
  if (isIPv4(text)) return classifyIPv4(ipaddr.IPv4.parse(text));
  if (isIPv6(text)) {
    let canonical: string;
    try {
      canonical = new URL(`http://[${text}]/`).hostname.slice(1, -1);
    } catch {
      return { kind: 'blocked', range: 'notAnAddress' };
    }
    return classifyIPv6(ipaddr.IPv6.parse(canonical));
  }
  return { kind: 'blocked', range: 'notAnAddress' };
}

/** The refusal for connecting to `address` under `rule`, or undefined when the connection may go ahead. */
export function addressRefusal(address: string, rule: AddressRule): AddressRefusal | undefined {
  const found = classifyAddress(address);
  if (rule.loopbackOnly) {
    if (found.kind === 'loopback' && rule.allowLoopback) return undefined;
    return { refused: 'address', detail: `http: may reach loopback only, and ${address} is ${describe(found)}` };
  }
  if (found.kind === 'public') return undefined;
  if (found.kind === 'loopback') {
    return rule.allowLoopback ? undefined : { refused: 'address', detail: `${address} is loopback, allowed only with TOKENKEEP_ALLOW_LOOPBACK_HTTP_URIS=1` };
  }
  return { refused: 'address', detail: `${address} is ${describe(found)}` };
}

function describe(found: AddressClass): string {
  return found.kind === 'blocked' ? `not public (${found.range})` : found.kind;
}
