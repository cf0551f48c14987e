/** `/api/admin/users` and its sub-resources: CreateUsers/ViewUsers/ModifyUsers/DeleteUsers (13–16). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Perm } from '../../domain/permissions.js';
import * as users from '../../domain/users.js';
import type { User as UserRecord } from '../../domain/ports/index.js';
import { IdParams, errors, success } from '../schemas/common.js';
import { TenantQuery } from '../schemas/roles.js';
import { Grants, GrantsBody, PasswordInfoBody, StatusInfo, StatusInfoBody, User, UserBody, UserList } from '../schemas/users.js';
import { tenantFilter } from './tenant-filter.js';

/** HDP's `YYYY-MM-DD HH:mm:ss`, UTC. */
const hdpTime = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString().slice(0, 19).replace('T', ' '));

export const userRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { store, hashParams, clock } = app.services;
  const tags = ['admin: users'];
  const cfg = (perm: number) => ({ permissions: [perm], notFound: 'userNotFound' as const });

  const statusInfo = (u: UserRecord) => {
    const locked = u.lockedUntil !== null && u.lockedUntil > clock();
    return {
      status: u.status,
      accountLocked: locked,
      accountLockedAt: locked ? hdpTime(u.lockedAt) : null,
      accountLockedUntil: locked ? hdpTime(u.lockedUntil) : null,
    };
  };
  const present = (u: UserRecord) => ({
    id: u.id,
    userName: u.userName,
    tenantId: u.tenantId,
    statusInfo: statusInfo(u),
    permissions: { roles: u.roles, permissions: u.permissions },
  });
  const toInput = (body: typeof UserBody.static): users.UserInput => ({
    userName: body.userName,
    tenantId: body.tenantId,
    status: body.statusInfo.status,
    password: body.passwordInfo?.password,
    grants: body.permissions,
  });

  app.get(
    '/api/admin/users',
    {
      config: cfg(Perm.ViewUsers),
      schema: {
        operationId: 'listUsers',
        summary: 'List users',
        tags,
        querystring: TenantQuery,
        response: { 200: success('The users the caller may see', UserList), ...errors(400, 403, 404) },
      },
    },
    async (request) => ({ users: (await users.listUsers(store, request.actor, await tenantFilter(store, request.query))).map(present) }),
  );

  app.post(
    '/api/admin/users',
    {
      config: cfg(Perm.CreateUsers),
      schema: {
        operationId: 'createUser',
        summary: 'Create a user',
        tags,
        body: UserBody,
        response: { 201: success('The created user', User), ...errors(400, 403, 404, 409, 413, 415) },
      },
    },
    async (request, reply) => {
      const user = await users.createUser({ store, actor: request.actor, hashParams, clock }, toInput(request.body));
      reply.code(201).header('location', `/api/admin/users/${user.id}`);
      return present(user);
    },
  );

  app.get(
    '/api/admin/users/:id',
    {
      config: cfg(Perm.ViewUsers),
      schema: { operationId: 'getUser', summary: 'Get a user', tags, params: IdParams, response: { 200: success('The user', User), ...errors(403, 404) } },
    },
    async (request) => present(await users.userFor(store, request.actor, request.params.id, Perm.ViewUsers)),
  );

  app.put(
    '/api/admin/users/:id',
    {
      config: cfg(Perm.ModifyUsers),
      schema: {
        operationId: 'replaceUser',
        summary: 'Replace a user',
        tags,
        params: IdParams,
        body: UserBody,
        response: { 200: success('The replaced user', User), ...errors(400, 403, 404, 409, 413, 415) },
      },
    },
    async (request) => present(await users.updateUser({ store, actor: request.actor, hashParams, clock }, request.params.id, toInput(request.body))),
  );

  app.delete(
    '/api/admin/users/:id',
    {
      config: cfg(Perm.DeleteUsers),
      schema: {
        operationId: 'deleteUser',
        summary: 'Delete a user and everything it owns',
        tags,
        params: IdParams,
        response: { 204: success('Deleted', { type: 'null' }), ...errors(403, 404, 409) },
      },
    },
    async (request, reply) => {
      await users.deleteUser(store, request.actor, request.params.id);
      return reply.code(204).send();
    },
  );

  app.get(
    '/api/admin/users/:id/permissions',
    {
      config: cfg(Perm.ViewUsers),
      schema: {
        operationId: 'getUserPermissions',
        summary: "A user's roles and explicit permissions",
        tags,
        params: IdParams,
        response: { 200: success("The user's roles and explicit permissions", Grants), ...errors(403, 404) },
      },
    },
    async (request) => present(await users.userFor(store, request.actor, request.params.id, Perm.ViewUsers)).permissions,
  );

  app.put(
    '/api/admin/users/:id/permissions',
    {
      config: cfg(Perm.ModifyUsers),
      schema: {
        operationId: 'replaceUserPermissions',
        summary: "Replace a user's roles and explicit permissions",
        tags,
        params: IdParams,
        body: GrantsBody,
        response: { 200: success("The user's roles and explicit permissions now", Grants), ...errors(400, 403, 404, 409, 413, 415) },
      },
    },
    async (request) => present(await users.setGrants({ store, actor: request.actor, hashParams, clock }, request.params.id, request.body)).permissions,
  );

  app.get(
    '/api/admin/users/:id/statusinfo',
    {
      config: cfg(Perm.ViewUsers),
      schema: {
        operationId: 'getUserStatusInfo',
        summary: "A user's status and lock",
        tags,
        params: IdParams,
        response: { 200: success("The user's status and lock", StatusInfo), ...errors(403, 404) },
      },
    },
    async (request) => statusInfo(await users.userFor(store, request.actor, request.params.id, Perm.ViewUsers)),
  );

  app.put(
    '/api/admin/users/:id/statusinfo',
    {
      config: cfg(Perm.ModifyUsers),
      schema: {
        operationId: 'setUserStatusInfo',
        summary: 'Activate, deactivate, lock or unlock a user',
        tags,
        params: IdParams,
        body: StatusInfoBody,
        response: { 200: success("The user's status and lock now", StatusInfo), ...errors(400, 403, 404, 409, 413, 415) },
      },
    },
    async (request) =>
      statusInfo(await users.setStatus({ store, actor: request.actor, hashParams, clock }, request.params.id, request.body.status, request.body.accountLocked)),
  );

  app.put(
    '/api/admin/users/:id/passwordinfo',
    {
      config: cfg(Perm.ModifyUsers),
      schema: {
        operationId: 'setUserPassword',
        summary: "Set a user's password",
        tags,
        params: IdParams,
        body: PasswordInfoBody,
        response: { 204: success('The password is set', { type: 'null' }), ...errors(400, 403, 404, 413, 415) },
      },
    },
    async (request, reply) => {
      await users.setPassword({ store, actor: request.actor, hashParams, clock }, request.params.id, request.body.password);
      return reply.code(204).send();
    },
  );
};
