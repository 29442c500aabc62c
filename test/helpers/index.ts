import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { afterEach } from 'vitest';
import { MemoryBroker, type ExclusiveConsumer, type MemoryBrokerOptions } from '../../src/index.js';

const encoder = new TextEncoder();

/** A fresh topic name per test. */
export function topicName(prefix = 't'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** A broker with fast redelivery for tests. */
export function testBroker(options: MemoryBrokerOptions = {}): MemoryBroker {
  return new MemoryBroker({ nackRedeliveryDelayMs: 20, activeConsumerFailoverDelayMs: 50, ...options });
}

/** An event of the tests' shape. */
export interface TestEvent {
  readonly key: string;
  readonly seq: number;
  readonly delayMs?: number;
  readonly fail?: number;
}

/** Publish events as JSON with their key as partition key. */
export function publishEvents(broker: MemoryBroker, topic: string, events: readonly TestEvent[]): void {
  for (const event of events) {
    broker.publish(topic, { data: encoder.encode(JSON.stringify(event)), partitionKey: event.key });
  }
}

/** Publish raw bytes. */
export function publishRaw(broker: MemoryBroker, topic: string, data: string, partitionKey?: string): string {
  return broker.publish(topic, { data: encoder.encode(data), ...(partitionKey === undefined ? {} : { partitionKey }) });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Let `count` turns of the event loop's check phase pass: the embedded broker dispatches in them. */
export async function rounds(count = 5): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** A promise and the function that resolves it: a gate a test opens when it chooses. */
export function gate(): { readonly opened: Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** Poll `predicate` until it holds or `timeoutMs` passes (then throw with `what`). */
export async function waitFor(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/**
 * Resolves once `broker` holds nothing unacknowledged on `subscription` of `topic`: the fixed end of
 * a run, independent of what the consumers recorded, after which loss is read from the history.
 */
export function drained(broker: MemoryBroker, topic: string, subscription = 'exclusive-consumer', timeoutMs = 5000): Promise<void> {
  return waitFor(
    `${topic}/${subscription} drained`,
    () => {
      const stats = broker.topicStats(topic, subscription);
      return stats.backlog === 0 && stats.unacked === 0;
    },
    timeoutMs,
  );
}

/**
 * The consumers and memory brokers a test file makes, stopped (without draining) and closed after
 * each test. Call once at the top of the file; `setup` makes a broker (tracked) and a fresh topic.
 */
export function resourcesPerTest(): {
  readonly consumers: ExclusiveConsumer[];
  readonly brokers: MemoryBroker[];
  setup(prefix?: string, options?: MemoryBrokerOptions): { broker: MemoryBroker; topic: string };
} {
  const consumers: ExclusiveConsumer[] = [];
  const brokers: MemoryBroker[] = [];
  afterEach(async () => {
    await Promise.all(consumers.splice(0).map((c) => c.stop({ drain: false, timeoutMs: 500 })));
    await Promise.all(brokers.splice(0).map((b) => b.close()));
  });
  return {
    consumers,
    brokers,
    setup(prefix, options) {
      const broker = testBroker(options);
      brokers.push(broker);
      return { broker, topic: topicName(prefix) };
    },
  };
}

/** A loopback port nothing listens on right now, from the OS. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
