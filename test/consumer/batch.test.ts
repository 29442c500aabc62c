/** `batch`: one run takes a key's queued events in order, acknowledged, retried or dead-lettered together. */
import { describe, expect, it } from 'vitest';
import {
  DeadLetterProperties,
  MemoryFencedStore,
  MemoryLock,
  createExclusiveConsumer,
  defaultDeadLetterTopic,
  isConfigurationError,
  updateFenced,
} from '../../src/index.js';
import { HistoryRecorder, monotonicMicros } from '../../src/testing/index.js';
import { drained, publishEvents, resourcesPerTest, waitFor, type TestEvent } from '../helpers/index.js';

const { consumers, setup } = resourcesPerTest();

describe('batch runs', () => {
  it('give one run up to maxSize of a key’s queued events, in order, and acknowledge them together', async () => {
    const { broker, topic } = setup();
    const events: TestEvent[] = Array.from({ length: 10 }, (_, seq) => ({ key: 'k', seq }));
    publishEvents(broker, topic, events);
    const batches: number[][] = [];
    const recorder = new HistoryRecorder<TestEvent>({ seqOf: (e) => e.seq });
    const c = createExclusiveConsumer<TestEvent>(topic, (e) => e.key, (batch) => void batches.push(batch.map((e) => e.seq)), {
      transport: broker.transport(),
      initialPosition: 'earliest',
      batch: { maxSize: 4 },
      middleware: [recorder.middleware()],
    });
    consumers.push(c);
    await c.start();
    // The end of the history: the broker holds nothing unacknowledged. Loss is read from the runs.
    await drained(broker, topic);
    await c.stop();
    expect(batches.flat()).toEqual(events.map((e) => e.seq));
    expect(batches.every((b) => b.length <= 4)).toBe(true);
    expect(batches.length).toBeLessThan(10);
    // One record per event, one run per batch: the checker sees no overlap inside a batch.
    const report = recorder.check({ published: events, endOfHistory: monotonicMicros() });
    expect(report.runs).toBe(10);
    expect(report.lost).toEqual([]);
    expect(report.overlaps).toEqual([]);
    expect(report.orderViolations).toEqual([]);
  });

  it('wait up to maxWaitMs for more of the key before a run starts short', async () => {
    const { broker, topic } = setup();
    const batches: number[][] = [];
    const c = createExclusiveConsumer<TestEvent>(topic, (e) => e.key, (batch) => void batches.push(batch.map((e) => e.seq)), {
      transport: broker.transport(),
      initialPosition: 'earliest',
      batch: { maxSize: 3, maxWaitMs: 300 },
    });
    consumers.push(c);
    await c.start();
    publishEvents(broker, topic, [{ key: 'k', seq: 0 }]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    publishEvents(broker, topic, [{ key: 'k', seq: 1 }]);
    await waitFor('processed', () => c.stats().processed === 2);
    expect(batches).toEqual([[0, 1]]);
  });

  it('retry the same events together, then dead-letter all of them after the last attempt', async () => {
    const { broker, topic } = setup();
    publishEvents(broker, topic, [{ key: 'k', seq: 0 }, { key: 'k', seq: 1 }, { key: 'k', seq: 2, fail: 99 }]);
    const attempts: Array<{ attempt: number; seqs: number[] }> = [];
    const c = createExclusiveConsumer<TestEvent>(
      topic,
      (e) => e.key,
      (batch, ctx) => {
        attempts.push({ attempt: ctx.attempt, seqs: batch.map((e) => e.seq) });
        if (batch.some((e) => (e.fail ?? 0) > 0)) throw new Error('one of them is bad');
      },
      { transport: broker.transport(), initialPosition: 'earliest', batch: { maxSize: 5, maxWaitMs: 100 }, retry: { maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 2 } },
    );
    consumers.push(c);
    await c.start();
    await waitFor('dead-lettered', () => c.stats().deadLettered === 3);
    expect(attempts).toEqual([
      { attempt: 1, seqs: [0, 1, 2] },
      { attempt: 2, seqs: [0, 1, 2] },
      { attempt: 3, seqs: [0, 1, 2] },
    ]);
    const letters = broker.peek(defaultDeadLetterTopic(topic, 'exclusive-consumer'));
    expect(letters.map((l) => l.properties[DeadLetterProperties.attempts])).toEqual(['3', '3', '3']);
    expect(c.stats()).toMatchObject({ processed: 0, retried: 2 });
  });

  it('run under one fence: the batch is written with one fenced write', async () => {
    const { broker, topic } = setup();
    publishEvents(broker, topic, Array.from({ length: 6 }, (_, seq) => ({ key: 'k', seq })));
    const store = new MemoryFencedStore<number[]>();
    const tokens: number[] = [];
    const c = createExclusiveConsumer<TestEvent>(
      topic,
      (e) => e.key,
      async (batch, ctx) => {
        tokens.push(ctx.fence.token);
        await updateFenced(store, ctx.key, ctx.fence, (s) => [...(s ?? []), ...batch.map((e) => e.seq)]);
      },
      { transport: broker.transport(), initialPosition: 'earliest', mode: 'shared-locked', lock: new MemoryLock(), batch: { maxSize: 6, maxWaitMs: 100 } },
    );
    consumers.push(c);
    await c.start();
    await waitFor('processed', () => c.stats().processed === 6);
    expect((await store.get('k'))?.value).toEqual([0, 1, 2, 3, 4, 5]);
    expect((await store.get('k'))?.version).toBe(tokens.length);
  });

  it('refuse a batch without maxSize', () => {
    let thrown: unknown;
    try {
      createExclusiveConsumer<TestEvent>('t', (e) => e.key, () => undefined, { batch: {} as never });
    } catch (error) {
      thrown = error;
    }
    expect(isConfigurationError(thrown)).toBe(true);
    expect((thrown as Error).message).toMatch(/batch\.maxSize/);
  });
});
