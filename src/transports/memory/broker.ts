import { objectArgument, optionNames, optionsArgument } from '../../internal/validate.js';
import type { MessageMeta, OutgoingMessage, Transport } from '../types.js';
import { BrokerCore, type MemoryTopicStats } from './core.js';
import { resolveBrokerOptions, type MemoryBrokerOptions } from './options.js';
import { MemoryTransport } from './transport.js';

const TRANSPORT_OPTION_NAMES = optionNames<MemoryTransportOptions>({ broker: true });

const cores = new WeakMap<MemoryBroker, BrokerCore>();

/** @internal The model behind a broker, for the fault kit (`brokerFaults`); `undefined` for anything else. */
export function brokerCore(broker: MemoryBroker): BrokerCore | undefined {
  return cores.get(broker);
}

/** Options of {@link MemoryBroker.createTopic}. */
export interface CreateTopicOptions {
  /**
   * Number of partitions. 1 or more makes a partitioned topic whose partitions are the topics
   * `<topic>-partition-<i>`, as in Pulsar; 0 makes a non-partitioned topic.
   * @default 0
   */
  readonly partitions?: number;
}

/**
 * An in-process broker that behaves like Apache Pulsar: the library's default transport (no server
 * to run) and its test double. Consumers get the subscription semantics of Pulsar 4 — Shared,
 * Key_Shared (AUTO_SPLIT, in-order, PIP-379 draining hashes) and Failover — with flow control,
 * negative acks, ack timeout, redelivery counts and dead-letter topics.
 *
 * How it differs from a real broker, on purpose:
 * - Nothing is persisted; a message is kept until every subscription of its topic acknowledged it.
 *   A topic with no subscription at all keeps everything (as with an unlimited retention policy),
 *   so that a subscription created later from `'earliest'` sees it, and dead-letter topics can be
 *   read with {@link MemoryBroker.peek}. Once a topic has a subscription, entries every
 *   subscription acknowledged are dropped.
 * - Subscriptions are durable: after their last consumer closed they keep their position and their
 *   unacknowledged messages, and deliver them when a consumer subscribes again.
 * - The nack delay defaults to 1 s, not 60 s. The client-side settings of Pulsar (ack timeout,
 *   nack delay, dead-letter policy) are applied by the broker here.
 * - Failover: a negative ack or an ack timeout redelivers that message only; a Pulsar client
 *   redelivers everything the consumer has not acknowledged. Redelivery counts stay 0 and
 *   `maxRedeliverCount` does not apply in Failover (as Pulsar).
 * - A message the broker takes back from a live consumer (ack timeout, failover rewind) still
 *   counts against that consumer's receiver queue until its engine settles the old delivery, so
 *   the queue size strictly bounds what an engine holds; the old delivery can still acknowledge
 *   the message for the subscription.
 * - Ack/nack/dead-letter after the consumer was closed or killed: `ack()` and `deadLetter()`
 *   reject with a `TransportError`, `nack()` does nothing (as the Pulsar client, whose consumer is
 *   gone). The message was already handed to the remaining consumers.
 * - Message ids are `<partition>:<entryId>`, the partition being -1 for a non-partitioned topic
 *   (as Pulsar's `MessageId.partition`). Payloads are not copied: do not change a `data` buffer
 *   after publishing it.
 *
 * @example
 * ```ts
 * const broker = new MemoryBroker({ nackRedeliveryDelayMs: 100 });
 * broker.createTopic('events', { partitions: 4 });
 * const consumer = createExclusiveConsumer('events', keyFn, handler, { transport: broker.transport() });
 * broker.publish('events', { data: new TextEncoder().encode('{}'), partitionKey: 'shopper-1' });
 * ```
 */
export class MemoryBroker {
  readonly #core: BrokerCore;

  /** @throws ConfigurationError when an option is out of range. */
  constructor(options?: MemoryBrokerOptions) {
    this.#core = new BrokerCore(resolveBrokerOptions(options));
    cores.set(this, this.#core);
  }

  /** Whether {@link MemoryBroker.close} was called. */
  get closed(): boolean {
    return this.#core.closed;
  }

  /**
   * Create a topic ahead of use (topics are otherwise created non-partitioned on first publish,
   * producer or subscribe). Idempotent with the same partition count.
   * @throws ConfigurationError when the topic exists with another partition count.
   */
  createTopic(topic: string, options: CreateTopicOptions = {}): void {
    objectArgument('options', options);
    this.#core.createTopic(topic, options.partitions ?? 0);
  }

  /** A `Transport` (named `memory`) bound to this broker. Each call returns a new one. */
  transport(): Transport {
    return new MemoryTransport(this.#core);
  }

  /**
   * Publish synchronously; returns the message id. A partitioned topic routes by the hash of the
   * partition key, and round robin when there is none (Pulsar's default router). Dispatch to
   * consumers happens later, never inside this call.
   * @throws TransportError once the broker is closed or when `message.data` is not a `Uint8Array`.
   */
  publish(topic: string, message: OutgoingMessage): string {
    return this.#core.publish(topic, message);
  }

  /**
   * Simulate a crash or a dropped connection of every consumer named `consumerName`: as for a
   * close, its unacknowledged messages go to the other consumers at once (Key_Shared: its keys
   * move at once, even while its handlers still run), but its deliveries die — `ack()` rejects
   * with a `TransportError`, `nack()` does nothing — and its `onError` receives a `TransportError`.
   * It never connects again (a crash); `brokerFaults(broker).dropConnection` drops a connection
   * that the consumer replaces, as a Pulsar client does. Returns whether such a consumer was
   * connected.
   */
  kill(consumerName: string): boolean {
    return this.#core.kill(consumerName);
  }

  /**
   * Counters of `subscription` on `topic` (all partitions of a partitioned topic together). For a
   * subscription that does not exist, `backlog`, `unacked` and `consumers` are 0.
   * @throws TransportError when the topic does not exist.
   */
  topicStats(topic: string, subscription: string): MemoryTopicStats {
    return this.#core.topicStats(topic, subscription);
  }

  /**
   * Every message the topic still retains (all partitions, partition by partition, in publish
   * order), with `redeliveryCount` 0. Meant for tests, e.g. to read a dead-letter topic, which keeps
   * everything as long as nobody subscribes to it. An unknown topic gives `[]`.
   */
  peek(topic: string): readonly MessageMeta[] {
    return this.#core.peek(topic);
  }

  /**
   * Close every consumer and producer, drop every topic and clear every timer. Idempotent. Later
   * calls fail with a `TransportError`. The broker never keeps the process alive by itself (its
   * timers are unref'd), so closing it is about releasing memory, not about exiting.
   */
  close(): Promise<void> {
    this.#core.close();
    return Promise.resolve();
  }
}

let defaultBroker: MemoryBroker | undefined;

/**
 * The process-wide broker used by {@link memoryTransport} when no broker is given, created on first
 * use with default options. After it was closed, the next call creates a fresh one.
 */
export function defaultMemoryBroker(): MemoryBroker {
  if (defaultBroker === undefined || defaultBroker.closed) defaultBroker = new MemoryBroker();
  return defaultBroker;
}

/** Options of {@link memoryTransport}. */
export interface MemoryTransportOptions {
  /**
   * The broker to connect to.
   * @default defaultMemoryBroker()
   */
  readonly broker?: MemoryBroker;
}

/**
 * The embedded transport: no server, Pulsar's subscription semantics. The library's default.
 * Closing the transport closes what it opened, not the broker.
 *
 * @example
 * ```ts
 * const broker = new MemoryBroker();
 * const transport = memoryTransport({ broker });
 * ```
 */
export function memoryTransport(options: MemoryTransportOptions = {}): Transport {
  optionsArgument(options, TRANSPORT_OPTION_NAMES);
  return (options.broker ?? defaultMemoryBroker()).transport();
}
