import { describe, expect, it } from 'vitest';
import {
  LockLostError,
  MemoryCounterStore,
  MemoryLock,
  createExclusiveConsumer,
  exclusivityCounter,
  type ExclusiveConsumer,
  type ExclusiveConsumerOptions,
  type Handler,
  type Lock,
  type MemoryBroker,
} from '../../src/index.js';
import { HistoryRecorder, monotonicMicros } from '../../src/testing/index.js';
import { drained, publishEvents, sleep, waitFor, resourcesPerTest, type TestEvent } from '../helpers/index.js';

const { consumers, setup } = resourcesPerTest();

function locked(
  broker: MemoryBroker,
  topic: string,
  lock: Lock,
  handler: Handler<TestEvent>,
  options: ExclusiveConsumerOptions<TestEvent> = {},
): ExclusiveConsumer {
  const c = createExclusiveConsumer<TestEvent>(topic, (e) => e.key, handler, {
    transport: broker.transport(),
    mode: 'shared-locked',
    lock,
    initialPosition: 'earliest',
    retry: { initialDelayMs: 5, maxDelayMs: 20 },
    ...options,
  });
  consumers.push(c);
  return c;
}

describe('shared-locked mode', () => {
  it('serializes a key across consumers and hands each run its lease token', async () => {
    const { broker, topic } = setup();
    const lock = new MemoryLock();
    const recorder = new HistoryRecorder<TestEvent>({ seqOf: (e) => e.seq });
    const counter = exclusivityCounter({ store: new MemoryCounterStore() });
    const tokens: number[] = [];
    // Read in the handler, checked outside it: a failed expect inside would only be retried.
    const fences: Array<{ token: number | undefined; fence: unknown; consumer: string }> = [];
    const handler: Handler<TestEvent> = async (_e, ctx) => {
      fences.push({ token: ctx.fencingToken, fence: ctx.fence, consumer: ctx.consumer.consumerName });
      tokens.push(ctx.fencingToken ?? -1);
      await sleep(2);
    };
    const options = { middleware: [counter, recorder.middleware()], lease: { retryDelayMs: 2 } };
    const cs = [0, 1, 2].map((i) => locked(broker, topic, lock, handler, { ...options, consumerName: `c${i}` }));
    await Promise.all(cs.map((c) => c.start()));
    const published: TestEvent[] = [];
    for (let i = 0; i < 90; i++) published.push({ key: `k${i % 3}`, seq: i });
    publishEvents(broker, topic, published);
    await drained(broker, topic, 'exclusive-consumer', 10_000);
    await Promise.all(cs.map((c) => c.stop()));
    const report = recorder.check({ published, endOfHistory: monotonicMicros() });
    expect(report.overlaps).toEqual([]);
    expect(report.lost).toEqual([]);
    expect(cs.map((c) => c.stats().violations)).toEqual([0, 0, 0]);
    expect(tokens.every((t) => Number.isSafeInteger(t) && t > 0)).toBe(true);
    expect(fences).toHaveLength(90);
    for (const f of fences) expect(f.fence).toEqual({ token: f.token, owner: f.consumer });
    expect(cs.map((c) => c.stats().failed)).toEqual([0, 0, 0]);
    // Tokens of one key strictly increase along the history.
    for (const key of ['k0', 'k1', 'k2']) {
      const runs = recorder.runs.filter((r) => r.key === key).sort((a, b) => a.start - b.start);
      for (let i = 1; i < runs.length; i++) {
        expect(runs[i]?.token ?? 0).toBeGreaterThanOrEqual(runs[i - 1]?.token ?? 0);
      }
    }
    expect(lock.leaseCount).toBe(0);
  });

  it('aborts the signal with LockLostError when the lease is lost mid-run', async () => {
    const { broker, topic } = setup();
    const lock = new MemoryLock();
    let reason: unknown;
    const lost: number[] = [];
    const c = locked(
      broker,
      topic,
      lock,
      async (e, ctx) => {
        if (e.seq !== 0) return;
        await sleep(20);
        lock.expire(ctx.key); // another process would now acquire it
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
        reason = ctx.signal.reason;
      },
      { lease: { ttlMs: 60 } },
    );
    c.on('lease.lost', (e) => lost.push(e.token));
    await c.start();
    publishEvents(broker, topic, [
      { key: 'a', seq: 0 },
      { key: 'a', seq: 1 },
    ]);
    await waitFor('2 processed', () => c.stats().processed === 2, 3000);
    expect(reason).toBeInstanceOf(LockLostError);
    expect(lost).toHaveLength(1);
    expect(c.stats().leasesLost).toBe(1);
  });

  it('waits for a busy key without holding a slot, then runs it', async () => {
    const { broker, topic } = setup();
    const lock = new MemoryLock();
    const held = await lock.tryAcquire('busy', 'someone-else', 150);
    expect(held).toBeDefined();
    const done: string[] = [];
    const c = locked(broker, topic, lock, (e) => void done.push(e.key), {
      maxConcurrency: 1,
      lease: { retryDelayMs: 10 },
    });
    await c.start();
    publishEvents(broker, topic, [
      { key: 'busy', seq: 0 },
      { key: 'free', seq: 1 },
    ]);
    await waitFor('free key done', () => done.includes('free'), 1000);
    expect(done).toEqual(['free']);
    await waitFor('busy key done after the other lease expired', () => done.includes('busy'), 2000);
  });

  it("with whenBusy 'release' gives a busy key's messages back for redelivery", async () => {
    const { broker, topic } = setup();
    const lock = new MemoryLock();
    await lock.tryAcquire('busy', 'someone-else', 100);
    const released: string[] = [];
    let handled = 0;
    const c = locked(broker, topic, lock, () => void (handled += 1), { lease: { whenBusy: 'release' } });
    c.on('message.released', (e) => released.push(e.reason));
    await c.start();
    publishEvents(broker, topic, [{ key: 'busy', seq: 0 }]);
    await waitFor('released', () => released.length >= 1, 1000);
    expect(released[0]).toMatch(/locked by another consumer/);
    await waitFor('handled after redelivery', () => handled === 1, 3000);
  });

  it('releases the messages of a key whose lease cannot be acquired in time', async () => {
    const { broker, topic } = setup();
    const lock = new MemoryLock();
    await lock.tryAcquire('busy', 'someone-else', 10_000);
    const released: string[] = [];
    const c = locked(broker, topic, lock, () => undefined, { lease: { acquireTimeoutMs: 50, retryDelayMs: 5 } });
    c.on('message.released', (e) => released.push(e.reason));
    await c.start();
    publishEvents(broker, topic, [{ key: 'busy', seq: 0 }]);
    await waitFor('released', () => released.length >= 1, 2000);
    expect(released[0]).toMatch(/Could not acquire the lease within 50 ms/);
    expect(c.stats().processed).toBe(0);
  });

  it('keeps the lease through a burst with lingerMs, then lets it go', async () => {
    const { broker, topic } = setup();
    const lock = new MemoryLock();
    let acquires = 0;
    const counting: Lock = {
      name: 'counting',
      tryAcquire: (key, owner, ttl) => {
        acquires += 1;
        return lock.tryAcquire(key, owner, ttl);
      },
      extend: (lease, ttl) => lock.extend(lease, ttl),
      release: (lease) => lock.release(lease),
    };
    const c = locked(broker, topic, counting, () => undefined, { lease: { lingerMs: 100 } });
    await c.start();
    for (let i = 0; i < 5; i++) {
      publishEvents(broker, topic, [{ key: 'a', seq: i }]);
      await sleep(10);
    }
    await waitFor('5 processed', () => c.stats().processed === 5);
    expect(acquires).toBe(1);
    expect(lock.leaseCount).toBe(1);
    await waitFor('lease released after linger', () => lock.leaseCount === 0, 1000);
    expect(c.stats().activeKeys).toBe(0);
  });
});
