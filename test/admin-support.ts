/**
 * Shared by the administrator-API tests: a snapshot of everything the administrator API can change, and checks of
 * HDP's error envelope. Snapshots read the real store, never the HTTP layer under test.
 */
import assert from 'node:assert/strict';
import type { LightMyRequestResponse } from 'fastify';
import { catalogue } from '../src/errors.js';
import type { Store } from '../src/domain/ports/index.js';
import { listProfiles } from './helpers.js';

export interface Snapshot {
  tenants: unknown[];
  admins: Record<number, number[]>;
  roles: unknown[];
  users: unknown[];
  limits: [number, number][];
  apps: unknown[];
  /** per user id: the profiles it owns or created, and the data sources it owns */
  profiles: Record<number, unknown[]>;
  dataSources: Record<number, unknown[]>;
}

/**
 * Every row the administrator API writes — tenants, their admins, roles, users (hash and lock state included),
 * limits — plus the OAuth objects that deleting a user or tenant would take with it.
 */
export async function snapshot(store: Store): Promise<Snapshot> {
  const tenants = await store.tenants.list();
  const admins: Record<number, number[]> = {};
  for (const t of tenants) admins[t.id] = await store.tenants.admins(t.id);
  const users = await store.users.list();
  const profiles: Record<number, unknown[]> = {};
  const dataSources: Record<number, unknown[]> = {};
  for (const u of users) {
    profiles[u.id] = await listProfiles(store, u.id);
    dataSources[u.id] = await store.dataSources.list(u.id);
  }
  return {
    tenants,
    admins,
    roles: await store.roles.list(),
    users,
    limits: [...(await store.limits.all()).entries()].sort((a, b) => a[0] - b[0]),
    apps: await store.apps.list(),
    profiles,
    dataSources,
  };
}

export interface ErrorEnvelope {
  error: { code: number; message: { lang: string; value: string } };
}

/** Asserts the body is exactly HDP's envelope and that (code, status) is a pair declared in the catalogue. */
export function assertEnvelope(res: LightMyRequestResponse, context = ''): ErrorEnvelope {
  let body: unknown;
  try {
    body = JSON.parse(res.body);
  } catch {
    assert.fail(`${context}: error body is not JSON: ${res.body.slice(0, 200)}`);
  }
  const b = body as ErrorEnvelope;
  assert.equal(typeof b, 'object', `${context}: envelope is an object`);
  assert.notEqual(b, null, `${context}: envelope is not null`);
  assert.deepEqual(Object.keys(b), ['error'], `${context}: envelope has only "error"`);
  assert.deepEqual(Object.keys(b.error).sort(), ['code', 'message'], `${context}: error has code and message`);
  assert.ok(Number.isInteger(b.error.code), `${context}: code is an integer`);
  assert.deepEqual(Object.keys(b.error.message).sort(), ['lang', 'value'], `${context}: message has lang and value`);
  assert.equal(b.error.message.lang, 'en-US', `${context}: lang`);
  assert.equal(typeof b.error.message.value, 'string', `${context}: message value is a string`);
  const declared = Object.values(catalogue).some((d) => d.code === b.error.code && d.status === res.statusCode);
  assert.ok(declared, `${context}: (${b.error.code}, ${res.statusCode}) is declared in the error catalogue`);
  assert.ok(!/\bat .+:\d+:\d+/.test(b.error.message.value), `${context}: no stack trace in the message`);
  return b;
}

/** Asserts status and HDP error code. */
export function assertError(res: LightMyRequestResponse, status: number, code: number, context = ''): ErrorEnvelope {
  assert.equal(res.statusCode, status, `${context}: status (body ${res.body.slice(0, 300)})`);
  const body = assertEnvelope(res, context);
  assert.equal(body.error.code, code, `${context}: error code`);
  return body;
}

export const CODES = {
  invalidJson: 222207007,
  forbidden: 222208103,
  permissionNotFound: 222208553,
  tenantNotFound: 222208573,
  unauthorized: 223000401,
  userNotFound: 223001404,
  roleNotFound: 223002404,
  limitNotFound: 223003404,
  invalidReference: 223004400,
  passwordPolicy: 223005400,
  duplicateName: 223006409,
  conflict: 223007409,
} as const;
