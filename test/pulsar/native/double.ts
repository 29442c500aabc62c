/**
 * A test double of pulsar-client 1.18's `Client`, `Consumer`, `Producer`, `Message` and
 * `MessageId`, behaving as the native client does where the adapter can tell:
 *
 * - `subscribe` rejects without `topic` or `subscription` (as the addon's ConsumerConfig does) and
 *   records every config; there is no listener unless one is passed (the double refuses one).
 * - A consumer prefetches up to `receiverQueueSize` messages (the broker stops at that many
 *   permits; more are asked for once half the queue was taken), `batchReceive()` resolves with a
 *   `Message[]` as soon as `batchReceivePolicy.maxNumMessages` are queued or after `timeoutMs`
 *   with what there is (possibly none), and `maxNumMessages` is capped at `receiverQueueSize`.
 * - `acknowledge` returns a `Promise<null>`, `negativeAcknowledge` returns nothing and the message
 *   comes back after `nAckRedeliverTimeoutMs` (at least 100 ms, default 60 000) with a higher
 *   redelivery count; `close` fails pending `batchReceive()` calls with `AlreadyClosed` and
 *   hands unacknowledged messages to the other consumers.
 * - Messages: `getPartitionKey()` is `''` without a key, `getData()` a `Buffer`, ids stringify.
 * - `drop()` simulates a lost connection the client recovers from: `isConnected()` is false until
 *   it reconnects, the client's queue is cleared and the broker redelivers what was unacknowledged.
 *   `flap()` makes `isConnected()` false while messages keep flowing (one partition of several).
 *
 * The broker behind it is the library's embedded `MemoryBroker`, which implements Pulsar's
 * subscription semantics (Key_Shared, Failover, Shared, nack delays, dead-letter topics).
 */
import { MemoryBroker, type MemoryBrokerOptions, type Transport } from '../../../src/index.js';
import { type Delivery, type Subscription, type SubscriptionType, type TopicProducer } from '../../../src/adapters.js';
import type {
  PulsarClientLike,
  PulsarConsumerConfig,
  PulsarConsumerLike,
  PulsarMessageLike,
  PulsarProducerConfig,
  PulsarProducerLike,
  PulsarProducerMessage,
} from '../../../src/pulsar/index.js';

const TYPES: Readonly<Record<string, SubscriptionType>> = { KeyShared: 'key-shared', Failover: 'failover', Shared: 'shared' };
/** The broker's `maxUnackedMessagesPerConsumer`. */
const BROKER_UNACKED_CAP = 50_000;

const later = <T>(value: T): Promise<T> => new Promise((resolve) => setImmediate(() => resolve(value)));
const failLater = (message: string): Promise<never> =>
  new Promise((_, reject) => setImmediate(() => reject(new Error(message))));

export class FakeMessageId {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

export class FakeMessage implements PulsarMessageLike {
  constructor(
    readonly delivery: Delivery,
    readonly consumer: FakeConsumer,
  ) {}
  getTopicName(): string {
    return this.delivery.topic;
  }
  getProperties(): { [key: string]: string } {
    return { ...this.delivery.properties };
  }
  getData(): Buffer {
    return Buffer.from(this.delivery.data);
  }
  getMessageId(): FakeMessageId {
    return new FakeMessageId(`(${this.delivery.id})`);
  }
  getPublishTimestamp(): number {
    return this.delivery.publishTime;
  }
  getEventTimestamp(): number {
    return 0;
  }
  getRedeliveryCount(): number {
    return this.delivery.redeliveryCount;
  }
  getPartitionKey(): string {
    return this.delivery.partitionKey ?? '';
  }
}

interface PendingBatch {
  resolve(messages: FakeMessage[]): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export class FakeConsumer implements PulsarConsumerLike {
  readonly config: PulsarConsumerConfig;
  /** Calls made, for assertions. */
  readonly calls = { batchReceive: 0, acknowledge: [] as FakeMessage[], negativeAcknowledge: [] as FakeMessage[], close: 0 };
  /** Makes the next `batchReceive()` calls reject with this message (then cleared). */
  failBatchReceive: string[] = [];
  /** Makes `acknowledge` reject with this message. */
  failAcknowledge: string | undefined;
  readonly #client: FakePulsarClient;
  readonly #queue: FakeMessage[] = [];
  readonly #pending: PendingBatch[] = [];
  readonly #maxBatch: number;
  readonly #timeoutMs: number;
  #subscription: Subscription | undefined;
  #incarnation = 0;
  #connected = false;
  #closed = false;

  constructor(client: FakePulsarClient, config: PulsarConsumerConfig) {
    this.#client = client;
    this.config = config;
    const policy = config.batchReceivePolicy ?? {};
    const max = policy.maxNumMessages ?? -1;
    this.#maxBatch = Math.min(max > 0 ? max : Infinity, config.receiverQueueSize ?? 1000);
    this.#timeoutMs = policy.timeoutMs ?? 100;
  }

  get queued(): number {
    return this.#queue.length;
  }

  async connect(): Promise<void> {
    const c = this.config;
    this.#incarnation += 1;
    const type = TYPES[c.subscriptionType];
    if (type === undefined) throw new Error(`Failed to create consumer: the double has no ${c.subscriptionType}`);
    const policy = c.deadLetterPolicy;
    this.#subscription = await this.#client.transport.subscribe({
      topic: c.topic,
      subscription: c.subscription,
      consumerName: this.incarnationName,
      type,
      initialPosition: c.subscriptionInitialPosition === 'Earliest' ? 'earliest' : 'latest',
      receiverQueueSize: BROKER_UNACKED_CAP,
      deadLetterTopic: policy?.deadLetterTopic ?? `${c.topic}-${c.subscription}-DLQ`,
      ...(policy?.maxRedeliverCount === undefined ? {} : { maxRedeliverCount: policy.maxRedeliverCount }),
      nackRedeliveryDelayMs: Math.max(100, c.nAckRedeliverTimeoutMs ?? 60_000),
      onMessages: (batch) => this.#arrive(batch),
    });
    this.#connected = true;
  }

  /** The memory broker's name of the current connection (consumer names must stay ordered for Failover). */
  get incarnationName(): string {
    return `${this.config.consumerName}~${this.#incarnation}`;
  }

  batchReceive(): Promise<FakeMessage[]> {
    this.calls.batchReceive += 1;
    if (this.#closed) return failLater('Failed to batch receive message: AlreadyClosed');
    const failure = this.failBatchReceive.shift();
    if (failure !== undefined) return failLater(`Failed to batch receive message: ${failure}`);
    if (this.#queue.length >= this.#maxBatch) return later(this.#take());
    return new Promise((resolve, reject) => {
      const pending: PendingBatch = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#pending.splice(this.#pending.indexOf(pending), 1);
          resolve(this.#take());
        }, this.#timeoutMs),
      };
      this.#pending.push(pending);
    });
  }

  acknowledge(message: PulsarMessageLike): Promise<null> {
    const m = message as FakeMessage;
    this.calls.acknowledge.push(m);
    if (this.#closed) return failLater('Failed to acknowledge: AlreadyClosed');
    if (this.failAcknowledge !== undefined) return failLater(`Failed to acknowledge: ${this.failAcknowledge}`);
    try {
      const result = m.delivery.ack();
      if (result !== undefined) return result.then(() => later(null), (e: Error) => failLater(`Failed to acknowledge: ${e.message}`));
    } catch (error) {
      return failLater(`Failed to acknowledge: ${(error as Error).message}`);
    }
    return later(null);
  }

  negativeAcknowledge(message: PulsarMessageLike): void {
    const m = message as FakeMessage;
    this.calls.negativeAcknowledge.push(m);
    if (!this.#closed) m.delivery.nack();
  }

  isConnected(): boolean {
    return this.#connected && !this.#closed;
  }

  async close(): Promise<null> {
    this.calls.close += 1;
    if (this.#closed) return null;
    this.#closed = true;
    this.#connected = false;
    for (const p of this.#pending.splice(0)) {
      clearTimeout(p.timer);
      setImmediate(() => p.reject(new Error('Failed to batch receive message: AlreadyClosed')));
    }
    this.#queue.length = 0;
    await this.#subscription?.close();
    return later(null);
  }

  /**
   * Lose the connection: the broker takes back every unacknowledged message (others get them at
   * once), the client's queue is cleared, and the client reconnects after `reconnectAfterMs`.
   */
  drop(reconnectAfterMs = 50): void {
    if (this.#closed) return;
    this.#connected = false;
    this.#queue.length = 0;
    this.#client.broker.kill(this.incarnationName);
    this.#subscription = undefined;
    setTimeout(() => {
      if (!this.#closed) void this.connect();
    }, reconnectAfterMs);
  }

  /**
   * Report `isConnected() === false` for `ms` while messages keep flowing, as a consumer of a
   * partitioned topic does while one partition's broker is away and the others are not.
   */
  flap(ms: number): void {
    this.#connected = false;
    setTimeout(() => {
      if (!this.#closed) this.#connected = true;
    }, ms);
  }

  #arrive(batch: readonly Delivery[]): void {
    if (this.#closed) return;
    for (const d of batch) this.#queue.push(new FakeMessage(d, this));
    // The broker sends no more than the permits the client granted: the queue's size.
    if (this.#queue.length >= (this.config.receiverQueueSize ?? 1000)) this.#subscription?.pause();
    while (this.#pending.length > 0 && this.#queue.length >= this.#maxBatch) {
      const p = this.#pending.shift() as PendingBatch;
      clearTimeout(p.timer);
      p.resolve(this.#take());
    }
  }

  #take(): FakeMessage[] {
    const taken = this.#queue.splice(0, this.#maxBatch);
    // The client grants permits again once half its queue was consumed.
    if (this.#queue.length <= (this.config.receiverQueueSize ?? 1000) / 2) this.#subscription?.resume();
    return taken;
  }
}

export class FakeProducer implements PulsarProducerLike {
  readonly sent: PulsarProducerMessage[] = [];
  readonly calls = { flush: 0, close: 0 };
  failSend: string | undefined;
  constructor(
    readonly config: PulsarProducerConfig,
    readonly inner: TopicProducer,
  ) {}

  /** Sends not yet confirmed, and the most there were at once. */
  pending = 0;
  mostPending = 0;

  send(message: PulsarProducerMessage): Promise<FakeMessageId> {
    if (!Buffer.isBuffer(message.data)) throw new TypeError('data must be a Buffer');
    if (this.failSend !== undefined) return failLater(`Failed to send message: ${this.failSend}`);
    // The client refuses a send beyond maxPendingMessages unless it may block.
    if (this.pending >= (this.config.maxPendingMessages ?? 1000) && this.config.blockIfQueueFull !== true) {
      return failLater('Failed to send message: ProducerQueueIsFull');
    }
    this.pending += 1;
    this.mostPending = Math.max(this.mostPending, this.pending);
    this.sent.push(message);
    // Stored in call order; confirmed a little later, as the broker's receipts come back.
    const stored = this.inner.send({
      data: message.data,
      ...(message.partitionKey === undefined ? {} : { partitionKey: message.partitionKey }),
      ...(message.properties === undefined ? {} : { properties: message.properties }),
    });
    return stored.then(
      (id) =>
        new Promise<FakeMessageId>((resolve) =>
          setTimeout(() => {
            this.pending -= 1;
            resolve(new FakeMessageId(`(${id})`));
          }, 1),
        ),
      (error: Error) => {
        this.pending -= 1;
        throw new Error(`Failed to send message: ${error.message}`);
      },
    );
  }

  flush(): Promise<null> {
    this.calls.flush += 1;
    return later(null);
  }

  async close(): Promise<null> {
    this.calls.close += 1;
    await this.inner.close();
    return later(null);
  }
}

/** The double of `new Client({ serviceUrl })`. */
export class FakePulsarClient implements PulsarClientLike {
  readonly broker: MemoryBroker;
  readonly transport: Transport;
  readonly consumers: FakeConsumer[] = [];
  readonly producers: FakeProducer[] = [];
  /** Makes the next `subscribe` / `createProducer` calls reject with this message. */
  failSubscribe: string | undefined;
  failCreateProducer: string | undefined;
  closed = 0;

  constructor(options: MemoryBrokerOptions = {}) {
    this.broker = new MemoryBroker(options);
    this.transport = this.broker.transport();
  }

  async subscribe(config: PulsarConsumerConfig): Promise<FakeConsumer> {
    if (typeof config.topic !== 'string' || config.topic === '') {
      throw new Error('Topic, topics or topicsPattern is required and must be specified as a string when creating consumer');
    }
    if (typeof config.subscription !== 'string' || config.subscription === '') {
      throw new Error('Subscription is required and must be specified as a string when creating consumer');
    }
    if ('listener' in config) throw new Error('the double has no listener');
    if (this.failSubscribe !== undefined) throw new Error(`Failed to create consumer: ${this.failSubscribe}`);
    const consumer = new FakeConsumer(this, config);
    await consumer.connect();
    this.consumers.push(consumer);
    return later(consumer);
  }

  async createProducer(config: PulsarProducerConfig): Promise<FakeProducer> {
    if (typeof config.topic !== 'string' || config.topic === '') throw new Error('Topic is required');
    if (this.failCreateProducer !== undefined) throw new Error(`Failed to create producer: ${this.failCreateProducer}`);
    const producer = new FakeProducer(config, await this.transport.createProducer(config.topic));
    this.producers.push(producer);
    return later(producer);
  }

  close(): Promise<null> {
    this.closed += 1;
    return later(null);
  }

  /** The consumers subscribed with this consumer name (the last one is the current one). */
  consumer(name: string): FakeConsumer {
    const found = this.consumers.filter((c) => c.config.consumerName === name).at(-1);
    if (found === undefined) throw new Error(`no consumer named ${name}`);
    return found;
  }
}
