import assert from 'node:assert/strict';
import { DeadLetterProperties, defaultDeadLetterTopic } from '../transports/dead-letter.js';
import type { Delivery, SubscribeOptions, Subscription, SubscriptionType, Transport } from '../transports/types.js';
import { uniqueName, type ContractCase } from './contract.js';

/** Options of {@link transportContract}. */
export interface TransportContractOptions {
  /** Prefix of the fresh topic names each case uses (a real broker may need `persistent://…`). */
  readonly topicPrefix?: string;
  /** Nack redelivery delay asked of the transport in the nack case. @default 200 */
  readonly nackRedeliveryDelayMs?: number;
  /** How long a case waits for deliveries before failing. @default 10_000 */
  readonly waitMs?: number;
  /** Subscription types to exercise. @default all three */
  readonly types?: readonly SubscriptionType[];
  /** Called after each case with the transport it used. */
  readonly cleanup?: (transport: Transport) => Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Inbox {
  readonly deliveries: Delivery[];
  readonly subscription: Subscription;
}

/**
 * The behaviour the engine relies on from any transport: delivery with metadata, ack, nack and
 * redelivery, hand-over of unacknowledged messages when a consumer leaves, per-type routing,
 * pause/resume, the receiver-queue bound and dead-lettering. Run it on your own adapter:
 *
 * ```ts
 * registerContract('my transport', transportContract(() => myTransport()), { describe, it });
 * ```
 */
export function transportContract(
  factory: () => Transport | Promise<Transport>,
  options: TransportContractOptions = {},
): ContractCase[] {
  const prefix = options.topicPrefix ?? '';
  const waitMs = options.waitMs ?? 10_000;
  const nackDelay = options.nackRedeliveryDelayMs ?? 200;
  const types = options.types ?? ['key-shared', 'failover', 'shared'];
  const timeoutMs = waitMs * 3;

  const withTransport = (run: (transport: Transport, topic: string) => Promise<void>) => async () => {
    const transport = await factory();
    try {
      await run(transport, `${prefix}${uniqueName('contract')}`);
    } finally {
      await options.cleanup?.(transport);
    }
  };

  const open = async (
    transport: Transport,
    topic: string,
    consumerName: string,
    extra: Partial<SubscribeOptions> = {},
  ): Promise<Inbox> => {
    const deliveries: Delivery[] = [];
    const subscription = await transport.subscribe({
      topic,
      subscription: 'contract',
      consumerName,
      type: 'shared',
      initialPosition: 'earliest',
      receiverQueueSize: 1000,
      deadLetterTopic: defaultDeadLetterTopic(topic, 'contract'),
      onMessages: (batch) => deliveries.push(...batch),
      ...extra,
    });
    return { deliveries, subscription };
  };

  const publish = async (transport: Transport, topic: string, count: number, keys = 5): Promise<void> => {
    const producer = await transport.createProducer(topic);
    try {
      for (let i = 0; i < count; i++) {
        await producer.send({
          data: encoder.encode(JSON.stringify({ i })),
          partitionKey: `k${i % keys}`,
          properties: { seq: String(i) },
        });
      }
      await producer.flush();
    } finally {
      await producer.close();
    }
  };

  const waitFor = async (what: string, predicate: () => boolean): Promise<void> => {
    const deadline = Date.now() + waitMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new assert.AssertionError({ message: `Timed out waiting for ${what}` });
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };

  const quiet = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const seqOf = (d: Delivery): number => Number(d.properties.seq);

  const cases: ContractCase[] = [
    {
      name: 'delivers payload, partition key, properties and metadata',
      timeoutMs,
      run: withTransport(async (transport, topic) => {
        const inbox = await open(transport, topic, uniqueName('c'));
        await publish(transport, topic, 10);
        await waitFor('10 deliveries', () => inbox.deliveries.length >= 10);
        const sorted = [...inbox.deliveries].sort((a, b) => seqOf(a) - seqOf(b));
        sorted.forEach((d, i) => {
          assert.deepEqual(JSON.parse(decoder.decode(d.data)), { i });
          assert.equal(d.partitionKey, `k${i % 5}`);
          assert.equal(d.properties.seq, String(i));
          assert.equal(d.redeliveryCount, 0);
          assert.equal(typeof d.id, 'string');
          assert.ok(d.id.length > 0);
          assert.ok(Number.isFinite(d.publishTime) && d.publishTime > 0);
          assert.ok(d.topic.includes(topic.replace(/^.*\//, '')), `topic ${d.topic} names ${topic}`);
        });
        assert.equal(new Set(sorted.map((d) => d.id)).size, 10, 'message ids are distinct');
        for (const d of inbox.deliveries) await d.ack();
        await inbox.subscription.close();
      }),
    },
    {
      name: 'acknowledged messages are not delivered again to the subscription',
      timeoutMs,
      run: withTransport(async (transport, topic) => {
        const first = await open(transport, topic, uniqueName('c'));
        await publish(transport, topic, 5);
        await waitFor('5 deliveries', () => first.deliveries.length >= 5);
        for (const d of first.deliveries) await d.ack();
        await quiet(200);
        await first.subscription.close();
        const second = await open(transport, topic, uniqueName('c'));
        await quiet(Math.min(1000, waitMs / 4));
        assert.equal(second.deliveries.length, 0, 'nothing redelivered after acks');
        await second.subscription.close();
      }),
    },
    {
      name: 'nack redelivers the message with a higher redelivery count',
      timeoutMs,
      run: withTransport(async (transport, topic) => {
        const inbox = await open(transport, topic, uniqueName('c'), { nackRedeliveryDelayMs: nackDelay });
        await publish(transport, topic, 1);
        await waitFor('first delivery', () => inbox.deliveries.length >= 1);
        const first = inbox.deliveries[0] as Delivery;
        first.nack();
        await waitFor('redelivery', () => inbox.deliveries.length >= 2);
        const again = inbox.deliveries[1] as Delivery;
        assert.equal(again.id, first.id, 'same message id');
        assert.ok(again.redeliveryCount >= 1, `redeliveryCount ${again.redeliveryCount} ≥ 1`);
        await again.ack();
        await inbox.subscription.close();
      }),
    },
    {
      name: "a closed consumer's unacknowledged messages go to another consumer",
      timeoutMs,
      run: withTransport(async (transport, topic) => {
        const a = await open(transport, topic, uniqueName('a'));
        await publish(transport, topic, 5);
        await waitFor('5 deliveries to a', () => a.deliveries.length >= 5);
        const b = await open(transport, topic, uniqueName('b'));
        await a.subscription.close();
        await waitFor('hand-over to b', () => new Set(b.deliveries.map(seqOf)).size >= 5);
        for (const d of b.deliveries) await d.ack();
        await b.subscription.close();
      }),
    },
    {
      name: 'pause stops deliveries and resume restarts them',
      timeoutMs,
      run: withTransport(async (transport, topic) => {
        const inbox = await open(transport, topic, uniqueName('c'));
        inbox.subscription.pause();
        // Let a transport that prefetched settle before measuring.
        await quiet(300);
        const before = inbox.deliveries.length;
        await publish(transport, topic, 20);
        await quiet(Math.min(1500, waitMs / 4));
        assert.ok(inbox.deliveries.length - before <= 0, 'no delivery while paused');
        inbox.subscription.resume();
        await waitFor('20 deliveries after resume', () => inbox.deliveries.length >= 20);
        for (const d of inbox.deliveries) await d.ack();
        await inbox.subscription.close();
      }),
    },
    {
      name: 'never more unsettled deliveries than receiverQueueSize',
      timeoutMs,
      run: withTransport(async (transport, topic) => {
        const inbox = await open(transport, topic, uniqueName('c'), { receiverQueueSize: 5 });
        await publish(transport, topic, 30);
        await waitFor('5 deliveries', () => inbox.deliveries.length >= 5);
        await quiet(500);
        assert.equal(inbox.deliveries.length, 5, 'stops at the receiver queue size');
        for (const d of inbox.deliveries.splice(0)) await d.ack();
        await waitFor('more after acks', () => inbox.deliveries.length >= 5);
        await quiet(300);
        assert.ok(inbox.deliveries.length <= 5, `at most 5 unsettled, got ${inbox.deliveries.length}`);
        await inbox.subscription.close();
      }),
    },
    {
      name: 'deadLetter publishes the message with its reason and acknowledges it',
      timeoutMs,
      run: withTransport(async (transport, topic) => {
        const dlqTopic = defaultDeadLetterTopic(topic, 'contract');
        const dlq = await open(transport, dlqTopic, uniqueName('dlq'), { subscription: 'inspect' });
        const inbox = await open(transport, topic, uniqueName('c'));
        await publish(transport, topic, 1);
        await waitFor('delivery', () => inbox.deliveries.length >= 1);
        const d = inbox.deliveries[0] as Delivery;
        await d.deadLetter({ code: 'EC_TEST', message: 'bad event', attempts: 3, consumerName: 'contract-consumer' });
        await waitFor('dead letter', () => dlq.deliveries.length >= 1);
        const dead = dlq.deliveries[0] as Delivery;
        assert.deepEqual(JSON.parse(decoder.decode(dead.data)), { i: 0 });
        assert.equal(dead.partitionKey, 'k0');
        assert.equal(dead.properties[DeadLetterProperties.code], 'EC_TEST');
        assert.equal(dead.properties[DeadLetterProperties.reason], 'bad event');
        assert.equal(dead.properties[DeadLetterProperties.attempts], '3');
        assert.equal(dead.properties[DeadLetterProperties.originMessageId], d.id);
        assert.equal(dead.properties.seq, '0', 'original properties kept');
        await dead.ack();
        await inbox.subscription.close();
        const again = await open(transport, topic, uniqueName('c'));
        await quiet(Math.min(1000, waitMs / 4));
        assert.equal(again.deliveries.length, 0, 'dead-lettered message was acknowledged');
        await again.subscription.close();
        await dlq.subscription.close();
      }),
    },
  ];

  if (types.includes('key-shared')) {
    cases.push({
      name: 'key-shared: each key goes to one consumer, in order',
      timeoutMs,
      run: withTransport(async (transport, topic) => {
        const a = await open(transport, topic, uniqueName('a'), { type: 'key-shared' });
        const b = await open(transport, topic, uniqueName('b'), { type: 'key-shared' });
        await publish(transport, topic, 200, 40);
        await waitFor('200 deliveries', () => a.deliveries.length + b.deliveries.length >= 200);
        const owner = new Map<string, string>();
        for (const [name, inbox] of [['a', a], ['b', b]] as const) {
          const last = new Map<string, number>();
          for (const d of inbox.deliveries) {
            const key = d.partitionKey ?? '';
            const seen = owner.get(key);
            assert.ok(seen === undefined || seen === name, `key ${key} delivered to both consumers`);
            owner.set(key, name);
            const prev = last.get(key) ?? -1;
            assert.ok(seqOf(d) > prev, `key ${key} out of order`);
            last.set(key, seqOf(d));
          }
        }
        for (const d of [...a.deliveries, ...b.deliveries]) await d.ack();
        await a.subscription.close();
        await b.subscription.close();
      }),
    });
  }
  if (types.includes('failover')) {
    cases.push({
      name: 'failover: one active consumer receives everything of a non-partitioned topic',
      timeoutMs,
      run: withTransport(async (transport, topic) => {
        const a = await open(transport, topic, `${uniqueName('a')}-1`, { type: 'failover' });
        const b = await open(transport, topic, `${uniqueName('b')}-2`, { type: 'failover' });
        await publish(transport, topic, 50);
        await waitFor('50 deliveries', () => a.deliveries.length + b.deliveries.length >= 50);
        await quiet(200);
        const counts = [a.deliveries.length, b.deliveries.length];
        assert.ok(counts.includes(0), `only one consumer active, got ${counts.join('/')}`);
        for (const d of [...a.deliveries, ...b.deliveries]) await d.ack();
        await a.subscription.close();
        await b.subscription.close();
      }),
    });
  }
  if (types.includes('shared')) {
    cases.push({
      name: 'shared: messages are spread over consumers',
      timeoutMs,
      run: withTransport(async (transport, topic) => {
        const a = await open(transport, topic, uniqueName('a'), { receiverQueueSize: 10 });
        const b = await open(transport, topic, uniqueName('b'), { receiverQueueSize: 10 });
        // Receiver queues of 10 and no acks: neither consumer can take 20 of the 30. (A real client
        // may prefetch beyond its receiver queue, so one consumer may hold a few more than 10.)
        await publish(transport, topic, 30);
        await waitFor('20 deliveries', () => a.deliveries.length + b.deliveries.length >= 20);
        assert.ok(a.deliveries.length > 0 && b.deliveries.length > 0, 'both consumers received messages');
        for (const d of [...a.deliveries, ...b.deliveries]) await d.ack();
        await a.subscription.close();
        await b.subscription.close();
      }),
    });
  }
  return cases;
}
