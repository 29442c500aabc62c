import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigurationError, StaleTokenError, isStaleTokenError, isTransportError } from '../../src/index.js';
import {
  createEval,
  redisCounterStore,
  redisFencedStore,
  redisLock,
  redisTokenSource,
  type RedisLike,
} from '../../src/redis/index.js';
import { ACQUIRE_SCRIPT, NEXT_TOKEN_SCRIPT } from '../../src/redis/scripts.generated.js';
import { uniqueName } from '../../src/testing/index.js';
import { clusterNodes, connect, deletePrefix, redisUrl, sleep, testPrefix, topologies } from './helpers.js';
import { freePort } from '../helpers/index.js';

/** Wraps a client to count the script calls it sends. */
function counting(client: RedisLike): RedisLike & { calls: { evalsha: number; eval: number } } {
  const calls = { evalsha: 0, eval: 0 };
  return {
    calls,
    evalsha: (...args) => {
      calls.evalsha += 1;
      return client.evalsha(...args);
    },
    eval: (...args) => {
      calls.eval += 1;
      return client.eval(...args);
    },
  };
}

const prefix = testPrefix('adapters');
let redis: Redis;
beforeAll(() => {
  redis = new Redis(redisUrl, { maxRetriesPerRequest: 2 });
});
afterAll(async () => {
  await deletePrefix(redis, prefix);
  redis.disconnect();
});

describe('key layout', () => {
  it('stores the lease as <token>:<owner> with PX, and a fence counter that never expires', async () => {
    const lock = redisLock(redis, { prefix });
    const key = uniqueName('layout');
    const lease = await lock.tryAcquire(key, 'worker-1', 5_000);
    expect(lease).toBeDefined();
    expect(await redis.get(`${prefix}{${key}}:lock`)).toBe(`${lease?.token}:worker-1`);
    const pttl = await redis.pttl(`${prefix}{${key}}:lock`);
    expect(pttl).toBeGreaterThan(4_000);
    expect(pttl).toBeLessThanOrEqual(5_000);
    expect(await redis.get(`${prefix}{${key}}:fence`)).toBe(String(lease?.token));
    expect(await redis.pttl(`${prefix}{${key}}:fence`)).toBe(-1);
    expect(await lock.release(lease!)).toBe(true);
    expect(await redis.exists(`${prefix}{${key}}:lock`)).toBe(0);
    expect(await redis.get(`${prefix}{${key}}:fence`)).toBe(String(lease?.token));
  });

  it('percent-encodes %, { and } inside the hash tag, and the empty key as %', async () => {
    const lock = redisLock(redis, { prefix });
    const key = uniqueName('enc');
    for (const [k, name] of [
      [`}${key}{%`, `%7D${key}%7B%25`],
      ['', '%'],
    ] as const) {
      const lease = await lock.tryAcquire(k, 'a', 5_000);
      expect(lease, JSON.stringify(k)).toBeDefined();
      expect(await redis.exists(`${prefix}{${name}}:lock`)).toBe(1);
      await lock.release(lease!);
    }
  });

  it('rejects a prefix with braces and a client without eval at construction', () => {
    expect(() => redisLock(redis, { prefix: 'app{x}:' })).toThrow(ConfigurationError);
    expect(() => redisFencedStore(redis, { prefix: '}' })).toThrow(ConfigurationError);
    expect(() => redisCounterStore({} as RedisLike)).toThrow(ConfigurationError);
    expect(() => redisCounterStore(redis, { ttlMs: 0 })).toThrow(/ttlMs/);
    expect(() => redisCounterStore(redis, { retainMs: -1 })).toThrow(/retainMs/);
    expect(() => redisFencedStore(redis, { tokenCounter: 'elsewhere' as 'same' })).toThrow(ConfigurationError);
  });
});

describe.each(topologies.filter((t) => t.skip === undefined).map((t) => t.name))('on %s', (topology) => {
  let client: Redis | Cluster;
  const p = testPrefix(`adapters-${topology}`);
  beforeAll(() => {
    client = connect(topology);
  });
  afterAll(async () => {
    await deletePrefix(client, p);
    client.disconnect();
  });

  it('keys whose hash tag would be empty or cut short keep lock and fence in one slot', async () => {
    // Unencoded, `}x` would give the tag `{}` (whole name hashed) and CROSSSLOT in a Cluster.
    const lock = redisLock(client, { prefix: p });
    for (const k of ['}', `}${uniqueName()}`, '', '{}', `a}b{c}`]) {
      const lease = await lock.tryAcquire(k, 'a', 2_000);
      expect(lease, JSON.stringify(k)).toBeDefined();
      expect(await lock.extend(lease!, 2_000)).toBe(true);
      expect(await lock.nextToken(k)).toBe(lease!.token + 1);
      expect(await lock.release(lease!)).toBe(true);
    }
  });

  it('lease tokens and nextToken come from one counter', async () => {
    const lock = redisLock(client, { prefix: p });
    const tokens = redisTokenSource(client, { prefix: p });
    const key = uniqueName('shared-counter');
    const first = await lock.tryAcquire(key, 'a', 1_000);
    const minted = await tokens.nextToken(key);
    await lock.release(first!);
    const second = await lock.tryAcquire(key, 'b', 1_000);
    expect(minted).toBeGreaterThan(first!.token);
    expect(second!.token).toBeGreaterThan(minted);
  });

  it('falls back to EVAL after SCRIPT FLUSH, then uses EVALSHA again', async () => {
    const c = counting(client);
    const lock = redisLock(c, { prefix: p });
    const key = uniqueName('flush');
    await lock.nextToken(key);
    const nodes = client instanceof Cluster ? client.nodes('master') : [client as Redis];
    await Promise.all(nodes.map((n) => n.script('FLUSH')));
    const before = { ...c.calls };
    await lock.nextToken(key);
    expect(c.calls.evalsha - before.evalsha).toBe(1);
    expect(c.calls.eval - before.eval).toBe(1);
    await lock.nextToken(key);
    expect(c.calls.evalsha - before.evalsha).toBe(2);
    expect(c.calls.eval - before.eval).toBe(1);
  });

  it('the fenced store raises a counter that went back, in the same atomic step', async () => {
    const lock = redisLock(client, { prefix: p });
    const store = redisFencedStore<string>(client, { prefix: p });
    const key = uniqueName('raise');
    for (let i = 0; i < 5; i++) await lock.release((await lock.tryAcquire(key, `w${i}`, 1_000))!);
    const last = await lock.tryAcquire(key, 'w5', 1_000);
    await store.put(key, 'by w5', { token: last!.token, owner: 'w5' });
    await lock.release(last!);
    // The counter is lost (evicted, a restart that kept the state…): it starts again at 1.
    await client.del(`${p}{${key}}:fence`);
    const reused = await lock.tryAcquire(key, 'x', 1_000);
    expect(reused!.token).toBe(1);
    const error = await store.put(key, 'by x', { token: reused!.token, owner: 'x' }).catch((e: unknown) => e);
    expect(isStaleTokenError(error)).toBe(true);
    expect((error as StaleTokenError).currentToken).toBe(last!.token);
    await lock.release(reused!);
    const fresh = await lock.tryAcquire(key, 'y', 1_000);
    expect(fresh!.token).toBe(last!.token + 1);
    await store.put(key, 'by y', { token: fresh!.token, owner: 'y' });
  });

  it('an accepted write also raises the counter to its token', async () => {
    const tokens = redisTokenSource(client, { prefix: p });
    const store = redisFencedStore<number>(client, { prefix: p });
    const key = uniqueName('raise-accept');
    await store.put(key, 1, { token: 40, owner: 'a' });
    expect(await tokens.nextToken(key)).toBe(41);
  });

  it("tokenCounter 'none' leaves the counter alone", async () => {
    const store = redisFencedStore<number>(client, { prefix: p, tokenCounter: 'none' });
    const key = uniqueName('no-raise');
    await store.put(key, 1, { token: 9, owner: 'a' });
    await expect(store.put(key, 2, { token: 3, owner: 'b' })).rejects.toThrow(StaleTokenError);
    expect(await client.exists(`${p}{${key}}:fence`)).toBe(0);
  });

  it('the counter store keeps a renewed run counted and forgets one that stopped renewing after retainMs', async () => {
    const store = redisCounterStore(client, { prefix: p, ttlMs: 300, retainMs: 300 });
    const key = uniqueName('renew');
    expect(await store.increment(key, 'long')).toBe(0);
    expect(await store.increment(key, 'stopped')).toBe(1);
    for (let i = 0; i < 6; i++) {
      await sleep(150);
      expect((await store.renew(key, 'long')).forgotten).toBe(false);
    }
    expect(await store.increment(key, 'probe'), 'the renewed run is counted, the other not').toBe(1);
    expect(await store.decrement(key, 'probe')).toEqual({ overlaps: 0, concurrent: 0, forgotten: false });
    // 'stopped' expired 300 ms after its start and was remembered 300 ms more: the next start forgets it.
    await store.increment(key, 'sweeper');
    expect(await store.renew(key, 'stopped')).toEqual({ overlaps: 0, concurrent: 0, forgotten: true });
    expect(await store.decrement(key, 'long')).toEqual({ overlaps: 2, concurrent: 2, forgotten: false });
    await store.decrement(key, 'sweeper');
    expect(await client.exists(`${p}{${key}}:runs`, `${p}{${key}}:overlaps`)).toBe(0);
  });

  it('the counter store gives its keys an expiry of ttlMs + retainMs', async () => {
    const store = redisCounterStore(client, { prefix: p, ttlMs: 1_000, retainMs: 5_000 });
    const key = uniqueName('expiry');
    await store.increment(key, 'a');
    await store.increment(key, 'b');
    for (const name of [`${p}{${key}}:runs`, `${p}{${key}}:overlaps`]) {
      const pttl = await client.pttl(name);
      expect(pttl, name).toBeGreaterThan(5_000);
      expect(pttl, name).toBeLessThanOrEqual(6_000);
    }
    await store.decrement(key, 'a');
    await store.decrement(key, 'b');
  });
});

describe('tokenCounter on another Redis', () => {
  it('raises the counter there after a rejection', async (ctx) => {
    if (clusterNodes.length === 0) ctx.skip();
    // State on the standalone Redis, leases and counters on the Cluster: two servers.
    const cluster = connect('cluster');
    try {
      const lock = redisLock(cluster, { prefix });
      const store = redisFencedStore<string>(redis, { prefix, tokenCounter: cluster });
      const key = uniqueName('remote-counter');
      await store.put(key, 'high', { token: 100, owner: 'old-owner' });
      const lease = await lock.tryAcquire(key, 'new-owner', 1_000);
      expect(lease!.token).toBe(1);
      await expect(store.put(key, 'low', { token: 1, owner: 'new-owner' })).rejects.toThrow(StaleTokenError);
      await lock.release(lease!);
      expect((await lock.tryAcquire(key, 'new-owner', 1_000))!.token).toBe(101);
      expect(await redis.exists(`${prefix}{${key}}:fence`), 'nothing raised on the state side').toBe(0);
    } finally {
      await deletePrefix(cluster, prefix);
      cluster.disconnect();
    }
  });
});

describe('values', () => {
  it('uses serialize and deserialize', async () => {
    const store = redisFencedStore<Date>(redis, {
      prefix,
      serialize: (d) => d.toISOString(),
      deserialize: (s) => new Date(s),
    });
    const key = uniqueName('dates');
    const at = new Date('2026-11-27T00:00:00.000Z');
    expect((await store.put(key, at, { token: 1, owner: 'a' })).value).toEqual(at);
    expect((await store.get(key))?.value).toEqual(at);
    expect(await redis.hget(`${prefix}{${key}}:state`, 'v')).toBe(at.toISOString());
  });

  it('rejects a value JSON cannot encode with a TypeError and writes nothing', async () => {
    const store = redisFencedStore<unknown>(redis, { prefix });
    const key = uniqueName('undefined');
    await expect(store.put(key, undefined, { token: 1, owner: 'a' })).rejects.toThrow(TypeError);
    expect(await store.get(key)).toBeUndefined();
  });

  it('rejects tokens that are not positive safe integers', async () => {
    const store = redisFencedStore<number>(redis, { prefix });
    for (const token of [0, -1, 1.5, Number.NaN, 2 ** 53]) {
      await expect(store.put(uniqueName(), 1, { token, owner: 'a' })).rejects.toThrow(RangeError);
    }
  });

  it('works with a client built with stringNumbers', async () => {
    const strings = new Redis(redisUrl, { stringNumbers: true });
    try {
      const lock = redisLock(strings, { prefix });
      const store = redisFencedStore<number>(strings, { prefix });
      const counter = redisCounterStore(strings, { prefix });
      const key = uniqueName('strings');
      const lease = await lock.tryAcquire(key, 'a', 1_000);
      expect(typeof lease!.token).toBe('number');
      expect(await lock.extend(lease!, 1_000)).toBe(true);
      const record = await store.put(key, 5, { token: lease!.token, owner: 'a' });
      expect(await store.get(key)).toEqual(record);
      expect(await counter.increment(key, 'h1')).toBe(0);
      expect(await counter.increment(key, 'h2')).toBe(1);
      await counter.decrement(key, 'h1');
      await counter.decrement(key, 'h2');
      expect(await lock.release(lease!)).toBe(true);
    } finally {
      strings.disconnect();
    }
  });
});

describe('errors', () => {
  it('a Redis that does not answer gives a retriable TransportError with the cause', async () => {
    const port = await freePort();
    const dead = new Redis({
      host: '127.0.0.1',
      port,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    try {
      const lock = redisLock(dead, { prefix });
      const error = await lock.tryAcquire('k', 'a', 1_000).catch((e: unknown) => e);
      expect(isTransportError(error)).toBe(true);
      expect((error as { retriable: boolean }).retriable).toBe(true);
      expect((error as Error).cause).toBeInstanceOf(Error);
      const store = redisFencedStore(dead, { prefix });
      await expect(store.get('k')).rejects.toSatisfy(isTransportError);
      await expect(redisCounterStore(dead, { prefix }).increment('k', 'h')).rejects.toSatisfy(isTransportError);
    } finally {
      dead.disconnect();
    }
  });

  it('a key some other program wrote with another type gives a non-retriable TransportError', async () => {
    const lock = redisLock(redis, { prefix });
    const key = uniqueName('wrongtype');
    await redis.hset(`${prefix}{${key}}:fence`, 'not', 'a counter');
    const error = await lock.tryAcquire(key, 'a', 1_000).catch((e: unknown) => e);
    expect(isTransportError(error)).toBe(true);
    expect((error as { retriable: boolean }).retriable).toBe(false);
    expect(String((error as Error).message)).toMatch(/WRONGTYPE/);
  });

  it('createEval checks the number of keys', async () => {
    const acquire = createEval<string[], [string, number], number>(ACQUIRE_SCRIPT);
    await expect(acquire(redis, ['only-one'], ['a', 1000])).rejects.toThrow(RangeError);
    const next = createEval<[string], [], number>(NEXT_TOKEN_SCRIPT);
    expect(await next(redis, [`${prefix}{${uniqueName()}}:fence`], [])).toBe(1);
  });
});
