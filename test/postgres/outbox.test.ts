/**
 * The PostgreSQL outbox on the real server: the outbox and fenced-store contracts (each case on
 * tables of its own, since claims see the whole table), the state shared with the fenced store,
 * a commit inside the caller's own transaction, and the token counter raised after a rejection.
 */
import { Redis } from 'ioredis';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStaleTokenError } from '../../src/index.js';
import { createPostgresTables, postgresFencedStore, postgresOutbox } from '../../src/postgres/index.js';
import { redisLock } from '../../src/redis/index.js';
import { fencedStoreContract, outboxContract, registerContract, uniqueName } from '../../src/testing/index.js';
import { deletePrefix, redisUrl, testPrefix } from '../redis/helpers.js';
import { connectPool, tableName } from './helpers.js';

let pool: pg.Pool;
const schema = tableName('outbox');

beforeAll(async () => {
  pool = connectPool();
  await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
});
afterAll(async () => {
  await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await pool.end();
});

/** Fresh tables for one case. */
async function freshTables(): Promise<{ schema: string; table: string; outboxTable: string }> {
  const tables = { schema, table: tableName('state'), outboxTable: tableName('fx') };
  await createPostgresTables(pool, tables);
  return tables;
}

const registrar = { describe, it };
registerContract('postgresOutbox', outboxContract(async (options) => postgresOutbox(pool, { ...options, ...(await freshTables()) })), registrar);
registerContract('postgresOutbox as a fenced store', fencedStoreContract(async () => postgresOutbox(pool, await freshTables())), registrar);

describe('postgresOutbox', () => {
  it('shares its state rows with the fenced store on the same table', async () => {
    const tables = await freshTables();
    const outbox = postgresOutbox<{ n: number }, string>(pool, tables);
    const store = postgresFencedStore<{ n: number }>(pool, tables);
    const key = uniqueName('shared');
    const committed = await outbox.commit(key, { n: 1 }, { token: 2, owner: 'a' }, [{ payload: 'x', idempotencyKey: `${key}-x` }]);
    expect(await store.get(key)).toEqual(committed.record);
    await expect(store.put(key, { n: 0 }, { token: 1, owner: 'b' })).rejects.toMatchObject({ code: 'EC_STALE_TOKEN' });
  });

  it('commits inside the caller’s transaction: a rollback takes the state and the effects back', async () => {
    const tables = await freshTables();
    const key = uniqueName('tx');
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await postgresOutbox(client, tables).commit(key, 1, { token: 1, owner: 'a' }, [{ payload: 'x', idempotencyKey: `${key}-x` }]);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    const outbox = postgresOutbox(pool, tables);
    expect(await outbox.get(key)).toBeUndefined();
    expect(await outbox.effect(`${key}-x`)).toBeUndefined();
  });

  it('raises the Redis fence counter after a rejected commit', async () => {
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 2 });
    const prefix = testPrefix('pg-outbox-raise');
    try {
      const lock = redisLock(redis, { prefix });
      const outbox = postgresOutbox<string, string>(pool, { ...(await freshTables()), tokenCounter: lock });
      const key = uniqueName('raise');
      await outbox.commit(key, 'from the past', { token: 12, owner: 'old' }, []);
      const lease = await lock.tryAcquire(key, 'b', 5_000);
      const error = await outbox
        .commit(key, 'by b', { token: lease!.token, owner: 'b' }, [{ payload: 'y', idempotencyKey: `${key}-y` }])
        .catch((e: unknown) => e);
      expect(isStaleTokenError(error)).toBe(true);
      expect(await outbox.effect(`${key}-y`)).toBeUndefined();
      await lock.release(lease!);
      expect((await lock.tryAcquire(key, 'b', 5_000))?.token).toBe(13);
    } finally {
      await deletePrefix(redis, prefix);
      redis.disconnect();
    }
  });
});
