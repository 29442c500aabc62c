import { TransportError } from '../errors/transport-error.js';
import type { OutgoingMessage, SubscribeOptions, Subscription, TopicProducer, Transport } from '../transports/types.js';
import { validateSubscribeOptions } from '../transports/validate.js';
import type { ConsumerHost, PulsarSubscription } from './consumer-base.js';
import { resolveTopic, type PulsarTopicName } from './topic.js';
import type { ResolvedPulsarTransportOptions } from './transport-options.js';

/**
 * A {@link Transport} over Apache Pulsar, with the topic naming it applies: what
 * {@link PulsarWebSocketTransport} and {@link PulsarClientTransport} have in common.
 */
export interface PulsarTransport extends Transport {
  /** `'pulsar-ws'` or `'pulsar-client'`. */
  readonly name: string;
  /** The full name a topic resolves to, e.g. `orders` → `persistent://public/default/orders`. */
  topicName(topic: string): string;
  /** Close every consumer and producer opened through this transport. */
  close(): Promise<void>;
}

/**
 * @internal What both Pulsar transports share: topic naming, the subscriptions and producers they
 * opened (closed with the transport), one producer per dead-letter topic created on first use, and
 * the subscriptions that retain dead letters, each created once. Subclasses open consumers,
 * producers and those subscriptions over their protocol.
 */
export abstract class PulsarTransportBase<O extends ResolvedPulsarTransportOptions, P extends TopicProducer>
  implements PulsarTransport, ConsumerHost<O>
{
  abstract readonly name: string;
  /** Acknowledgements go out over a connection that can drop before the broker processed them. */
  readonly acknowledgementsCanBeLost = true;
  readonly options: O;
  /** Producers opened and not closed yet; a subclass adds each one and removes it when it closes. */
  protected readonly producers = new Set<P>();
  readonly #closedMessage: string;
  readonly #subscriptions = new Set<PulsarSubscription>();
  /** Dead-letter producers by full topic name; created on first use. */
  readonly #deadLetterProducers = new Map<string, Promise<P>>();
  /** Subscriptions known to exist, by `topic\0subscription`. */
  readonly #ensured = new Map<string, Promise<void>>();
  #closed = false;

  /** @param description names the transport in errors, e.g. `pulsar-client transport`. */
  constructor(options: O, description: string) {
    this.options = options;
    this.#closedMessage = `The ${description} is closed`;
  }

  /** A new, not yet started consumer of `topic`. */
  protected abstract newSubscription(options: SubscribeOptions, topic: PulsarTopicName, deadLetterTopic: string): PulsarSubscription;

  /**
   * Whether the subscription that retains dead letters must exist before subscribing: true where
   * the broker may dead-letter by itself and nothing else creates it.
   */
  protected abstract retainsDeadLettersFirst(options: SubscribeOptions): boolean;

  /** Open a producer of `resolved` and add it to `producers`; `topic` is the name it was asked for. */
  protected abstract openProducer(topic: string, resolved: PulsarTopicName): Promise<P>;

  /** Open the producer that `deadLetter` sends to `topic` through. */
  protected abstract openDeadLetterProducer(topic: PulsarTopicName): Promise<P>;

  /**
   * Create a durable subscription at the earliest position, so that the broker retains what is
   * published from then on. Resolves too when it exists already, whatever its type.
   */
  protected abstract createRetainingSubscription(topic: PulsarTopicName, subscription: string): Promise<void>;

  protected get isClosed(): boolean {
    return this.#closed;
  }

  protected closedError(): TransportError {
    return new TransportError(this.#closedMessage, { retriable: false });
  }

  topicName(topic: string): string {
    return this.#resolve(topic).full;
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    this.#open();
    validateSubscribeOptions(options);
    const topic = this.#resolve(options.topic);
    const deadLetterTopic = this.#resolve(options.deadLetterTopic, 'deadLetterTopic');
    if (this.retainsDeadLettersFirst(options)) {
      await this.#ensureDeadLetterSubscription(deadLetterTopic, options.subscription);
    }
    const subscription = this.newSubscription(options, topic, deadLetterTopic.full);
    this.#subscriptions.add(subscription);
    try {
      await subscription.start();
    } catch (error) {
      this.#subscriptions.delete(subscription);
      throw error;
    }
    return subscription;
  }

  async createProducer(topic: string): Promise<P> {
    this.#open();
    return this.openProducer(topic, this.#resolve(topic));
  }

  async close(): Promise<void> {
    this.#closed = true;
    const subscriptions = [...this.#subscriptions];
    const producers = [...this.producers];
    await Promise.allSettled([...subscriptions.map((s) => s.close()), ...producers.map((p) => p.close())]);
    this.#deadLetterProducers.clear();
  }

  // ------------------------------------------------------------------ ConsumerHost

  async deadLetter(topic: string, subscription: string, message: OutgoingMessage): Promise<void> {
    const resolved = this.#resolve(topic, 'deadLetterTopic');
    await this.#ensureDeadLetterSubscription(resolved, subscription);
    let producer = this.#deadLetterProducers.get(resolved.full);
    if (producer === undefined) {
      producer = this.openDeadLetterProducer(resolved);
      this.#deadLetterProducers.set(resolved.full, producer);
      producer.catch(() => this.#deadLetterProducers.delete(resolved.full));
    }
    await (await producer).send(message);
  }

  closed(subscription: PulsarSubscription): void {
    this.#subscriptions.delete(subscription);
  }

  // ------------------------------------------------------------------ internals

  #open(): void {
    if (this.#closed) throw this.closedError();
  }

  #resolve(topic: string, option = 'topic'): PulsarTopicName {
    return resolveTopic(topic, this.options.tenant, this.options.namespace, option);
  }

  #ensureDeadLetterSubscription(topic: PulsarTopicName, subscription: string): Promise<void> {
    const configured = this.options.deadLetterSubscription;
    if (configured === false) return Promise.resolve();
    const name = configured ?? subscription;
    const id = `${topic.full}\0${name}`;
    let ensured = this.#ensured.get(id);
    if (ensured === undefined) {
      ensured = this.createRetainingSubscription(topic, name);
      this.#ensured.set(id, ensured);
      ensured.catch(() => this.#ensured.delete(id));
    }
    return ensured;
  }
}
