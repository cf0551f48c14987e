/**
 * Damaging stored rows beside the running store, on either backend: a second connection to the harness's database
 * (the SQLite file, or the PostgreSQL database the harness created), which is what someone with access to the
 * database could do. Used by the tests of sealed values' integrity (sealing/crypto.test.ts, sealing/sealing.test.ts,
 * http/damaged-secrets.test.ts).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { PostgresStore } from '../src/storage/postgres/store.js';
import type { Harness } from './helpers.js';

type Query = (sql: string, params: unknown[]) => Promise<Record<string, unknown>[]>;

/** Runs `fn` with a query function on a fresh connection to the harness's database; `$1, $2 …` placeholders, in order. */
export async function onDatabase<T>(h: Harness, fn: (query: Query) => Promise<T>): Promise<T> {
  if (h.backend === 'sqlite') {
    const db = new Database(join(h.dir, 'tokenkeep.db'));
    try {
      return await fn(async (sql, params) => {
        const stmt = db.prepare(sql.replace(/\$\d+/g, '?'));
        return stmt.reader ? (stmt.all(...params) as Record<string, unknown>[]) : [{ changes: stmt.run(...params).changes }];
      });
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: (h.store as PostgresStore).db.url });
  await client.connect();
  try {
    return await fn(async (sql, params) => {
      const res = await client.query(sql, params);
      return res.command === 'SELECT' ? res.rows : [{ changes: res.rowCount }];
    });
  } finally {
    await client.end();
  }
}

/** The stored (sealed) value of one column of one row. */
export const readColumn = (h: Harness, table: string, column: string, id: number): Promise<Buffer> =>
  onDatabase(h, async (q) => {
    const [row] = await q(`SELECT ${column} AS v FROM ${table} WHERE id = $1`, [id]);
    assert.ok(row && Buffer.isBuffer(row.v), `${table}.${column} of row ${id} holds a sealed value`);
    return row.v as Buffer;
  });

/** Overwrites columns of one row; a string is stored as text on SQLite and as its bytes on PostgreSQL. */
export const writeColumns = (h: Harness, table: string, id: number, values: Record<string, Buffer | string | null>): Promise<void> =>
  onDatabase(h, async (q) => {
    const columns = Object.keys(values);
    const set = columns.map((c, i) => `${c} = $${i + 1}`).join(', ');
    const [res] = await q(`UPDATE ${table} SET ${set} WHERE id = $${columns.length + 1}`, [...Object.values(values), id]);
    assert.equal(Number(res.changes), 1, `${table} row ${id} was written`);
  });

export const writeColumn = (h: Harness, table: string, column: string, id: number, value: Buffer | string | null): Promise<void> =>
  writeColumns(h, table, id, { [column]: value });

/**
 * Runs `check` with columns of one row overwritten, and puts the original values back afterwards even when `check`
 * fails: a failing assertion must not leave a damaged row for the tests after it.
 */
export async function withColumns(
  h: Harness,
  table: string,
  id: number,
  values: Record<string, Buffer | string | null>,
  check: () => Promise<void>,
): Promise<void> {
  const original: Record<string, Buffer | string | null> = {};
  await onDatabase(h, async (q) => {
    const [row] = await q(`SELECT ${Object.keys(values).join(', ')} FROM ${table} WHERE id = $1`, [id]);
    assert.ok(row, `${table} row ${id} exists`);
    for (const c of Object.keys(values)) original[c] = row[c] as Buffer | string | null;
  });
  await writeColumns(h, table, id, values);
  try {
    await check();
  } finally {
    await writeColumns(h, table, id, original);
  }
}

/** A copy of a sealed value with one byte flipped. */
export function flip(value: Buffer, at: number): Buffer {
  const copy = Buffer.from(value);
  copy[at] ^= 0x01;
  return copy;
}
