/**
 * The PostgreSQL fenced store on the real server: the contract every fenced store passes, on the
 * default `jsonb` table and on a `text` table in a schema of its own; the shipped DDL and its
 * options; raising a Redis fence counter after a rejection; and how driver failures are reported.
 */
import { Redis } from 'ioredis';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isConfigurationError, isStaleTokenError, isTransportError } from '../../src/index.js';
import { type TokenCounter } from '../../src/adapters.js';
import { createPostgresTables, postgresDdl, postgresFencedStore } from '../../src/postgres/index.js';
import { redisLock } from '../../src/redis/index.js';
import { fencedStoreContract, registerContract, uniqueName } from '../../src/testing/index.js';
import { deletePrefix, redisUrl, testPrefix } from '../redis/helpers.js';
import { connectPool, tableName } from './helpers.js';

let pool: pg.Pool;
const jsonTable = tableName('state');
const textSchema = tableName('schema');
const textTable = tableName('state_text');

beforeAll(async () => {
  pool = connectPool();
  await createPostgresTables(pool, { table: jsonTable, outbox: false });
  await createPostgresTables(pool, { schema: textSchema, table: textTable, valueType: 'text', outbox: false });
});
afterAll(async () => {
  await pool.end();
});

const registrar = { describe, it };
registerContract('postgresFencedStore', fencedStoreContract(() => postgresFencedStore(pool, { table: jsonTable })), registrar);
registerContract(
  'postgresFencedStore on a text column in its own schema',
  fencedStoreContract(() => postgresFencedStore(pool, { schema: textSchema, table: textTable, valueType: 'text' })),
  registrar,
);

describe('the DDL', () => {
  it('creates one row per key with the documented columns, and runs again without error', async () => {
    const table = tableName('ddl');
    await createPostgresTables(pool, { table });
    await createPostgresTables(pool, { table });
    const { rows } = await pool.query<{ column_name: string; data_type: string }>(
      `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`,
      [table],
    );
    expect(rows.map((r) => [r.column_name, r.data_type])).toEqual([
      ['key', 'text'],
      ['value', 'jsonb'],
      ['token', 'bigint'],
      ['owner', 'text'],
      ['version', 'bigint'],
    ]);
    const outbox = await pool.query(`SELECT 1 FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 'ec_outbox'`);
    expect(outbox.rowCount, 'the default outbox table too').toBe(1);
  });

  it('processes creating the same tables at once do not collide', async () => {
    const schema = tableName('race');
    const pools = [connectPool(1), connectPool(1), connectPool(1)];
    try {
      await Promise.all(pools.map((p) => createPostgresTables(p, { schema })));
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
    const { rows } = await pool.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`, [schema]);
    expect(rows.map((r: { table_name: string }) => r.table_name)).toEqual(['ec_fenced_state', 'ec_outbox']);
  });

  it('quotes names and rejects any that is not a plain SQL name', () => {
    expect(postgresDdl({ schema: 'Shop', table: 'Decisions', outbox: false })).toContain('CREATE TABLE IF NOT EXISTS "Shop"."Decisions"');
    for (const bad of ['', '1table', 'a-b', 'x"; DROP TABLE y; --', 'a.b', 'x'.repeat(64)]) {
      expect(() => postgresDdl({ table: bad }), bad).toThrow(expect.objectContaining({ code: 'EC_CONFIGURATION', option: 'table' }));
      expect(() => postgresFencedStore(pool, { schema: bad }), bad).toThrow(expect.objectContaining({ option: 'schema' }));
    }
    expect(() => postgresDdl({ outboxTable: 'o'.repeat(55) })).toThrow(expect.objectContaining({ option: 'outboxTable' }));
    expect(() => postgresDdl({ valueType: 'json' as 'jsonb' })).toThrow(expect.objectContaining({ option: 'valueType' }));
  });
});

describe('options', () => {
  it('rejects a pool without query, and a token counter without raise', () => {
    expect(() => postgresFencedStore({} as pg.Pool)).toThrow(expect.objectContaining({ option: 'pool.query' }));
    const error = (() => {
      try {
        postgresFencedStore(pool, { tokenCounter: {} as TokenCounter });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(isConfigurationError(error)).toBe(true);
  });

  it('stores what `serialize` makes in a text column', async () => {
    const store = postgresFencedStore<Date>(pool, {
      schema: textSchema,
      table: textTable,
      valueType: 'text',
      serialize: (d) => d.toISOString(),
      deserialize: (t) => new Date(t),
    });
    const key = uniqueName('date');
    const at = new Date('2025-11-28T08:00:00.000Z');
    await store.put(key, at, { token: 1, owner: 'a' });
    expect((await store.get(key))?.value).toEqual(at);
    const { rows } = await pool.query(`SELECT value FROM "${textSchema}"."${textTable}" WHERE key = $1`, [key]);
    expect(rows[0].value).toBe('2025-11-28T08:00:00.000Z');
  });
});

describe('after a rejection', () => {
  let redis: Redis;
  const prefix = testPrefix('pg-raise');
  beforeAll(() => {
    redis = new Redis(redisUrl, { maxRetriesPerRequest: 2 });
  });
  afterAll(async () => {
    await deletePrefix(redis, prefix);
    redis.disconnect();
  });

  it('raises the Redis fence counter to the highest token the table holds, so the next lease gets a new token', async () => {
    const lock = redisLock(redis, { prefix });
    const store = postgresFencedStore<string>(pool, { table: jsonTable, tokenCounter: lock });
    const key = uniqueName('raise');
    const first = await lock.tryAcquire(key, 'a', 5_000);
    await store.put(key, 'by a', { token: 1, owner: 'a' });
    expect(first?.token).toBe(1);
    // The table has seen token 40 (tokens from before a Redis restart without persistence, say).
    await store.put(key, 'by the past', { token: 40, owner: 'old' });
    await lock.release(first!);
    const reused = await lock.tryAcquire(key, 'b', 5_000);
    expect(reused?.token, 'the counter went back: it hands out a token the table has seen').toBe(2);
    const rejected = await store.put(key, 'by b', { token: reused!.token, owner: 'b' }).catch((e: unknown) => e);
    expect(isStaleTokenError(rejected)).toBe(true);
    expect(rejected).toMatchObject({ token: 2, currentToken: 40 });
    expect(await redis.get(`${prefix}{${key}}:fence`)).toBe('40');
    await lock.release(reused!);
    const next = await lock.tryAcquire(key, 'b', 5_000);
    expect(next?.token).toBe(41);
    await store.put(key, 'by b again', { token: next!.token, owner: 'b' });
    expect((await store.get(key))?.value).toBe('by b again');
    expect(store.rejected).toBe(1);
  });

  it('a counter that fails to raise does not change the rejection', async () => {
    const failing: TokenCounter = { raise: async () => Promise.reject(new Error('counter unreachable')) };
    const store = postgresFencedStore<string>(pool, { table: jsonTable, tokenCounter: failing });
    const key = uniqueName('raise-fails');
    await store.put(key, 'new', { token: 5, owner: 'b' });
    await expect(store.put(key, 'old', { token: 3, owner: 'a' })).rejects.toMatchObject({ code: 'EC_STALE_TOKEN', currentToken: 5 });
  });
});

describe('driver failures', () => {
  it('a missing table is a TransportError that is not retriable, with the SQLSTATE', async () => {
    const store = postgresFencedStore(pool, { table: tableName('missing') });
    const error = await store.get('k').catch((e: unknown) => e);
    expect(isTransportError(error)).toBe(true);
    expect(error).toMatchObject({ retriable: false, context: { store: 'postgres', sqlState: '42P01' } });
  });

  it('a closed pool is a retriable TransportError', async () => {
    const closed = connectPool(1);
    await closed.end();
    const error = await postgresFencedStore(closed, { table: jsonTable }).get('k').catch((e: unknown) => e);
    expect(isTransportError(error)).toBe(true);
    expect(error).toMatchObject({ retriable: true });
  });
});
