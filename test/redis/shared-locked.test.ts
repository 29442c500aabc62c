/**
 * `shared-locked` end to end on the real Redis: several consumers on the memory transport's SHARED
 * subscription (any consumer may receive any key's message), each with its own Redis client (as
 * separate processes would have), a Redis lease per key, the exclusivity counter middleware with the
 * Redis counter store, fenced writes with the lease's token, and an independent history checker.
 */
import type { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  MemoryBroker,
  createExclusiveConsumer,
  exclusivityCounter,
  updateFenced,
  type ExclusiveConsumer,
  type Violation,
} from '../../src/index.js';
import { redisCounterStore, redisFencedStore, redisLock } from '../../src/redis/index.js';
import { HistoryRecorder, monotonicMicros, type PublishedEvent } from '../../src/testing/index.js';
import { drained } from '../helpers/index.js';
import { connect, deletePrefix, sleep, testPrefix, topologies, waitFor } from './helpers.js';

interface Event {
  readonly key: string;
  readonly seq: number;
}

const encoder = new TextEncoder();
const clients: Array<Redis | Cluster> = [];
const consumers: ExclusiveConsumer[] = [];
const brokers: MemoryBroker[] = [];
const prefixes: Array<{ topology: 'standalone' | 'cluster'; prefix: string }> = [];

afterEach(async () => {
  await Promise.all(consumers.splice(0).map((c) => c.stop({ drain: false, timeoutMs: 1_000 })));
  await Promise.all(brokers.splice(0).map((b) => b.close()));
});
afterAll(async () => {
  for (const { topology, prefix } of prefixes) {
    const admin = connect(topology);
    await deletePrefix(admin, prefix);
    admin.disconnect();
  }
  for (const client of clients.splice(0)) client.disconnect();
});

const runnable = topologies.filter((t) => t.skip === undefined).map((t) => t.name);
for (const t of topologies) if (t.skip !== undefined) console.warn(`shared-locked on Redis ${t.name}: skipped: ${t.skip}`);

describe.each(runnable)('shared-locked on Redis %s', (topology) => {
  it.each([
    { lingerMs: 0, whenBusy: 'wait' as const },
    { lingerMs: 20, whenBusy: 'wait' as const },
    { lingerMs: 0, whenBusy: 'release' as const },
  ])('3 consumers, lingerMs $lingerMs, whenBusy $whenBusy: no overlap, no violation, nothing lost', { timeout: 30_000 }, async (lease) => {
    const prefix = testPrefix(`e2e-${topology}`);
    prefixes.push({ topology, prefix });
    const broker = new MemoryBroker({ nackRedeliveryDelayMs: 20 });
    brokers.push(broker);
    const topic = `redis-e2e-${prefix.slice(0, -1)}`;
    const recorder = new HistoryRecorder<Event>({ seqOf: (e) => e.seq });
    const violations: Violation[] = [];
    const tokensSeen = new Map<string, number[]>();

    const cs = [0, 1, 2].map((i) => {
      const client = connect(topology);
      clients.push(client);
      const store = redisFencedStore<number>(client, { prefix });
      return createExclusiveConsumer<Event>(
        topic,
        (e) => e.key,
        async (_event, ctx) => {
          const fence = ctx.fence;
          if (fence === undefined) throw new Error('shared-locked runs carry a fence');
          const list = tokensSeen.get(ctx.key) ?? [];
          list.push(fence.token);
          tokensSeen.set(ctx.key, list);
          await updateFenced(store, ctx.key, fence, (n) => (n ?? 0) + 1);
          await sleep(Math.random() * 2);
        },
        {
          transport: broker.transport(),
          mode: 'shared-locked',
          consumerName: `consumer-${i}`,
          initialPosition: 'earliest',
          lock: redisLock(client, { prefix }),
          lease: { ttlMs: 5_000, retryDelayMs: 5, ...lease },
          retry: { initialDelayMs: 5, maxDelayMs: 20 },
          middleware: [
            exclusivityCounter({ store: redisCounterStore(client, { prefix }), onViolation: (v) => violations.push(v) }),
            recorder.middleware(),
          ],
        },
      );
    });
    consumers.push(...cs);
    await Promise.all(cs.map((c) => c.start()));

    const keys = Array.from({ length: 8 }, (_, i) => `shopper-${i}`);
    const published: PublishedEvent[] = [];
    for (let seq = 0; seq < 400; seq++) {
      // Bursts: a key's events often come a few in a row.
      const key = keys[Math.floor(seq / 4) % keys.length] as string;
      published.push({ key, seq });
      broker.publish(topic, { data: encoder.encode(JSON.stringify({ key, seq })), partitionKey: key });
    }
    // The end of the run is the broker's (everything acknowledged); loss is read from the history.
    await drained(broker, topic, 'exclusive-consumer', 25_000);
    await Promise.all(cs.map((c) => c.stop()));

    const report = recorder.check({ published, endOfHistory: monotonicMicros() });
    expect(report.overlaps).toEqual([]);
    expect(report.lost).toEqual([]);
    // Not checked: order across consumers (SHARED delivery is round robin; docs/choosing-a-mode.md).
    expect(violations).toEqual([]);
    expect(cs.map((c) => c.stats().violations)).toEqual([0, 0, 0]);
    expect(cs.map((c) => c.stats().leasesLost)).toEqual([0, 0, 0]);
    // Every consumer took part (the SHARED subscription round-robins), by running or by handing
    // back busy keys. (With 'release', one consumer may end up running everything: it holds a key
    // while the others keep handing its messages back.)
    expect(cs.filter((c) => c.stats().processed + c.stats().released > 0).length).toBeGreaterThan(1);
    // Tokens of one key never go down along its history.
    for (const key of keys) {
      const runs = recorder.runs.filter((r) => r.key === key && r.ok).sort((a, b) => a.start - b.start);
      for (let i = 1; i < runs.length; i++) expect(runs[i]!.token!).toBeGreaterThanOrEqual(runs[i - 1]!.token!);
    }
    // Every successful run's fenced increment was accepted exactly once.
    const admin = connect(topology);
    clients.push(admin);
    const store = redisFencedStore<number>(admin, { prefix });
    for (const key of keys) {
      const ok = recorder.runs.filter((r) => r.key === key && r.ok).length;
      expect((await store.get(key))?.value, key).toBe(ok);
    }
    if (lease.whenBusy === 'release') {
      expect(cs.reduce((n, c) => n + c.stats().released, 0), 'busy keys were given back').toBeGreaterThan(0);
    }
  });

  it('control: without the lock (mode shared), the Redis counter store sees the violations across consumers', { timeout: 20_000 }, async () => {
    const prefix = testPrefix(`e2e-control-${topology}`);
    prefixes.push({ topology, prefix });
    const broker = new MemoryBroker({ nackRedeliveryDelayMs: 20 });
    brokers.push(broker);
    const topic = `redis-e2e-control-${prefix.slice(0, -1)}`;
    const violations: Violation[] = [];
    const cs = [0, 1, 2].map((i) => {
      const client = connect(topology);
      clients.push(client);
      return createExclusiveConsumer<Event>(topic, (e) => e.key, () => sleep(5), {
        transport: broker.transport(),
        mode: 'shared',
        consumerName: `control-${i}`,
        initialPosition: 'earliest',
        // Each consumer its own store instance and client: only Redis connects them.
        middleware: [exclusivityCounter({ store: redisCounterStore(client, { prefix }), onViolation: (v) => violations.push(v) })],
      });
    });
    consumers.push(...cs);
    await Promise.all(cs.map((c) => c.start()));
    for (let seq = 0; seq < 60; seq++) {
      broker.publish(topic, { data: encoder.encode(JSON.stringify({ key: 'hot', seq })), partitionKey: 'hot' });
    }
    await waitFor('60 processed', () => cs.reduce((n, c) => n + c.stats().processed, 0) >= 60, 15_000);
    expect(violations.length).toBeGreaterThan(0);
    expect(violations.every((v) => v.key === 'hot' && v.concurrent >= 2 && v.source === 'exclusivity-counter')).toBe(true);
  });
});
