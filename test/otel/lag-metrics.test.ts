/**
 * The lag and health metrics of instrumentConsumer (oldest unsettled message, per-key queue
 * high-water mark, redelivered runs, lease wait, connection) and the subscription stats poller,
 * read with an in-memory metric reader.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryLock, StaleTokenError, createExclusiveConsumer, type MemoryBroker } from '../../src/index.js';
import { MetricNames, Metrics, instrumentConsumer } from '../../src/otel/index.js';
import type { PulsarSubscriptionStats } from '../../src/pulsar/index.js';
import { gate, publishEvents, resourcesPerTest, sleep, waitFor, type TestEvent } from '../helpers/index.js';
import { testMeter, total } from './sdk.js';

const { consumers, setup: fresh } = resourcesPerTest();
const setup = (): { broker: MemoryBroker; topic: string } => fresh('lag-metrics');

afterEach(() => {
  vi.useRealTimers();
});

const stats = (over: Partial<PulsarSubscriptionStats> = {}): PulsarSubscriptionStats => ({
  backlog: 120,
  unacked: 40,
  consumers: 2,
  type: 'Key_Shared',
  blocked: false,
  drainingHashes: 7,
  drainingUnacked: 30,
  consumerStats: [
    { name: 'c1', unacked: 30, drainingHashes: 7, blocked: false },
    { name: 'other', unacked: 10, drainingHashes: 0, blocked: false },
  ],
  ...over,
});

describe('instrumentConsumer(): lag and health', () => {
  it('reports the oldest unsettled message, the queue high-water mark and the connection while a handler is stuck', async () => {
    const { broker, topic } = setup();
    const { meterProvider, collect } = testMeter();
    const stuck = gate();
    const c = createExclusiveConsumer<TestEvent>(topic, (e) => e.key, (e) => (e.key === 'hot' ? stuck.opened : undefined), {
      transport: broker.transport(),
      consumerName: 'c1',
      initialPosition: 'earliest',
    });
    consumers.push(c);
    const stop = instrumentConsumer(c, { meterProvider });
    await c.start();
    publishEvents(broker, topic, [
      { key: 'hot', seq: 1 },
      { key: 'hot', seq: 2 },
      { key: 'hot', seq: 3 },
      { key: 'hot', seq: 4 },
      { key: 'cold', seq: 5 },
    ]);
    await waitFor('cold processed, hot queued', () => c.stats().processed === 1 && c.stats().inFlight === 4);
    await sleep(120);
    const m = await collect();
    const own = { 'messaging.client.id': 'c1', 'messaging.destination.name': topic };
    expect(total(m, MetricNames.oldestUnsettledAge, own)).toBeGreaterThanOrEqual(0.1);
    expect(total(m, MetricNames.oldestUnsettledAge, own)).toBeLessThan(10);
    expect(total(m, MetricNames.queueDepthHighWater, own)).toBe(c.stats().queueDepthHighWater);
    expect(c.stats().queueDepthHighWater).toBeGreaterThanOrEqual(3);
    expect(total(m, MetricNames.connected, own)).toBe(1);
    stuck.open();
    await waitFor('all processed', () => c.stats().processed === 5);
    const after = await collect();
    expect(total(after, MetricNames.oldestUnsettledAge, own)).toBe(0);
    // A mark since start: it stays.
    expect(total(after, MetricNames.queueDepthHighWater, own)).toBe(c.stats().queueDepthHighWater);
    await c.stop();
    expect(total(await collect(), MetricNames.connected, own)).toBe(0);
    stop();

    for (const id of ['oldestUnsettledAge', 'queueDepthHighWater', 'connected', 'redeliveredRuns', 'lockWaitTime', 'repeatsSkipped'] as const) {
      expect(m.get(Metrics[id].name)?.unit, id).toBe(Metrics[id].unit);
    }
  });

  it('counts redelivered runs and the time spent waiting for leases', async () => {
    const { broker, topic } = setup();
    const { meterProvider, collect } = testMeter();
    const lock = new MemoryLock();
    await lock.tryAcquire('k', 'intruder', 80); // the first run waits until it expires
    let stale = true;
    const c = createExclusiveConsumer<TestEvent>(
      topic,
      (e) => e.key,
      (e) => {
        if (e.seq === 2 && stale) {
          stale = false;
          throw new StaleTokenError(e.key, 1, 2); // given back: its next run is a redelivery
        }
      },
      {
        transport: broker.transport(),
        mode: 'shared-locked',
        lock,
        lease: { ttlMs: 1000, retryDelayMs: 10 },
        consumerName: 'c1',
        initialPosition: 'earliest',
      },
    );
    consumers.push(c);
    instrumentConsumer(c, { meterProvider });
    await c.start();
    publishEvents(broker, topic, [
      { key: 'k', seq: 1 },
      { key: 'j', seq: 2 },
    ]);
    await waitFor('both processed', () => c.stats().processed === 2);
    const m = await collect();
    const s = c.stats();
    expect(s.redeliveredRuns).toBeGreaterThanOrEqual(1);
    expect(total(m, MetricNames.redeliveredRuns, { 'messaging.client.id': 'c1' })).toBe(s.redeliveredRuns);
    expect(s.leaseWaitMs).toBeGreaterThan(40);
    expect(total(m, MetricNames.lockWaitTime, { 'messaging.client.id': 'c1' })).toBeCloseTo(s.leaseWaitMs / 1000, 9);
    expect(total(m, MetricNames.repeatsSkipped)).toBe(s.repeatsSkipped);
  });
});

describe('instrumentConsumer({ subscriptionStats }): the broker poller', () => {
  const idle = (broker: MemoryBroker, topic: string) => {
    const c = createExclusiveConsumer<TestEvent>(topic, (e) => e.key, () => undefined, {
      transport: broker.transport(),
      subscription: 'decisions',
      consumerName: 'c1',
    });
    consumers.push(c);
    return c;
  };

  it("reports the subscription's backlog, consumers and draining hashes, with the consumer's own", async () => {
    const { broker, topic } = setup();
    const { meterProvider, collect } = testMeter();
    const calls: string[] = [];
    const stop = instrumentConsumer(idle(broker, topic), {
      meterProvider,
      subscriptionStats: { source: { subscriptionStats: async (t, s) => (calls.push(`${t}/${s}`), stats()) }, intervalMs: 1000 },
    });
    await waitFor('first poll', () => calls.length === 1);
    await sleep(0);
    const m = await collect();
    const sub = { 'messaging.destination.name': topic, 'messaging.destination.subscription.name': 'decisions' };
    expect(calls[0]).toBe(`${topic}/decisions`);
    expect(total(m, MetricNames.subscriptionBacklog, sub)).toBe(120);
    expect(total(m, MetricNames.subscriptionUnacked, sub)).toBe(40);
    expect(total(m, MetricNames.subscriptionConsumers, sub)).toBe(2);
    expect(total(m, MetricNames.subscriptionBlocked, sub)).toBe(0);
    expect(total(m, MetricNames.drainingHashes, sub)).toBe(7);
    expect(total(m, MetricNames.drainingUnacked, sub)).toBe(30);
    expect(total(m, MetricNames.consumerDrainingHashes, { ...sub, 'messaging.client.id': 'c1' })).toBe(7);
    // The subscription's numbers are the same from every consumer: no client id on them.
    expect(m.get(MetricNames.subscriptionBacklog)?.points[0]?.attributes['messaging.client.id']).toBeUndefined();
    for (const id of ['subscriptionBacklog', 'subscriptionUnacked', 'subscriptionConsumers', 'subscriptionBlocked', 'drainingHashes', 'drainingUnacked', 'consumerDrainingHashes', 'statsAge'] as const) {
      expect(m.get(Metrics[id].name)?.unit, id).toBe(Metrics[id].unit);
    }
    stop();
  });

  it('leaves out what the broker does not report (draining hashes before Pulsar 4.0, another type)', async () => {
    const { broker, topic } = setup();
    const { meterProvider, collect } = testMeter();
    let polled = false;
    const source = {
      subscriptionStats: async () => {
        polled = true;
        return stats({ type: 'Shared', drainingHashes: undefined, drainingUnacked: undefined, consumerStats: [] });
      },
    };
    const stop = instrumentConsumer(idle(broker, topic), { meterProvider, subscriptionStats: { source } });
    await waitFor('polled', () => polled);
    await sleep(0);
    const m = await collect();
    expect(total(m, MetricNames.subscriptionBacklog)).toBe(120);
    expect(m.has(MetricNames.drainingHashes)).toBe(false);
    expect(m.has(MetricNames.consumerDrainingHashes)).toBe(false);
    stop();
  });

  it('counts failed polls without throwing, says how old the last answer is, and stops on close', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { broker, topic } = setup();
    const { meterProvider, collect } = testMeter();
    let calls = 0;
    const source = {
      subscriptionStats: async () => {
        calls += 1;
        if (calls > 1) throw new Error('broker down');
        return stats();
      },
    };
    const stop = instrumentConsumer(idle(broker, topic), { meterProvider, subscriptionStats: { source, intervalMs: 1000 } });
    await waitFor('first poll', () => calls === 1);
    await sleep(0);
    expect(total(await collect(), MetricNames.subscriptionBacklog)).toBe(120);
    for (let i = 0; i < 2; i++) {
      await vi.advanceTimersByTimeAsync(1000);
      await sleep(0);
    }
    expect(calls).toBe(3);
    const m = await collect();
    expect(total(m, MetricNames.errors, { 'exclusive_consumer.error.phase': 'pulsar-stats' })).toBe(2);
    // The last answer stands, and its age grows (real time ages it).
    expect(total(m, MetricNames.subscriptionBacklog)).toBe(120);
    const age = total(m, MetricNames.statsAge);
    await sleep(300);
    const later = await collect();
    expect(total(later, MetricNames.statsAge)).toBeGreaterThanOrEqual(age + 0.25);
    expect(later.get(MetricNames.statsAge)?.unit).toBe('s');
    stop();
    await vi.advanceTimersByTimeAsync(5000);
    expect(calls).toBe(3);
  });

  it('rejects an interval out of bounds and a source without subscriptionStats', () => {
    const { broker, topic } = setup();
    const c = idle(broker, topic);
    const source = { subscriptionStats: async () => stats() };
    expect(() => instrumentConsumer(c, { subscriptionStats: { source, intervalMs: 999 } })).toThrow(/intervalMs.*between 1000 and 300000/);
    expect(() => instrumentConsumer(c, { subscriptionStats: { source, intervalMs: 300_001 } })).toThrow(/intervalMs/);
    expect(() => instrumentConsumer(c, { subscriptionStats: { source: {} as typeof source } })).toThrow(/subscriptionStats\.source/);
  });
});
