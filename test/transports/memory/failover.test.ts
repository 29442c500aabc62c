import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBroker } from '../../../src/transports/memory/index.js';
import { ackAll, ackEach, bytes, consume, onFakeClock, rounds, settle, sleep, text, waitFor } from './helpers.js';

let broker: MemoryBroker;
afterEach(async () => {
  await broker?.close();
});

const publish = (topic: string, count: number, from = 0): void => {
  for (let i = from; i < from + count; i++) broker.publish(topic, { data: bytes(String(i)) });
};
const texts = (deliveries: readonly { data: Uint8Array }[]): string[] => deliveries.map((d) => text(d.data));

describe('failover subscription', () => {
  it('has one active consumer per partition: sorted by name, partition i to consumer i mod n', async () => {
    broker = new MemoryBroker({ activeConsumerFailoverDelayMs: 5 });
    broker.createTopic('fo', { partitions: 4 });
    const t = broker.transport();
    // Joining order does not matter, names do.
    const c = await consume(t, { topic: 'fo', consumerName: 'c-c', type: 'failover', onBatch: ackEach });
    const b = await consume(t, { topic: 'fo', consumerName: 'c-b', type: 'failover', onBatch: ackEach });
    const a = await consume(t, { topic: 'fo', consumerName: 'c-a', type: 'failover', onBatch: ackEach });
    await sleep(40);
    publish('fo', 40);
    await waitFor('40 deliveries', () => a.deliveries.length + b.deliveries.length + c.deliveries.length === 40);
    const partitions = (inbox: typeof a): string[] => [...new Set(inbox.deliveries.map((d) => d.topic))].sort();
    expect(partitions(a)).toEqual(['fo-partition-0', 'fo-partition-3']);
    expect(partitions(b)).toEqual(['fo-partition-1']);
    expect(partitions(c)).toEqual(['fo-partition-2']);
    expect([a, b, c].map((x) => x.deliveries.length)).toEqual([20, 10, 10]);
  });

  it('switches to a joining consumer once the failover delay is up and rewinds what was not acknowledged', async () => {
    await onFakeClock(async (advance) => {
      broker = new MemoryBroker({ activeConsumerFailoverDelayMs: 250 });
      const t = broker.transport();
      const old = await consume(t, { topic: 'sw', consumerName: 'b', type: 'failover' });
      publish('sw', 5);
      await rounds();
      expect(old.deliveries).toHaveLength(5);
      settle(old, old.deliveries[0]!);

      const next = await consume(t, { topic: 'sw', consumerName: 'a', type: 'failover' });
      // Until the delay is up the old active consumer keeps receiving.
      publish('sw', 2, 5);
      await advance(249);
      expect(old.deliveries).toHaveLength(7);
      expect(next.deliveries).toHaveLength(0);

      await advance(1);
      expect(texts(next.deliveries)).toEqual(['1', '2', '3', '4', '5', '6']);
      expect(next.deliveries.every((d) => d.redeliveryCount === 0)).toBe(true);
      expect(next.deliveries[0]!.id).toBe(old.deliveries[1]!.id);

      // The old consumer was not disconnected: it can still acknowledge what it has (the duplicate window).
      expect(old.deliveries[1]!.ack()).toBeUndefined();
      expect(broker.topicStats('sw', 'sub')).toMatchObject({ backlog: 5, consumers: 2 });
      ackAll(next);
      expect(broker.topicStats('sw', 'sub')).toMatchObject({ backlog: 0, unacked: 0, retainedEntries: 0 });

      publish('sw', 2, 7);
      await advance(10);
      expect(next.deliveries).toHaveLength(8);
      expect(old.deliveries).toHaveLength(7);
    });
  });

  it('switches at once when the active consumer leaves, without counting redeliveries', async () => {
    broker = new MemoryBroker({ activeConsumerFailoverDelayMs: 10_000, nackRedeliveryDelayMs: 10_000 });
    const t = broker.transport();
    const a = await consume(t, { topic: 'lv', consumerName: 'a', type: 'failover' });
    const b = await consume(t, { topic: 'lv', consumerName: 'b', type: 'failover', onBatch: ackEach });
    publish('lv', 5);
    await waitFor('a has 5', () => a.deliveries.length === 5);
    expect(b.deliveries).toHaveLength(0);
    broker.kill('a');
    await waitFor('b takes over at once', () => b.deliveries.length === 5, 2000);
    expect(texts(b.deliveries)).toEqual(['0', '1', '2', '3', '4']);
    expect(b.deliveries.every((d) => d.redeliveryCount === 0)).toBe(true);
    expect(broker.topicStats('lv', 'sub')).toMatchObject({ backlog: 0, consumers: 1 });
  });

  it('keeps redeliveryCount at 0 and never dead-letters on nacks', async () => {
    broker = new MemoryBroker();
    const inbox = await consume(broker.transport(), {
      topic: 'nf',
      consumerName: 'a',
      type: 'failover',
      maxRedeliverCount: 0,
      nackRedeliveryDelayMs: 5,
      onBatch: (batch, box) => {
        for (const d of batch) settle(box, d, box.deliveries.length < 4 ? 'nack' : 'ack');
      },
    });
    publish('nf', 1);
    await waitFor('4 deliveries', () => inbox.deliveries.length === 4);
    expect(inbox.deliveries.map((d) => d.redeliveryCount)).toEqual([0, 0, 0, 0]);
    expect(broker.peek('nf-sub-DLQ')).toEqual([]);
    expect(broker.topicStats('nf', 'sub')).toMatchObject({ backlog: 0 });
  });
});
