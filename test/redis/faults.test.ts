/**
 * Fault tests with separate Node processes holding leases on the real Redis: a holder paused
 * (SIGSTOP) past its TTL, a holder killed (SIGKILL) mid-run, several processes hammering a few keys,
 * and a crashed process's run forgotten by the counter store.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireLease } from '../../src/index.js';
import { redisCounterStore, redisFencedStore, redisLock } from '../../src/redis/index.js';
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
    const stoppedAt = performance.now();

    const lock = redisLock(redis, { prefix });
    const store = redisFencedStore<string>(redis, { prefix });
    expect(await lock.tryAcquire(key, 'successor', 5_000), 'still held right after the pause').toBeUndefined();
    const held = await acquireLease(lock, key, 'successor', { ttlMs: 5_000, timeoutMs: 5_000, retryDelayMs: 20 });
    const waited = performance.now() - stoppedAt;
    expect(held.lease.token).toBeGreaterThan(acquired.token as number);
    // Taken only once the paused holder's lease had expired in Redis.
    expect(waited).toBeGreaterThan(ttlMs - 300);
    await store.put(key, 'written by successor', { token: held.lease.token, owner: 'successor' });

    a.child.kill('SIGCONT');
    const wrote = await a.next('wrote');
    expect(wrote.ok, 'the paused process wrote with its old token').toBe(false);
    expect(wrote.error).toMatchObject({ code: 'EC_STALE_TOKEN', token: acquired.token, currentToken: held.lease.token });
    expect(wrote.aborted, 'its signal was aborted').toBe(true);
    expect(wrote.reason).toMatchObject({ code: 'EC_LOCK_LOST' });
    // Whether the abort came before the write depends on which overdue timer fires first after
    // SIGCONT; the store rejects it either way.
    console.info(`SIGSTOP: paused worker's signal was ${wrote.abortedBeforeWrite === true ? 'already' : 'not yet'} aborted when it wrote`);
    expect((await store.get(key))?.value).toBe('written by successor');
    await held.release();
  });

  it('killed (SIGKILL) mid-run: the next acquire succeeds after the TTL with a higher token', async () => {
    const key = uniqueName('sigkill');
    const ttlMs = 600;
    const a = worker('killed-worker');
    a.child.send({ cmd: 'hold', key, ttlMs, workMs: 60_000 });
    const acquired = await a.next('acquired');
    // Renewals keep it held well past its TTL while the process lives.
    await sleep(ttlMs * 1.5);
    const lock = redisLock(redis, { prefix });
    expect(await lock.tryAcquire(key, 'next', ttlMs), 'renewed while alive').toBeUndefined();
    a.child.kill('SIGKILL');
    const killedAt = performance.now();
    const held = await acquireLease(lock, key, 'next', { ttlMs, timeoutMs: 5_000, retryDelayMs: 20 });
    const waited = performance.now() - killedAt;
    expect(held.lease.token).toBeGreaterThan(acquired.token as number);
    // Slack for a loaded machine; a lease that was never freed would take until the test timeout.
    expect(waited).toBeLessThan(ttlMs + 1_000);
    await held.release();
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

describe('the counter store and a crashed process', () => {
  it('forgets the run of a process killed mid-run after its TTL', async () => {
    const key = uniqueName('crashed-run');
    const ttlMs = 1_000;
    const a = worker('counting-worker');
    a.child.send({ cmd: 'count', key, ttlMs });
    expect((await a.next('counted')).others).toBe(0);
    const store = redisCounterStore(redis, { prefix, ttlMs });
    // Alive, it renews its run: still counted after more than its TTL.
    await sleep(ttlMs * 1.6);
    expect(await store.increment(key, 'probe-1')).toBe(1);
    await store.decrement(key, 'probe-1');
    a.child.kill('SIGKILL');
    await sleep(ttlMs + 150);
    expect(await store.increment(key, 'probe-2'), 'the killed run is no longer counted').toBe(0);
    await store.decrement(key, 'probe-2');
    expect(await redis.exists(`${prefix}{${key}}:runs`)).toBe(0);
  });
});
