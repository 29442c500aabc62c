/**
 * `exclusive-consumer/redis`: Redis adapters. ioredis is never imported at run time: pass a client
 * you built (`new Redis(…)` or `new Cluster(…)`), with your own TLS, auth and retry options.
 *
 * @module exclusive-consumer/redis
 */
export type { RedisArgument, RedisLike, RedisPipelineLike } from './client.js';
export { createEval } from './eval.js';
export type { EvalFunction, LuaScript } from './eval.js';
export { DEFAULT_PREFIX } from './keys.js';
export { RedisLock, redisLock, redisTokenSource } from './lock.js';
export type { RedisLockOptions } from './lock.js';
export { RedisFencedStore, redisFencedStore } from './fenced-store.js';
export type { RedisFencedStoreOptions } from './fenced-store.js';
export { RedisCounterStore, redisCounterStore } from './counter-store.js';
export type { RedisCounterStoreOptions } from './counter-store.js';
export { RedisOutbox, redisOutbox } from './outbox.js';
export type { RedisOutboxOptions } from './outbox.js';
