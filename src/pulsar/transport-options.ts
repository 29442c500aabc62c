import { ConfigurationError } from '../errors/configuration-error.js';
import { integerOption, nameOption, objectArgument } from '../internal/validate.js';

/**
 * @internal Delay before a negatively acknowledged message comes back when the consumer sets none:
 * Pulsar's own client default (60 s) would stall a key whose message was given back for a minute.
 */
export const DEFAULT_NACK_DELAY_MS = 1000;

/**
 * Options that both Pulsar transports take ({@link pulsarWebSocketTransport} and
 * {@link pulsarClientTransport}). Validated when the transport is created.
 */
export interface PulsarTransportBaseOptions {
  /** Tenant of short topic names. @default 'public' */
  readonly tenant?: string;
  /** Namespace of short topic names. @default 'default' */
  readonly namespace?: string;
  /**
   * Subscription created on a dead-letter topic before anything is dead-lettered to it, so that
   * dead letters are retained (Pulsar deletes messages of a topic that has no subscription). With
   * `pulsar-client` it is also the client's `deadLetterPolicy.initialSubscriptionName`. A string
   * names it; `false` creates none (then configure retention on the namespace).
   * @default the consumer's own subscription name
   */
  readonly deadLetterSubscription?: string | false;
  /**
   * Failover subscriptions only: once a partition has been quiet this long (nothing received from
   * it, nothing of it unsettled, while the consumer was not paused and had room), the consumer asks
   * the broker once to redeliver that partition's unacknowledged messages. When a partition changes
   * hands, Pulsar rewinds its unacknowledged messages to the new active consumer after
   * `activeConsumerFailoverDelayTimeMillis` (1 s), but a 4.0 broker can skip that rewind's dispatch
   * (it waits for the next published message), and it ignores redelivery requests of the old
   * consumer and those sent during the delay: messages the old consumer gave back would wait for
   * the next message published to the partition. Must exceed the broker's
   * `activeConsumerFailoverDelayTimeMillis`; asking costs one negative acknowledgement (one frame
   * over the WebSocket API; `pulsar-client` sends it after the subscription's nack delay) and
   * redelivers nothing when nothing is missing. 0 disables it.
   * @default 3_000
   */
  readonly failoverRedeliverAfterMs?: number;
}

/** @internal {@link PulsarTransportBaseOptions} with defaults applied. */
export interface ResolvedPulsarTransportOptions {
  readonly tenant: string;
  readonly namespace: string;
  /** `undefined`: named after each consumer's subscription. */
  readonly deadLetterSubscription: string | false | undefined;
  readonly failoverRedeliverAfterMs: number;
}

/**
 * @internal Validate `options` as an object and its {@link PulsarTransportBaseOptions}, and apply
 * their defaults; throws `ConfigurationError` naming the option.
 */
export function resolvePulsarTransportOptions(options: PulsarTransportBaseOptions): ResolvedPulsarTransportOptions {
  objectArgument('options', options);
  const dls: unknown = options.deadLetterSubscription;
  if (dls !== undefined && dls !== false && (typeof dls !== 'string' || dls.length === 0 || dls.includes('/'))) {
    throw new ConfigurationError('deadLetterSubscription', 'a subscription name or false', dls);
  }
  return {
    tenant: nameOption('tenant', options.tenant, 'public'),
    namespace: nameOption('namespace', options.namespace, 'default'),
    deadLetterSubscription: dls as string | false | undefined,
    failoverRedeliverAfterMs: integerOption('failoverRedeliverAfterMs', options.failoverRedeliverAfterMs, 3_000, 0),
  };
}
