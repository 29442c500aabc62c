import type { Histogram } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import {
  MemoryCounterStore,
  MemoryLock,
  NonRetriableError,
  StaleTokenError,
  createExclusiveConsumer,
  exclusivityCounter,
  type MemoryBroker,
} from '../../src/index.js';
import { MetricNames, instrumentConsumer } from '../../src/otel/index.js';
import { publishEvents, sleep, waitFor, resourcesPerTest, type TestEvent } from '../helpers/index.js';
import { testMeter, total } from './sdk.js';

const { consumers, setup: fresh } = resourcesPerTest();
const setup = (): { broker: MemoryBroker; topic: string } => fresh('metrics');

const encoder = new TextEncoder();

describe('instrumentConsumer()', () => {
  it('records every counter, histogram and gauge of a scripted run, with units', async () => {
    const { broker, topic } = setup();
    const { meterProvider, collect } = testMeter();
    const seen = new Map<number, number>();
    const c = createExclusiveConsumer<TestEvent>(
      topic,
      (e) => e.key,
      (e) => {
        const runs = (seen.get(e.seq) ?? 0) + 1;
        seen.set(e.seq, runs);
        if (e.seq === 3 && runs === 1) throw new Error('flaky downstream'); // retried in place, then fine
        if (e.seq === 7) throw new NonRetriableError('poison'); // dead-lettered at once
        if (e.seq === 8 && runs === 1) throw new StaleTokenError(e.key, 1, 2); // given back, redelivered, fine
      },
      {
        transport: broker.transport(),
        subscription: 'decisions',
        consumerName: 'c1',
        initialPosition: 'earliest',
        retry: { initialDelayMs: 5, maxDelayMs: 5 },
      },
    );
    consumers.push(c);
    const dispose = instrumentConsumer(c, { meterProvider, attributes: { 'deployment.environment.name': 'test' } });
    // What the engine measured, to compare the histogram with: same values, in seconds.
    const processedMs: number[] = [];
    c.on('message.processed', (e) => processedMs.push(e.durationMs));
    await c.start();
    const events: TestEvent[] = [];
    for (let seq = 0; seq < 10; seq++) events.push({ key: `k${seq % 5}`, seq });
    publishEvents(broker, topic, events);
    // A key that is not the partition key: counted as a mismatch, still processed.
    broker.publish(topic, { data: encoder.encode(JSON.stringify({ key: 'k9', seq: 10 })), partitionKey: 'other' });
    await waitFor('all settled', () => c.stats().processed === 10 && c.stats().deadLettered === 1, 5000);

    const m = await collect();
    const stats = c.stats();
    const base = {
      'messaging.system': 'pulsar',
      'messaging.destination.name': topic,
      'messaging.consumer.group.name': 'decisions',
      'messaging.destination.subscription.name': 'decisions',
      'exclusive_consumer.mode': 'key-shared',
      'deployment.environment.name': 'test',
    };
    // 11 messages delivered, plus the stale one delivered again.
    expect(total(m, MetricNames.consumedMessages, base)).toBe(12);
    expect(total(m, MetricNames.processed, base)).toBe(stats.processed);
    expect(stats.processed).toBe(10);
    expect(total(m, MetricNames.failed, base)).toBe(stats.failed);
    expect(stats.failed).toBe(3);
    expect(total(m, MetricNames.failed, { 'error.type': 'Error' })).toBe(1);
    expect(total(m, MetricNames.failed, { 'error.type': 'NonRetriableError' })).toBe(1);
    expect(total(m, MetricNames.failed, { 'error.type': 'StaleTokenError' })).toBe(1);
    expect(total(m, MetricNames.retried, base)).toBe(stats.retried);
    expect(stats.retried).toBe(1);
    expect(total(m, MetricNames.deadLettered, { ...base, 'error.type': 'NonRetriableError' })).toBe(1);
    expect(total(m, MetricNames.staleWrites, base)).toBe(stats.staleTokens);
    expect(stats.staleTokens).toBe(1);
    expect(total(m, MetricNames.released, base)).toBe(stats.released);
    expect(total(m, MetricNames.keyMismatches, base)).toBe(stats.keyMismatches);
    expect(stats.keyMismatches).toBe(1);
    expect(total(m, MetricNames.violations)).toBe(0);

    // One duration per handler run: 10 successes, 3 failures; failed ones carry error.type.
    const durations = m.get(MetricNames.processDuration)!;
    expect(durations.unit).toBe('s');
    const runs = durations.points.reduce((n, p) => n + (p.value as Histogram).count, 0);
    expect(runs).toBe(13);
    expect(total(m, MetricNames.processDuration, { 'messaging.operation.name': 'process', 'error.type': 'Error' })).toBe(1);
    const ok = durations.points.find((p) => p.attributes['error.type'] === undefined)!.value as Histogram;
    expect(ok.count).toBe(10);
    expect(processedMs).toHaveLength(10);
    // Seconds: the engine's milliseconds divided by 1000, each run once.
    expect(ok.sum).toBeCloseTo(processedMs.reduce((a, b) => a + b, 0) / 1000, 9);
    expect(ok.max).toBeCloseTo(Math.max(...processedMs) / 1000, 9);

    // Gauges, per consumer (messaging.client.id): everything settled.
    const gauge = { ...base, 'messaging.client.id': 'c1' };
    for (const name of [MetricNames.inFlight, MetricNames.running, MetricNames.activeKeys, MetricNames.paused]) {
      expect(m.get(name)?.points).toHaveLength(1);
      expect(total(m, name, gauge)).toBe(0);
    }

    const units = Object.fromEntries([...m].map(([name, metric]) => [name, metric.unit]));
    expect(units).toMatchObject({
      [MetricNames.consumedMessages]: '{message}',
      [MetricNames.processDuration]: 's',
      [MetricNames.processed]: '{message}',
      [MetricNames.failed]: '{attempt}',
      [MetricNames.retried]: '{retry}',
      [MetricNames.deadLettered]: '{message}',
      [MetricNames.inFlight]: '{message}',
      [MetricNames.activeKeys]: '{key}',
      [MetricNames.staleWrites]: '{write}',
      [MetricNames.keyMismatches]: '{message}',
    });
    // Never a key or a message id in a metric.
    for (const metric of m.values()) {
      for (const point of metric.points) {
        const values = Object.values(point.attributes).map(String);
        expect(values.filter((v) => /^k\d$/.test(v) || v === 'other')).toEqual([]);
      }
    }

    // Disposed: nothing more is recorded.
    dispose();
    publishEvents(broker, topic, [{ key: 'k0', seq: 20 }]);
    await waitFor('processed', () => c.stats().processed === 11);
    const after = await collect();
    expect(total(after, MetricNames.processed, base)).toBe(10);
    expect(total(after, MetricNames.consumedMessages, base)).toBe(12);
  });

  it('exports the counters that alerts fire on at 0 before anything happened, so their first increase is seen', async () => {
    const { broker, topic } = setup();
    const { meterProvider, collect } = testMeter();
    const c = createExclusiveConsumer<TestEvent>(topic, (e) => e.key, () => undefined, { transport: broker.transport(), consumerName: 'c1' });
    consumers.push(c);
    instrumentConsumer(c, { meterProvider });
    const m = await collect();
    for (const name of [MetricNames.violations, MetricNames.stuck]) {
      const points = m.get(name)?.points ?? [];
      expect(points.length, name).toBe(1);
      expect(points[0]?.value, name).toBe(0);
      expect(points[0]?.attributes['messaging.destination.name'], name).toBe(topic);
    }
    expect(m.get(MetricNames.violations)?.points[0]?.attributes['exclusive_consumer.violation.source']).toBe('exclusivity-counter');
  });

  it('counts exclusivity violations provoked on purpose: shared mode and the counter middleware', async () => {
    const { broker, topic } = setup();
    const { meterProvider, collect } = testMeter();
    const store = new MemoryCounterStore(); // one store for the whole "fleet"
    const counter = exclusivityCounter({ store });
    const fleet = [0, 1, 2].map((i) =>
      createExclusiveConsumer<TestEvent>(topic, (e) => e.key, () => sleep(5), {
        transport: broker.transport(),
        mode: 'shared', // no exclusivity across consumers: the baseline the counter must catch
        subscription: 'decisions',
        consumerName: `c${i}`,
        initialPosition: 'earliest',
        middleware: [counter],
      }),
    );
    consumers.push(...fleet);
    for (const c of fleet) instrumentConsumer(c, { meterProvider });
    await Promise.all(fleet.map((c) => c.start()));
    const events: TestEvent[] = [];
    for (let seq = 0; seq < 60; seq++) events.push({ key: `k${seq % 2}`, seq });
    publishEvents(broker, topic, events);
    await waitFor('60 processed', () => fleet.reduce((n, c) => n + c.stats().processed, 0) === 60, 5000);

    const m = await collect();
    const violations = fleet.reduce((n, c) => n + c.stats().violations, 0);
    expect(violations).toBeGreaterThan(0);
    expect(total(m, MetricNames.violations)).toBe(violations);
    expect(total(m, MetricNames.violations, { 'exclusive_consumer.violation.source': 'exclusivity-counter', 'exclusive_consumer.mode': 'shared' })).toBe(
      violations,
    );
    expect(m.get(MetricNames.violations)?.unit).toBe('{violation}');
    // Three consumers, three gauge series.
    expect(m.get(MetricNames.inFlight)?.points.map((p) => p.attributes['messaging.client.id']).sort()).toEqual(['c0', 'c1', 'c2']);
  });

  it('records lock waits and lost leases in shared-locked mode', async () => {
    const { broker, topic } = setup();
    const { meterProvider, collect } = testMeter();
    const lock = new MemoryLock();
    await lock.tryAcquire('k', 'intruder', 60);
    let expired = false;
    const c = createExclusiveConsumer<TestEvent>(
      topic,
      (e) => e.key,
      async () => {
        if (!expired) {
          expired = true;
          lock.expire('k');
          await sleep(100);
        }
      },
      {
        transport: broker.transport(),
        mode: 'shared-locked',
        lock,
        lease: { ttlMs: 60, retryDelayMs: 10 },
        initialPosition: 'earliest',
      },
    );
    consumers.push(c);
    instrumentConsumer(c, { meterProvider });
    const waits: number[] = [];
    c.on('lease.acquired', (e) => waits.push(e.waitMs));
    await c.start();
    publishEvents(broker, topic, [{ key: 'k', seq: 1 }]);
    await waitFor('processed', () => c.stats().processed === 1 && c.stats().leasesLost === 1, 3000);

    const m = await collect();
    const wait = m.get(MetricNames.lockWait)!;
    expect(wait.unit).toBe('s');
    const histogram = wait.points[0]!.value as Histogram;
    // One point per acquisition, in seconds; the first one waited for the intruder's lease.
    expect(histogram.count).toBe(waits.length);
    expect(waits[0]).toBeGreaterThan(0);
    expect(histogram.max).toBeCloseTo(Math.max(...waits) / 1000, 9);
    expect(histogram.sum).toBeCloseTo(waits.reduce((a, b) => a + b, 0) / 1000, 9);
    expect(total(m, MetricNames.leasesLost)).toBe(1);
  });
});
