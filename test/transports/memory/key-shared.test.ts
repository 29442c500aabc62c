import { afterEach, describe, expect, it } from 'vitest';
import { isTransportError } from '../../../src/errors/index.js';
import { MemoryBroker } from '../../../src/transports/memory/index.js';
import type { Delivery } from '../../../src/transports/types.js';
import { ackAll, ackEach, bytes, consume, settle, sleep, waitFor, type Inbox } from './helpers.js';

let broker: MemoryBroker;
afterEach(async () => {
  await broker?.close();
});

let seq = 0;
/** Publish `perKey` messages for each of `keys`, interleaved, with a global sequence number. */
const publish = (topic: string, keys: readonly string[], perKey = 1): void => {
  for (let round = 0; round < perKey; round++) {
    for (const key of keys) broker.publish(topic, { data: bytes(key), partitionKey: key, properties: { seq: String(seq++) } });
  }
};
const keysOf = (deliveries: readonly Delivery[]): Set<string> => new Set(deliveries.map((d) => d.partitionKey!));
const seqOf = (d: Delivery): number => Number(d.properties.seq);
const range = (n: number, prefix = 'k'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** Each key went to exactly one of `inboxes`, in publish order there. */
function expectExclusiveInOrder(inboxes: readonly Inbox[]): void {
  const owner = new Map<string, string>();
  for (const inbox of inboxes) {
    const last = new Map<string, number>();
    for (const d of inbox.deliveries) {
      const key = d.partitionKey ?? '';
      expect(owner.get(key) ?? inbox.name, `key ${key}`).toBe(inbox.name);
      owner.set(key, inbox.name);
      expect(seqOf(d), `order of key ${key}`).toBeGreaterThan(last.get(key) ?? -1);
      last.set(key, seqOf(d));
    }
  }
}

describe('key-shared subscription', () => {
  it('gives every key to exactly one consumer, in order', async () => {
    broker = new MemoryBroker();
    const t = broker.transport();
    const inboxes = [
      await consume(t, { topic: 'ks', consumerName: 'a', type: 'key-shared', onBatch: ackEach }),
      await consume(t, { topic: 'ks', consumerName: 'b', type: 'key-shared', onBatch: ackEach }),
      await consume(t, { topic: 'ks', consumerName: 'c', type: 'key-shared', onBatch: ackEach }),
    ];
    publish('ks', range(60), 10);
    await waitFor('600 deliveries', () => inboxes.reduce((n, b) => n + b.deliveries.length, 0) === 600);
    expectExclusiveInOrder(inboxes);
    for (const inbox of inboxes) expect(inbox.deliveries.length).toBeGreaterThan(0);
    expect(broker.topicStats('ks', 'sub')).toMatchObject({ backlog: 0, retainedEntries: 0 });
  });

  it('sends every message without a key to one consumer', async () => {
    broker = new MemoryBroker();
    const t = broker.transport();
    const inboxes = [
      await consume(t, { topic: 'nk', consumerName: 'a', type: 'key-shared', onBatch: ackEach }),
      await consume(t, { topic: 'nk', consumerName: 'b', type: 'key-shared', onBatch: ackEach }),
    ];
    for (let i = 0; i < 20; i++) broker.publish('nk', { data: bytes(String(i)) });
    await waitFor('20 deliveries', () => inboxes.reduce((n, b) => n + b.deliveries.length, 0) === 20);
    expect(inboxes.map((b) => b.deliveries.length).sort()).toEqual([0, 20]);
  });

  it('moves a key to a joining consumer only once its unacknowledged messages are acknowledged', async () => {
    broker = new MemoryBroker();
    const t = broker.transport();
    const keys = range(40);
    const a = await consume(t, { topic: 'j', consumerName: 'a', type: 'key-shared' });
    publish('j', keys, 2);
    await waitFor('a has everything', () => a.deliveries.length === 80);

    const b = await consume(t, { topic: 'j', consumerName: 'b', type: 'key-shared' });
    // Ack every message of the first half of the keys; the second half stays unacknowledged at a.
    const acked = new Set(keys.slice(0, 20));
    for (const d of [...a.pending]) if (acked.has(d.partitionKey!)) settle(a, d);
    const before = { a: a.deliveries.length, b: b.deliveries.length };
    publish('j', keys);
    await waitFor('40 more deliveries', () => a.deliveries.length + b.deliveries.length === before.a + before.b + 40);
    const third = { a: a.deliveries.slice(before.a), b: b.deliveries.slice(before.b) };

    // Learn the ring's final assignment: with nothing unacknowledged, each key goes to its owner.
    ackAll(a);
    ackAll(b);
    const mark = { a: a.deliveries.length, b: b.deliveries.length };
    publish('j', keys);
    await waitFor('40 more deliveries', () => a.deliveries.length + b.deliveries.length === mark.a + mark.b + 40);
    const ownedByB = keysOf(b.deliveries.slice(mark.b));
    expect(ownedByB.size).toBeGreaterThan(0);
    expect(ownedByB.size).toBeLessThan(40);

    for (const key of keys) {
      const expected = ownedByB.has(key) && acked.has(key) ? 'b' : 'a';
      const got = keysOf(third.a).has(key) ? 'a' : 'b';
      expect(got, `key ${key} (owned by ${ownedByB.has(key) ? 'b' : 'a'}, acked ${acked.has(key)})`).toBe(expected);
    }
    // A key moved from a to b at most once, and b's first message of it came after a's last.
    for (const key of keys) {
      const atA = a.deliveries.filter((d) => d.partitionKey === key).map(seqOf);
      const atB = b.deliveries.filter((d) => d.partitionKey === key).map(seqOf);
      if (atB.length > 0) expect(Math.min(...atB), `key ${key}`).toBeGreaterThan(Math.max(...atA));
    }
  });

  it('keeps other keys flowing while one consumer is full or paused', async () => {
    broker = new MemoryBroker();
    const t = broker.transport();
    const slow = await consume(t, { topic: 'b', consumerName: 'slow', type: 'key-shared', receiverQueueSize: 2 });
    const fast = await consume(t, { topic: 'b', consumerName: 'fast', type: 'key-shared', onBatch: ackEach });
    const keys = range(50);
    publish('b', keys, 4);
    await waitFor('slow is full', () => slow.deliveries.length === 2);
    await sleep(30);
    // Every key fast owns arrived in full, although messages of slow's keys sit before them.
    const fastKeys = keysOf(fast.deliveries);
    expect(fastKeys.size).toBeGreaterThan(0);
    expect(fast.deliveries).toHaveLength(fastKeys.size * 4);
    const slowKeys = keysOf(slow.deliveries);
    expect(slowKeys.size).toBeGreaterThan(0);
    expect(slow.deliveries).toHaveLength(2);
    // Drain the slow consumer one ack at a time.
    while (slow.deliveries.length + fast.deliveries.length < 200) {
      ackAll(slow);
      await sleep(1);
    }
    ackAll(slow);
    expect(slow.maxPending).toBe(2);
    expectExclusiveInOrder([slow, fast]);
    expect(broker.topicStats('b', 'sub')).toMatchObject({ backlog: 0 });
  });

  it('stops reading ahead once 10,000 messages wait for blocked keys', async () => {
    broker = new MemoryBroker();
    const t = broker.transport();
    const a = await consume(t, { topic: 'la', consumerName: 'a', type: 'key-shared', onBatch: ackEach });
    const b = await consume(t, { topic: 'la', consumerName: 'b', type: 'key-shared', onBatch: ackEach });
    // Learn which consumer owns which key.
    publish('la', range(20));
    await waitFor('probe', () => a.deliveries.length + b.deliveries.length === 20);
    const keyOfA = a.deliveries[0]!.partitionKey!;
    const keyOfB = b.deliveries[0]!.partitionKey!;
    const bBefore = b.deliveries.length;

    a.subscription.pause();
    publish('la', [keyOfB]);
    publish('la', [keyOfA], 10_050);
    publish('la', [keyOfB]);
    await waitFor('b gets the message before the blocked run', () => b.deliveries.length === bBefore + 1);
    await sleep(30);
    // The second one sits behind 10,000 waiting messages of a's key: not read yet.
    expect(b.deliveries).toHaveLength(bBefore + 1);
    a.subscription.resume();
    await waitFor('everything', () => b.deliveries.length === bBefore + 2 && a.deliveries.length > 10_050);
    expectExclusiveInOrder([a, b]);
  });

  it('hands a closed consumer’s keys and unacknowledged messages over at once', async () => {
    broker = new MemoryBroker({ nackRedeliveryDelayMs: 10_000 });
    const t = broker.transport();
    const a = await consume(t, { topic: 'c', consumerName: 'a', type: 'key-shared' });
    const b = await consume(t, { topic: 'c', consumerName: 'b', type: 'key-shared' });
    const keys = range(30);
    publish('c', keys, 3);
    await waitFor('90 deliveries', () => a.deliveries.length + b.deliveries.length === 90);
    const aKeys = keysOf(a.deliveries);
    expect(aKeys.size).toBeGreaterThan(0);
    const aCount = a.deliveries.length;
    await a.subscription.close();
    await waitFor('b gets a’s messages', () => b.deliveries.length === 90, 2000);
    const handed = b.deliveries.slice(90 - aCount);
    expect(keysOf(handed)).toEqual(aKeys);
    expect(handed.every((d) => d.redeliveryCount === 1)).toBe(true);
    publish('c', keys);
    await waitFor('b gets every key', () => b.deliveries.length === 120);
    expectExclusiveInOrder([b]);
  });

  it('on kill(), moves the keys at once even while the old consumer still holds them', async () => {
    broker = new MemoryBroker({ nackRedeliveryDelayMs: 10_000 });
    const t = broker.transport();
    const a = await consume(t, { topic: 'x', consumerName: 'a', type: 'key-shared' });
    const b = await consume(t, { topic: 'x', consumerName: 'b', type: 'key-shared', onBatch: ackEach });
    publish('x', range(30), 2);
    await waitFor('60 deliveries', () => a.deliveries.length + b.deliveries.length === 60);
    const held = a.deliveries.length;
    expect(held).toBeGreaterThan(0);
    broker.kill('a');
    await waitFor('b gets a’s messages', () => b.deliveries.length === 60, 2000);
    expect(b.deliveries.slice(60 - held).every((d) => d.redeliveryCount === 1)).toBe(true);
    // a "still runs" its handlers, but can no longer acknowledge: the messages were handed over.
    const error = await Promise.resolve(a.deliveries[0]!.ack()).catch((e: unknown) => e);
    expect(isTransportError(error)).toBe(true);
    expect(broker.topicStats('x', 'sub')).toMatchObject({ backlog: 0, unacked: 0, consumers: 1 });
  });

  it('does not let a redelivered message be overtaken by a newer one of its key', async () => {
    broker = new MemoryBroker({ nackRedeliveryDelayMs: 10_000 });
    const t = broker.transport();
    const a = await consume(t, { topic: 'o', consumerName: 'a', type: 'key-shared', receiverQueueSize: 1 });
    publish('o', ['solo'], 5);
    await waitFor('a has one', () => a.deliveries.length === 1);
    // b has no room: the handed-over message and the rest of the key must wait, in order.
    const b = await consume(t, { topic: 'o', consumerName: 'b', type: 'key-shared', receiverQueueSize: 1 });
    b.subscription.pause();
    await a.subscription.close();
    await sleep(10);
    expect(b.deliveries).toHaveLength(0);
    b.subscription.resume();
    while (b.deliveries.length < 5) {
      await waitFor('next', () => b.pending.size === 1);
      ackAll(b);
    }
    expect(b.deliveries.map(seqOf)).toEqual([...b.deliveries.map(seqOf)].sort((x, y) => x - y));
    expect(b.deliveries[0]!.redeliveryCount).toBe(1);
  });
});
