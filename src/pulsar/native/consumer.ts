import { SubscriptionTypeConflictError } from '../../errors/subscription-type-conflict-error.js';
import { TransportError } from '../../errors/transport-error.js';
import type { SubscribeOptions, SubscriptionType } from '../../transports/types.js';
import { PulsarDelivery, PulsarSubscription, type ConsumerHost } from '../consumer-base.js';
import { QuietPartitions } from '../quiet-partitions.js';
import { DEFAULT_NACK_DELAY_MS } from '../transport-options.js';
import { backoffDelay, type BackoffPolicy } from '../../internal/backoff.js';
import { holdStallWatch, stalled } from '../../internal/stall-watch.js';
import type { PulsarConsumerConfig, PulsarConsumerLike, PulsarMessageLike, PulsarNativeSubscriptionType } from './client.js';
import type { ResolvedClientOptions } from './options.js';

/** pulsar-client's names of the subscription types. */
const SUBSCRIPTION_TYPE: Readonly<Record<SubscriptionType, PulsarNativeSubscriptionType>> = {
  'key-shared': 'KeyShared',
  failover: 'Failover',
  shared: 'Shared',
};

/** After a standstill, the next batch waits this long: the client's threads need a few milliseconds to notice a closed connection. */
const STALL_SETTLE_MS = 100;

/** Backoff of the receive loop after `batchReceive()` failed (the client reconnects by itself). */
const RECEIVE_RETRY: BackoffPolicy = Object.freeze({ initialDelayMs: 100, maxDelayMs: 5000, factor: 2, jitter: 0.5 });

/** @internal The error text of whatever a native call threw. */
export function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** @internal The `ConsumerConfig` a subscription asks the client for. */
export function consumerConfig(
  options: SubscribeOptions,
  topic: string,
  deadLetterTopic: string,
  resolved: ResolvedClientOptions,
): PulsarConsumerConfig {
  const limit = options.receiverQueueSize;
  // Pulsar moves messages to the dead-letter topic only for Shared and Key_Shared: in Failover the
  // redelivery count stays 0, so the policy would never fire.
  const brokerDeadLetter = options.maxRedeliverCount !== undefined && options.type !== 'failover';
  const retainer = resolved.deadLetterSubscription ?? options.subscription;
  return {
    topic,
    subscription: options.subscription,
    subscriptionType: SUBSCRIPTION_TYPE[options.type],
    subscriptionInitialPosition: options.initialPosition === 'earliest' ? 'Earliest' : 'Latest',
    consumerName: options.consumerName,
    // The client prefetches this many: no more than the engine may hold, so that the other
    // consumers of a Shared subscription get their share of the backlog.
    receiverQueueSize: limit,
    batchReceivePolicy: { maxNumMessages: Math.min(resolved.batchSize, limit), timeoutMs: resolved.receiveTimeoutMs },
    ...(options.type === 'key-shared'
      ? { keySharedPolicy: { keyShareMode: 'AutoSplit', allowOutOfOrderDelivery: false } }
      : {}),
    // Pulsar's default (60 s) would stall a key whose message was given back for a minute.
    nAckRedeliverTimeoutMs: Math.round(options.nackRedeliveryDelayMs ?? DEFAULT_NACK_DELAY_MS),
    ...(brokerDeadLetter
      ? {
          deadLetterPolicy: {
            deadLetterTopic,
            maxRedeliverCount: options.maxRedeliverCount,
            ...(retainer === false ? {} : { initialSubscriptionName: retainer }),
          },
        }
      : {}),
  };
}

/**
 * @internal The deliveries handed over while the client had one connection. When it drops, the
 * broker hands their messages to other consumers: they can no longer be settled here.
 */
class Generation {
  alive = true;
  /** Messages handed to `onMessages` and not settled. */
  readonly unsettled = new Set<PulsarMessageLike>();
  /** The same deliveries by message id. */
  readonly byId = new Map<string, NativeDelivery>();
}

/** A message received from the client, with its id read once. */
interface Received {
  readonly message: PulsarMessageLike;
  readonly id: string;
}

const noop = (): void => undefined;

/**
 * @internal A message received through pulsar-client. Metadata are read from the native message
 * on first use (most are never read by a no-op pipeline) and kept. Settled once, by `ack`, `nack`
 * or a successful `deadLetter`.
 */
export class NativeDelivery extends PulsarDelivery<NativeSubscription> {
  readonly #generation: Generation;
  readonly #message: PulsarMessageLike;
  readonly #id: string;
  /** Its partition's connection was replaced while the rest of the consumer's stayed up. */
  #retired = false;
  #data: Uint8Array | undefined;
  #properties: Readonly<Record<string, string>> | undefined;
  #topic: string | undefined;
  #partitionKey: string | undefined | null = null;
  #redeliveryCount = -1;
  #publishTime = -1;

  constructor(subscription: NativeSubscription, generation: Generation, message: PulsarMessageLike, id: string) {
    super(subscription);
    this.#generation = generation;
    this.#message = message;
    this.#id = id;
  }

  override get id(): string {
    return this.#id;
  }

  override get data(): Uint8Array {
    return (this.#data ??= this.#message.getData());
  }

  /** The producer's partition key; `undefined` when it set none (the client reports `''`). */
  override get partitionKey(): string | undefined {
    if (this.#partitionKey === null) {
      const key = this.#message.getPartitionKey();
      this.#partitionKey = typeof key === 'string' && key.length > 0 ? key : undefined;
    }
    return this.#partitionKey;
  }

  override get properties(): Readonly<Record<string, string>> {
    return (this.#properties ??= this.#message.getProperties() ?? {});
  }

  override get redeliveryCount(): number {
    if (this.#redeliveryCount < 0) this.#redeliveryCount = this.#message.getRedeliveryCount();
    return this.#redeliveryCount;
  }

  override get publishTime(): number {
    if (this.#publishTime < 0) this.#publishTime = this.#message.getPublishTimestamp();
    return this.#publishTime;
  }

  override get topic(): string {
    return (this.#topic ??= this.#message.getTopicName());
  }

  protected override get alive(): boolean {
    return this.#generation.alive && !this.#retired;
  }

  /** The native message, for the subscription's bookkeeping. */
  get message(): PulsarMessageLike {
    return this.#message;
  }

  /** Void this delivery alone: the broker took its message back with its partition's connection. */
  retire(): void {
    this.#retired = true;
  }

  /** Returns the client's pending acknowledgement (the engine does not wait for it). */
  protected override acknowledged(): Promise<void> {
    this.subscription.settled(this.#generation, this.#message, this);
    return this.subscription.acknowledge(this.#message, this);
  }

  protected override negativelyAcknowledged(): void {
    this.subscription.settled(this.#generation, this.#message, this);
    this.subscription.negativeAcknowledge(this.#message);
  }
}

/**
 * @internal One consumer of pulsar-client, fed to the engine by a receive loop: `batchReceive()`
 * while fewer than `receiverQueueSize` deliveries are unsettled and the subscription is not paused.
 * A batch can bring more than there is room for: the rest is held (not yet delivered) until room
 * frees up. The client's own listener is not used: it awaits each message's handler before the
 * next, one message at a time per consumer.
 */
export class NativeSubscription extends PulsarSubscription<ConsumerHost<ResolvedClientOptions>> {
  #consumer: PulsarConsumerLike | undefined;
  #generation = new Generation();
  /** Received from the client and not yet handed over (no room, or paused). */
  #held: Received[] = [];
  /** Whether the client said it was connected when last asked. */
  #connected = true;
  #checkTimer: NodeJS.Timeout | undefined;
  /** Wakes the loop while it waits for room, for `resume()` or for the end of a backoff. */
  #wake: (() => void) | undefined;
  #wakeQueued = false;
  #loop: Promise<void> | undefined;
  /**
   * Failover with `failoverRedeliverAfterMs` > 0: partitions (by topic name) to ask redelivery for
   * once quiet, see {@link QuietPartitions}.
   */
  #quiet: QuietPartitions<string, PulsarMessageLike> | undefined;
  #quietTimer: NodeJS.Timeout | undefined;
  #releaseStallWatch: () => void = () => undefined;

  /** Subscribe through the client and start the receive loop. Rejects when the broker refuses. */
  override async start(): Promise<void> {
    const o = this.options;
    const config = consumerConfig(o, this.topic.full, this.deadLetterTopic, this.host.options);
    let consumer: PulsarConsumerLike;
    try {
      consumer = await this.host.options.client.subscribe(config);
    } catch (error) {
      const reason = reasonOf(error);
      // The library opens no Exclusive consumers: a busy subscription is held with another type.
      if (/ConsumerBusy|different type/i.test(reason)) {
        throw new SubscriptionTypeConflictError(this.topic.full, o.subscription, config.subscriptionType, reason, error);
      }
      throw new TransportError(`Pulsar refused consumer "${o.consumerName}" of ${this.topic.full} (subscription "${o.subscription}"): ${reason}`, {
        cause: error,
        context: this.context(),
      });
    }
    if (this.isClosed) {
      // The transport was closed while the broker created the consumer.
      await consumer.close().catch(noop);
      return;
    }
    this.#consumer = consumer;
    const quietAfterMs = this.host.options.failoverRedeliverAfterMs;
    if (o.type === 'failover' && quietAfterMs > 0) {
      const quiet = (this.#quiet = new QuietPartitions<string, PulsarMessageLike>());
      // Receiving: the loop has room and nothing held, so the client's queue does not keep messages.
      const receiving = (): boolean =>
        !this.isPaused && this.#held.length === 0 && this.#generation.unsettled.size < this.limit;
      this.#quietTimer = quiet.watch(quietAfterMs, receiving, (messages) => {
        for (const message of messages) this.negativeAcknowledge(message);
      });
    }
    this.#releaseStallWatch = holdStallWatch();
    this.#loop = this.#run(consumer);
    const every = this.host.options.connectionCheckIntervalMs;
    if (every > 0 && typeof consumer.isConnected === 'function') {
      this.#checkTimer = setInterval(() => this.#checkConnection(), every);
      this.#checkTimer.unref();
    }
  }

  // ------------------------------------------------------------------ Subscription

  protected override resumed(): void {
    this.#wakeUp();
  }

  // ------------------------------------------------------------------ for deliveries

  /** A delivery of `generation` was settled: room for one more. */
  settled(generation: Generation, message: PulsarMessageLike, delivery: NativeDelivery): void {
    generation.unsettled.delete(message);
    generation.byId.delete(delivery.id);
    if (this.#quiet !== undefined && generation === this.#generation) this.#quiet.settled(delivery.topic);
    if (this.#wake === undefined || this.#wakeQueued || generation !== this.#generation || this.isPaused) return;
    this.#wakeQueued = true;
    // Settlements of one turn (a batch of handlers finishing together) share one wake-up, so that
    // the loop hands over and fetches in batches rather than one message per settlement.
    setImmediate(() => {
      this.#wakeQueued = false;
      this.#wakeUp();
    });
  }

  acknowledge(message: PulsarMessageLike, delivery: NativeDelivery): Promise<void> {
    const fail = (error: unknown): never => {
      throw new TransportError(`Could not acknowledge message ${delivery.id} on ${this.topic.full}: ${reasonOf(error)}`, {
        cause: error,
        context: { ...this.context(), messageId: delivery.id },
      });
    };
    try {
      return (this.#consumer as PulsarConsumerLike).acknowledge(message).then(noop, fail);
    } catch (error) {
      return Promise.reject(new TransportError(`Could not acknowledge message ${delivery.id}: ${reasonOf(error)}`, { cause: error }));
    }
  }

  negativeAcknowledge(message: PulsarMessageLike): void {
    try {
      (this.#consumer as PulsarConsumerLike).negativeAcknowledge(message);
    } catch (error) {
      this.report(new TransportError(`Could not negatively acknowledge a message: ${reasonOf(error)}`, { cause: error, context: this.context() }));
    }
  }

  // ------------------------------------------------------------------ the receive loop

  async #run(consumer: PulsarConsumerLike): Promise<void> {
    let failures = 0;
    while (!this.isClosed) {
      const generation = this.#generation;
      const room = this.limit - generation.unsettled.size;
      if (this.isPaused || room <= 0) {
        await this.#idle();
        continue;
      }
      if (this.#held.length > 0) {
        this.#handOver(generation, room);
        continue;
      }
      let messages: PulsarMessageLike[];
      try {
        messages = await consumer.batchReceive();
      } catch (error) {
        if (this.isClosed) break;
        failures += 1;
        this.report(
          new TransportError(`Consumer "${this.options.consumerName}" could not receive from ${this.topic.full}: ${reasonOf(error)}`, {
            cause: error,
            context: this.context(),
          }),
        );
        await this.#idle(backoffDelay(failures, RECEIVE_RETRY));
        continue;
      }
      failures = 0;
      if (this.isClosed || messages.length === 0) continue;
      if (stalled()) {
        // The process stood still and the client's I/O threads resume with it: give them a moment
        // to read what the broker said meanwhile (a closed connection) before trusting the batch.
        await new Promise((resolve) => setTimeout(resolve, STALL_SETTLE_MS));
        if (this.isClosed) break;
      }
      // A drop noticed now retires what was delivered before this batch. The batch itself is
      // delivered even while the client is disconnected: with a partitioned topic, "disconnected"
      // may mean one partition's broker, and the others' messages would otherwise sit here unacked.
      this.#checkConnection();
      const received = messages.map((message): Received => ({ message, id: message.getMessageId().toString() }));
      // The client reconnects by itself, often faster than a poll can see (a topic unload hands
      // the consumer its new broker at once), and the broker then delivers again what this
      // connection held: a message seen again while still held proves the drop, before any of the
      // old deliveries runs next to its redelivery.
      this.#retireRedelivered(received);
      const quiet = this.#quiet;
      for (const r of received) {
        this.#held.push(r);
        quiet?.received(r.message.getTopicName(), r.message);
      }
    }
  }

  /**
   * Messages delivered again while this subscription still holds them prove that the client
   * reconnected their partition (faster than a poll can see: a topic unload hands the consumer its
   * new broker at once), and the broker then sends again what that connection held. Void what the
   * old connection of each such partition delivered, before any of it runs beside its redelivery;
   * no negative ack, the broker has those messages back already. Other partitions stay as they are.
   */
  #retireRedelivered(received: readonly Received[]): void {
    const generation = this.#generation;
    if (generation.byId.size === 0 && this.#held.length === 0) return;
    const heldIds = this.#held.length === 0 ? undefined : new Set(this.#held.map((r) => r.id));
    let partitions: Set<string> | undefined;
    for (const r of received) {
      if (generation.byId.has(r.id) || heldIds?.has(r.id) === true) (partitions ??= new Set()).add(r.message.getTopicName());
    }
    if (partitions === undefined) return;
    let retired = 0;
    for (const [id, delivery] of generation.byId) {
      if (!partitions.has(delivery.topic)) continue;
      delivery.retire();
      generation.byId.delete(id);
      generation.unsettled.delete(delivery.message);
      retired += 1;
    }
    this.#held = this.#held.filter((r) => !partitions.has(r.message.getTopicName()));
    this.#quiet?.reset();
    this.report(
      new TransportError(
        `Consumer "${this.options.consumerName}" was delivered again messages it still held: the client reconnected ${[...partitions].join(', ')}; ${retired} deliveries of the old connection are void`,
        { context: this.context() },
      ),
    );
  }

  /** Hand over up to `room` held messages as one batch. */
  #handOver(generation: Generation, room: number): void {
    const held = this.#held;
    const count = Math.min(room, held.length);
    const batch: NativeDelivery[] = new Array<NativeDelivery>(count);
    for (let i = 0; i < count; i++) {
      const r = held[i] as Received;
      batch[i] = new NativeDelivery(this, generation, r.message, r.id);
      // Counted before the hand-over: the engine may settle some of them inside `onMessages`.
      generation.unsettled.add(r.message);
      generation.byId.set(r.id, batch[i] as NativeDelivery);
    }
    this.#held = count === held.length ? [] : held.slice(count);
    this.deliver(batch);
  }

  /** Wait for `#wakeUp()` (room, resume, close, a lost connection) or `ms`. */
  #idle(ms?: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        if (this.#wake === done) this.#wake = undefined;
        resolve();
      };
      if (ms !== undefined) timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  // ------------------------------------------------------------------ connection

  /** What the client answered when last asked (`connectionCheckIntervalMs`): false from a drop until it reconnected. */
  get connected(): boolean {
    return this.#consumer !== undefined && this.#connected;
  }

  /** Ask the client whether it is connected; on a drop, retire the deliveries made so far. */
  #checkConnection(): void {
    const consumer = this.#consumer;
    if (this.isClosed || consumer?.isConnected === undefined || this.host.options.connectionCheckIntervalMs === 0) return;
    let connected: boolean;
    try {
      connected = consumer.isConnected();
    } catch {
      return;
    }
    if (connected) {
      this.#connected = true;
    } else if (this.#connected) {
      this.#connected = false;
      this.#lost();
    }
  }

  #lost(): void {
    const old = this.#generation;
    const lostCount = old.unsettled.size;
    old.alive = false;
    this.#generation = new Generation();
    // Given back once. Messages that came over the dropped connection are the broker's again
    // already, and it ignores this; but a partitioned consumer is "disconnected" when one of its
    // partitions is, and the messages of the others would stay unacknowledged here for good.
    for (const message of old.unsettled) this.negativeAcknowledge(message);
    for (const r of this.#held) this.negativeAcknowledge(r.message);
    old.unsettled.clear();
    old.byId.clear();
    this.#held = [];
    this.#quiet?.reset();
    this.report(
      new TransportError(
        `Consumer "${this.options.consumerName}" lost its connection to Pulsar; the client reconnects and the broker redelivers its unacknowledged messages`,
        { context: this.context() },
      ),
    );
    if (lostCount > 0) this.deliveriesLost();
    this.#wakeUp();
  }

  protected override async disconnect(): Promise<void> {
    this.#releaseStallWatch();
    if (this.#checkTimer !== undefined) clearInterval(this.#checkTimer);
    this.#checkTimer = undefined;
    if (this.#quietTimer !== undefined) clearInterval(this.#quietTimer);
    this.#quietTimer = undefined;
    // Deliveries are void from now on; held messages were never delivered. The broker hands every
    // unacknowledged message to the other consumers once the client closes.
    this.#generation.alive = false;
    this.#held = [];
    this.#wakeUp();
    const consumer = this.#consumer;
    let failure: unknown;
    if (consumer !== undefined) {
      try {
        // Closing also fails a pending batchReceive(), which ends the loop.
        await consumer.close();
      } catch (error) {
        if (!/AlreadyClosed/i.test(reasonOf(error))) failure = error;
      }
    }
    await this.#loop;
    this.host.closed(this);
    if (failure !== undefined) {
      throw new TransportError(`Could not close consumer "${this.options.consumerName}": ${reasonOf(failure)}`, {
        cause: failure,
        context: this.context(),
      });
    }
  }
}
