/**
 * Security headers on every answer (SECURITY.md "What is promised"). The answers are JSON, never a document to
 * render, frame or run: the policy forbids everything a browser could do with them.
 *
 * Helmet decides the headers from its options below, once per process: its middleware is run against a recorder at
 * start and the headers it set become THE list, which the app sends on everything Fastify answers (one `reply.headers`
 * in the hook that sets no-store) and which the few answers written without Fastify's reply — a request Node cannot
 * parse, a URL the router cannot decode — write from here. Not @fastify/helmet: it builds Helmet's middleware anew for
 * every request, in two extra hooks, which cost 11 µs of a 33 µs health check and about 20 µs of a GET of a profile
 * (BENCHMARKS.md); the headers never change between requests.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet, { type HelmetOptions } from 'helmet';

/** One year; no includeSubDomains: other services under the same name are the operator's to decide. */
const HSTS_MAX_AGE = 31_536_000;

/**
 * Helmet set to produce exactly the headers a JSON API needs. Behind a TLS-terminating proxy (plain HTTP here) HSTS
 * is the proxy's to send: this process cannot know the address the client used.
 */
export function helmetOptions(tls: boolean): HelmetOptions {
  return {
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    crossOriginResourcePolicy: { policy: 'same-origin' },
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: tls ? { maxAge: HSTS_MAX_AGE, includeSubDomains: false } : false,
    xFrameOptions: { action: 'deny' },
    // Headers for HTML documents in old browsers, or that a JSON API has no use for.
    crossOriginEmbedderPolicy: false,
    crossOriginOpenerPolicy: false,
    originAgentCluster: false,
    xDnsPrefetchControl: false,
    xDownloadOptions: false,
    xPermittedCrossDomainPolicies: false,
    xXssProtection: false,
  };
}

/** The headers Helmet sets with helmetOptions(tls), by lower-case name (as Node's getHeaders() shows them). */
function recordHelmet(tls: boolean): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader: (name: string, value: unknown) => {
      headers[name.toLowerCase()] = String(value);
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()];
    },
  };
  helmet(helmetOptions(tls))({} as IncomingMessage, recorder as unknown as ServerResponse, () => undefined);
  return Object.freeze(Object.fromEntries(Object.entries(headers).sort(([a], [b]) => a.localeCompare(b))));
}

/** Helmet runs once per process and setting; every answer, raw or through Fastify, reuses what it recorded. */
const recorded = new Map<boolean, Readonly<Record<string, string>>>();

export function securityHeaders(tls: boolean): Readonly<Record<string, string>> {
  let headers = recorded.get(tls);
  if (!headers) recorded.set(tls, (headers = recordHelmet(tls)));
  return headers;
}
