/**
 * Test harness: the real app on a real SQLite file in a fresh temporary folder, fast password hashing, a clock the
 * test moves, and a response check that fails a test when a body carries a field its schema does not declare.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import Ajv from 'ajv';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp, type AppDeps } from '../src/app.js';
import { hashPassword, type ScryptParams } from '../src/crypto/passwords.js';
import { SqliteStore } from '../src/storage/sqlite/store.js';
import { MasterKey } from '../src/crypto/keyring.js';

export const FAST_HASH: ScryptParams = { logN: 10, r: 8, p: 1 };
export const ADMIN_PASSWORD = 'Admin-Passw0rd';
export const USER_PASSWORD = 'User-Passw0rd';

export class ManualClock {
  constructor(public ms = Date.UTC(2026, 0, 1)) {}
  now = (): number => this.ms;
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

export interface Harness {
  app: FastifyInstance;
  store: SqliteStore;
  clock: ManualClock;
  dir: string;
  /** inject + assert the response matches its declared schema exactly */
  call(opts: InjectOptions & { as?: [string, string] | string }): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export const basic = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;

const ajv = new Ajv.default({ strict: false, allErrors: true });

export async function harness(overrides: Partial<AppDeps> = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'tokenkeep-test-'));
  const store = new SqliteStore(join(dir, 'tokenkeep.db'));
  await store.migrate();
  await store.initKeyring(new MasterKey(MasterKey.generate()));
  await store.bootstrap({
    adminPasswordHash: await hashPassword(ADMIN_PASSWORD, FAST_HASH),
    userPasswordHash: await hashPassword(USER_PASSWORD, FAST_HASH),
  });
  const clock = new ManualClock();
  const app = await buildApp({ store, hashParams: FAST_HASH, clock: clock.now, failuresPerAddress: 1000, ...overrides });
  const violations: string[] = [];
  app.addHook('preSerialization', async (request, reply, payload) => {
    const schema = (request.routeOptions.schema?.response as Record<number, object> | undefined)?.[reply.statusCode];
    if (!schema) {
      violations.push(`${request.method} ${request.url}: no response schema for ${reply.statusCode}`);
    } else if (!ajv.validate(schema, payload)) {
      violations.push(`${request.method} ${request.url} ${reply.statusCode}: ${ajv.errorsText(ajv.errors)}`);
    }
    return payload;
  });
  await app.ready();
  const passwords = new Map([['d2cadmin', ADMIN_PASSWORD], ['d2cuser', USER_PASSWORD]]);
  return {
    app,
    store,
    clock,
    dir,
    async call(opts) {
      const { as, ...rest } = opts;
      const headers = { ...(rest.headers ?? {}) };
      if (as !== undefined) {
        const [user, password] = typeof as === 'string' ? [as, passwords.get(as) ?? DEFAULT_PASSWORD] : as;
        headers.authorization = basic(user, password);
      }
      violations.length = 0;
      const res = await app.inject({ ...rest, headers });
      assert.deepEqual(violations, [], 'response matches its declared schema');
      return res;
    },
    async close() {
      await app.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Password given to users the tests create. */
export const DEFAULT_PASSWORD = 'Test-Passw0rd!';
