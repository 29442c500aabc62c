import { afterEach, describe, expect, it } from 'vitest';
import { isTransportError } from '../../../src/errors/index.js';
import { DeadLetterProperties } from '../../../src/transports/dead-letter.js';
import { MemoryBroker } from '../../../src/transports/memory/index.js';
import type { Delivery } from '../../../src/transports/types.js';
import { ackAll, ackEach, bytes, consume, onFakeClock, rounds, settle, sleep, text, waitFor } from './helpers.js';

let broker: MemoryBroker;
afterEach(async () => {
  await broker?.close();
});

const publish = (topic: string, count: number, keys = 0, from = 0): string[] =>
  Array.from({ length: count }, (_, i) =>
    broker.publish(topic, {
      data: bytes(String(from + i)),
      ...(keys > 0 ? { partitionKey: `k${(from + i) % keys}` } : {}),
      properties: { seq: String(from + i) },
    }),
  );

const rejection = async (result: void | Promise<void>): Promise<unknown> => {
  try {
    await result;
    return undefined;
  } catch (error) {
    return error;
  }
};

describe('shared subscription', () => {
  it('gives each consumer runs of sharedRoundRobinBatchSize consecutive messages, in turn', async () => {
    broker = new MemoryBroker();
    const t = broker.transport();
    const inboxes = [
      await consume(t, { topic: 'r', consumerName: 'c0', onBatch: ackEach }),
      await consume(t, { topic: 'r', consumerName: 'c1', onBatch: ackEach }),
    ];
    publish('r', 80);
    await waitFor('80 deliveries', () => inboxes.reduce((n, b) => n + b.deliveries.length, 0) === 80);
    const runOf = (i: number) => Math.floor(i / 20) % 2;
    inboxes.forEach((inbox, c) => {
      expect(inbox.deliveries.map((d) => runOf(Number(text(d.data))))).toEqual(Array(40).fill(c));
    });
  });

  it('spreads messages round robin over the consumers that have room', async () => {
    broker = new MemoryBroker({ sharedRoundRobinBatchSize: 1 });
    const t = broker.transport();
    const inboxes = [
      await consume(t, { topic: 's', consumerName: 'c0', onBatch: ackEach }),
      await consume(t, { topic: 's', consumerName: 'c1', onBatch: ackEach }),
      await consume(t, { topic: 's', consumerName: 'c2', onBatch: ackEach }),
    ];
    publish('s', 30);
    await waitFor('30 deliveries', () => inboxes.reduce((n, b) => n + b.deliveries.length, 0) === 30);
    inboxes.forEach((inbox, c) => {
      expect(inbox.deliveries.map((d) => Number(text(d.data)) % 3)).toEqual(Array(10).fill(c));
    });
  });

  it('never has more than receiverQueueSize unsettled messages out to a consumer', async () => {
    broker = new MemoryBroker();
    const inbox = await consume(broker.transport(), { topic: 'f', consumerName: 'c', receiverQueueSize: 5 });
    publish('f', 50);
    await waitFor('first 5', () => inbox.deliveries.length === 5);
    await rounds();
    expect(inbox.deliveries).toHaveLength(5);
    while (inbox.deliveries.length < 50) {
      const [a, b] = [...inbox.pending];
      if (a !== undefined) settle(inbox, a);
      if (b !== undefined) settle(inbox, b, 'nack');
      await sleep(1);
    }
    expect(inbox.maxPending).toBe(5);
    expect(inbox.batches.every((n) => n <= 5)).toBe(true);
  });

  it('caps a consumer at maxUnackedMessagesPerConsumer', async () => {
    broker = new MemoryBroker({ maxUnackedMessagesPerConsumer: 3 });
    const inbox = await consume(broker.transport(), { topic: 'f', consumerName: 'c', receiverQueueSize: 100 });
    publish('f', 10);
    await waitFor('3 deliveries', () => inbox.deliveries.length === 3);
    await rounds();
    expect(inbox.deliveries).toHaveLength(3);
    expect(broker.topicStats('f', 'sub')).toMatchObject({ unacked: 3, backlog: 10 });
  });

  it('delivers nothing while paused, also when paused from inside onMessages', async () => {
    broker = new MemoryBroker();
    const inbox = await consume(broker.transport(), { topic: 'p', consumerName: 'c' });
    inbox.subscription.pause();
    publish('p', 5);
    await rounds();
    expect(inbox.deliveries).toHaveLength(0);
    inbox.subscription.resume();
    inbox.subscription.resume();
    await waitFor('5 deliveries', () => inbox.deliveries.length === 5);

    const pausing = await consume(broker.transport(), {
      topic: 'p2',
      consumerName: 'c',
      onBatch: (batch, box) => {
        ackEach(batch, box);
        box.subscription.pause();
      },
    });
    publish('p2', 3);
    await waitFor('first batch', () => pausing.deliveries.length === 3);
    publish('p2', 3, 0, 3);
    await rounds();
    expect(pausing.deliveries).toHaveLength(3);
    pausing.subscription.resume();
    await waitFor('second batch', () => pausing.deliveries.length === 6);
  });

  it('redelivers a nacked message once the nack delay is up, with redeliveryCount + 1', async () => {
    await onFakeClock(async (advance) => {
      broker = new MemoryBroker({ nackRedeliveryDelayMs: 10_000 });
      const inbox = await consume(broker.transport(), { topic: 'n', consumerName: 'c', nackRedeliveryDelayMs: 30 });
      const [id] = publish('n', 1);
      await rounds();
      expect(inbox.deliveries).toHaveLength(1);
      const first = inbox.deliveries[0]!;
      settle(inbox, first, 'nack');
      expect(broker.topicStats('n', 'sub')).toMatchObject({ unacked: 0, backlog: 1 });
      // Settled: an ack of the nacked delivery does not acknowledge the message.
      first.ack();
      await advance(29);
      expect(inbox.deliveries).toHaveLength(1);
      await advance(1);
      expect(inbox.deliveries).toHaveLength(2);
      const second = inbox.deliveries[1]!;
      expect(second).not.toBe(first);
      expect(second.id).toBe(id);
      expect(second.redeliveryCount).toBe(1);
      expect(first.redeliveryCount).toBe(0);
      settle(inbox, second);
      expect(broker.topicStats('n', 'sub')).toMatchObject({ unacked: 0, backlog: 0, retainedEntries: 0 });
    });
  });

  it('uses the broker nack delay when the consumer sets none', async () => {
    await onFakeClock(async (advance) => {
      broker = new MemoryBroker({ nackRedeliveryDelayMs: 40 });
      const inbox = await consume(broker.transport(), { topic: 'n', consumerName: 'c' });
      publish('n', 2);
      await rounds();
      expect(inbox.deliveries).toHaveLength(2);
      for (const d of [...inbox.pending]) settle(inbox, d, 'nack');
      await advance(39);
      expect(inbox.deliveries).toHaveLength(2);
      await advance(1);
      expect(inbox.deliveries.slice(2).map((d) => [text(d.data), d.redeliveryCount])).toEqual([
        ['0', 1],
        ['1', 1],
      ]);
    });
  });

  it('redelivers messages left unacknowledged once the ack timeout is up (checked every quarter of it)', async () => {
    await onFakeClock(async (advance) => {
      broker = new MemoryBroker({ ackTimeoutMs: 40 });
      const inbox = await consume(broker.transport(), { topic: 'a', consumerName: 'c' });
      publish('a', 1);
      await rounds();
      expect(inbox.deliveries).toHaveLength(1);
      await advance(39);
      expect(inbox.deliveries).toHaveLength(1);
      await advance(10);
      expect(inbox.deliveries).toHaveLength(2);
      const [stale, fresh] = inbox.deliveries as [Delivery, Delivery];
      expect(fresh.redeliveryCount).toBe(1);
      expect(fresh.id).toBe(stale.id);
      // The stale delivery still acknowledges the message for the subscription; the fresh one's ack
      // is then a no-op.
      settle(inbox, stale);
      expect(broker.topicStats('a', 'sub')).toMatchObject({ backlog: 0, unacked: 0 });
      settle(inbox, fresh);
      await advance(80);
      expect(inbox.deliveries).toHaveLength(2);
    });
  });

  it('counts a message taken back by the ack timeout against its holder until the holder settles it', async () => {
    broker = new MemoryBroker({ ackTimeoutMs: 20 });
    const t = broker.transport();
    const a = await consume(t, { topic: 'q', consumerName: 'a', receiverQueueSize: 1 });
    publish('q', 1);
    await waitFor('delivery', () => a.deliveries.length === 1);
    await sleep(80);
    // Timed out, but a has no room for it: its engine still holds the first delivery.
    expect(a.deliveries).toHaveLength(1);
    const b = await consume(t, { topic: 'q', consumerName: 'b' });
    await waitFor('b gets it', () => b.deliveries.length === 1);
    expect(b.deliveries[0]!.redeliveryCount).toBe(1);
    settle(a, a.deliveries[0]!);
    expect(broker.topicStats('q', 'sub')).toMatchObject({ backlog: 0, unacked: 0 });
  });

  it('moves a message to the dead-letter topic after maxRedeliverCount redeliveries', async () => {
    broker = new MemoryBroker();
    const inbox = await consume(broker.transport(), {
      topic: 'm',
      consumerName: 'c',
      maxRedeliverCount: 2,
      nackRedeliveryDelayMs: 5,
      deadLetterTopic: 'm-sub-DLQ',
      onBatch: (batch, box) => {
        for (const d of batch) settle(box, d, 'nack');
      },
    });
    const id = broker.publish('m', { data: bytes('poison'), partitionKey: 'k', properties: { a: 'b' } });
    await waitFor('dead letter', () => broker.peek('m-sub-DLQ').length === 1);
    await sleep(30);
    expect(inbox.deliveries.map((d) => d.redeliveryCount)).toEqual([0, 1, 2]);
    const [dead] = broker.peek('m-sub-DLQ');
    expect(text(dead!.data)).toBe('poison');
    expect(dead!.partitionKey).toBe('k');
    expect(dead!.properties).toMatchObject({
      a: 'b',
      [DeadLetterProperties.realTopic]: 'm',
      [DeadLetterProperties.originMessageId]: id,
      [DeadLetterProperties.code]: 'EC_MAX_REDELIVER',
      [DeadLetterProperties.reason]: 'redelivered 2 times',
      [DeadLetterProperties.attempts]: '0',
      [DeadLetterProperties.consumer]: 'c',
    });
    expect(broker.topicStats('m', 'sub')).toMatchObject({ backlog: 0, retainedEntries: 0 });
  });

  it('deadLetter() publishes to the dead-letter topic, then acknowledges', async () => {
    broker = new MemoryBroker();
    const inbox = await consume(broker.transport(), { topic: 'd', consumerName: 'c', deadLetterTopic: 'dead' });
    publish('d', 2);
    await waitFor('deliveries', () => inbox.deliveries.length === 2);
    const [first, second] = inbox.deliveries as [Delivery, Delivery];
    await first.deadLetter({ code: 'EC_DECODE', message: 'bad json', attempts: 0, consumerName: 'c' });
    const [dead] = broker.peek('dead');
    expect(dead!.properties).toMatchObject({
      seq: '0',
      [DeadLetterProperties.realTopic]: 'd',
      [DeadLetterProperties.originMessageId]: first.id,
      [DeadLetterProperties.code]: 'EC_DECODE',
      [DeadLetterProperties.reason]: 'bad json',
    });
    expect(broker.topicStats('d', 'sub')).toMatchObject({ backlog: 1, unacked: 1 });
    broker.kill('c');
    const error = await second
      .deadLetter({ code: 'X', message: 'x', attempts: 1, consumerName: 'c' })
      .catch((e: unknown) => e);
    expect(isTransportError(error)).toBe(true);
    expect(broker.peek('dead')).toHaveLength(1);
    expect(broker.topicStats('d', 'sub')).toMatchObject({ backlog: 1 });
  });

  it('gives a closed consumer’s unacknowledged messages to the others at once, redeliveryCount + 1', async () => {
    broker = new MemoryBroker({ nackRedeliveryDelayMs: 10_000 });
    const t = broker.transport();
    const a = await consume(t, { topic: 'h', consumerName: 'a', receiverQueueSize: 5 });
    publish('h', 5);
    await waitFor('a has 5', () => a.deliveries.length === 5);
    const b = await consume(t, { topic: 'h', consumerName: 'b' });
    await rounds();
    expect(b.deliveries).toHaveLength(0);
    await a.subscription.close();
    await waitFor('b takes over', () => b.deliveries.length === 5, 2000);
    expect(b.deliveries.map((d) => [text(d.data), d.redeliveryCount])).toEqual([
      ['0', 1],
      ['1', 1],
      ['2', 1],
      ['3', 1],
      ['4', 1],
    ]);
    // The closed consumer's deliveries are dead: ack rejects, nack does nothing.
    expect(isTransportError(await rejection(a.deliveries[0]!.ack()))).toBe(true);
    a.deliveries[1]!.nack();
    expect(broker.topicStats('h', 'sub')).toMatchObject({ backlog: 5, unacked: 5, consumers: 1 });
    ackAll(b);
    expect(broker.topicStats('h', 'sub')).toMatchObject({ backlog: 0, unacked: 0 });
  });

  it('kill() drops the consumer like a crash: others get its messages, its acks reject', async () => {
    broker = new MemoryBroker({ nackRedeliveryDelayMs: 10_000 });
    const t = broker.transport();
    const a = await consume(t, { topic: 'k', consumerName: 'a', receiverQueueSize: 3 });
    publish('k', 3);
    await waitFor('a has 3', () => a.deliveries.length === 3);
    const b = await consume(t, { topic: 'k', consumerName: 'b', onBatch: ackEach });
    expect(broker.kill('nobody')).toBe(false);
    expect(broker.kill('a')).toBe(true);
    expect(a.errors).toHaveLength(1);
    expect(isTransportError(a.errors[0])).toBe(true);
    const error = await rejection(a.deliveries[0]!.ack());
    expect(isTransportError(error)).toBe(true);
    expect((error as Error).message).toMatch(/killed/);
    await waitFor('b takes over', () => b.deliveries.length === 3, 2000);
    expect(b.deliveries.every((d) => d.redeliveryCount === 1)).toBe(true);
    expect(broker.topicStats('k', 'sub')).toMatchObject({ backlog: 0, consumers: 1 });
    // Closing a killed consumer's subscription is harmless.
    await a.subscription.close();
  });
});
