/** `/api/mgmt/datastores` and `/api/mgmt/datasources` (api.md §7): just what OAuth profiles need. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { fail } from '../../errors.js';
import * as dataSources from '../../domain/datasources.js';
import { dataStores } from '../../domain/datastores.js';
import { Perm } from '../../domain/permissions.js';
import type { DataSource as DataSourceRecord, DataSourceSummary } from '../../domain/ports/index.js';
import { IdParams, OnBehalfQuery, errors, success } from '../schemas/common.js';
import type { FastifyReply } from 'fastify';
import { ifMatchVersions, setEtag } from '../etag.js';
import { DataSource, DataSourceBody, DataSourceList, DataStore, DataStoreList } from '../schemas/oauth.js';

export const dataSourceRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { store } = app.services;
  const cfg = (perm: number) => ({ permissions: [Perm.MgmtAPI, perm], onBehalf: true, notFound: 'dataSourceNotFound' as const });
  const tags = ['mgmt: data sources'];
  const summary = (d: DataSourceSummary) => ({ id: d.id, name: d.name, dataStore: d.dataStore, connectionType: d.connectionType, description: d.description });
  const present = (d: DataSourceRecord, reply: FastifyReply) => {
    setEtag(reply, d.version);
    return { ...summary(d), options: dataSources.presentOptions(d) };
  };

  app.get(
    '/api/mgmt/datastores',
    {
      config: { permissions: [Perm.MgmtAPI] },
      schema: {
        operationId: 'listDataStores',
        summary: 'List data stores',
        tags: ['mgmt: data stores'],
        response: { 200: success('The data stores', DataStoreList), ...errors(403) },
      },
    },
    async () => ({ datastores: [...dataStores] }),
  );

  app.get(
    '/api/mgmt/datastores/:id',
    {
      config: { permissions: [Perm.MgmtAPI], notFound: 'notFound' },
      schema: {
        operationId: 'getDataStore',
        summary: 'Get a data store',
        tags: ['mgmt: data stores'],
        params: IdParams,
        response: { 200: success('The data store', DataStore), ...errors(403, 404) },
      },
    },
    async (request) => {
      const found = dataStores.find((d) => d.id === request.params.id);
      if (!found) throw fail('notFound', `/api/mgmt/datastores/${request.params.id}`);
      return found;
    },
  );

  app.get(
    '/api/mgmt/datasources',
    {
      config: cfg(Perm.ViewDataSource),
      schema: {
        operationId: 'listDataSources',
        summary: "List the effective user's data sources",
        tags,
        querystring: OnBehalfQuery,
        response: { 200: success('The data sources (no options)', DataSourceList), ...errors(400, 403, 404) },
      },
    },
    async (request) => ({ datasources: (await dataSources.listDataSources(store, request.actor)).map(summary) }),
  );

  app.post(
    '/api/mgmt/datasources',
    {
      config: cfg(Perm.CreateDataSource),
      schema: {
        operationId: 'createDataSource',
        summary: 'Create a data source',
        tags,
        querystring: OnBehalfQuery,
        body: DataSourceBody,
        response: { 201: success('The created data source', DataSource), ...errors(400, 403, 404, 409, 413, 415) },
      },
    },
    async (request, reply) => {
      const created = await dataSources.createDataSource(store, request.actor, request.body);
      reply.code(201).header('location', `/api/mgmt/datasources/${created.id}`);
      return present(created, reply);
    },
  );

  app.get(
    '/api/mgmt/datasources/:id',
    {
      config: cfg(Perm.ViewDataSource),
      schema: {
        operationId: 'getDataSource',
        summary: 'Get a data source',
        tags,
        params: IdParams,
        querystring: OnBehalfQuery,
        response: { 200: success('The data source', DataSource), ...errors(403, 404) },
      },
    },
    async (request, reply) => present(await dataSources.dataSourceFor(store, request.actor, request.params.id), reply),
  );

  app.put(
    '/api/mgmt/datasources/:id',
    {
      config: cfg(Perm.ModifyDataSource),
      schema: {
        operationId: 'replaceDataSource',
        summary: 'Replace a data source (dataStore and connectionType cannot change)',
        tags,
        params: IdParams,
        querystring: OnBehalfQuery,
        body: DataSourceBody,
        response: { 200: success('The replaced data source', DataSource), ...errors(400, 403, 404, 409, 413, 415, 412) },
      },
    },
    async (request, reply) =>
      present(await dataSources.updateDataSource(store, request.actor, request.params.id, request.body, ifMatchVersions(request)), reply),
  );

  app.delete(
    '/api/mgmt/datasources/:id',
    {
      config: cfg(Perm.DeleteDataSource),
      schema: {
        operationId: 'deleteDataSource',
        summary: 'Delete a data source',
        tags,
        params: IdParams,
        querystring: OnBehalfQuery,
        response: { 204: success('Deleted', { type: 'null' }), ...errors(403, 404, 412) },
      },
    },
    async (request, reply) => {
      await dataSources.deleteDataSource(store, request.actor, request.params.id, ifMatchVersions(request));
      return reply.code(204).send();
    },
  );
};
