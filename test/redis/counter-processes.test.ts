/**
 * The exclusivity counter across separate Node processes on the real Redis: a process killed
 * (SIGKILL) while it holds runs causes no violation report, a process paused (SIGSTOP) past its
 * session's TTL while another runs its key reports the overlap exactly once on resuming, and an
 * overlap between two live processes is reported exactly once. The processes drive the middleware
 * directly (test/redis/fixtures/counter-worker.ts): what is tested is the counter, Redis and the
 * processes, not a broker.
 */
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyName } from '../../src/redis/keys.js';
import { uniqueName } from '../../src/testing/index.js';
import { forkFixture, type FixtureProcess } from '../helpers/processes.js';
import { deletePrefix, redisUrl, sleep, testPrefix } from './helpers.js';

const fixture = join(import.meta.dirname, 'fixtures', 'counter-worker.ts');
const prefix = testPrefix('counter-processes');
/** The session TTL of these tests: heartbeats every ~333 ms. */
const ttlMs = 1_000;
let redis: Redis;

beforeAll(() => {
  redis = new Redis(redisUrl, { maxRetriesPerRequest: 2 });
});
afterAll(async () => {
  await deletePrefix(redis, prefix);
  redis.disconnect();
});

async function worker(name: string): Promise<FixtureProcess> {
  const w = forkFixture(fixture, name, { EC_REDIS_URL: redisUrl, EC_PREFIX: prefix, EC_WORKER: name, EC_TTL_MS: String(ttlMs) });
  await w.next('ready');
  return w;
}

const violations = (...workers: FixtureProcess[]) => workers.flatMap((w) => w.received.filter((m) => m.event === 'violation'));
const errors = (...workers: FixtureProcess[]) => workers.flatMap((w) => w.received.filter((m) => m.event === 'error'));

async function serverMillis(): Promise<number> {
  const [seconds, micros] = await redis.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/** The holders recorded for `key` with their expiry (server clock, ms). */
async function holders(key: string): Promise<Map<string, number>> {
  const flat = await redis.zrange(keyName(prefix, key, 'runs'), 0, -1, 'WITHSCORES');
  const map = new Map<string, number>();
  for (let i = 0; i < flat.length; i += 2) map.set(flat[i] as string, Number(flat[i + 1]));
  return map;
}

/** Poll until `predicate` holds; the timeout only stops a hung test, it measures nothing. */
async function until(what: string, predicate: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

describe('exclusivity counter, separate processes, real Redis', () => {
  it('kill -9 of one of two processes while it holds runs: the survivor runs its keys and reports no violation', { timeout: 60_000 }, async () => {
    const keys = Array.from({ length: 40 }, (_, i) => uniqueName(`crash-${i}`));
    const victim = await worker('victim');
    const survivor = await worker('survivor');
    // As Key_Shared routes them: each process its half of the keys. 400 ms runs, so runs are
    // renewed by the heartbeat and the victim holds 20 runs at any moment.
    victim.child.send({ cmd: 'loop', keys: keys.slice(0, 20), handlerMs: 400 });
    survivor.child.send({ cmd: 'loop', keys: keys.slice(20), handlerMs: 400 });
    await Promise.all([victim.next('looping'), survivor.next('looping')]);
    await sleep(1_500);

    victim.child.kill('SIGKILL');
    await victim.exited();
    const killedAt = await serverMillis();
    // What the victim left in Redis: one run per key of its half, still counted as in progress.
    const left = await Promise.all(keys.slice(0, 20).map(async (key) => [key, await holders(key)] as const));
    const leftRuns = left.flatMap(([key, map]) => [...map].map(([holder, expiry]) => ({ key, holder, expiry })));
    expect(leftRuns.length).toBeGreaterThanOrEqual(19);
    expect(leftRuns.filter((r) => r.expiry > killedAt).length, 'the crashed runs still look alive right after the kill').toBeGreaterThan(0);

    // The broker gives the victim's keys to the survivor at once (its connection closed).
    const takeover = takeOver(survivor, keys.slice(0, 20));
    await takeover;
    // Within the crash bound (ttlMs after the last renewal) the crashed runs stop counting.
    await until('the crashed runs to expire', async () => {
      const now = await serverMillis();
      return leftRuns.every((r) => r.expiry <= now);
    });
    const expiredAt = Math.max(...leftRuns.map((r) => r.expiry));
    expect(expiredAt - killedAt, 'crash bound: at most ttlMs after the kill').toBeLessThanOrEqual(ttlMs);
    // The survivor went on running every key for 3 more seconds.
    await sleep(3_000);
    survivor.child.send({ cmd: 'stop' });
    const stopped = await survivor.next('stopped', 30_000);
    // The survivor's starts recorded overlaps on the crashed runs; nobody is alive to collect them.
    const uncollected = await Promise.all(
      leftRuns.map(async (r) => Number((await redis.hget(keyName(prefix, r.key, 'overlaps'), `n:${r.holder}`)) ?? 0)),
    );
    expect(uncollected.reduce((a, b) => a + b, 0), 'the survivor ran the crashed keys while their runs looked alive').toBeGreaterThan(0);

    expect(violations(victim, survivor), 'no violation at all, during the bound or after it').toEqual([]);
    expect(errors(survivor)).toEqual([]);
    console.info(
      `kill -9: survivor ran ${String(stopped.runs)} runs on 40 keys, ${uncollected.filter((n) => n > 0).length} crashed runs overlapped and never reported, crashed runs expired ${expiredAt - killedAt} ms after the kill, 0 violations`,
    );
  });

  it('SIGSTOP past the TTL while the other process runs the key, then SIGCONT: the overlap is reported exactly once, by the paused process', { timeout: 30_000 }, async () => {
    const key = uniqueName('paused');
    const paused = await worker('paused');
    const other = await worker('other');
    paused.child.send({ cmd: 'run', id: 'long', key, handlerMs: 3_000 });
    await paused.next('started');
    await sleep(500); // renewed at least once
    paused.child.kill('SIGSTOP');
    const [holder] = [...(await holders(key)).keys()];
    // Its session expires while it is paused.
    await until('the paused run to expire', async () => ((await holders(key)).get(holder!) ?? Infinity) <= (await serverMillis()));

    other.child.send({ cmd: 'run', id: 'short', key, handlerMs: 200 });
    await other.next('ended');
    expect(violations(other), 'the starting run sees a dead session: nothing to report').toEqual([]);

    paused.child.kill('SIGCONT');
    await paused.next('ended', 10_000);
    await sleep(2 * ttlMs); // a duplicate from either side would arrive by now
    const all = violations(paused, other);
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({ worker: 'paused', key, concurrent: 2 });
    expect(errors(paused, other)).toEqual([]);
  });

  it('SIGSTOP past the TTL with nobody else on the key: no violation on resuming', { timeout: 30_000 }, async () => {
    const key = uniqueName('paused-alone');
    const paused = await worker('paused-alone');
    paused.child.send({ cmd: 'run', id: 'long', key, handlerMs: 1_500 });
    await paused.next('started');
    paused.child.kill('SIGSTOP');
    const [holder] = [...(await holders(key)).keys()];
    await until('the paused run to expire', async () => ((await holders(key)).get(holder!) ?? Infinity) <= (await serverMillis()));
    await sleep(300);
    paused.child.kill('SIGCONT');
    await paused.next('ended', 10_000);
    expect(violations(paused)).toEqual([]);
    expect(errors(paused)).toEqual([]);
  });

  it('an overlap between two live processes (a connection dropped under a running handler) is reported exactly once, while it lasts', { timeout: 30_000 }, async () => {
    const key = uniqueName('live-overlap');
    const first = await worker('first');
    const second = await worker('second');
    first.child.send({ cmd: 'run', id: 'long', key, handlerMs: 2_500 });
    await first.next('started');
    second.child.send({ cmd: 'run', id: 'short', key, handlerMs: 100 });
    await second.next('ended');
    // The run in progress collects it at its next heartbeat, before it ends.
    const violation = await first.next('violation', 5_000);
    expect(first.received.some((m) => m.event === 'ended'), 'reported before the long run ended').toBe(false);
    await first.next('ended', 10_000);
    await sleep(2 * ttlMs);
    expect(violations(first, second)).toEqual([violation]);
    expect(violation).toMatchObject({ worker: 'first', key, concurrent: 2 });
  });
});

/** The survivor also loops over the victim's keys, as the broker hands them over; resolves once they all run. */
async function takeOver(survivor: FixtureProcess, keys: string[]): Promise<void> {
  survivor.child.send({ cmd: 'loop', keys, handlerMs: 400 });
  await survivor.next('looping');
}
