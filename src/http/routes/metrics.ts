/**
 * `GET /api/metrics` (Administrator, 12; api.md §8.8): the app's metrics in Prometheus text format
 * (src/engine/metrics.ts), and the hook that counts and times every answered request by its route pattern.
 *
 * The scrape is counted like any other request: a scraper that stops authenticating shows up as 401s on its route.
 */
import type { FastifyInstance } from 'fastify';
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Perm } from '../../domain/permissions.js';
import type { Metrics } from '../../engine/metrics.js';
import { errors } from '../schemas/common.js';

/**
 * Counts every answered request (onResponse), the unknown ones included under one label. The label is the route's
 * pattern as declared (`/api/mgmt/oauthprofiles/:id`): never the URL, whose ids and `?user=` names would make a
 * series per value and put user names in the scrape.
 */
export function installRequestMetrics(app: FastifyInstance, metrics: Metrics): void {
  app.addHook('onResponse', (request, reply, done) => {
    metrics.request(request.routeOptions.url, request.method, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
}

export const metricsRoutes: FastifyPluginAsyncTypebox<{ metrics: Metrics }> = async (app, { metrics }) => {
  app.get(
    '/api/metrics',
    {
      config: { permissions: [Perm.Administrator] },
      schema: {
        operationId: 'getMetrics',
        summary: 'Metrics in Prometheus text format: refreshes by outcome and latency, refreshes in flight, profiles by state, HTTP requests',
        tags: ['metrics'],
        response: {
          200: {
            description: 'Prometheus text exposition format 0.0.4 (Content-Type: text/plain; version=0.0.4; charset=utf-8)',
            content: { 'text/plain': { schema: Type.String() } },
          },
          ...errors(403),
        },
      },
    },
    async (_request, reply) => {
      const text = await metrics.text();
      return reply.type(metrics.contentType).send(text);
    },
  );
};
