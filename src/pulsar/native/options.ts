import { adapterOption, booleanOption, integerOption, knownOptions, objectOption, oneOfOption, optionNames, optionsArgument } from '../../internal/validate.js';
import { resolvePulsarTransportOptions, type PulsarTransportBaseOptions, type ResolvedPulsarTransportOptions } from '../transport-options.js';
import type { PulsarClientLike, PulsarCompressionType, PulsarHashingScheme } from './client.js';

const OPTION_NAMES = optionNames<PulsarClientTransportOptions>({
  tenant: true,
  namespace: true,
  deadLetterSubscription: true,
  failoverRedeliverAfterMs: true,
  client: true,
  receive: true,
  producer: true,
  connectionCheckIntervalMs: true,
});
const RECEIVE_OPTION_NAMES = optionNames<PulsarClientReceiveOptions>({ batchSize: true, timeoutMs: true });
const PRODUCER_OPTION_NAMES = optionNames<PulsarClientProducerOptions>({
  batchingEnabled: true,
  batchingMaxPublishDelayMs: true,
  batchingMaxMessages: true,
  hashingScheme: true,
  compressionType: true,
  sendTimeoutMs: true,
  maxPendingMessages: true,
  blockIfQueueFull: true,
});

/** How the transport's receive loop pulls messages out of the client. */
export interface PulsarClientReceiveOptions {
  /**
   * Most messages one `batchReceive()` returns (the consumer's `batchReceivePolicy.maxNumMessages`),
   * capped at each subscription's `receiverQueueSize`.
   * @default 500
   */
  readonly batchSize?: number;
  /**
   * How long one `batchReceive()` waits for `batchSize` messages before returning what it has
   * (`batchReceivePolicy.timeoutMs`): the most a trickle of messages waits, and how long closing a
   * subscription may wait for the loop.
   * @default 10
   */
  readonly timeoutMs?: number;
}

/**
 * Producer settings passed to `client.createProducer` (see pulsar-client's `ProducerConfig`).
 * `batchingType` is always `'KeyBasedBatching'`: a default batch carries several keys and Key_Shared
 * routes the whole batch by one of them.
 */
export interface PulsarClientProducerOptions {
  /** @default true */
  readonly batchingEnabled?: boolean;
  /** pulsar-client's default (10) when unset. */
  readonly batchingMaxPublishDelayMs?: number;
  /** pulsar-client's default (1000) when unset. */
  readonly batchingMaxMessages?: number;
  /**
   * How a partition key picks the partition of a partitioned topic. Every producer of a topic must
   * use the same scheme, or one key lands on two partitions (and, in Failover, on two consumers).
   * The default is the Java client's (and the WebSocket API's), not pulsar-client's own `BoostHash`.
   * @default 'JavaStringHash'
   */
  readonly hashingScheme?: PulsarHashingScheme;
  readonly compressionType?: PulsarCompressionType;
  /** pulsar-client's default (30 000) when unset. */
  readonly sendTimeoutMs?: number;
  /**
   * Sends the client may have pending (its own default is 1000). Further sends wait in the
   * transport, in order, rather than fail with `ProducerQueueIsFull`.
   * @default 1000
   */
  readonly maxPendingMessages?: number;
  /**
   * Makes the client block the calling thread — the event loop — while its queue is full. Leave
   * it unset: the transport already holds sends beyond `maxPendingMessages`.
   */
  readonly blockIfQueueFull?: boolean;
}

/**
 * Options of {@link pulsarClientTransport}. Validated when the transport is created.
 *
 * @example
 * ```ts
 * import Pulsar from 'pulsar-client'; // CommonJS: import the default export from ESM
 * const client = new Pulsar.Client({ serviceUrl: 'pulsar://127.0.0.1:6650' });
 * const transport = pulsarClientTransport({ client, receive: { batchSize: 500, timeoutMs: 10 } });
 * ```
 */
export interface PulsarClientTransportOptions extends PulsarTransportBaseOptions {
  /** A `Client` of the `pulsar-client` package, built and eventually closed by the caller. */
  readonly client: PulsarClientLike;
  readonly receive?: PulsarClientReceiveOptions;
  readonly producer?: PulsarClientProducerOptions;
  /**
   * How often each consumer asks the client whether it is still connected. The client reconnects
   * by itself and tells nobody; meanwhile the broker hands the consumer's unacknowledged messages
   * (and, in Key_Shared, its keys) to other consumers. Noticing it lets the engine abort the
   * handlers still running on them. Drops shorter than this interval can go unnoticed. 0 disables.
   * @default 200
   */
  readonly connectionCheckIntervalMs?: number;
}

/** @internal Options with defaults applied. */
export interface ResolvedClientOptions extends ResolvedPulsarTransportOptions {
  readonly client: PulsarClientLike;
  readonly batchSize: number;
  readonly receiveTimeoutMs: number;
  readonly producer: Readonly<Omit<PulsarClientProducerOptions, 'hashingScheme' | 'batchingEnabled'>> & {
    readonly hashingScheme: PulsarHashingScheme;
    readonly batchingEnabled: boolean;
  };
  readonly connectionCheckIntervalMs: number;
}

const HASHING_SCHEMES: readonly PulsarHashingScheme[] = ['JavaStringHash', 'Murmur3_32Hash', 'BoostHash'];
const COMPRESSION_TYPES: readonly PulsarCompressionType[] = ['None', 'Zlib', 'LZ4', 'ZSTD', 'SNAPPY'];

/** @internal Validate and apply defaults; throws `ConfigurationError` naming the option. */
export function resolveClientOptions(options: PulsarClientTransportOptions): ResolvedClientOptions {
  optionsArgument(options, OPTION_NAMES);
  const base = resolvePulsarTransportOptions(options);
  adapterOption('client', options.client, ['subscribe', 'createProducer']);
  const receive = objectOption('receive', options.receive);
  knownOptions(receive, RECEIVE_OPTION_NAMES, 'receive.');
  const p = objectOption('producer', options.producer);
  knownOptions(p, PRODUCER_OPTION_NAMES, 'producer.');
  const optionalInteger = (option: string, value: unknown, min: number): number | undefined =>
    value === undefined ? undefined : integerOption(option, value, 0, min);
  const producer: Record<string, unknown> = {
    batchingEnabled: booleanOption('producer.batchingEnabled', p.batchingEnabled) ?? true,
    hashingScheme: oneOfOption('producer.hashingScheme', p.hashingScheme, 'JavaStringHash', HASHING_SCHEMES),
  };
  // Unset fields stay absent, so that the client applies its own defaults.
  const put = (key: string, value: unknown): void => {
    if (value !== undefined) producer[key] = value;
  };
  put('batchingMaxPublishDelayMs', optionalInteger('producer.batchingMaxPublishDelayMs', p.batchingMaxPublishDelayMs, 0));
  put('batchingMaxMessages', optionalInteger('producer.batchingMaxMessages', p.batchingMaxMessages, 1));
  if (p.compressionType !== undefined) {
    put('compressionType', oneOfOption('producer.compressionType', p.compressionType, 'None', COMPRESSION_TYPES));
  }
  put('sendTimeoutMs', optionalInteger('producer.sendTimeoutMs', p.sendTimeoutMs, 0));
  put('maxPendingMessages', optionalInteger('producer.maxPendingMessages', p.maxPendingMessages, 1));
  put('blockIfQueueFull', booleanOption('producer.blockIfQueueFull', p.blockIfQueueFull));
  return Object.freeze({
    ...base,
    client: options.client,
    batchSize: integerOption('receive.batchSize', receive.batchSize, 500, 1),
    receiveTimeoutMs: integerOption('receive.timeoutMs', receive.timeoutMs, 10, 1),
    producer: Object.freeze(producer) as ResolvedClientOptions['producer'],
    connectionCheckIntervalMs: integerOption('connectionCheckIntervalMs', options.connectionCheckIntervalMs, 200, 0),
  });
}
