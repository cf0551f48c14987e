/** HDP's load-balancer check: no authentication, 503 when the database does not answer. */
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { fail } from '../../errors.js';
import { errors, success } from '../schemas/common.js';

export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/api/healthcheck', {
    config: { auth: false },
    schema: {
      operationId: 'getHealthCheck',
      summary: 'Health check (no authentication)',
      tags: ['health'],
      security: [],
      response: { 200: success('Healthy: the database answers', Type.Object({ status: Type.Literal('active') }, { additionalProperties: false })), ...errors(503) },
    },
  }, async () => {
    try {
      await app.services.store.ping();
    } catch {
      throw fail('unavailable', '', { 'retry-after': '5' });
    }
    return { status: 'active' as const };
  });
};
