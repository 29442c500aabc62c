/**
 * Script calls of one event-loop turn share one pipeline on a standalone client, against the real
 * Redis: each call still gets its own reply or error, NOSCRIPT still falls back to EVAL, a pipeline
 * that fails as a whole fails every call with a TransportError, and a Cluster is never pipelined.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isTransportError } from '../../src/index.js';
import { createEval, redisLock, type LuaScript } from '../../src/redis/index.js';
import { connect, deletePrefix, redisUrl, testPrefix, topologies } from './helpers.js';

/** A script no server has seen yet (a fresh comment), so that its first EVALSHA gets NOSCRIPT. */
function freshScript(body: string, numKeys: number): LuaScript {
  const lua = `-- ${randomBytes(8).toString('hex')}\n${body}`;
  return { name: 'test-echo', numKeys, lua, sha1: createHash('sha1').update(lua).digest('hex') };
}

const ECHO = `if ARGV[1] == 'fail' then return redis.error_reply('ERR asked to fail') end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]`;

describe('pipelined script calls (standalone Redis)', () => {
  let client: Redis;
  const prefix = testPrefix('pipeline');

  beforeAll(() => {
    client = new Redis(redisUrl, { maxRetriesPerRequest: 2 });
  });

  afterAll(async () => {
    await deletePrefix(client, prefix);
    client.disconnect();
  });

  it('the calls of one turn leave in one pipeline, each with its own reply, in order', async () => {
    const lock = redisLock(client, { prefix });
    const pipelines = vi.spyOn(client, 'pipeline');
    const evalsha = vi.spyOn(client, 'evalsha');
    const keys = Array.from({ length: 50 }, (_, i) => `shopper-${i}`);
    const leases = await Promise.all(keys.map((key) => lock.tryAcquire(key, 'worker-a', 10_000)));
    expect(pipelines).toHaveBeenCalledTimes(1);
    expect(evalsha).not.toHaveBeenCalled();
    for (const [i, lease] of leases.entries()) {
      expect(lease?.key).toBe(keys[i]);
      expect(lease?.token).toBe(1);
      expect(await client.get(`${prefix}{${keys[i]}}:lock`)).toBe(`1:worker-a`);
    }
    // The same keys again in one turn: every one is held, so every call answers undefined.
    const again = await Promise.all(keys.map((key) => lock.tryAcquire(key, 'worker-b', 10_000)));
    expect(again.every((lease) => lease === undefined)).toBe(true);
    expect(pipelines).toHaveBeenCalledTimes(2);
    await Promise.all(leases.map((lease) => lock.release(lease!)));
    expect(await client.exists(...keys.map((key) => `${prefix}{${key}}:lock`))).toBe(0);
    pipelines.mockRestore();
    evalsha.mockRestore();
  });

  it('a call made alone in its turn is sent alone, without a pipeline', async () => {
    const lock = redisLock(client, { prefix });
    const pipelines = vi.spyOn(client, 'pipeline');
    const lease = await lock.tryAcquire('alone', 'worker-a', 10_000);
    await lock.release(lease!);
    expect(pipelines).not.toHaveBeenCalled();
    pipelines.mockRestore();
  });

  it('one failing call rejects alone, with a TransportError; the others of its pipeline succeed', async () => {
    const echo = createEval<[key: string], [value: string], string>(freshScript(ECHO, 1));
    const results = await Promise.allSettled(
      ['a', 'fail', 'c'].map((value) => echo(client, [`${prefix}{echo-${value}}`], [value])),
    );
    expect(results[0]).toEqual({ status: 'fulfilled', value: 'a' });
    expect(results[2]).toEqual({ status: 'fulfilled', value: 'c' });
    const failed = results[1] as PromiseRejectedResult;
    expect(isTransportError(failed.reason)).toBe(true);
    expect(String(failed.reason.message)).toContain('asked to fail');
    expect((failed.reason.cause as Error).name).toBe('ReplyError'); // the server's reply, as without a pipeline
    expect(await client.get(`${prefix}{echo-c}`)).toBe('c');
  });

  it('a script the server lacks (NOSCRIPT inside the pipeline) is sent again with EVAL, and cached', async () => {
    const script = freshScript(ECHO, 1);
    const echo = createEval<[key: string], [value: string], string>(script);
    expect(await client.script('EXISTS', script.sha1)).toEqual([0]);
    const values = ['x', 'y', 'z'];
    expect(await Promise.all(values.map((v) => echo(client, [`${prefix}{noscript-${v}}`], [v])))).toEqual(values);
    expect(await client.script('EXISTS', script.sha1)).toEqual([1]);
    for (const v of values) expect(await client.get(`${prefix}{noscript-${v}}`)).toBe(v);
  });

  it('a pipeline that fails as a whole (no connection) rejects every call with a retriable TransportError', async () => {
    const offline = new Redis({
      host: '127.0.0.1',
      port: 1, // nothing listens there
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    const lock = redisLock(offline, { prefix });
    const results = await Promise.allSettled(['k1', 'k2', 'k3'].map((key) => lock.tryAcquire(key, 'worker-a', 1_000)));
    for (const result of results) {
      expect(result.status).toBe('rejected');
      const reason = (result as PromiseRejectedResult).reason;
      expect(isTransportError(reason)).toBe(true);
      expect(reason.retriable).toBe(true);
    }
    offline.disconnect();
  });
});

describe.skipIf(topologies[1]?.skip !== undefined)('script calls on a Redis Cluster', () => {
  it('are sent one by one (a pipeline may not span nodes)', async () => {
    const cluster = connect('cluster');
    const prefix = testPrefix('pipeline-cluster');
    try {
      const lock = redisLock(cluster, { prefix });
      const pipelines = vi.spyOn(cluster, 'pipeline');
      const keys = Array.from({ length: 20 }, (_, i) => `shopper-${i}`);
      const leases = await Promise.all(keys.map((key) => lock.tryAcquire(key, 'worker-a', 10_000)));
      expect(leases.every((lease) => lease?.token === 1)).toBe(true);
      expect(pipelines).not.toHaveBeenCalled();
      await Promise.all(leases.map((lease) => lock.release(lease!)));
    } finally {
      await deletePrefix(cluster, prefix);
      cluster.disconnect();
    }
  });
});
