/**
 * The pulsar-client transport over a faithful double of the native client (./double.ts): option
 * mapping, the receive loop's flow control, pause/resume, ack / nack / dead letter, close, lost
 * connections, the producer, and the transport contract and an engine run on top of it.
 */
import { describe, expect, it } from 'vitest';
import { DeadLetterProperties, createExclusiveConsumer, createProducer, defaultDeadLetterTopic, isConfigurationError, isSubscriptionTypeConflictError, isTransportError, type Transport } from '../../../src/index.js';
import { type Delivery, type SubscribeOptions } from '../../../src/adapters.js';
import { pulsarClientTransport, type PulsarClientTransportOptions } from '../../../src/pulsar/index.js';
import { HistoryRecorder, monotonicMicros, registerContract, transportContract, uniqueName } from '../../../src/testing/index.js';
import { drained, sleep, waitFor } from '../../helpers/index.js';
import { FakePulsarClient, type FakeConsumer } from './double.js';
import { MAX_ASKS } from '../../../src/pulsar/quiet-partitions.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function setup(options: Partial<PulsarClientTransportOptions> = {}) {
  const client = new FakePulsarClient({ nackRedeliveryDelayMs: 100 });
  const transport = pulsarClientTransport({ client, connectionCheckIntervalMs: 20, ...options });
  return { client, transport };
}

interface Inbox {
  readonly deliveries: Delivery[];
  readonly batches: number[];
  readonly errors: Error[];
  lost: number;
  readonly subscription: Awaited<ReturnType<Transport['subscribe']>>;
  readonly name: string;
}

async function open(transport: Transport, topic: string, extra: Partial<SubscribeOptions> = {}): Promise<Inbox> {
  const name = extra.consumerName ?? uniqueName('c');
  const inbox = { deliveries: [] as Delivery[], batches: [] as number[], errors: [] as Error[], lost: 0, name } as Omit<Inbox, 'subscription'> & {
    subscription?: Inbox['subscription'];
  };
  inbox.subscription = await transport.subscribe({
    topic,
    subscription: 'sub',
    consumerName: name,
    type: 'shared',
    initialPosition: 'earliest',
    receiverQueueSize: 100,
    deadLetterTopic: defaultDeadLetterTopic(topic, 'sub'),
    onMessages: (batch) => {
      inbox.batches.push(batch.length);
      inbox.deliveries.push(...batch);
    },
    onError: (error) => inbox.errors.push(error),
    onDeliveriesLost: () => {
      inbox.lost += 1;
    },
    ...extra,
  });
  return inbox as Inbox;
}

function publish(client: FakePulsarClient, topic: string, count: number, keys = 5, from = 0): void {
  for (let i = from; i < from + count; i++) {
    client.broker.publish(`persistent://public/default/${topic}`, {
      data: encoder.encode(JSON.stringify({ i })),
      partitionKey: `k${i % keys}`,
      properties: { seq: String(i) },
    });
  }
}

const seqOf = (d: Delivery): number => Number(d.properties.seq);

describe('pulsarClientTransport options', () => {
  it('needs a client with subscribe and createProducer, and says which option is wrong', () => {
    const attempt = (options: unknown): unknown => {
      try {
        pulsarClientTransport(options as PulsarClientTransportOptions);
      } catch (error) {
        return error;
      }
      return undefined;
    };
    const client = new FakePulsarClient();
    expect(attempt(undefined)).toSatisfy(isConfigurationError);
    expect(attempt({})).toMatchObject({ option: 'client' });
    expect(attempt({ client: { createProducer: () => undefined } })).toMatchObject({ option: 'client.subscribe' });
    expect(attempt({ client, receive: { batchSize: 0 } })).toMatchObject({ option: 'receive.batchSize' });
    expect(attempt({ client, receive: { timeoutMs: 1.5 } })).toMatchObject({ option: 'receive.timeoutMs' });
    expect(attempt({ client, producer: { hashingScheme: 'Crc' } })).toMatchObject({ option: 'producer.hashingScheme' });
    expect(attempt({ client, producer: { blockIfQueueFull: 'yes' } })).toMatchObject({ option: 'producer.blockIfQueueFull' });
    expect(attempt({ client, tenant: 'a/b' })).toMatchObject({ option: 'tenant' });
    expect(attempt({ client, deadLetterSubscription: 'x/y' })).toMatchObject({ option: 'deadLetterSubscription' });
    expect(attempt({ client, connectionCheckIntervalMs: -1 })).toMatchObject({ option: 'connectionCheckIntervalMs' });
    expect(attempt({ client })).toBeUndefined();
  });

  it('resolves short topic names in its tenant and namespace', () => {
    const { transport } = setup({ tenant: 'acme', namespace: 'shop' });
    expect(transport.name).toBe('pulsar-client');
    expect(transport.topicName('orders')).toBe('persistent://acme/shop/orders');
    expect(transport.topicName('t/n/orders')).toBe('persistent://t/n/orders');
    expect(transport.topicName('non-persistent://t/n/x')).toBe('non-persistent://t/n/x');
  });
});

describe('pulsarClientTransport subscribe', () => {
  it('maps key-shared to KeyShared with AutoSplit and in-order delivery, and passes the consumer settings', async () => {
    const { client, transport } = setup({ receive: { batchSize: 50, timeoutMs: 7 } });
    const inbox = await open(transport, 'ks', {
      type: 'key-shared',
      consumerName: 'worker-1',
      receiverQueueSize: 20,
      nackRedeliveryDelayMs: 250.4,
      initialPosition: 'latest',
    });
    expect(client.consumer('worker-1').config).toEqual({
      topic: 'persistent://public/default/ks',
      subscription: 'sub',
      subscriptionType: 'KeyShared',
      subscriptionInitialPosition: 'Latest',
      consumerName: 'worker-1',
      receiverQueueSize: 20,
      batchReceivePolicy: { maxNumMessages: 20, timeoutMs: 7 },
      keySharedPolicy: { keyShareMode: 'AutoSplit', allowOutOfOrderDelivery: false },
      nAckRedeliverTimeoutMs: 250,
    });
    await inbox.subscription.close();
  });

  it('maps shared to Shared with the client dead-letter policy, and failover to Failover without it', async () => {
    const { client, transport } = setup({ receive: { batchSize: 50 } });
    const shared = await open(transport, 'sh', { consumerName: 's1', maxRedeliverCount: 4 });
    expect(client.consumer('s1').config).toMatchObject({
      subscriptionType: 'Shared',
      subscriptionInitialPosition: 'Earliest',
      batchReceivePolicy: { maxNumMessages: 50, timeoutMs: 10 },
      deadLetterPolicy: {
        deadLetterTopic: 'persistent://public/default/sh-sub-DLQ',
        maxRedeliverCount: 4,
        initialSubscriptionName: 'sub',
      },
    });
    expect(client.consumer('s1').config).not.toHaveProperty('keySharedPolicy');
    // Unset, given-back messages come back after 1 s, not after Pulsar's 60 s.
    expect(client.consumer('s1').config.nAckRedeliverTimeoutMs).toBe(1000);
    // Pulsar applies no dead-letter policy in Failover (the redelivery count stays 0).
    const failover = await open(transport, 'fo', { consumerName: 'f1', type: 'failover', maxRedeliverCount: 4 });
    expect(client.consumer('f1').config).toMatchObject({ subscriptionType: 'Failover' });
    expect(client.consumer('f1').config).not.toHaveProperty('deadLetterPolicy');
    expect(client.consumer('f1').config).not.toHaveProperty('keySharedPolicy');
    for (const c of client.consumers) expect(c.config).not.toHaveProperty('listener');
    await shared.subscription.close();
    await failover.subscription.close();

    const { client: other, transport: noRetainer } = setup({ deadLetterSubscription: false });
    const s = await open(noRetainer, 'sh2', { consumerName: 's2', maxRedeliverCount: 2 });
    expect(other.consumer('s2').config.deadLetterPolicy).toEqual({
      deadLetterTopic: 'persistent://public/default/sh2-sub-DLQ',
      maxRedeliverCount: 2,
    });
    await s.subscription.close();
  });

  it('rejects with a TransportError when the broker refuses, or on invalid options', async () => {
    const { client, transport } = setup();
    client.failSubscribe = 'AuthorizationError';
    const error: unknown = await open(transport, 'refused').catch((e: unknown) => e);
    expect(error).toSatisfy(isTransportError);
    expect((error as Error).message).toMatch(/AuthorizationError/);
    expect((error as Error).cause).toBeInstanceOf(Error);
    // A busy subscription: held by consumers of another type (the library opens no Exclusive ones).
    client.failSubscribe = 'ConsumerBusy';
    const busy: unknown = await open(transport, 'busy').catch((e: unknown) => e);
    expect(busy).toSatisfy(isSubscriptionTypeConflictError);
    expect((busy as { retriable: boolean }).retriable).toBe(true);
    client.failSubscribe = undefined;
    await expect(open(transport, 'x', { receiverQueueSize: 0 })).rejects.toSatisfy(isConfigurationError);
    await expect(open(transport, 'a/b')).rejects.toSatisfy(isConfigurationError);
  });

  it('delivers payload and metadata read from the native message', async () => {
    const { client, transport } = setup();
    const inbox = await open(transport, 'meta');
    publish(client, 'meta', 3);
    client.broker.publish('persistent://public/default/meta', { data: encoder.encode('{"i":3}'), properties: { seq: '3' } });
    await waitFor('4 deliveries', () => inbox.deliveries.length >= 4);
    const [first] = inbox.deliveries;
    expect(JSON.parse(decoder.decode(first?.data))).toEqual({ i: 0 });
    expect(first?.partitionKey).toBe('k0');
    expect(first?.properties).toEqual({ seq: '0' });
    expect(first?.redeliveryCount).toBe(0);
    expect(first?.topic).toBe('persistent://public/default/meta');
    expect(first?.publishTime).toBeGreaterThan(0);
    expect(first?.id).toMatch(/^\(.+\)$/);
    // The client reports '' for a message without a key.
    expect(inbox.deliveries[3]?.partitionKey).toBeUndefined();
    expect(new Set(inbox.deliveries.map((d) => d.id)).size).toBe(4);
    await inbox.subscription.close();
  });
});

describe('pulsarClientTransport receive loop', () => {
  it('never has more than receiverQueueSize deliveries unsettled, holding the rest of a batch', async () => {
    const { client, transport } = setup({ receive: { batchSize: 5 } });
    const unsettled = new Set<Delivery>();
    let most = 0;
    const total = 200;
    const inbox = await open(transport, 'flow', {
      receiverQueueSize: 7,
      onMessages: (batch) => {
        for (const d of batch) unsettled.add(d);
        most = Math.max(most, unsettled.size);
        inbox.deliveries.push(...batch);
      },
    });
    publish(client, 'flow', total, 13);
    let settled = 0;
    while (settled < total) {
      await waitFor(`delivery ${settled + 1}`, () => unsettled.size > 0);
      // Settle a few at a time, in any order: acks and nacks both free room.
      const some = [...unsettled].slice(0, 1 + (settled % 4));
      for (const d of some) {
        unsettled.delete(d);
        const result = d.ack();
        if (result !== undefined) await result;
        settled += 1;
      }
      await sleep(settled % 3);
    }
    expect(most).toBeLessThanOrEqual(7);
    expect(most).toBe(7);
    expect(new Set(inbox.deliveries.map(seqOf)).size).toBe(total);
    // The loop fetched in batches, not one native call per message.
    expect(client.consumer(inbox.name).calls.batchReceive).toBeLessThan(total);
    await inbox.subscription.close();
  });

  it('fills the receiver queue when messages trickle in one at a time, without any settlement', async () => {
    const { client, transport } = setup();
    const inbox = await open(transport, 'trickle', { receiverQueueSize: 5 });
    for (let i = 0; i < 8; i++) {
      publish(client, 'trickle', 1, 5, i);
      await sleep(15);
    }
    await waitFor('5 deliveries', () => inbox.deliveries.length >= 5);
    await sleep(100);
    expect(inbox.deliveries.map(seqOf)).toEqual([0, 1, 2, 3, 4]);
    inbox.deliveries[0]?.nack();
    await waitFor('one more after a settlement', () => inbox.deliveries.length >= 6);
    await sleep(50);
    expect(inbox.deliveries).toHaveLength(6);
    await inbox.subscription.close();
  });

  it('lets the engine settle inside onMessages', async () => {
    const { client, transport } = setup({ receive: { batchSize: 4 } });
    let count = 0;
    const inbox = await open(transport, 'sync', {
      receiverQueueSize: 4,
      onMessages: (batch) => {
        for (const d of batch) {
          count += 1;
          void d.ack();
        }
      },
    });
    publish(client, 'sync', 50);
    await waitFor('50 acknowledged', () => count >= 50);
    expect(client.consumer(inbox.name).calls.acknowledge).toHaveLength(50);
    await inbox.subscription.close();
  });

  it('pause stops deliveries (a batch in flight is held) and resume restarts them', async () => {
    const { client, transport } = setup();
    const inbox = await open(transport, 'pause');
    publish(client, 'pause', 5);
    await waitFor('5 deliveries', () => inbox.deliveries.length >= 5);
    inbox.subscription.pause();
    inbox.subscription.pause();
    publish(client, 'pause', 10, 5, 5);
    await sleep(150);
    expect(inbox.deliveries).toHaveLength(5);
    inbox.subscription.resume();
    inbox.subscription.resume();
    await waitFor('15 deliveries', () => inbox.deliveries.length >= 15);
    expect(inbox.deliveries.map(seqOf)).toEqual([...Array(15).keys()]);
    await inbox.subscription.close();
  });

  it('reports batchReceive failures and keeps receiving', async () => {
    const { client, transport } = setup();
    const inbox = await open(transport, 'fail');
    client.consumer(inbox.name).failBatchReceive.push('TimeOut', 'ConnectError');
    // The first batchReceive() is already pending: the failures hit the next two calls.
    await waitFor('2 failures', () => inbox.errors.length >= 2);
    publish(client, 'fail', 3);
    await waitFor('3 deliveries', () => inbox.deliveries.length >= 3);
    expect(inbox.errors.map((e) => e.message)).toEqual([
      expect.stringMatching(/could not receive.*TimeOut/),
      expect.stringMatching(/could not receive.*ConnectError/),
    ]);
    expect(inbox.errors.every(isTransportError)).toBe(true);
    await inbox.subscription.close();
  });
});

describe('pulsarClientTransport settling', () => {
  it('ack acknowledges the native message once and returns the pending promise', async () => {
    const { client, transport } = setup();
    const inbox = await open(transport, 'ack');
    publish(client, 'ack', 2);
    await waitFor('2 deliveries', () => inbox.deliveries.length >= 2);
    const consumer = client.consumer(inbox.name);
    const [a, b] = inbox.deliveries as [Delivery, Delivery];
    const pending = a.ack();
    expect(pending).toBeInstanceOf(Promise);
    await pending;
    expect(a.ack()).toBeUndefined();
    expect(consumer.calls.acknowledge).toHaveLength(1);
    expect(consumer.calls.acknowledge[0]?.getMessageId().toString()).toBe(a.id);
    consumer.failAcknowledge = 'NotConnected';
    const error: unknown = await Promise.resolve(b.ack()).catch((e: unknown) => e);
    expect(error).toSatisfy(isTransportError);
    expect((error as Error).message).toMatch(/NotConnected/);
    await inbox.subscription.close();
  });

  it('nack negatively acknowledges and the message comes back with a higher redelivery count', async () => {
    const { client, transport } = setup();
    const inbox = await open(transport, 'nack', { nackRedeliveryDelayMs: 100 });
    publish(client, 'nack', 1);
    await waitFor('delivery', () => inbox.deliveries.length >= 1);
    const first = inbox.deliveries[0] as Delivery;
    first.nack();
    first.nack();
    expect(client.consumer(inbox.name).calls.negativeAcknowledge).toHaveLength(1);
    await waitFor('redelivery', () => inbox.deliveries.length >= 2);
    const again = inbox.deliveries[1] as Delivery;
    expect(again.id).toBe(first.id);
    expect(again.redeliveryCount).toBe(1);
    await again.ack();
    await inbox.subscription.close();
  });

  it('deadLetter creates the retaining subscription, publishes with the reason, then acknowledges', async () => {
    const { client, transport } = setup();
    const inbox = await open(transport, 'dead');
    publish(client, 'dead', 1);
    await waitFor('delivery', () => inbox.deliveries.length >= 1);
    const d = inbox.deliveries[0] as Delivery;
    const consumer = client.consumer(inbox.name);
    await d.deadLetter({ code: 'EC_TEST', message: 'bad', attempts: 2, consumerName: inbox.name });
    const dlq = 'persistent://public/default/dead-sub-DLQ';
    const retainer = client.consumers.find((c) => c.config.topic === dlq);
    expect(retainer?.config).toMatchObject({ subscription: 'sub', subscriptionType: 'Shared', subscriptionInitialPosition: 'Earliest' });
    expect(retainer?.calls.close).toBe(1);
    const producer = client.producers.find((p) => p.config.topic === dlq);
    expect(producer?.config).toMatchObject({ batchingType: 'KeyBasedBatching' });
    expect(producer?.sent).toHaveLength(1);
    expect(producer?.sent[0]).toMatchObject({
      partitionKey: 'k0',
      properties: { seq: '0', [DeadLetterProperties.code]: 'EC_TEST', [DeadLetterProperties.originMessageId]: d.id },
    });
    expect(consumer.calls.acknowledge).toHaveLength(1);
    // Settled: a second dead letter or an ack does nothing more.
    await d.deadLetter({ code: 'EC_TEST', message: 'bad', attempts: 2, consumerName: inbox.name });
    expect(producer?.sent).toHaveLength(1);
    expect(client.broker.peek(dlq)).toHaveLength(1);
    await inbox.subscription.close();
    await transport.close();
    expect(producer?.calls.close).toBe(1);
  });

  it('deadLetter rejects without acknowledging when the publish fails; the message can still be nacked', async () => {
    const { client, transport } = setup({ deadLetterSubscription: false });
    const inbox = await open(transport, 'dead-fail');
    publish(client, 'dead-fail', 1);
    await waitFor('delivery', () => inbox.deliveries.length >= 1);
    const d = inbox.deliveries[0] as Delivery;
    client.failCreateProducer = 'TopicNotFound';
    await expect(d.deadLetter({ code: 'X', message: 'y', attempts: 1, consumerName: 'c' })).rejects.toSatisfy(isTransportError);
    client.failCreateProducer = undefined;
    await expect(d.deadLetter({ code: 'X', message: 'y', attempts: 1, consumerName: 'c' })).resolves.toBeUndefined();
    const producer = client.producers.at(-1);
    expect(client.consumers.some((c) => c.config.topic.endsWith('-DLQ'))).toBe(false);
    const publishes = producer?.sent.length ?? 0;
    expect(publishes).toBe(1);
    const consumer = client.consumer(inbox.name);
    expect(consumer.calls.acknowledge).toHaveLength(1);

    publish(client, 'dead-fail', 1, 5, 1);
    await waitFor('second delivery', () => inbox.deliveries.length >= 2);
    (producer as NonNullable<typeof producer>).failSend = 'Timeout';
    const second = inbox.deliveries[1] as Delivery;
    await expect(second.deadLetter({ code: 'X', message: 'y', attempts: 1, consumerName: 'c' })).rejects.toThrow(/Timeout/);
    expect(consumer.calls.acknowledge).toHaveLength(1);
    second.nack();
    expect(consumer.calls.negativeAcknowledge).toHaveLength(1);
    await inbox.subscription.close();
  });
});

describe('pulsarClientTransport Failover hand-overs', () => {
  it('asks for redelivery of a partition gone quiet with nothing unsettled, again while it stays quiet, so that what was given back is not stranded', async () => {
    // In Failover the broker ignores the redelivery requests of a consumer that is not the
    // partition's active one (and during the hand-over delay), and Pulsar 4.0 can skip the
    // dispatch of the hand-over rewind: only a later request of the active consumer brings back
    // what was given back meanwhile. The client turns a negative ack into that request.
    const { client, transport } = setup({ failoverRedeliverAfterMs: 60 });
    const inbox = await open(transport, 'quiet', { type: 'failover' });
    const consumer = client.consumer(inbox.name);
    expect(consumer.config.subscriptionType).toBe('Failover');
    publish(client, 'quiet', 2);
    await waitFor('2 deliveries', () => inbox.deliveries.length === 2);
    const [first, second] = inbox.deliveries as [Delivery, Delivery];
    const asked = (): string[] => consumer.calls.negativeAcknowledge.map((m) => m.getMessageId().toString());
    await first.ack();
    await sleep(200);
    expect(asked()).toEqual([]); // the second is still unsettled: not quiet
    await second.ack();
    await waitFor('the request', () => asked().length === 1);
    expect(asked()).toEqual([second.id]); // its last message stands for the partition
    // The broker may have ignored it: asked again while quiet, with growing spacing, a few times.
    await waitFor(`${MAX_ASKS} requests`, () => asked().length === MAX_ASKS);
    await sleep(300);
    expect(asked()).toEqual(Array.from({ length: MAX_ASKS }, () => second.id)); // no more this quiet spell
    publish(client, 'quiet', 1, 5, 2);
    await waitFor('3rd delivery', () => inbox.deliveries.length === 3);
    await (inbox.deliveries[2] as Delivery).ack();
    await waitFor('a request for the 3rd', () => asked().length === MAX_ASKS + 1);
    expect(asked().at(-1)).toBe((inbox.deliveries[2] as Delivery).id);
    await inbox.subscription.close();
  });

  it('a partition does not go quiet while the subscription is paused (the client may hold its messages)', async () => {
    const { client, transport } = setup({ failoverRedeliverAfterMs: 60 });
    const inbox = await open(transport, 'quiet-paused', { type: 'failover' });
    const consumer = client.consumer(inbox.name);
    publish(client, 'quiet-paused', 1);
    await waitFor('delivery', () => inbox.deliveries.length === 1);
    inbox.subscription.pause();
    await (inbox.deliveries[0] as Delivery).ack();
    await sleep(250);
    expect(consumer.calls.negativeAcknowledge).toHaveLength(0);
    inbox.subscription.resume();
    await sleep(20);
    expect(consumer.calls.negativeAcknowledge).toHaveLength(0); // the clock starts again at the resume
    await waitFor('the request once quiet', () => consumer.calls.negativeAcknowledge.length === 1);
    await inbox.subscription.close();
  });

  it('never asks on other subscription types, or with failoverRedeliverAfterMs 0', async () => {
    const { client, transport } = setup({ failoverRedeliverAfterMs: 60 });
    const shared = await open(transport, 'never', { type: 'key-shared' });
    const { client: client0, transport: transport0 } = setup({ failoverRedeliverAfterMs: 0 });
    const off = await open(transport0, 'never', { type: 'failover' });
    publish(client, 'never', 3);
    publish(client0, 'never', 3);
    await waitFor('deliveries', () => shared.deliveries.length === 3 && off.deliveries.length === 3);
    await Promise.all([...shared.deliveries, ...off.deliveries].map((d) => d.ack()));
    await sleep(250);
    expect(client.consumer(shared.name).calls.negativeAcknowledge).toHaveLength(0);
    expect(client0.consumer(off.name).calls.negativeAcknowledge).toHaveLength(0);
    await shared.subscription.close();
    await off.subscription.close();
  });

  it('rejects a negative failoverRedeliverAfterMs, naming it', () => {
    expect(() => setup({ failoverRedeliverAfterMs: -1 })).toThrow(/failoverRedeliverAfterMs/);
  });
});

describe('pulsarClientTransport close and connection loss', () => {
  it('close closes the native consumer; later acks reject, nacks do nothing, nothing is reported', async () => {
    const { client, transport } = setup();
    const inbox = await open(transport, 'close');
    publish(client, 'close', 2);
    await waitFor('2 deliveries', () => inbox.deliveries.length >= 2);
    const consumer = client.consumer(inbox.name);
    await Promise.all([inbox.subscription.close(), inbox.subscription.close()]);
    expect(consumer.calls.close).toBe(1);
    const error: unknown = await Promise.resolve(inbox.deliveries[0]?.ack()).catch((e: unknown) => e);
    expect(error).toSatisfy(isTransportError);
    expect((error as Error).message).toMatch(/is closed/);
    inbox.deliveries[1]?.nack();
    expect(consumer.calls.negativeAcknowledge).toHaveLength(0);
    expect(inbox.errors).toEqual([]);
    // The unacknowledged messages went back to the subscription.
    const next = await open(transport, 'close');
    await waitFor('redelivery', () => next.deliveries.length >= 2);
    const producer = await transport.createProducer('close');
    await transport.close();
    expect(client.consumers.at(-1)?.calls.close).toBe(1);
    expect(client.producers.at(-1)?.calls.close).toBe(1);
    await expect(producer.send({ data: encoder.encode('x') })).rejects.toThrow(/closed/);
    await next.subscription.close();
    // The client belongs to the caller.
    expect(client.closed).toBe(0);
    await expect(transport.subscribe({} as SubscribeOptions)).rejects.toThrow(/closed/);
  });

  it('a dropped connection is reported and its deliveries declared lost; redeliveries come after the reconnection', async () => {
    const { client, transport } = setup();
    const inbox = await open(transport, 'drop');
    publish(client, 'drop', 3);
    await waitFor('3 deliveries', () => inbox.deliveries.length >= 3);
    const old = inbox.deliveries.splice(0);
    await old[0]?.ack();
    expect(inbox.subscription.connected).toBe(true);
    client.consumer(inbox.name).drop(60);
    await waitFor('loss noticed', () => inbox.lost === 1);
    expect(inbox.subscription.connected).toBe(false);
    expect(inbox.errors.map((e) => e.message)).toEqual([expect.stringMatching(/lost its connection/)]);
    await expect(Promise.resolve(old[1]?.ack())).rejects.toThrow(/is gone/);
    await waitFor('2 redeliveries', () => inbox.deliveries.length >= 2);
    expect(inbox.deliveries.map(seqOf).sort()).toEqual([1, 2]);
    for (const d of inbox.deliveries) await d.ack();
    expect(inbox.lost).toBe(1);
    await waitFor('reconnection seen', () => inbox.subscription.connected === true);
    await inbox.subscription.close();
  });
  it('a reconnect too quick for the poll is proven by a redelivery of a held message: the old deliveries are void, not run beside their copies', async () => {
    // The poll never runs: only a redelivery can tell.
    const { client } = setup();
    const transport = pulsarClientTransport({ client, connectionCheckIntervalMs: 0 });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const runs: number[] = [];
    const consumer = createExclusiveConsumer<{ i: number }>(
      'quick',
      () => 'k',
      async (e) => {
        runs.push(e.i);
        if (e.i === 0 && runs.length === 1) await gate;
      },
      { transport, mode: 'key-shared', subscription: 'sub', consumerName: uniqueName('q'), initialPosition: 'earliest' },
    );
    const errors: string[] = [];
    consumer.on('error', ({ error }) => errors.push(error.message));
    await consumer.start();
    publish(client, 'quick', 5, 1);
    await waitFor('seq 0 running', () => runs.length === 1);
    const native = client.consumers.at(-1) as FakeConsumer;
    native.drop(1); // the broker takes back 0..4 and redelivers them at once
    await waitFor('the redelivery proved the reconnect', () => errors.some((m) => /delivered again messages it still held/.test(m)));
    release();
    await waitFor('every event settled', () => consumer.stats().processed + consumer.stats().repeatsSkipped >= 5 && consumer.stats().inFlight === 0);
    // 0 ran once (its copy is acknowledged from the record), 1..4 ran once each, in order.
    expect(runs).toEqual([0, 1, 2, 3, 4]);
    await consumer.stop();
  });
  it('a partial outage (one partition of several) strands nothing: the old deliveries are given back once, new ones flow', async () => {
    const { client, transport } = setup();
    const inbox = await open(transport, 'flap', { nackRedeliveryDelayMs: 100 });
    publish(client, 'flap', 3);
    await waitFor('3 deliveries', () => inbox.deliveries.length >= 3);
    const old = inbox.deliveries.splice(0);
    const consumer = client.consumer(inbox.name);
    consumer.flap(1500);
    await waitFor('loss noticed', () => inbox.lost === 1);
    // Negatively acknowledged once, so that the broker sends them again rather than keeping them
    // pending on this consumer for good.
    expect(consumer.calls.negativeAcknowledge.map((m) => m.getMessageId().toString()).sort()).toEqual(old.map((d) => d.id).sort());
    old[0]?.nack();
    expect(consumer.calls.negativeAcknowledge).toHaveLength(3);
    // Still "disconnected": messages keep being delivered, and the old ones come back.
    publish(client, 'flap', 2, 5, 3);
    await waitFor('5 deliveries during the outage', () => new Set(inbox.deliveries.map(seqOf)).size >= 5, 1200);
    expect(consumer.isConnected()).toBe(false);
    expect(inbox.lost).toBe(1);
    for (const d of inbox.deliveries) await d.ack();
    await inbox.subscription.close();
  });
});

describe('pulsarClientTransport producer', () => {
  it('creates key-batching producers and sends the partition key, properties and bytes', async () => {
    const { client, transport } = setup({ producer: { batchingMaxPublishDelayMs: 5, compressionType: 'LZ4' } });
    const producer = await transport.createProducer('out');
    expect(producer.topic).toBe('out');
    expect(client.producers[0]?.config).toEqual({
      topic: 'persistent://public/default/out',
      batchingEnabled: true,
      batchingType: 'KeyBasedBatching',
      hashingScheme: 'JavaStringHash',
      batchingMaxPublishDelayMs: 5,
      compressionType: 'LZ4',
    });
    const bytes = new Uint8Array([0, 1, 2, 3, 4, 5]).subarray(1, 4);
    const id = await producer.send({ data: bytes, partitionKey: 'shopper-7', properties: { a: 'b' } });
    expect(id).toMatch(/^\(.+\)$/);
    const sent = client.producers[0]?.sent[0];
    expect(sent?.partitionKey).toBe('shopper-7');
    expect(sent?.properties).toEqual({ a: 'b' });
    expect(Buffer.isBuffer(sent?.data)).toBe(true);
    expect([...(sent?.data ?? [])]).toEqual([1, 2, 3]);
    // Wrapped, not copied.
    expect(sent?.data.buffer).toBe(bytes.buffer);
    await producer.send({ data: encoder.encode('x') });
    expect(client.producers[0]?.sent[1]).not.toHaveProperty('partitionKey');
    await producer.flush();
    expect(client.producers[0]?.calls.flush).toBe(1);

    (client.producers[0] as NonNullable<(typeof client.producers)[0]>).failSend = 'ProducerQueueIsFull';
    await expect(producer.send({ data: encoder.encode('x') })).rejects.toSatisfy(isTransportError);
    await expect(producer.send({ data: 'text' as unknown as Uint8Array })).rejects.toThrow(/Uint8Array/);
    await producer.close();
    await producer.close();
    expect(client.producers[0]?.calls.close).toBe(1);
    await expect(producer.send({ data: encoder.encode('x') })).rejects.toThrow(/closed/);
    client.failCreateProducer = 'AuthorizationError';
    await expect(transport.createProducer('denied')).rejects.toSatisfy(isTransportError);
  });

  it('holds sends beyond maxPendingMessages, in order, instead of failing them with ProducerQueueIsFull', async () => {
    const { client, transport } = setup({ producer: { maxPendingMessages: 3 } });
    const producer = await transport.createProducer('window');
    const ids = await Promise.all(Array.from({ length: 40 }, (_, i) => producer.send({ data: encoder.encode(String(i)), partitionKey: `k${i % 3}` })));
    expect(new Set(ids).size).toBe(40);
    const fake = client.producers[0];
    expect(fake?.config.maxPendingMessages).toBe(3);
    expect(fake?.mostPending).toBe(3);
    expect(client.broker.peek('persistent://public/default/window').map((m) => decoder.decode(m.data))).toEqual(
      Array.from({ length: 40 }, (_, i) => String(i)),
    );
    // Sends still waiting when the producer closes are rejected, not lost silently.
    const late = Array.from({ length: 10 }, (_, i) => producer.send({ data: encoder.encode(`late-${i}`) }));
    const closing = producer.close();
    const outcomes = await Promise.allSettled(late);
    await closing;
    expect(outcomes.filter((o) => o.status === 'rejected').length).toBeGreaterThan(0);
    for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toSatisfy(isTransportError);
  });

  it('createProducer from the library sets each event key as partition key', async () => {
    const { client, transport } = setup({ producer: { batchingEnabled: false, hashingScheme: 'Murmur3_32Hash' } });
    const producer = createProducer<{ shopper: string }>({ transport, topic: 'events', key: (e) => e.shopper });
    await producer.send({ shopper: 's-1' });
    await producer.close();
    expect(client.producers[0]?.config).toMatchObject({ batchingEnabled: false, batchingType: 'KeyBasedBatching', hashingScheme: 'Murmur3_32Hash' });
    expect(client.producers[0]?.sent[0]?.partitionKey).toBe('s-1');
  });
});

describe('pulsarClientTransport under the engine', () => {
  it('key-shared, 3 consumers: no overlapping runs per key, nothing lost, per-key order', async () => {
    const { client, transport } = setup({ receive: { batchSize: 20 } });
    const topic = uniqueName('engine');
    const recorder = new HistoryRecorder<{ key: string; seq: number }>({ seqOf: (e) => e.seq });
    const consumers = ['c1', 'c2', 'c3'].map((name) =>
      createExclusiveConsumer<{ key: string; seq: number }>(topic, (e) => e.key, async (e) => sleep(e.seq % 3), {
        transport,
        mode: 'key-shared',
        consumerName: name,
        initialPosition: 'earliest',
        maxConcurrency: 8,
        maxInFlight: 30,
        middleware: [recorder.middleware()],
      }),
    );
    await Promise.all(consumers.map((c) => c.start()));
    const producer = createProducer<{ key: string; seq: number }>({ transport, topic, key: (e) => e.key });
    const published = Array.from({ length: 600 }, (_, seq) => ({ key: `k${seq % 40}`, seq }));
    await Promise.all(published.map((e) => producer.send(e)));
    await producer.close();
    // The end of the history: the broker behind the double holds nothing unacknowledged.
    await drained(client.broker, transport.topicName(topic), 'exclusive-consumer', 20_000);
    await Promise.all(consumers.map((c) => c.stop()));
    const report = recorder.check({ published, endOfHistory: monotonicMicros() });
    expect(report.overlaps).toEqual([]);
    expect(report.lost).toEqual([]);
    expect(report.orderViolations).toEqual([]);
    expect(new Set(recorder.runs.map((r) => r.consumer)).size).toBe(3);
    expect(client.consumers.every((c: FakeConsumer) => c.config.subscriptionType === 'KeyShared')).toBe(true);
    await transport.close();
  });
});

registerContract(
  'pulsar-client transport contract (over the pulsar-client double)',
  transportContract(() => pulsarClientTransport({ client: new FakePulsarClient({ nackRedeliveryDelayMs: 200 }), connectionCheckIntervalMs: 20 }), {
    cleanup: (transport) => transport.close?.() ?? Promise.resolve(),
    waitMs: 5000,
  }),
  { describe, it },
);
