import type pg from 'pg';
import { expectTypeOf, test } from 'vitest';
import type { FencedStore, Outbox } from '../../src/index.js';
import { postgresFencedStore, postgresOutbox, type PgPoolLike } from '../../src/postgres/index.js';

test('pg pools, clients and pool clients are PgPoolLike', () => {
  expectTypeOf<pg.Pool>().toExtend<PgPoolLike>();
  expectTypeOf<pg.Client>().toExtend<PgPoolLike>();
  expectTypeOf<pg.PoolClient>().toExtend<PgPoolLike>();
});

test('the factories return the library interfaces', () => {
  expectTypeOf(postgresFencedStore<{ n: number }>({} as pg.Pool)).toExtend<FencedStore<{ n: number }>>();
  expectTypeOf(postgresOutbox<{ n: number }, { to: string }>({} as pg.Pool)).toExtend<Outbox<{ n: number }, { to: string }>>();
});
