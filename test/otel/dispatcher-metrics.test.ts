/**
 * `instrumentDispatcher()` with the OpenTelemetry SDK, a real dispatcher and the memory outbox:
 * the collected counters are the dispatcher's `stats()`, the gauges the outbox's `counts()` (polled
 * on an interval: here on fake interval timers, so that each poll is one `advanceTimersByTimeAsync`);
 * names, units and attributes; a failed poll counted and never thrown; the returned function stops
 * everything.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  MemoryOutbox,
  NonRetriableError,
  createOutboxDispatcher,
  isConfigurationError,
  type Fence,
  type Outbox,
  type OutboxCounts,
  type OutboxDispatcher,
  type SendEffect,
} from '../../src/index.js';
import { MetricNames, Metrics, instrumentDispatcher } from '../../src/otel/index.js';
import { sleep, waitFor } from '../helpers/index.js';
import { testMeter, total } from './sdk.js';

const fence: Fence = { token: 1, owner: 'decider' };
const NAME = 'exclusive_consumer.outbox.name';

const dispatchers: OutboxDispatcher<unknown>[] = [];
const stops: Array<() => void> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) stop();
  await Promise.all(dispatchers.splice(0).map((d) => d.stop({ timeoutMs: 100 })));
  vi.useRealTimers();
});

/** Only the counts poller's interval is fake: the dispatcher's own timers (setTimeout) run. */
const fakeIntervals = (): void => void vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });

function dispatcher(outbox: Outbox, send: SendEffect<unknown>): OutboxDispatcher<unknown> {
  const d = createOutboxDispatcher(outbox, send, {
    pollIntervalMs: 5,
    maxAttempts: 3,
    retry: { initialDelayMs: 1, maxDelayMs: 5, jitter: 0 },
  });
  dispatchers.push(d);
  return d;
}

/** `count` effects under key `shopper-<i>`, idempotency key `sms-<i>`. */
async function commitEffects(outbox: Outbox, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await outbox.commit(`shopper-${i}`, i, fence, [{ payload: { i }, idempotencyKey: `sms-${i}` }]);
}

/** Sends 0, 3, 6 and 9 fail until they are dead-lettered (3 attempts), 5 is refused for good; the rest go out first time. */
const flakyGateway: SendEffect<unknown> = (effect) => {
  const { i } = effect.payload as { i: number };
  if (i === 5) throw new NonRetriableError('number unknown');
  if (i % 3 === 0) throw new Error('gateway 503');
};

function instrument(d: OutboxDispatcher<unknown>, options: Parameters<typeof instrumentDispatcher>[1] = {}): () => void {
  const stop = instrumentDispatcher(d, options);
  stops.push(stop);
  return stop;
}

describe('instrumentDispatcher()', () => {
  it("reports the dispatcher's stats and the outbox's counts, with names, units and attributes", async () => {
    fakeIntervals();
    const { meterProvider, collect } = testMeter();
    const outbox = new MemoryOutbox();
    await commitEffects(outbox, 12);
    const d = dispatcher(outbox, flakyGateway);
    instrument(d, { meterProvider, outbox, name: 'sms', attributes: { 'deployment.environment.name': 'test' } });
    const base = { [NAME]: 'sms', 'deployment.environment.name': 'test' };

    // Before anything was sent: counters at 0 (the dead-letter alert's first increase is seen), the first poll's counts.
    await vi.advanceTimersByTimeAsync(0);
    const before = await collect();
    expect(before.get(MetricNames.outboxDeadLettered)?.points.map((p) => p.value)).toEqual([0]);
    expect(total(before, MetricNames.outboxSent, base)).toBe(0);
    expect(total(before, MetricNames.outboxPending, base)).toBe(12);

    d.start();
    await waitFor('every effect settled', async () => (await outbox.counts()).pending === 0);
    await vi.advanceTimersByTimeAsync(15_000); // the next poll
    const m = await collect();
    const stats = d.stats();
    const counts = await outbox.counts();
    expect(stats).toMatchObject({ sent: 7, deadLettered: 5, retried: 8, claimed: 20, inFlight: 0, errors: 0 });
    expect(counts).toEqual({ pending: 0, done: 7, dead: 5 });

    expect(total(m, MetricNames.outboxClaimed, base)).toBe(stats.claimed);
    expect(total(m, MetricNames.outboxSent, base)).toBe(stats.sent);
    expect(total(m, MetricNames.outboxRetried, base)).toBe(stats.retried);
    expect(total(m, MetricNames.outboxDeadLettered, base)).toBe(stats.deadLettered);
    expect(total(m, MetricNames.outboxInFlight, base)).toBe(stats.inFlight);
    expect(total(m, MetricNames.outboxPending, base)).toBe(counts.pending);
    expect(total(m, MetricNames.outboxDone, base)).toBe(counts.done);
    expect(total(m, MetricNames.outboxDead, base)).toBe(counts.dead);
    expect(total(m, MetricNames.outboxErrors, base)).toBe(0);
    expect(total(m, MetricNames.outboxCountsAge, base)).toBeGreaterThanOrEqual(0);

    const ids = Object.keys(Metrics).filter((id) => id.startsWith('outbox')) as Array<keyof typeof Metrics>;
    expect(ids).toHaveLength(10);
    for (const id of ids) {
      const metric = m.get(Metrics[id].name);
      expect(metric, Metrics[id].name).toBeDefined();
      expect(Metrics[id].name).toMatch(/^exclusive_consumer\.outbox\./);
      expect(metric?.unit, Metrics[id].name).toBe(Metrics[id].unit);
      // One series per metric (errors: one per phase), and no key, shopper or idempotency key in any attribute.
      for (const point of metric?.points ?? []) {
        expect(Object.keys(point.attributes).sort(), Metrics[id].name).toEqual(
          id === 'outboxErrors' ? ['deployment.environment.name', 'exclusive_consumer.error.phase', NAME] : ['deployment.environment.name', NAME],
        );
        expect(JSON.stringify(point.attributes)).not.toMatch(/shopper|sms-/);
      }
    }
    expect(m.get(MetricNames.outboxSent)?.unit).toBe('{effect}');
    expect(m.get(MetricNames.outboxRetried)?.unit).toBe('{retry}');
    expect(m.get(MetricNames.outboxCountsAge)?.unit).toBe('s');
  });

  it('counts every failed call to the outbox by phase, as stats() does', async () => {
    const { meterProvider, collect } = testMeter();
    const outbox = new MemoryOutbox();
    await commitEffects(outbox, 3);
    let claimFailures = 2;
    const failing: Outbox = {
      ...(Object.fromEntries(
        (['get', 'put', 'commit', 'complete', 'retry', 'deadLetter', 'effect', 'deadLetters', 'requeue', 'purge', 'counts'] as const).map((method) => [
          method,
          (outbox[method] as (...args: unknown[]) => unknown).bind(outbox),
        ]),
      ) as unknown as Outbox),
      claim: (limit, visibilityMs) => (claimFailures-- > 0 ? Promise.reject(new Error('outbox down')) : outbox.claim(limit, visibilityMs)),
    };
    const d = dispatcher(failing, () => undefined);
    instrument(d, { meterProvider });
    d.start();
    await waitFor('every effect settled', async () => (await outbox.counts()).pending === 0);
    const m = await collect();
    expect(d.stats().errors).toBe(2);
    expect(total(m, MetricNames.outboxErrors, { [NAME]: 'outbox', 'exclusive_consumer.error.phase': 'claim' })).toBe(2);
    expect(total(m, MetricNames.outboxSent, { [NAME]: 'outbox' })).toBe(3);
    // No outbox option: no counts gauges.
    expect(m.get(MetricNames.outboxPending)?.points ?? []).toEqual([]);
  });

  it('a failing counts() is counted, never thrown; the gauges keep the last answer and its age grows', async () => {
    fakeIntervals();
    const { meterProvider, collect } = testMeter();
    let calls = 0;
    const outbox = {
      counts: (): Promise<OutboxCounts> => {
        calls += 1;
        if (calls === 1) return Promise.resolve({ pending: 4, done: 1, dead: 2 });
        if (calls === 2) throw new Error('sync failure');
        return Promise.reject(new Error('store down'));
      },
    };
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      instrument(dispatcher(new MemoryOutbox(), () => undefined), { meterProvider, outbox, countsIntervalMs: 1_000 });
      await vi.advanceTimersByTimeAsync(0);
      const first = await collect();
      expect(total(first, MetricNames.outboxErrors, { 'exclusive_consumer.error.phase': 'counts' })).toBe(0);
      expect(first.get(MetricNames.outboxErrors)?.points).toHaveLength(1); // exported at 0
      const age = total(first, MetricNames.outboxCountsAge);
      await vi.advanceTimersByTimeAsync(1_000);
      await vi.advanceTimersByTimeAsync(1_000);
      expect(calls).toBe(3);
      await sleep(50);
      const m = await collect();
      expect(total(m, MetricNames.outboxErrors, { 'exclusive_consumer.error.phase': 'counts' })).toBe(2);
      expect(total(m, MetricNames.outboxPending)).toBe(4);
      expect(total(m, MetricNames.outboxDone)).toBe(1);
      expect(total(m, MetricNames.outboxDead)).toBe(2);
      expect(total(m, MetricNames.outboxCountsAge)).toBeGreaterThanOrEqual(age + 0.04);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('polls counts() every countsIntervalMs, one at a time, and the returned function stops polling and reporting', async () => {
    fakeIntervals();
    const { meterProvider, collect } = testMeter();
    const outbox = new MemoryOutbox();
    await commitEffects(outbox, 2);
    let calls = 0;
    let release: (() => void) | undefined;
    const counting = {
      counts: async (): Promise<OutboxCounts> => {
        calls += 1;
        if (calls === 2) await new Promise<void>((resolve) => (release = resolve));
        return outbox.counts();
      },
    };
    const d = dispatcher(outbox, () => undefined);
    const stop = instrument(d, { meterProvider, outbox: counting, countsIntervalMs: 2_000 });
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1_999);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toBe(2);
    // The second poll hangs: the next ticks start none.
    await vi.advanceTimersByTimeAsync(4_000);
    expect(calls).toBe(2);
    release?.();
    await vi.advanceTimersByTimeAsync(2_000);
    expect(calls).toBe(3);
    expect(total(await collect(), MetricNames.outboxPending)).toBe(2);

    stop();
    stop(); // idempotent
    // What happens after the stop is neither polled nor observed: the series keep their last values.
    expect(await d.runOnce()).toBe(2);
    await commitEffects(outbox, 5);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls).toBe(3);
    const after = await collect();
    expect(d.stats().sent).toBe(2);
    expect(total(after, MetricNames.outboxSent)).toBe(0);
    expect(total(after, MetricNames.outboxClaimed)).toBe(0);
    expect(total(after, MetricNames.outboxPending)).toBe(2);
    // The name is free again.
    instrument(dispatcher(outbox, () => undefined), { meterProvider, outbox: counting });
  });

  it('rejects bad options, and a second dispatcher under the same name on one meter', () => {
    const { meterProvider } = testMeter();
    const d = dispatcher(new MemoryOutbox(), () => undefined);
    const bad = (options: Parameters<typeof instrumentDispatcher>[1]): unknown => {
      try {
        instrumentDispatcher(d, { meterProvider, ...options });
      } catch (error) {
        return error;
      }
      return undefined;
    };
    for (const countsIntervalMs of [999, 300_001, Number.NaN]) expect(isConfigurationError(bad({ countsIntervalMs }))).toBe(true);
    expect(isConfigurationError(bad({ outbox: {} as Pick<Outbox, 'counts'> }))).toBe(true);
    expect(isConfigurationError(bad({ name: '' }))).toBe(true);
    expect(isConfigurationError(bad({ countsIntervalMs: '15000' as unknown as number }))).toBe(true);
    expect(() => instrumentDispatcher({} as OutboxDispatcher<unknown>, { meterProvider })).toThrow(/stats/);

    instrument(d, { meterProvider, name: 'sms' });
    expect(isConfigurationError(bad({ name: 'sms' }))).toBe(true);
    instrument(d, { meterProvider, name: 'email' });
    instrument(d, { meterProvider: testMeter().meterProvider, name: 'sms' });
  });
});
