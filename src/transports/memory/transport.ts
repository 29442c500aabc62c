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
    // A Pulsar producer keeps what it sends while its broker restarts, and sends it once it is back.
    const up = this.#core.whenUp();
    if (up !== undefined) return up.then(() => this.#core.publish(this.topic, message));
    try {
      return Promise.resolve(this.#core.publish(this.topic, message));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Resolves at once (once the broker is up, while it restarts): a send is stored before its promise settles. */
  flush(): Promise<void> {
    return this.#core.whenUp() ?? resolved;
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
  /**
   * True for the transports of a broker with a fault kit (`brokerFaults`) created before them: its
   * faults can lose acknowledgements, so their consumers remember what they completed.
   */
  readonly acknowledgementsCanBeLost: boolean;
  readonly #core: BrokerCore;
  readonly #subscriptions = new Set<Subscription>();
  readonly #producers = new Set<TopicProducer>();

  constructor(core: BrokerCore) {
    this.#core = core;
    this.acknowledgementsCanBeLost = core.faultsEnabled;
  }

  subscribe(options: SubscribeOptions): Promise<Subscription> {
    try {
      const consumer = this.#core.subscribe(options, this.acknowledgementsCanBeLost);
      const subscription = new MemorySubscription(this.#core, options, consumer, (s) => this.#subscriptions.delete(s));
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
