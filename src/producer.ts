import { jsonCodec, type Codec } from './codecs/index.js';
import { ConsumerStateError } from './errors/consumer-state-error.js';
import { KeyExtractionError } from './errors/key-extraction-error.js';
import { ConfigurationError } from './errors/configuration-error.js';
import { chain } from './internal/chain.js';
import { adapterOption, functionArgument, functionsOption, knownOptions, objectArgument, objectOption, optionNames, stringOption } from './internal/validate.js';
import { memoryTransport } from './transports/memory/index.js';
import type { TopicProducer, Transport } from './transports/types.js';

/** Options of {@link createProducer}. */
export interface ProducerOptions<T> {
  readonly topic: string;
  /**
   * The exclusivity key of an event, sent as the message's partition key so that Key_Shared and
   * partition routing send each key to one consumer. Use the same function as the consumer's
   * `keyFn`.
   */
  readonly key: (event: T) => string;
  /** @default memoryTransport() */
  readonly transport?: Transport;
  /** @default jsonCodec() */
  readonly codec?: Codec<T>;
  /**
   * Runs around each send, outermost first: `(message, next) => Promise<messageId>`. Middleware
   * may add `message.properties` before calling `next()` (e.g. trace context, as
   * `producerTracing()` from `exclusive-consumer/otel` does).
   */
  readonly middleware?: readonly ProducerMiddleware<T>[];
}

/** One message on its way out, as producer middleware sees it. */
export interface ProducerMessage<T> {
  readonly topic: string;
  readonly event: T;
  /** The event's key, sent as partition key. */
  readonly key: string;
  /** The encoded payload. */
  readonly data: Uint8Array;
  /** Message properties; middleware may add to them before `next()`. Starts as the send's own. */
  readonly properties: Record<string, string>;
}

/**
 * Runs around a send: call `next()` once to publish (it resolves with the message id); throwing
 * fails the send.
 */
export type ProducerMiddleware<T = unknown> = (message: ProducerMessage<T>, next: () => Promise<string>) => Promise<string>;

/** Per-send options. */
export interface SendOptions {
  /** Extra message properties (string to string). */
  readonly properties?: Readonly<Record<string, string>>;
}

/** A producer that encodes events and sets their partition key. */
export interface Producer<T> {
  readonly topic: string;
  /** Encode and publish `event`; resolves with the message id. */
  send(event: T, options?: SendOptions): Promise<string>;
  flush(): Promise<void>;
  close(): Promise<void>;
}

const PRODUCER_OPTIONS = optionNames<ProducerOptions<unknown>>({ topic: true, key: true, transport: true, codec: true, middleware: true });

/** Message properties travel as strings; anything else would be coerced or dropped by the broker. */
function checkProperties(properties: unknown): void {
  if (properties === undefined) return;
  const map = objectOption('properties', properties);
  for (const [name, value] of Object.entries(map)) {
    if (typeof value !== 'string') throw new ConfigurationError(`properties.${name}`, 'a string', value);
  }
}

/**
 * Create a keyed producer: every message carries its event's key as partition key, which is what
 * broker-routed modes route by. Options are checked now (`ConfigurationError`); each send checks
 * its event (not `undefined`), its key (`KeyExtractionError` when the key function throws or gives
 * no non-empty string) and its properties (strings), before anything is published.
 */
export function createProducer<T>(options: ProducerOptions<T>): Producer<T> {
  objectArgument('options', options);
  knownOptions(options, PRODUCER_OPTIONS);
  const topic = stringOption('topic', options.topic);
  functionArgument('key', options.key);
  if (options.transport !== undefined) adapterOption('transport', options.transport, ['createProducer']);
  if (options.codec !== undefined) adapterOption('codec', options.codec, ['encode']);
  const transport = options.transport ?? memoryTransport();
  const codec = options.codec ?? (jsonCodec() as Codec<T>);
  const keyOf = options.key;
  const middleware = functionsOption('middleware', options.middleware);
  let opened: Promise<TopicProducer> | undefined;
  let closed = false;
  const open = (): Promise<TopicProducer> => (opened ??= transport.createProducer(topic));
  const publish = chain<ProducerMessage<T>, string>(
    middleware,
    async (message) => (await open()).send({ data: message.data, partitionKey: message.key, properties: message.properties }),
    'Producer middleware',
  );

  return {
    topic,
    async send(event, sendOptions = {}) {
      if (closed) throw new ConsumerStateError('Producer is closed', 'closed');
      // JSON would turn `undefined` into an empty payload that no consumer can decode.
      if (event === undefined) throw new ConfigurationError('event', 'an event', event);
      let key: unknown;
      try {
        key = keyOf(event);
      } catch (error) {
        const reason = error instanceof Error ? `: ${error.message}` : '';
        throw new KeyExtractionError(`Producer key function threw${reason}`, 'unsent', error);
      }
      if (typeof key !== 'string' || key.length === 0) {
        const got = typeof key === 'string' ? 'an empty string' : typeof key;
        throw new KeyExtractionError(`Producer key function must return a non-empty string, got ${got}`, 'unsent');
      }
      checkProperties(sendOptions.properties);
      if (middleware.length === 0) {
        const producer = await open();
        return producer.send({
          data: codec.encode(event),
          partitionKey: key,
          ...(sendOptions.properties === undefined ? {} : { properties: sendOptions.properties }),
        });
      }
      return publish({ topic, event, key, data: codec.encode(event), properties: { ...sendOptions.properties } });
    },
    async flush() {
      if (opened !== undefined) await (await opened).flush();
    },
    async close() {
      if (closed) return;
      closed = true;
      if (opened !== undefined) await (await opened).close();
    },
  };
}
