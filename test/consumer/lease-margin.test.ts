/**
 * `shared-locked`: a run starts only on a lease that outlives the next scheduled renewal. On a busy
 * event loop the renewal and deadline timers fire late, so a lease can be nearly over before its
 * signal says so; a run started then overlaps the next owner's.
 */
import { describe, expect, it } from 'vitest';
import { MemoryLock, createExclusiveConsumer, type Lock } from '../../src/index.js';
import { type Lease } from '../../src/adapters.js';
import { publishEvents, resourcesPerTest, sleep, waitFor, type TestEvent } from '../helpers/index.js';

const { consumers, setup } = resourcesPerTest();

/** A lock whose renewals stop answering once `stall()` is called (a slow or partitioned store). */
function stallingLock(inner: Lock): Lock & { stall(): void } {
  let stalled = false;
  return {
    name: inner.name,
    stall: () => {
      stalled = true;
    },
    tryAcquire: (key, owner, ttlMs) => inner.tryAcquire(key, owner, ttlMs),
    extend: (lease: Lease, ttlMs: number) => (stalled ? new Promise<boolean>(() => undefined) : inner.extend(lease, ttlMs)),
    release: (lease) => inner.release(lease),
  };
}

describe('shared-locked: the lease a run starts on', () => {
  it('a lease whose renewals stopped is not used once under a third of its TTL is left', async () => {
    const { broker, topic } = setup();
    const lock = stallingLock(new MemoryLock());
    const runs: Array<{ seq: number; token: number | undefined }> = [];
    const c = createExclusiveConsumer<TestEvent>(
      topic,
      (e) => e.key,
      (e, ctx) => {
        runs.push({ seq: e.seq, token: ctx.fencingToken });
      },
      {
        transport: broker.transport(),
        mode: 'shared-locked',
        lock,
        // The lease outlives the key's queue, so the next event may reuse it.
        lease: { ttlMs: 600, lingerMs: 5000, retryDelayMs: 5 },
      },
    );
    consumers.push(c);
    await c.start();
    publishEvents(broker, topic, [{ key: 'k', seq: 1 }]);
    await waitFor('seq 1 ran', () => runs.length === 1);
    lock.stall();
    // After 450 ms without a renewal, about 150 ms of the lease are left: less than 600 / 3.
    await sleep(450);
    publishEvents(broker, topic, [{ key: 'k', seq: 2 }]);
    await waitFor('seq 2 ran', () => runs.length === 2);
    // It ran on a lease acquired anew once the old one was gone, never on the dying one.
    expect(runs[1]?.token).toBeGreaterThan(runs[0]?.token ?? Infinity);
    expect(c.stats().leasesLost).toBe(1);
  });

  it('a lease short of time is renewed before the run, keeping its token', async () => {
    const { broker, topic } = setup();
    const inner = new MemoryLock();
    let extends_ = 0;
    let slow = false;
    const lock: Lock = {
      name: 'slow-renewals',
      tryAcquire: (key, owner, ttlMs) => inner.tryAcquire(key, owner, ttlMs),
      // Scheduled renewals are late (as on a busy event loop); a renewal asked for answers at once.
      extend: async (lease, ttlMs) => {
        extends_ += 1;
        if (slow && extends_ % 2 === 1) await sleep(350);
        return inner.extend(lease, ttlMs);
      },
      release: (lease) => inner.release(lease),
    };
    const runs: Array<{ seq: number; token: number | undefined }> = [];
    const c = createExclusiveConsumer<TestEvent>(
      topic,
      (e) => e.key,
      (e, ctx) => {
        runs.push({ seq: e.seq, token: ctx.fencingToken });
      },
      { transport: broker.transport(), mode: 'shared-locked', lock, lease: { ttlMs: 600, lingerMs: 5000 } },
    );
    consumers.push(c);
    await c.start();
    publishEvents(broker, topic, [{ key: 'k', seq: 1 }]);
    await waitFor('seq 1 ran', () => runs.length === 1);
    expect(runs[0]?.token).toBeDefined();
    slow = true;
    await sleep(450);
    publishEvents(broker, topic, [{ key: 'k', seq: 2 }]);
    await waitFor('seq 2 ran', () => runs.length === 2);
    expect(runs[1]?.token).toBe(runs[0]?.token);
    expect(c.stats().leasesLost).toBe(0);
  });
});
