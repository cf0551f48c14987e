/**
 * System limits that drive the lockout policy: 2 PasswordLockoutInterval, 3 PasswordLockoutLimit,
 * 4 PasswordLockoutPeriod. Administrator (12), or Limits (27) held by a system-tenant user.
 */
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { fail } from '../../errors.js';
import { isAdministrator } from '../../domain/access.js';
import { Perm, SYSTEM_TENANT_ID } from '../../domain/permissions.js';
import { limitCatalogue } from '../../domain/limits.js';
import { errors, strictObject, success } from '../schemas/common.js';

const LimitValue = strictObject({ id: Type.Integer(), name: Type.String(), description: Type.String(), value: Type.Integer() });
const LimitParams = Type.Object({ limitId: Type.Integer({ minimum: 0, maximum: 1_000_000 }) });
const LimitBody = Type.Object({ value: Type.Integer({ minimum: 0, maximum: 31_536_000 }) });

export const limitRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { store } = app.services;
  const tags = ['admin: limits'];
  const config = { permissions: [Perm.Limits], notFound: 'limitNotFound' as const };

  const limitDef = (id: number) => {
    const def = limitCatalogue.find((l) => l.id === id);
    if (!def) throw fail('limitNotFound', id);
    return def;
  };
  const read = async (id: number) => {
    const def = limitDef(id);
    const value = (await store.limits.all()).get(id) ?? def.defaultValue;
    return { id: def.id, name: def.name, description: def.description, value };
  };

  // Runs after the global authentication hook, before the body is read.
  app.addHook('onRequest', async (request) => {
    if (request.principal && !isAdministrator(request.principal) && request.principal.tenantId !== SYSTEM_TENANT_ID) throw fail('forbidden');
  });

  app.get(
    '/api/admin/limits/system',
    {
      config,
      schema: {
        operationId: 'listSystemLimits',
        summary: 'List system limits',
        tags,
        response: { 200: success('The system limits', strictObject({ limits: Type.Array(LimitValue) })), ...errors(403) },
      },
    },
    async () => ({ limits: await Promise.all(limitCatalogue.map((l) => read(l.id))) }),
  );

  app.get(
    '/api/admin/limits/system/:limitId',
    {
      config,
      schema: {
        operationId: 'getSystemLimit',
        summary: 'Get a system limit',
        tags,
        params: LimitParams,
        response: { 200: success('The limit', LimitValue), ...errors(403, 404) },
      },
    },
    async (request) => read(request.params.limitId),
  );

  const write = (operationId: string, summary: string) => ({
    config,
    schema: {
      operationId,
      summary,
      tags,
      params: LimitParams,
      body: LimitBody,
      response: { 200: success('The limit with its new value', LimitValue), ...errors(400, 403, 404, 413, 415) },
    },
  });
  const handler = async (request: { params: { limitId: number }; body: { value: number } }) => {
    const def = limitDef(request.params.limitId);
    if (def.name !== 'PasswordLockoutLimit' && request.body.value < 1) throw fail('invalidJson', 'value: must be at least 1 second');
    await store.limits.set(def.id, request.body.value);
    return read(def.id);
  };
  app.post('/api/admin/limits/system/:limitId', write('setSystemLimit', 'Set a system limit'), handler);
  app.put('/api/admin/limits/system/:limitId', write('replaceSystemLimit', 'Set a system limit (the same as POST)'), handler);
};
