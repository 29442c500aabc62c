import { integerOption, numberOption, optionNames, optionsArgument } from '../../internal/validate.js';

const OPTION_NAMES = optionNames<MemoryBrokerOptions>({
  nackRedeliveryDelayMs: true,
  ackTimeoutMs: true,
  activeConsumerFailoverDelayMs: true,
  maxUnackedMessagesPerConsumer: true,
  hashRangePoints: true,
  sharedRoundRobinBatchSize: true,
});

/**
 * Options of `MemoryBroker`. The defaults follow Pulsar's where that makes sense for an
 * embedded broker used in demos and tests, and say so where they differ.
 */
export interface MemoryBrokerOptions {
  /**
   * Delay before a negatively acknowledged message is redelivered, unless the consumer sets
   * `SubscribeOptions.nackRedeliveryDelayMs`. Pulsar's client default is 60 000 ms; an embedded
   * broker for demos and tests redelivers sooner.
   * @default 1000
   */
  readonly nackRedeliveryDelayMs?: number;
  /**
   * Redeliver messages delivered this long ago and still neither acknowledged nor negatively
   * acknowledged (Pulsar's client `ackTimeoutMs`; Pulsar requires 0 or ≥ 10 000, this broker takes
   * any value so tests stay fast). Checked by one interval timer every quarter of this value
   * (5 ms to 1 s), so a message is redelivered between 1× and 1.25× the timeout after delivery.
   * 0 disables it.
   * @default 0
   */
  readonly ackTimeoutMs?: number;
  /**
   * Failover: how long the active consumer of a partition keeps receiving after a new consumer
   * joined that should take over (Pulsar's `activeConsumerFailoverDelayTimeMillis`).
   * @default 1000
   */
  readonly activeConsumerFailoverDelayMs?: number;
  /**
   * Most unacknowledged messages one consumer may hold, whatever its receiver queue (Pulsar's
   * `maxUnackedMessagesPerConsumer`).
   * @default 50000
   */
  readonly maxUnackedMessagesPerConsumer?: number;
  /**
   * Points each Key_Shared consumer puts on the consistent-hash ring (Pulsar's
   * `subscriptionKeySharedConsistentHashingReplicaPoints`). More points spread keys more evenly.
   * @default 100
   */
  readonly hashRangePoints?: number;
  /**
   * Shared subscriptions: consecutive messages given to one consumer before moving to the next
   * (Pulsar's `dispatcherMaxRoundRobinBatchSize`), so a burst of one key tends to stay together.
   * @default 20
   */
  readonly sharedRoundRobinBatchSize?: number;
}

/** @internal {@link MemoryBrokerOptions} with every default applied. */
export interface ResolvedBrokerOptions {
  readonly nackRedeliveryDelayMs: number;
  readonly ackTimeoutMs: number;
  readonly activeConsumerFailoverDelayMs: number;
  readonly maxUnackedMessagesPerConsumer: number;
  readonly hashRangePoints: number;
  readonly sharedRoundRobinBatchSize: number;
}

/** @internal Validate broker options and apply defaults. Throws a `ConfigurationError`. */
export function resolveBrokerOptions(options: MemoryBrokerOptions | undefined): ResolvedBrokerOptions {
  if (options === undefined) options = {};
  optionsArgument(options, OPTION_NAMES);
  return Object.freeze({
    nackRedeliveryDelayMs: numberOption('nackRedeliveryDelayMs', options.nackRedeliveryDelayMs, 1000, 0),
    ackTimeoutMs: numberOption('ackTimeoutMs', options.ackTimeoutMs, 0, 0),
    activeConsumerFailoverDelayMs: numberOption(
      'activeConsumerFailoverDelayMs',
      options.activeConsumerFailoverDelayMs,
      1000,
      0,
    ),
    maxUnackedMessagesPerConsumer: integerOption(
      'maxUnackedMessagesPerConsumer',
      options.maxUnackedMessagesPerConsumer,
      50_000,
      1,
    ),
    hashRangePoints: integerOption('hashRangePoints', options.hashRangePoints, 100, 1),
    sharedRoundRobinBatchSize: integerOption('sharedRoundRobinBatchSize', options.sharedRoundRobinBatchSize, 20, 1),
  });
}
