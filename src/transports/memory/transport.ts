import { TransportError } from '../../errors/index.js';
import type { OutgoingMessage, SubscribeOptions, Subscription, TopicProducer, Transport } from '../types.js';
import { MemorySubscription } from './consumer.js';
import type { BrokerCore } from './core.js';

const resolved: Promise<void> = Promise.resolve();

/** @internal A producer of one topic on the memory broker: `send` is a synchronous publish. */
class MemoryProducer implements TopicProducer {
  readonly topic: string;
  readonly #core: BrokerCore;
  readonly #onClose: (producer: MemoryProducer) => void;
  #closed = false;

  constructor(topic: string, core: BrokerCore, onClose: (producer: MemoryProducer) => void) {
    this.topic = topic;
    this.#core = core;
    this.#onClose = onClose;
  }

  send(message: OutgoingMessage): Promise<string> {
    if (this.#closed) {
      return Promise.reject(
        new TransportError(`Producer of "${this.topic}" closed`, { retriable: false, context: { topic: this.topic } }),
      );
    }
    try {
      return Promise.resolve(this.#core.publish(this.topic, message));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Resolves at once: a send is stored before its promise settles. */
  flush(): Promise<void> {
    return resolved;
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#onClose(this);
    }
    return resolved;
  }
}

/**
 * @internal A `Transport` bound to one memory broker. Closing it closes the consumers and
 * producers opened through it, not the broker: other transports of the same broker keep working.
 */
export class MemoryTransport implements Transport {
  readonly name = 'memory';
  readonly #core: BrokerCore;
  readonly #subscriptions = new Set<Subscription>();
  readonly #producers = new Set<TopicProducer>();

  constructor(core: BrokerCore) {
    this.#core = core;
  }

  subscribe(options: SubscribeOptions): Promise<Subscription> {
    try {
      const consumer = this.#core.subscribe(options);
      const subscription: Subscription = new MemorySubscription(consumer, (c) => {
        this.#subscriptions.delete(subscription);
        this.#core.disconnect(c, false);
      });
      this.#subscriptions.add(subscription);
      return Promise.resolve(subscription);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  createProducer(topic: string): Promise<TopicProducer> {
    try {
      // Creating a producer auto-creates the topic, as in Pulsar.
      this.#core.ensure(topic);
      const producer = new MemoryProducer(topic, this.#core, (p) => this.#producers.delete(p));
      this.#producers.add(producer);
      return Promise.resolve(producer);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async close(): Promise<void> {
    const subscriptions = [...this.#subscriptions];
    const producers = [...this.#producers];
    await Promise.all([...subscriptions.map((s) => s.close()), ...producers.map((p) => p.close())]);
  }
}
