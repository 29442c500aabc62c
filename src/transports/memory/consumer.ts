import { TransportError } from '../../errors/index.js';
import { deferred, type Deferred } from '../../internal/deferred.js';
import { deadLetterMessage } from '../dead-letter.js';
import type { DeadLetterReason, Delivery, SubscribeOptions, Subscription, SubscriptionType } from '../types.js';
import type { Cursor } from './cursor.js';
import type { BrokerHost } from './host.js';
import { ACKED, DELIVERED, type CursorRecord } from './record.js';

/**
 * @internal Most deliveries one consumer gets in one dispatch round, so that a round stays short
 * and other work (timers, I/O, the engine's own promises) runs between rounds.
 */
export const ROUND_CAP = 1000;

/**
 * @internal Broker-side state of one connected consumer. A consumer of a partitioned topic is
 * attached to one cursor per partition; its room (`limit - unsettled`) is shared by all of them.
 */
export class ConsumerState {
  readonly name: string;
  readonly topic: string;
  readonly subscription: string;
  readonly type: SubscriptionType;
  /** min(receiverQueueSize, maxUnackedMessagesPerConsumer). */
  readonly limit: number;
  readonly nackDelayMs: number;
  readonly maxRedeliverCount: number | undefined;
  readonly deadLetterTopic: string;
  readonly onMessages: (batch: readonly Delivery[]) => void;
  readonly onError: ((error: Error) => void) | undefined;
  readonly onDeliveriesLost: (() => void) | undefined;
  readonly host: BrokerHost;
  /** Deliveries made to this consumer and not yet settled by it (ack, nack, dead letter). */
  unsettled = 0;
  paused = false;
  closed = false;
  /** Why the broker disconnected it (killed, connection dropped), or `undefined` for a close. */
  disconnectedBy: string | undefined;
  /** Whether its transport declared `acknowledgementsCanBeLost` (only then may a fault lose its acks). */
  readonly acksMayBeLost: boolean;
  /** The subscription handle that reconnects after a dropped connection; unset for a crash. */
  connection: Reconnecting | undefined;
  /** Deliveries of the current dispatch round, handed over in one `onMessages` call. */
  batch: MemoryDelivery[] = [];
  cursors: Cursor[] = [];

  constructor(options: SubscribeOptions, host: BrokerHost, limit: number, nackDelayMs: number, acksMayBeLost: boolean) {
    this.acksMayBeLost = acksMayBeLost;
    this.name = options.consumerName;
    this.topic = options.topic;
    this.subscription = options.subscription;
    this.type = options.type;
    this.limit = limit;
    this.nackDelayMs = nackDelayMs;
    this.maxRedeliverCount = options.maxRedeliverCount;
    this.deadLetterTopic = options.deadLetterTopic;
    this.onMessages = options.onMessages;
    this.onError = options.onError;
    this.onDeliveriesLost = options.onDeliveriesLost;
    this.host = host;
  }

  /** Whether a dispatch round may give it one more message. */
  canTake(): boolean {
    return !this.paused && this.unsettled < this.limit && this.batch.length < ROUND_CAP;
  }

  /** Whether it stopped taking only because this round's batch is full (so another round is due). */
  cappedThisRound(): boolean {
    return this.batch.length >= ROUND_CAP && !this.paused && this.unsettled < this.limit;
  }

  /** One of its deliveries was settled. */
  released(): void {
    this.unsettled--;
    this.wake();
  }

  /** Queue a dispatch round on every cursor of this consumer that has something to deliver. */
  wake(): void {
    const cursors = this.cursors;
    for (let i = 0; i < cursors.length; i++) {
      const cursor = cursors[i]!;
      if (!cursor.dirty && cursor.hasWork()) this.host.markDirty(cursor);
    }
  }

  /** Pass an error to `onError`, which must not break the broker. */
  report(error: Error): void {
    if (this.onError === undefined) return;
    try {
      this.onError(error);
    } catch {
      // An informational callback that throws has nowhere better to report to.
    }
  }

  /** What `ack()` and `deadLetter()` of its deliveries reject with once it is gone. */
  closedError(): TransportError {
    const by = this.disconnectedBy;
    return new TransportError(
      by !== undefined ? `Consumer "${this.name}" was disconnected (${by})` : `Consumer "${this.name}" closed`,
      {
        retriable: false,
        context: { topic: this.topic, subscription: this.subscription, consumerName: this.name },
      },
    );
  }
}

/** @internal A subscription handle that connects again after the broker dropped its connection. */
export interface Reconnecting {
  /** Connect again after `delayMs` (waiting for a restarting broker); resolves once connected or closed. */
  dropped(delayMs: number): Promise<void>;
}

const resolved: Promise<void> = Promise.resolve();

/**
 * @internal One delivery of a message to one consumer. Its metadata are own properties (so the
 * engine can copy or spread it); its links to broker state are private. Every redelivery is a new
 * object.
 */
export class MemoryDelivery implements Delivery {
  readonly id: string;
  readonly data: Uint8Array;
  readonly partitionKey: string | undefined;
  readonly properties: Readonly<Record<string, string>>;
  readonly redeliveryCount: number;
  readonly publishTime: number;
  readonly topic: string;
  readonly #record: CursorRecord;
  readonly #consumer: ConsumerState;
  /** Settled by `ack`, `nack` or `deadLetter`; until then it counts against the consumer's limit. */
  #settled = false;

  constructor(record: CursorRecord, consumer: ConsumerState) {
    const log = record.cursor.log;
    const entryId = record.entryId;
    this.id = log.idPrefix + entryId;
    this.data = log.data(entryId);
    this.partitionKey = log.partitionKey(entryId);
    this.properties = log.properties(entryId);
    this.redeliveryCount = record.redeliveryCount;
    this.publishTime = log.publishTime(entryId);
    this.topic = log.name;
    this.#record = record;
    this.#consumer = consumer;
  }

  /** True once the connection that delivered it is gone (closed, killed, dropped): it can no longer be settled. */
  get lost(): boolean {
    return this.#consumer.closed;
  }

  /**
   * Acknowledge for the whole subscription, even if the broker meanwhile redelivered the message to
   * another consumer (later acks of it are no-ops). Synchronous; rejects with a `TransportError`
   * once this delivery's consumer is closed or killed, as the Pulsar client does. While a fault
   * loses acknowledgements, it succeeds for the consumer and never reaches the subscription: the
   * message stays with this connection and is redelivered when the connection drops.
   */
  ack(): void | Promise<void> {
    const consumer = this.#consumer;
    if (consumer.closed) return Promise.reject(consumer.closedError());
    if (this.#settled) return;
    this.#settled = true;
    const record = this.#record;
    if (!(consumer.acksMayBeLost && consumer.host.loseAck(consumer))) record.cursor.ack(record);
    consumer.released();
  }

  /** Redeliver after the nack delay. A no-op once settled, or once the consumer is closed or killed. */
  nack(): void {
    const consumer = this.#consumer;
    if (consumer.closed || this.#settled) return;
    this.#settled = true;
    const record = this.#record;
    // Only the current holder may send it back: a message taken back by the broker (ack timeout,
    // failover rewind) is already on its way to someone else.
    if (record.delivery === this && record.state === DELIVERED) record.cursor.nack(record, consumer.nackDelayMs);
    consumer.released();
  }

  /** Publish to the consumer's dead-letter topic, then acknowledge. */
  deadLetter(reason: DeadLetterReason): Promise<void> {
    const consumer = this.#consumer;
    if (consumer.closed) return Promise.reject(consumer.closedError());
    if (this.#settled) return resolved;
    const record = this.#record;
    // Already acknowledged through another delivery: it was handled, a dead letter would duplicate it.
    if (record.state !== ACKED) {
      try {
        consumer.host.publish(consumer.deadLetterTopic, deadLetterMessage(this, reason));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    this.#settled = true;
    record.cursor.ack(record);
    consumer.released();
    return resolved;
  }
}

/** @internal What a subscription handle needs from the broker to connect again. */
export interface ConnectionHost {
  readonly closed: boolean;
  /** Connect a new consumer (throws as `BrokerCore.subscribe`). */
  subscribe(options: SubscribeOptions, acksMayBeLost: boolean): ConsumerState;
  /** Disconnect gracefully. */
  disconnect(consumer: ConsumerState, by: string | undefined): void;
  /** While the broker is down (restarting): resolves when it is up again. */
  whenUp(): Promise<void> | undefined;
}

/** Wait before trying again when the broker refused a reconnection (a Pulsar client backs off too). */
const RETRY_REFUSED_MS = 100;

/**
 * @internal The `Subscription` handle returned to the engine. Like a Pulsar client's consumer, it
 * outlives its connection: when the broker drops the connection (a fault of the kit, not a
 * `kill`), it connects again, as a new broker-side consumer of the same name; deliveries of the old
 * connection stay void.
 */
export class MemorySubscription implements Subscription, Reconnecting {
  readonly #host: ConnectionHost;
  readonly #options: SubscribeOptions;
  readonly #onClose: (subscription: MemorySubscription) => void;
  #consumer: ConsumerState;
  #paused = false;
  #closed = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #reconnected: Deferred | undefined;

  constructor(host: ConnectionHost, options: SubscribeOptions, consumer: ConsumerState, onClose: (subscription: MemorySubscription) => void) {
    this.#host = host;
    this.#options = options;
    this.#consumer = consumer;
    this.#onClose = onClose;
    consumer.connection = this;
  }

  /** False from a dropped connection until the reconnection. */
  get connected(): boolean {
    return !this.#consumer.closed;
  }

  pause(): void {
    this.#paused = true;
    this.#consumer.paused = true;
  }

  resume(): void {
    this.#paused = false;
    const consumer = this.#consumer;
    if (!consumer.paused || consumer.closed) return;
    consumer.paused = false;
    consumer.wake();
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#settleReconnection();
      this.#host.disconnect(this.#consumer, undefined);
      this.#onClose(this);
    }
    return resolved;
  }

  dropped(delayMs: number): Promise<void> {
    if (this.#closed) return resolved;
    const promise = (this.#reconnected ??= deferred()).promise;
    if (delayMs === 0) this.#reconnect(delayMs);
    else this.#schedule(delayMs);
    return promise;
  }

  #schedule(delayMs: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#reconnect(delayMs);
    }, delayMs);
    // Not unref'd: whoever awaits the fault that dropped the connection waits for this.
  }

  #reconnect(delayMs: number): void {
    const host = this.#host;
    if (this.#closed || host.closed) {
      this.#settleReconnection();
      return;
    }
    if (!this.#consumer.closed) return;
    const up = host.whenUp();
    if (up !== undefined) {
      void up.then(() => (delayMs === 0 ? this.#reconnect(0) : this.#schedule(delayMs)));
      return;
    }
    let consumer: ConsumerState;
    try {
      consumer = host.subscribe(this.#options, this.#consumer.acksMayBeLost);
    } catch (error) {
      // Refused (another consumer took the subscription with another type meanwhile): keep trying.
      this.#consumer.report(error instanceof Error ? error : new Error(String(error)));
      this.#schedule(Math.max(delayMs, RETRY_REFUSED_MS));
      return;
    }
    consumer.connection = this;
    if (this.#paused) consumer.paused = true;
    this.#consumer = consumer;
    this.#settleReconnection();
  }

  #settleReconnection(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const pending = this.#reconnected;
    this.#reconnected = undefined;
    pending?.resolve();
  }
}
