/**
 * Where a row runs: the embedded broker (default) or a live Pulsar broker over the WebSocket
 * transport (`--pulsar <url>`). A row asks for a fresh partitioned topic, a transport per consumer
 * (as separate processes would each have their own connection), the subscription's backlog (to know
 * when everything was acknowledged) and the dead letters.
 */
import { randomBytes } from 'node:crypto';
import { MemoryBroker, defaultDeadLetterTopic, type Transport } from '../../src/index.js';
import { type Delivery } from '../../src/adapters.js';
import { pulsarAdmin, pulsarWebSocketTransport } from '../../src/pulsar/index.js';

/** One row's topic on one broker. */
export interface RowBroker {
  readonly topic: string;
  /** A new transport, for one consumer or one producer. Closed by `close()`. */
  transport(): Transport;
  /** Messages of `subscription` not acknowledged yet, as the broker counts them. */
  backlog(subscription: string): Promise<number>;
  /** Payloads on `subscription`'s dead-letter topic; `expected` is how many the consumers reported. */
  deadLetters(subscription: string, expected: number): Promise<Uint8Array[]>;
  close(): Promise<void>;
}

/** A broker the demo can run on. */
export interface Backend {
  /** For the header, e.g. `the embedded broker`. */
  readonly description: string;
  /** How long a Failover hand-over takes (`activeConsumerFailoverDelayTimeMillis`). */
  readonly failoverDelayMs: number;
  /** How often to ask for the backlog while waiting for the end of a row. */
  readonly pollMs: number;
  open(label: string, partitions: number): Promise<RowBroker>;
}

/** The embedded broker: a fresh `MemoryBroker` per row, with a short Failover hand-over. */
export function memoryBackend(failoverDelayMs: number): Backend {
  return {
    description: 'the embedded broker',
    failoverDelayMs,
    pollMs: 10,
    async open(_label, partitions) {
      const broker = new MemoryBroker({ activeConsumerFailoverDelayMs: failoverDelayMs, nackRedeliveryDelayMs: 100 });
      const topic = 'shopper-events';
      broker.createTopic(topic, { partitions });
      const transports: Transport[] = [];
      return {
        topic,
        transport() {
          const t = broker.transport();
          transports.push(t);
          return t;
        },
        backlog: async (subscription) => broker.topicStats(topic, subscription).backlog,
        deadLetters: async (subscription) => broker.peek(defaultDeadLetterTopic(topic, subscription)).map((m) => m.data),
        async close() {
          await Promise.all(transports.map((t) => t.close?.()));
          await broker.close();
        },
      };
    },
  };
}

/**
 * A live Pulsar broker: a fresh partitioned topic per row (created through the admin API, deleted
 * afterwards), consumers and producers over its WebSocket API. Its Failover hand-over delay is the
 * broker's (1 s by default). Rejects when the broker does not answer.
 */
export async function pulsarBackend(url: string, failoverDelayMs = 1000): Promise<Backend> {
  const admin = pulsarAdmin(url);
  await admin.partitions('shopper-events-probe'); // throws a TransportError when nothing answers
  return {
    description: `Pulsar at ${url} (WebSocket transport)`,
    failoverDelayMs,
    pollMs: 50,
    async open(label, partitions) {
      const topic = `shopper-events-${label.replace(/[^a-z0-9]+/gi, '-')}-${randomBytes(3).toString('hex')}`;
      await admin.createPartitionedTopic(topic, partitions);
      const transports: ReturnType<typeof pulsarWebSocketTransport>[] = [];
      const transport = (): ReturnType<typeof pulsarWebSocketTransport> => {
        const t = pulsarWebSocketTransport({ url });
        transports.push(t);
        return t;
      };
      const dlqTopics = new Set<string>();
      return {
        topic,
        transport,
        backlog: async (subscription) => (await admin.subscriptionStats(topic, subscription))?.backlog ?? 0,
        async deadLetters(subscription, expected) {
          // Read through the subscription the transport created on the dead-letter topic before the
          // first dead letter (it retains them); with none expected, there is nothing to wait for.
          if (expected === 0) return [];
          const dlqTopic = defaultDeadLetterTopic(topic, subscription);
          dlqTopics.add(dlqTopic);
          const letters: Delivery[] = [];
          const inbox = await transport().subscribe({
            topic: dlqTopic,
            subscription,
            consumerName: `dlq-reader-${randomBytes(3).toString('hex')}`,
            type: 'shared',
            initialPosition: 'earliest',
            receiverQueueSize: 1000,
            deadLetterTopic: defaultDeadLetterTopic(dlqTopic, subscription),
            onMessages: (batch) => letters.push(...batch),
          });
          const deadline = performance.now() + 5000;
          while (letters.length < expected && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
          await inbox.close();
          return letters.map((d) => d.data);
        },
        async close() {
          await Promise.all(transports.map((t) => t.close()));
          await Promise.allSettled([topic, ...dlqTopics].map((t) => admin.deleteTopic(t, { force: true })));
        },
      };
    },
  };
}
