/**
 * The parts of the `pulsar-client` package (the official Node client, a native addon) that the
 * adapter uses, declared structurally so that the library type-checks and runs without the package
 * installed: the user builds a `Client` and passes it in. A real `Client` of pulsar-client 1.18 fits
 * these types (checked by a type test against the published declarations).
 *
 * Methods use method syntax on purpose: their parameters are then compared bivariantly, so the real
 * `Consumer.acknowledge(message: Message)` fits `acknowledge(message: PulsarMessageLike)`. That is
 * sound here because the adapter only ever acknowledges the message objects the consumer gave it.
 */

/** pulsar-client's subscription types (`ConsumerConfig.subscriptionType`). */
export type PulsarNativeSubscriptionType = 'Exclusive' | 'Shared' | 'KeyShared' | 'Failover';

/** pulsar-client's `MessageId`: only its string form is used. */
export interface PulsarMessageIdLike {
  /** E.g. `(123,4,-1,-1)`: ledger, entry, partition, batch index. Stable across redeliveries. */
  toString(): string;
}

/** pulsar-client's `Message`: the getters the adapter reads. */
export interface PulsarMessageLike {
  getTopicName(): string;
  getProperties(): { [key: string]: string };
  getData(): Buffer;
  getMessageId(): PulsarMessageIdLike;
  getPublishTimestamp(): number;
  getRedeliveryCount(): number;
  /** The partition key, or `''` when the message has none. */
  getPartitionKey(): string;
}

/** pulsar-client's `ConsumerConfig`: the fields the adapter sets. */
export interface PulsarConsumerConfig {
  readonly topic: string;
  readonly subscription: string;
  readonly subscriptionType: PulsarNativeSubscriptionType;
  readonly subscriptionInitialPosition: 'Earliest' | 'Latest';
  readonly consumerName: string;
  readonly receiverQueueSize: number;
  readonly nAckRedeliverTimeoutMs?: number;
  readonly batchReceivePolicy?: {
    readonly maxNumMessages?: number;
    readonly maxNumBytes?: number;
    readonly timeoutMs?: number;
  };
  readonly keySharedPolicy?: {
    readonly keyShareMode?: 'AutoSplit' | 'Sticky';
    readonly allowOutOfOrderDelivery?: boolean;
  };
  readonly deadLetterPolicy?: {
    readonly deadLetterTopic: string;
    readonly maxRedeliverCount?: number;
    readonly initialSubscriptionName?: string;
  };
}

/** pulsar-client's `Consumer`: the methods the adapter calls. */
export interface PulsarConsumerLike {
  /** Resolves with the messages the client received, per the consumer's `batchReceivePolicy`. */
  batchReceive(): Promise<PulsarMessageLike[]>;
  acknowledge(message: PulsarMessageLike): Promise<unknown>;
  negativeAcknowledge(message: PulsarMessageLike): void;
  /**
   * Whether the consumer has a connection to its broker. Optional (absent from old clients and
   * some doubles): without it a dropped connection goes unnoticed until acknowledgements fail.
   */
  isConnected?(): boolean;
  close(): Promise<unknown>;
}

/** pulsar-client's `ProducerMessage`: the fields the adapter sets. */
export interface PulsarProducerMessage {
  readonly data: Buffer;
  readonly partitionKey?: string;
  readonly properties?: { readonly [key: string]: string };
}

/** Partition-key hashing of pulsar-client's producers (`ProducerConfig.hashingScheme`). */
export type PulsarHashingScheme = 'Murmur3_32Hash' | 'BoostHash' | 'JavaStringHash';

/** Payload compression of pulsar-client's producers (`ProducerConfig.compressionType`). */
export type PulsarCompressionType = 'None' | 'Zlib' | 'LZ4' | 'ZSTD' | 'SNAPPY';

/** pulsar-client's `ProducerConfig`: the fields the adapter sets. */
export interface PulsarProducerConfig {
  readonly topic: string;
  readonly batchingEnabled?: boolean;
  readonly batchingType?: 'DefaultBatching' | 'KeyBasedBatching';
  readonly batchingMaxPublishDelayMs?: number;
  readonly batchingMaxMessages?: number;
  readonly hashingScheme?: PulsarHashingScheme;
  readonly compressionType?: PulsarCompressionType;
  readonly sendTimeoutMs?: number;
  readonly maxPendingMessages?: number;
  readonly blockIfQueueFull?: boolean;
}

/** pulsar-client's `Producer`: the methods the adapter calls. */
export interface PulsarProducerLike {
  send(message: PulsarProducerMessage): Promise<PulsarMessageIdLike>;
  flush(): Promise<unknown>;
  close(): Promise<unknown>;
}

/**
 * What {@link pulsarClientTransport} needs of a client: a `Client` of the `pulsar-client` package
 * (`new Client({ serviceUrl })`) fits. The adapter never closes it: it belongs to the caller.
 */
export interface PulsarClientLike {
  subscribe(config: PulsarConsumerConfig): Promise<PulsarConsumerLike>;
  createProducer(config: PulsarProducerConfig): Promise<PulsarProducerLike>;
}
