/**
 * Security headers on every answer (SECURITY.md "What is promised"). The answers are JSON, never a document to
 * render, frame or run: the policy forbids everything a browser could do with them.
 *
 * `securityHeaders` is THE list. @fastify/helmet sends it on everything Fastify answers (configured below to send
 * exactly these, no more: test/security-headers.test.ts compares); the few answers written without Fastify's
 * reply — a request Node cannot parse, a URL the router cannot decode — write it from here.
 */
import type { FastifyHelmetOptions } from '@fastify/helmet';

/** One year; no includeSubDomains: other services under the same name are the operator's to decide. */
const HSTS_MAX_AGE = 31_536_000;

/** Header names in lower case, as Node's getHeaders() shows them. HSTS only when this process serves TLS. */
export function securityHeaders(tls: boolean): Record<string, string> {
  return {
    'content-security-policy': "default-src 'none';frame-ancestors 'none'",
    'cross-origin-resource-policy': 'same-origin',
    'referrer-policy': 'no-referrer',
    ...(tls ? { 'strict-transport-security': `max-age=${HSTS_MAX_AGE}` } : {}),
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
  };
}

/**
 * Helmet set to produce exactly securityHeaders(tls). Behind a TLS-terminating proxy (plain HTTP here) HSTS is the
 * proxy's to send: this process cannot know the address the client used.
 */
export function helmetOptions(tls: boolean): FastifyHelmetOptions {
  return {
    global: true,
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
