import { afterEach, describe, expect, it } from 'vitest';
import { isConfigurationError, isTransportError } from '../../../src/errors/index.js';
import { MemoryBroker, defaultMemoryBroker, memoryTransport } from '../../../src/transports/memory/index.js';
import type { Delivery } from '../../../src/transports/types.js';
import { ackEach, ackAll, bytes, consume, settle, sleep, text, waitFor } from './helpers.js';

let broker: MemoryBroker;
afterEach(async () => {
  await broker?.close();
});

describe('MemoryBroker: publish and consume', () => {
  it('delivers messages with their metadata, and an ack removes them', async () => {
    broker = new MemoryBroker();
    const inbox = await consume(broker.transport(), { topic: 't', consumerName: 'c' });
    const before = Date.now();
    const ids = [
      broker.publish('t', { data: bytes('zero'), partitionKey: 'k1', properties: { a: '1' } }),
      broker.publish('t', { data: bytes('one') }),
      broker.publish('t', { data: bytes('two'), partitionKey: 'k2' }),
    ];
    const after = Date.now();
    expect(ids).toEqual(['-1:0', '-1:1', '-1:2']);
    await waitFor('3 deliveries', () => inbox.deliveries.length === 3);
    const [d0, d1, d2] = inbox.deliveries as [Delivery, Delivery, Delivery];
    expect(d0.id).toBe('-1:0');
    expect(text(d0.data)).toBe('zero');
    expect(d0.partitionKey).toBe('k1');
    expect(d0.properties).toEqual({ a: '1' });
    expect(d0.redeliveryCount).toBe(0);
    expect(d0.topic).toBe('t');
    expect(d0.publishTime).toBeGreaterThanOrEqual(before);
    expect(d0.publishTime).toBeLessThanOrEqual(after);
    expect(d1.partitionKey).toBeUndefined();
    expect(d1.properties).toEqual({});
    expect(text(d2.data)).toBe('two');
    // The metadata are own properties: the engine may spread a delivery into a plain MessageMeta.
    expect(Object.keys({ ...d0 }).sort()).toEqual(
      ['data', 'id', 'partitionKey', 'properties', 'publishTime', 'redeliveryCount', 'topic'].sort(),
    );

    expect(broker.topicStats('t', 'sub')).toEqual({ backlog: 3, unacked: 3, consumers: 1, retainedEntries: 3 });
    ackAll(inbox);
    expect(broker.topicStats('t', 'sub')).toEqual({ backlog: 0, unacked: 0, consumers: 1, retainedEntries: 0 });
    await sleep(20);
    expect(inbox.deliveries).toHaveLength(3);
  });

  it('never dispatches inside publish, ack or subscribe', async () => {
    broker = new MemoryBroker();
    let depth = 0;
    let reentered = false;
    const inbox = await consume(broker.transport(), {
      topic: 't',
      consumerName: 'c',
      receiverQueueSize: 1,
      onBatch: (batch, box) => {
        if (depth > 0) reentered = true;
        depth++;
        ackEach(batch, box);
        broker.publish('t2', { data: bytes('x') });
        depth--;
      },
    });
    for (let i = 0; i < 5; i++) broker.publish('t', { data: bytes(String(i)) });
    expect(inbox.deliveries).toHaveLength(0);
    await waitFor('5 deliveries', () => inbox.deliveries.length === 5);
    expect(reentered).toBe(false);
    expect(inbox.batches).toEqual([1, 1, 1, 1, 1]);
  });

  it('hands one batch per consumer per round, bounded by the receiver queue', async () => {
    broker = new MemoryBroker();
    const inbox = await consume(broker.transport(), { topic: 't', consumerName: 'c', receiverQueueSize: 300 });
    for (let i = 0; i < 1000; i++) broker.publish('t', { data: bytes(String(i)) });
    await waitFor('300 deliveries', () => inbox.deliveries.length === 300);
    expect(inbox.batches).toEqual([300]);
  });

  it('reports an onMessages exception to onError and keeps dispatching', async () => {
    broker = new MemoryBroker();
    let calls = 0;
    const inbox = await consume(broker.transport(), {
      topic: 't',
      consumerName: 'c',
      onBatch: (batch, box) => {
        ackEach(batch, box);
        if (++calls === 1) throw new Error('boom');
      },
    });
    broker.publish('t', { data: bytes('1') });
    await waitFor('first delivery', () => inbox.deliveries.length === 1);
    broker.publish('t', { data: bytes('2') });
    await waitFor('second delivery', () => inbox.deliveries.length === 2);
    expect(inbox.errors.map((e) => e.message)).toEqual(['boom']);
  });
});

describe('MemoryBroker: retention', () => {
  it('keeps everything on a topic without subscription, and an earliest subscription reads it', async () => {
    broker = new MemoryBroker();
    for (let i = 0; i < 10; i++) broker.publish('r', { data: bytes(String(i)) });
    expect(broker.topicStats('r', 'none').retainedEntries).toBe(10);
    expect(broker.peek('r').map((m) => text(m.data))).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    const inbox = await consume(broker.transport(), { topic: 'r', consumerName: 'c', initialPosition: 'earliest' });
    await waitFor('10 deliveries', () => inbox.deliveries.length === 10);
    for (const d of inbox.deliveries.slice(0, 5)) settle(inbox, d);
    expect(broker.topicStats('r', 'sub')).toMatchObject({ backlog: 5, retainedEntries: 5 });
    ackAll(inbox);
    expect(broker.topicStats('r', 'sub')).toMatchObject({ backlog: 0, retainedEntries: 0 });
    expect(broker.peek('r')).toEqual([]);
  });

  it('trims only up to the first unacknowledged message', async () => {
    broker = new MemoryBroker();
    const inbox = await consume(broker.transport(), { topic: 'r', consumerName: 'c' });
    for (let i = 0; i < 10; i++) broker.publish('r', { data: bytes(String(i)) });
    await waitFor('10 deliveries', () => inbox.deliveries.length === 10);
    for (const d of [...inbox.deliveries].reverse().slice(0, 9)) settle(inbox, d);
    expect(broker.topicStats('r', 'sub')).toMatchObject({ backlog: 1, unacked: 1, retainedEntries: 10 });
    settle(inbox, inbox.deliveries[0]!);
    expect(broker.topicStats('r', 'sub')).toMatchObject({ backlog: 0, unacked: 0, retainedEntries: 0 });
  });

  it('keeps a message until every subscription acknowledged it', async () => {
    broker = new MemoryBroker();
    const t = broker.transport();
    const a = await consume(t, { topic: 'r', consumerName: 'a', subscription: 'A', onBatch: ackEach });
    const b = await consume(t, { topic: 'r', consumerName: 'b', subscription: 'B' });
    for (let i = 0; i < 4; i++) broker.publish('r', { data: bytes(String(i)) });
    await waitFor('deliveries', () => a.deliveries.length === 4 && b.deliveries.length === 4);
    expect(broker.topicStats('r', 'A')).toMatchObject({ backlog: 0, retainedEntries: 4 });
    expect(broker.topicStats('r', 'B')).toMatchObject({ backlog: 4, retainedEntries: 4 });
    ackAll(b);
    expect(broker.topicStats('r', 'B')).toMatchObject({ backlog: 0, retainedEntries: 0 });
  });

  it("starts a 'latest' subscription after the last published message", async () => {
    broker = new MemoryBroker();
    for (let i = 0; i < 3; i++) broker.publish('l', { data: bytes(`old${i}`) });
    const inbox = await consume(broker.transport(), { topic: 'l', consumerName: 'c', initialPosition: 'latest' });
    // Its first subscription starts after them, so the topic stops retaining them.
    expect(broker.topicStats('l', 'sub')).toMatchObject({ backlog: 0, retainedEntries: 0 });
    broker.publish('l', { data: bytes('new0') });
    broker.publish('l', { data: bytes('new1') });
    await waitFor('2 deliveries', () => inbox.deliveries.length === 2);
    await sleep(10);
    expect(inbox.deliveries.map((d) => [d.id, text(d.data)])).toEqual([
      ['-1:3', 'new0'],
      ['-1:4', 'new1'],
    ]);
  });

  it('keeps a subscription after its consumers closed and redelivers its messages later', async () => {
    broker = new MemoryBroker({ nackRedeliveryDelayMs: 10_000 });
    const t = broker.transport();
    const first = await consume(t, { topic: 'd', consumerName: 'c1' });
    for (let i = 0; i < 5; i++) broker.publish('d', { data: bytes(String(i)) });
    await waitFor('5 deliveries', () => first.deliveries.length === 5);
    settle(first, first.deliveries[0]!);
    await first.subscription.close();
    for (let i = 5; i < 8; i++) broker.publish('d', { data: bytes(String(i)) });
    expect(broker.topicStats('d', 'sub')).toMatchObject({ backlog: 7, unacked: 0, consumers: 0, retainedEntries: 7 });
    // The position of an existing subscription wins over initialPosition.
    const second = await consume(t, { topic: 'd', consumerName: 'c2', initialPosition: 'latest' });
    await waitFor('7 deliveries', () => second.deliveries.length === 7);
    expect(second.deliveries.map((d) => [text(d.data), d.redeliveryCount])).toEqual([
      ['1', 1],
      ['2', 1],
      ['3', 1],
      ['4', 1],
      ['5', 0],
      ['6', 0],
      ['7', 0],
    ]);
  });
});

describe('MemoryBroker: topics, options and errors', () => {
  it('creates partitioned topics idempotently and refuses a different partition count', () => {
    broker = new MemoryBroker();
    broker.createTopic('p', { partitions: 3 });
    broker.createTopic('p', { partitions: 3 });
    expect(() => broker.createTopic('p', { partitions: 2 })).toThrow(/partitions/);
    let caught: unknown;
    try {
      broker.createTopic('p');
    } catch (error) {
      caught = error;
    }
    expect(isConfigurationError(caught)).toBe(true);
    broker.publish('auto', { data: bytes('x') });
    expect(() => broker.createTopic('auto', { partitions: 4 })).toThrow(/partitions/);
    broker.createTopic('auto');
    expect(() => broker.createTopic('p-partition-1')).toThrow(/partition/);
    expect(() => broker.createTopic('q', { partitions: -1 })).toThrow(/partitions/);
    // A partition can be addressed by its own name.
    expect(broker.publish('p-partition-2', { data: bytes('x') })).toBe('2:0');
    expect(broker.topicStats('p', 'none').retainedEntries).toBe(1);
  });

  it('validates subscribe options with ConfigurationError', async () => {
    broker = new MemoryBroker();
    const t = broker.transport();
    const base = {
      topic: 't',
      subscription: 's',
      consumerName: 'c',
      type: 'shared' as const,
      initialPosition: 'earliest' as const,
      receiverQueueSize: 10,
      deadLetterTopic: 'dlq',
      onMessages: () => {},
    };
    const bad: Array<[string, Record<string, unknown>]> = [
      ['topic', { topic: '' }],
      ['subscription', { subscription: '' }],
      ['consumerName', { consumerName: undefined }],
      ['receiverQueueSize', { receiverQueueSize: 0 }],
      ['receiverQueueSize', { receiverQueueSize: 1.5 }],
      ['type', { type: 'exclusive' }],
      ['initialPosition', { initialPosition: 'middle' }],
      ['maxRedeliverCount', { maxRedeliverCount: -1 }],
      ['nackRedeliveryDelayMs', { nackRedeliveryDelayMs: -5 }],
      ['onMessages', { onMessages: 'nope' }],
    ];
    for (const [option, override] of bad) {
      const error: unknown = await t.subscribe({ ...base, ...override } as never).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isConfigurationError(error), option).toBe(true);
      expect((error as { option: string }).option).toBe(option);
    }
    expect(() => new MemoryBroker({ hashRangePoints: 0 })).toThrow(/hashRangePoints/);
    expect(() => new MemoryBroker({ nackRedeliveryDelayMs: -1 })).toThrow(/nackRedeliveryDelayMs/);
  });

  it('refuses a consumer of another type and a duplicate consumer name with TransportError', async () => {
    broker = new MemoryBroker();
    const t = broker.transport();
    const first = await consume(t, { topic: 't', consumerName: 'c1', type: 'key-shared' });
    const otherType = await consume(t, { topic: 't', consumerName: 'c2', type: 'failover' }).catch((e: unknown) => e);
    expect(isTransportError(otherType)).toBe(true);
    expect((otherType as Error).message).toMatch(/different type/);
    const sameName = await consume(t, { topic: 't', consumerName: 'c1', type: 'key-shared' }).catch((e: unknown) => e);
    expect(isTransportError(sameName)).toBe(true);
    // Same name on another subscription is fine.
    await consume(t, { topic: 't', consumerName: 'c1', subscription: 'other' });
    // Once the subscription has no consumer, its type may change.
    await first.subscription.close();
    await first.subscription.close();
    await consume(t, { topic: 't', consumerName: 'c3', type: 'failover' });
  });

  it('produces through TopicProducer and routes partitioned topics like Pulsar', async () => {
    broker = new MemoryBroker();
    broker.createTopic('p', { partitions: 4 });
    const producer = await broker.transport().createProducer('p');
    expect(producer.topic).toBe('p');
    const partitionOf = (id: string): string => id.split(':')[0]!;
    const sameKey = await Promise.all(
      Array.from({ length: 20 }, () => producer.send({ data: bytes('x'), partitionKey: 'shopper-42' })),
    );
    expect(new Set(sameKey.map(partitionOf)).size).toBe(1);
    const manyKeys = await Promise.all(
      Array.from({ length: 100 }, (_, i) => producer.send({ data: bytes('x'), partitionKey: `k${i}` })),
    );
    expect(new Set(manyKeys.map(partitionOf)).size).toBe(4);
    const noKey = await Promise.all(Array.from({ length: 8 }, () => producer.send({ data: bytes('x') })));
    expect(noKey.map(partitionOf)).toEqual(['0', '1', '2', '3', '0', '1', '2', '3']);
    await producer.flush();
    await producer.close();
    await producer.close();
    const error = await producer.send({ data: bytes('x') }).catch((e: unknown) => e);
    expect(isTransportError(error)).toBe(true);
    const inbox = await consume(broker.transport(), { topic: 'p', consumerName: 'c' });
    await waitFor('all messages', () => inbox.deliveries.length === 128);
    const topicsOfKey = new Set(inbox.deliveries.filter((d) => d.partitionKey === 'shopper-42').map((d) => d.topic));
    expect([...topicsOfKey]).toEqual([`p-partition-${partitionOf(sameKey[0]!)}`]);
  });

  it('rejects bad payloads and fails everything after close', async () => {
    broker = new MemoryBroker();
    expect(() => broker.publish('t', { data: 'text' as unknown as Uint8Array })).toThrow(/Uint8Array/);
    const t = broker.transport();
    expect(t.name).toBe('memory');
    const inbox = await consume(t, { topic: 't', consumerName: 'c' });
    broker.publish('t', { data: bytes('x') });
    await waitFor('delivery', () => inbox.deliveries.length === 1);
    await broker.close();
    await broker.close();
    expect(broker.closed).toBe(true);
    expect(() => broker.publish('t', { data: bytes('x') })).toThrow(/closed/);
    const refused = await consume(t, { topic: 't', consumerName: 'c2' }).catch((e: unknown) => e);
    expect(isTransportError(refused)).toBe(true);
    expect(isTransportError(await t.createProducer('t').catch((e: unknown) => e))).toBe(true);
    expect(isTransportError(await Promise.resolve(inbox.deliveries[0]!.ack()).catch((e: unknown) => e))).toBe(true);
    expect(broker.peek('t')).toEqual([]);
  });

  it('closes what a transport opened, not the broker', async () => {
    broker = new MemoryBroker({ nackRedeliveryDelayMs: 10_000 });
    const t1 = broker.transport();
    const t2 = broker.transport();
    const a = await consume(t1, { topic: 't', consumerName: 'a', receiverQueueSize: 5 });
    for (let i = 0; i < 5; i++) broker.publish('t', { data: bytes(String(i)) });
    await waitFor('a has 5', () => a.deliveries.length === 5);
    const b = await consume(t2, { topic: 't', consumerName: 'b' });
    await t1.close!();
    await waitFor('b takes over', () => b.deliveries.length === 5);
    expect(broker.closed).toBe(false);
    expect(broker.topicStats('t', 'sub').consumers).toBe(1);
  });

  it('shares one default broker until it is closed', async () => {
    const first = defaultMemoryBroker();
    expect(defaultMemoryBroker()).toBe(first);
    const t = memoryTransport();
    expect(t.name).toBe('memory');
    const inbox = await consume(t, { topic: 'default-broker-topic', consumerName: 'c' });
    first.publish('default-broker-topic', { data: bytes('x') });
    await waitFor('delivery through the default broker', () => inbox.deliveries.length === 1);
    await first.close();
    const second = defaultMemoryBroker();
    expect(second).not.toBe(first);
    expect(second.closed).toBe(false);
    await second.close();
    broker = new MemoryBroker();
    expect(memoryTransport({ broker }).name).toBe('memory');
  });
});
