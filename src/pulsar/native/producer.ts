import { TransportError } from '../../errors/transport-error.js';
import type { OutgoingMessage, TopicProducer } from '../../transports/types.js';
import type { PulsarProducerLike, PulsarProducerMessage } from './client.js';
import { reasonOf } from './consumer.js';

/** The client wants a `Buffer`; wrap the bytes without copying them. */
function toBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** @internal The message pulsar-client sends for `message`: the partition key routes it. */
export function producerMessage(message: OutgoingMessage): PulsarProducerMessage {
  return {
    data: toBuffer(message.data),
    ...(message.partitionKey === undefined ? {} : { partitionKey: message.partitionKey }),
    ...(message.properties === undefined ? {} : { properties: message.properties }),
  };
}

/** pulsar-client's default `maxPendingMessages`. */
const DEFAULT_MAX_PENDING = 1000;

/**
 * @internal A pulsar-client producer of one topic as a `TopicProducer`. The client batches by key
 * (`KeyBasedBatching`) and pipelines sends; `send` resolves once the broker stored the message.
 *
 * The client fails a send at once (`ProducerQueueIsFull`) when `maxPendingMessages` are pending,
 * and its alternative, `blockIfQueueFull`, blocks the event loop. So sends beyond that many wait
 * here, in order, for an earlier one to complete.
 */
export class NativeProducer implements TopicProducer {
  readonly topic: string;
  readonly #full: string;
  readonly #producer: PulsarProducerLike;
  readonly #onClose: (producer: NativeProducer) => void;
  readonly #maxPending: number;
  #pending = 0;
  /** Sends waiting for a slot, oldest first; each is called with the slot or with an error. */
  #waiting: Array<(error?: Error) => void> = [];
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(
    topic: string,
    full: string,
    producer: PulsarProducerLike,
    onClose: (producer: NativeProducer) => void,
    maxPending = DEFAULT_MAX_PENDING,
  ) {
    this.topic = topic;
    this.#full = full;
    this.#producer = producer;
    this.#onClose = onClose;
    this.#maxPending = maxPending;
  }

  send(message: OutgoingMessage): Promise<string> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (!(message?.data instanceof Uint8Array)) {
      return Promise.reject(
        new TransportError(`Message data must be a Uint8Array (topic ${this.#full})`, { retriable: false, context: { topic: this.#full } }),
      );
    }
    // Behind waiting sends even when a slot is free: the order of sends is the order of messages.
    if (this.#pending < this.#maxPending && this.#waiting.length === 0) {
      this.#pending += 1;
      return this.#send(message);
    }
    return new Promise<string>((resolve, reject) => {
      this.#waiting.push((error) => {
        if (error !== undefined) reject(error);
        else resolve(this.#send(message));
      });
    });
  }

  /** Send holding a slot; the slot goes to the oldest waiting send when this one completes. */
  #send(message: OutgoingMessage): Promise<string> {
    let sending: Promise<{ toString(): string }>;
    try {
      sending = this.#producer.send(producerMessage(message));
    } catch (error) {
      this.#release();
      return Promise.reject(this.#error('publish to', error));
    }
    return sending.then(
      (id) => {
        this.#release();
        return id.toString();
      },
      (error: unknown) => {
        this.#release();
        throw this.#error('publish to', error);
      },
    );
  }

  #release(): void {
    const next = this.#waiting.shift();
    // Handed over, not freed: a send made meanwhile must not overtake the waiting one.
    if (next !== undefined) next();
    else this.#pending -= 1;
  }

  async flush(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#producer.flush();
    } catch (error) {
      throw this.#error('flush the producer of', error);
    }
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#onClose(this);
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const reject of waiting) reject(this.#closedError());
    try {
      // Closing flushes what was sent before.
      await this.#producer.close();
    } catch (error) {
      if (!/AlreadyClosed/i.test(reasonOf(error))) throw this.#error('close the producer of', error);
    }
  }

  #closedError(): TransportError {
    return new TransportError(`Producer of "${this.#full}" closed`, { retriable: false, context: { topic: this.#full } });
  }

  #error(what: string, error: unknown): TransportError {
    return new TransportError(`Could not ${what} ${this.#full}: ${reasonOf(error)}`, { cause: error, context: { topic: this.#full } });
  }
}
