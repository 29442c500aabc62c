import type pg from 'pg';
import { expectTypeOf, test } from 'vitest';
import type { FencedStore } from '../../src/index.js';
import { postgresFencedStore, type PgPoolLike } from '../../src/postgres/index.js';

test('pg pools, clients and pool clients are PgPoolLike', () => {
  expectTypeOf<pg.Pool>().toExtend<PgPoolLike>();
  expectTypeOf<pg.Client>().toExtend<PgPoolLike>();
  expectTypeOf<pg.PoolClient>().toExtend<PgPoolLike>();
});

test('the factory returns the library interface', () => {
  expectTypeOf(postgresFencedStore<{ n: number }>({} as pg.Pool)).toExtend<FencedStore<{ n: number }>>();
});
