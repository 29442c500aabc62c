import type { Cluster, Redis } from 'ioredis';
import { expectTypeOf, test } from 'vitest';
import type { FencedStore, FencingTokenSource, Lock, Outbox } from '../../src/index.js';
import type { TokenCounter } from '../../src/adapters.js';
import type { CounterStore } from '../../src/middleware/exclusivity-counter/types.js';
import {
  redisCounterStore,
  redisFencedStore,
  redisLock,
  redisOutbox,
  redisTokenSource,
  type RedisLike,
} from '../../src/redis/index.js';

test('ioredis clients are RedisLike', () => {
  expectTypeOf<Redis>().toExtend<RedisLike>();
  expectTypeOf<Cluster>().toExtend<RedisLike>();
});

test('the factories return the library interfaces', () => {
  const client = {} as Redis;
  expectTypeOf(redisLock(client)).toExtend<Lock & FencingTokenSource>();
  expectTypeOf(redisTokenSource(client)).toExtend<FencingTokenSource>();
  expectTypeOf(redisFencedStore<{ n: number }>(client)).toExtend<FencedStore<{ n: number }>>();
  expectTypeOf(redisCounterStore(client)).toExtend<CounterStore>();
  expectTypeOf(redisOutbox<{ n: number }, string>(client)).toExtend<Outbox<{ n: number }, string>>();
  expectTypeOf(redisLock(client)).toExtend<TokenCounter>();
  expectTypeOf(redisTokenSource(client)).toExtend<TokenCounter>();
});
