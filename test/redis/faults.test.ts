/**
 * Fault tests with separate Node processes holding leases on the real Redis: a holder paused
 * (SIGSTOP) past its TTL, a holder killed (SIGKILL) mid-run, several processes hammering a few keys.
 * The exclusivity counter's crash and pause tests are in counter-processes.test.ts.
 */
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisFencedStore, redisLock } from '../../src/redis/index.js';
import { keyName } from '../../src/redis/keys.js';
import { checkHistory, uniqueName, type RunRecord } from '../../src/testing/index.js';
import { forkFixture, type FixtureProcess } from '../helpers/processes.js';
import { deletePrefix, redisUrl, sleep, testPrefix } from './helpers.js';

const fixture = join(import.meta.dirname, 'fixtures', 'lease-worker.ts');
const prefix = testPrefix('faults');
let redis: Redis;

beforeAll(() => {
  redis = new Redis(redisUrl, { maxRetriesPerRequest: 2 });
});
afterAll(async () => {
  await deletePrefix(redis, prefix);
  redis.disconnect();
});

function worker(name: string): FixtureProcess {
  return forkFixture(fixture, name, { EC_REDIS_URL: redisUrl, EC_PREFIX: prefix, EC_WORKER: name });
}

describe('a lease holder in another process', () => {
  it('paused (SIGSTOP) past its TTL: another process takes the key with a higher token; after SIGCONT the paused write is rejected and its signal aborted', async () => {
    const key = uniqueName('sigstop');
    const ttlMs = 400;
    const a = worker('paused-worker');
    a.child.send({ cmd: 'hold', key, ttlMs, workMs: 300 });
    const acquired = await a.next('acquired');
    a.child.kill('SIGSTOP');

    const lock = redisLock(redis, { prefix });
    const store = redisFencedStore<string>(redis, { prefix });
    expect(await lock.tryAcquire(key, 'successor', 5_000), 'still held right after the pause').toBeUndefined();
    // Nobody deletes the paused holder's lock: it goes when Redis expires it, and only then is the key free.
    await waitForRedis('the paused holder’s lease to expire in Redis', async () => (await redis.exists(lockKey(key))) === 0);
    const held = await lock.tryAcquire(key, 'successor', 5_000);
    expect(held?.token).toBeGreaterThan(acquired.token as number);
    await store.put(key, 'written by successor', { token: held!.token, owner: 'successor' });

    a.child.kill('SIGCONT');
    const wrote = await a.next('wrote');
    expect(wrote.ok, 'the paused process wrote with its old token').toBe(false);
    expect(wrote.error).toMatchObject({ code: 'EC_STALE_TOKEN', token: acquired.token, currentToken: held!.token });
    expect(wrote.aborted, 'its signal was aborted').toBe(true);
    expect(wrote.reason).toMatchObject({ code: 'EC_LOCK_LOST' });
    // Whether the abort came before the write depends on which overdue timer fires first after
    // SIGCONT; the store rejects it either way.
    console.info(`SIGSTOP: paused worker's signal was ${wrote.abortedBeforeWrite === true ? 'already' : 'not yet'} aborted when it wrote`);
    expect((await store.get(key))?.value).toBe('written by successor');
    await lock.release(held!);
  });

  it('killed (SIGKILL) mid-run: held while it renews; once Redis expires it, the next acquire succeeds with a higher token', async () => {
    const key = uniqueName('sigkill');
    const ttlMs = 600;
    const a = worker('killed-worker');
    a.child.send({ cmd: 'hold', key, ttlMs, workMs: 60_000 });
    const acquired = await a.next('acquired');
    // Renewals run a third of the TTL apart: after four, the lease has outlived its first TTL.
    for (let i = 0; i < 4; i++) expect((await a.next('extended')).token).toBe(acquired.token);
    const lock = redisLock(redis, { prefix });
    expect(await lock.tryAcquire(key, 'next', ttlMs), 'renewed while alive').toBeUndefined();
    a.child.kill('SIGKILL');
    // A lease that was never freed would keep the key until the test's timeout.
    await waitForRedis('the killed holder’s lease to expire in Redis', async () => (await redis.exists(lockKey(key))) === 0);
    const held = await lock.tryAcquire(key, 'next', ttlMs);
    expect(held?.token).toBeGreaterThan(acquired.token as number);
    await lock.release(held!);
  });
});

describe('four processes hammering three keys', () => {
  it('no two lease periods of a key overlap, tokens strictly increase per key, no increment lost', { timeout: 60_000 }, async () => {
    const keys = [uniqueName('hammer'), uniqueName('hammer'), uniqueName('hammer')];
    const workers = [0, 1, 2, 3].map((i) => worker(`hammer-${i}`));
    for (const w of workers) w.child.send({ cmd: 'hammer', keys, durationMs: 3_000 });
    const reports = await Promise.all(workers.map((w) => w.next('done', 40_000)));
    const runs = reports.flatMap((r) => r.runs as RunRecord[]);
    const report = checkHistory(runs);
    expect(report.overlaps).toEqual([]);
    expect(runs.every((r) => r.ok)).toBe(true);
    const store = redisFencedStore<number>(redis, { prefix });
    for (const key of keys) {
      const ofKey = runs.filter((r) => r.key === key).sort((x, y) => x.start - y.start);
      expect(ofKey.length).toBeGreaterThan(5);
      for (let i = 1; i < ofKey.length; i++) expect(ofKey[i]!.token!).toBeGreaterThan(ofKey[i - 1]!.token!);
      // Every lease period made exactly one accepted increment: none lost, none doubled.
      expect((await store.get(key))?.value).toBe(ofKey.length);
    }
    console.info(`hammer: ${runs.length} lease periods across 4 processes on 3 keys, no overlap`);
  });
});

/** The lock key of `key` (see the Redis adapters' key layout). */
function lockKey(key: string): string {
  return keyName(prefix, key, 'lock');
}

/** Poll Redis until `predicate` holds; the timeout only stops a hung test, it measures nothing. */
async function waitForRedis(what: string, predicate: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}
