/**
 * HDP's load-balancer check: no authentication; 503 when the database does not answer, or answers but cannot write
 * (`cannotWrite`, with a short reason: "disk full", "read-only", "I/O error"), 200 again once it can.
 *
 * The store remembers whether its last write failed because the database cannot write. A health check also makes a
 * tiny write of its own at most once a second (`Store.probeWrite`), so a failure is seen without traffic and a
 * recovery is seen at all; health checks that arrive while that write runs wait for it together. Every other health
 * check costs one read.
 */
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { fail } from '../../errors.js';
import { StoreUnavailable } from '../../storage/errors.js';
import { publicErrors, success } from '../schemas/common.js';

const PROBE_INTERVAL_MS = 1000;

export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { store, clock } = app.services;
  let lastProbe = -Infinity;
  let probing: Promise<void> | undefined;

  /** The probe in flight, a new one when the last began a second ago or more (or the clock went back), or none. */
  const probe = (): Promise<void> | undefined => {
    const now = clock();
    if (!probing && (now - lastProbe >= PROBE_INTERVAL_MS || now < lastProbe)) {
      lastProbe = now;
      // A StoreUnavailable is recorded by the store when it means "cannot write", and ping() reports it (a busy lock,
      // say, is not a broken database); any other failure fails the health checks waiting for it.
      probing = store
        .probeWrite()
        .catch((err: unknown) => {
          if (!(err instanceof StoreUnavailable)) throw err;
        })
        .finally(() => {
          probing = undefined;
        });
    }
    return probing;
  };

  app.get(
    '/api/healthcheck',
    {
      config: { auth: false },
      schema: {
        operationId: 'getHealthCheck',
        summary: 'Health check (no authentication): 503 while the database cannot answer or cannot write',
        tags: ['health'],
        security: [],
        response: {
          200: success('Healthy: the database answers', Type.Object({ status: Type.Literal('active') }, { additionalProperties: false })),
          ...publicErrors(),
        },
      },
    },
    async () => {
      try {
        await probe();
        await store.ping();
      } catch (err) {
        const reason = err instanceof StoreUnavailable ? err.cannotWrite : undefined;
        throw reason === undefined ? fail('unavailable', '', { 'retry-after': '5' }) : fail('cannotWrite', reason, { 'retry-after': '5' });
      }
      return { status: 'active' as const };
    },
  );
};
