import { TransportError } from '../errors/transport-error.js';
import { deadLetterMessage } from '../transports/dead-letter.js';
import type { DeadLetterReason, Delivery, OutgoingMessage, SubscribeOptions, Subscription } from '../transports/types.js';
import type { PulsarTopicName } from './topic.js';
import type { ResolvedPulsarTransportOptions } from './transport-options.js';

/**
 * @internal What a subscription needs from its transport, whichever protocol it speaks; a
 * transport whose subscriptions need more extends it.
 */
export interface ConsumerHost<O extends ResolvedPulsarTransportOptions = ResolvedPulsarTransportOptions> {
  /** The transport's options, with defaults applied. */
  readonly options: O;
  /** Publish to a dead-letter topic (creating its retaining subscription first); resolves once stored. */
  deadLetter(topic: string, subscription: string, message: OutgoingMessage): Promise<void>;
  /** The subscription closed; forget it. */
  closed(subscription: PulsarSubscription): void;
}

const resolved: Promise<void> = Promise.resolve();

/**
 * @internal What the deliveries of both Pulsar transports share: a delivery is settled once, by
 * `ack`, `nack` or a successful `deadLetter`, and only while the connection that delivered it
 * lasts; once that is gone the broker has handed the message to another consumer. Subclasses
 * carry the metadata and tell the broker.
 */
export abstract class PulsarDelivery<S extends PulsarSubscription = PulsarSubscription> implements Delivery {
  abstract readonly id: string;
  abstract readonly data: Uint8Array;
  abstract readonly partitionKey: string | undefined;
  abstract readonly properties: Readonly<Record<string, string>>;
  abstract readonly redeliveryCount: number;
  abstract readonly publishTime: number;
  abstract readonly topic: string;
  protected readonly subscription: S;
  #settled = false;
  #deadLettering: Promise<void> | undefined;

  constructor(subscription: S) {
    this.subscription = subscription;
  }

  /** Whether the connection that delivered this message is still open. */
  protected abstract get alive(): boolean;

  /** True once the connection that delivered it is gone: the consumer drops it instead of running it. */
  get lost(): boolean {
    return !this.alive;
  }

  /** Tell the broker and the subscription of the ack; called at most once, while alive. */
  protected abstract acknowledged(): void | Promise<void>;

  /** Tell the broker and the subscription of the nack; called at most once, while alive. */
  protected abstract negativelyAcknowledged(): void;

  /**
   * Acknowledge. Rejects with a non-retriable `TransportError` once the consumer is closed or the
   * connection that delivered the message is known to be gone.
   */
  ack(): void | Promise<void> {
    if (!this.alive) return Promise.reject(this.subscription.goneError(this.id));
    if (this.#settled) return;
    this.#settled = true;
    return this.acknowledged();
  }

  /** Redeliver after the subscription's nack delay. A no-op once settled or once its connection is gone. */
  nack(): void {
    if (!this.alive || this.#settled) return;
    this.#settled = true;
    this.negativelyAcknowledged();
  }

  /** Publish to the dead-letter topic and wait for the broker's confirmation, then acknowledge. */
  deadLetter(reason: DeadLetterReason): Promise<void> {
    if (!this.alive) return Promise.reject(this.subscription.goneError(this.id));
    if (this.#settled) return resolved;
    this.#deadLettering ??= this.#publishDeadLetter(reason).finally(() => {
      this.#deadLettering = undefined;
    });
    return this.#deadLettering;
  }

  async #publishDeadLetter(reason: DeadLetterReason): Promise<void> {
    await this.subscription.publishDeadLetter(deadLetterMessage(this, reason));
    // Published: from here on an ack is due. If the connection dropped meanwhile the message comes
    // back to the subscription and may be dead-lettered twice (at least once, never lost).
    const result = this.ack();
    if (result !== undefined) await result;
  }
}

/**
 * @internal What the subscriptions of both Pulsar transports share: what they consume and where
 * their dead letters go, the pause/resume/close lifecycle, and how they report to the engine.
 * Subclasses connect, receive and keep at most `limit` deliveries unsettled.
 */
export abstract class PulsarSubscription<H extends ConsumerHost = ConsumerHost> implements Subscription {
  protected readonly host: H;
  protected readonly options: SubscribeOptions;
  protected readonly topic: PulsarTopicName;
  /** `receiverQueueSize`: the most deliveries unsettled at once. */
  protected readonly limit: number;
  /** Full name of the topic dead letters go to. */
  protected readonly deadLetterTopic: string;
  #paused = false;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(host: H, options: SubscribeOptions, topic: PulsarTopicName, deadLetterTopic: string) {
    this.host = host;
    this.options = options;
    this.topic = topic;
    this.deadLetterTopic = deadLetterTopic;
    this.limit = options.receiverQueueSize;
  }

  /** Connect and start delivering. Rejects (and leaves nothing running) when the broker refuses. */
  abstract start(): Promise<void>;

  /** `resume()` lifted a pause: deliver again. */
  protected abstract resumed(): void;

  /** Called once by `close()`, already marked closed: let go of the connection, then `host.closed(this)`. */
  protected abstract disconnect(): Promise<void>;

  protected get isPaused(): boolean {
    return this.#paused;
  }

  protected get isClosed(): boolean {
    return this.#closed;
  }

  // ------------------------------------------------------------------ Subscription

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused || this.#closed) return;
    this.#paused = false;
    this.resumed();
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  // ------------------------------------------------------------------ for deliveries

  goneError(messageId: string): TransportError {
    const o = this.options;
    return new TransportError(
      this.#closed
        ? `Consumer "${o.consumerName}" of ${this.topic.full} is closed`
        : `The connection that delivered message ${messageId} to consumer "${o.consumerName}" is gone; the broker redelivers it`,
      { retriable: false, context: { ...this.context(), messageId } },
    );
  }

  publishDeadLetter(message: OutgoingMessage): Promise<void> {
    return this.host.deadLetter(this.deadLetterTopic, this.options.subscription, message);
  }

  // ------------------------------------------------------------------ for subclasses

  /** Hand a batch to the engine; what it throws is reported, not propagated into the receive path. */
  protected deliver(batch: readonly Delivery[]): void {
    try {
      this.options.onMessages(batch);
    } catch (error) {
      this.report(error);
    }
  }

  /** Tell the engine that deliveries it holds can no longer be settled. */
  protected deliveriesLost(): void {
    try {
      this.options.onDeliveriesLost?.();
    } catch (error) {
      this.report(error);
    }
  }

  protected context(): Record<string, unknown> {
    const o = this.options;
    return { topic: this.topic.full, subscription: o.subscription, consumerName: o.consumerName };
  }

  /** Pass `error` to `onError`; a throwing callback must not break the receive path. */
  protected report(error: unknown): void {
    const reported = error instanceof Error ? error : new Error(String(error));
    try {
      this.options.onError?.(reported);
    } catch {
      // An informational callback that throws has nowhere better to report to.
    }
  }

  #close(): Promise<void> {
    this.#closed = true;
    return this.disconnect();
  }
}
