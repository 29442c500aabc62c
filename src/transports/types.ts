/**
 * How the broker spreads a subscription's messages over its consumers.
 *
 * - `key-shared`: each key's hash range is owned by one consumer (Pulsar Key_Shared, AUTO_SPLIT,
 *   in-order delivery: a key moves only once its unacknowledged messages are acknowledged).
 * - `failover`: one active consumer per partition (Pulsar Failover).
 * - `shared`: any consumer may receive any message (Pulsar Shared, round robin).
 */
export type SubscriptionType = 'key-shared' | 'failover' | 'shared';

/** Where a new subscription starts reading. */
export type InitialPosition = 'earliest' | 'latest';

/**
 * A message as the broker delivered it, without its controls. This is what handlers see as
 * `ctx.message`.
 */
export interface MessageMeta {
  /** Broker message id, serialized (stable for redeliveries of the same message). */
  readonly id: string;
  /** Raw payload bytes. */
  readonly data: Uint8Array;
  /** Partition (routing) key set by the producer, if any. */
  readonly partitionKey: string | undefined;
  /** Message properties (string to string). */
  readonly properties: Readonly<Record<string, string>>;
  /** How many times the broker delivered this message before (0 on first delivery). */
  readonly redeliveryCount: number;
  /** Publish time, epoch milliseconds. */
  readonly publishTime: number;
  /** Topic the message came from (for a partitioned topic, the partition's topic). */
  readonly topic: string;
}

/** Why a message is being dead-lettered; the transport records it in the dead-letter message. */
export interface DeadLetterReason {
  /** Error code, e.g. `EC_DECODE`, `EC_KEY` or the handler error's code/name. */
  readonly code: string;
  /** Human-readable reason (the error message). */
  readonly message: string;
  /** Handler attempts made in this consumer before giving up (0 when the handler never ran). */
  readonly attempts: number;
  /** Name of the consumer that dead-lettered it. */
  readonly consumerName: string;
}

/**
 * One received message with its controls. A delivery is settled exactly once by the engine: by
 * `ack`, `nack` or `deadLetter`.
 */
export interface Delivery extends MessageMeta {
  /**
   * Optional: true once the broker took the message back (the connection that delivered it is
   * gone, for a transport that can tell this per delivery). The consumer then drops it instead of
   * running it; settling it is no longer possible.
   */
  readonly lost?: boolean;
  /** Acknowledge: the broker will not deliver this message to the subscription again. */
  ack(): void | Promise<void>;
  /** Negative-acknowledge: the broker redelivers it later (after the subscription's nack delay). */
  nack(): void;
  /**
   * Publish the message with `reason` to the subscription's dead-letter topic, then acknowledge it.
   * Must reject (without acknowledging) if the dead-letter publish fails, so nothing is lost.
   */
  deadLetter(reason: DeadLetterReason): Promise<void>;
}

/** What the engine asks of a transport when it subscribes. */
export interface SubscribeOptions {
  readonly topic: string;
  /** Subscription name shared by every consumer of the group. */
  readonly subscription: string;
  /** Unique name of this consumer (brokers use it to order failover consumers). */
  readonly consumerName: string;
  readonly type: SubscriptionType;
  readonly initialPosition: InitialPosition;
  /**
   * The most messages delivered to this consumer and not yet settled (acknowledged, negatively
   * acknowledged or dead-lettered) that the transport may have outstanding; it stops delivering at
   * this limit (Pulsar: receiver queue / permits). This is what bounds the engine's memory. It
   * bounds deliveries to the engine; a broker may also count a client's own prefetch as held by this
   * consumer.
   */
  readonly receiverQueueSize: number;
  /**
   * Topic that `Delivery.deadLetter` publishes to, e.g. `<topic>-<subscription>-DLQ` (Pulsar's
   * default name).
   */
  readonly deadLetterTopic: string;
  /**
   * Broker/client-side dead-lettering: once a message was redelivered this many times, the transport
   * moves it to `deadLetterTopic` itself instead of delivering it again (guards against poison
   * messages that crash consumers). `undefined`: never.
   */
  readonly maxRedeliverCount?: number;
  /** Delay before a negatively acknowledged message is redelivered. Transport default when unset. */
  readonly nackRedeliveryDelayMs?: number;
  /**
   * Deliveries, in broker order, in batches. Called synchronously or not; the engine never throws
   * from it. After `pause()` the transport should stop calling it (messages already on their way may
   * still arrive).
   */
  readonly onMessages: (batch: readonly Delivery[]) => void;
  /** Connection-level problems (disconnected, reconnecting). Informational; the transport recovers. */
  readonly onError?: (error: Error) => void;
  /**
   * The connection that carried the deliveries made so far is gone: the broker hands them to other
   * consumers, and their ack/nack can no longer succeed. The engine forgets the ones not started
   * and aborts running handlers. Deliveries made after this call (on a new connection) are valid.
   */
  readonly onDeliveriesLost?: () => void;
}

/** An open subscription of one consumer. */
export interface Subscription {
  /**
   * Whether the connection deliveries come on is up. Optional: a transport that cannot tell leaves
   * it out, and counts as connected while subscribed.
   */
  readonly connected?: boolean;
  /** Stop delivering until `resume()` (backpressure). Idempotent. */
  pause(): void;
  /** Deliver again after `pause()`. Idempotent. */
  resume(): void;
  /**
   * Disconnect this consumer. Every message delivered to it and not acknowledged becomes available
   * to the subscription's other consumers (or to this subscription again later).
   */
  close(): Promise<void>;
}

/** Message to publish. */
export interface OutgoingMessage {
  readonly data: Uint8Array;
  /** Partition (routing) key; Key_Shared routes by it. */
  readonly partitionKey?: string;
  readonly properties?: Readonly<Record<string, string>>;
}

/** A raw producer of one topic. */
export interface TopicProducer {
  readonly topic: string;
  /** Publish one message; resolves with its message id once the broker has it. */
  send(message: OutgoingMessage): Promise<string>;
  /** Wait until everything sent so far is persisted. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A broker adapter. Implementations: the embedded memory transport (default), Pulsar over
 * WebSocket, the native `pulsar-client`. Check yours with `transportContract` from
 * `exclusive-consumer/testing`.
 */
export interface Transport {
  /** Short name for logs and telemetry, e.g. `memory`, `pulsar-ws`. */
  readonly name: string;
  /**
   * Whether an acknowledgement can be lost after `ack()` returned (it travels over a connection
   * that can drop before the broker processed it), so that an acknowledged message can be delivered
   * again. Consumers on such a transport remember what they completed and acknowledge a message
   * that comes back instead of running it again (`rememberCompleted`).
   */
  readonly acknowledgementsCanBeLost?: boolean;
  /** Open a consumer on `options.topic`. Rejects with a `TransportError` when the broker refuses. */
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  /** Open a producer on `topic`. */
  createProducer(topic: string): Promise<TopicProducer>;
  /** Release connections the transport itself opened. Clients passed in by the user stay open. */
  close?(): Promise<void>;
}
