/**
 * `exclusive-consumer/adapters`: what writing an adapter takes (a transport, a lock, a store, a
 * counter store, an error class of its own) and the lease building blocks, beside the interfaces the root exports (`Transport`, `Lock`,
 * `FencingTokenSource`, `FencedStore`, `CounterStore`, `Codec`). Check an adapter with the
 * contract suites of `exclusive-consumer/testing`.
 *
 * @module exclusive-consumer/adapters
 */
export type {
  DeadLetterReason,
  Delivery,
  OutgoingMessage,
  SubscribeOptions,
  Subscription,
  SubscriptionType,
  TopicProducer,
} from './transports/types.js';
export { deadLetterMessage } from './transports/dead-letter.js';
export type { Lease } from './locks/types.js';
export { acquireLease, holdLease } from './locks/hold-lease.js';
export type { AcquireLeaseOptions, HeldLease, HoldLeaseOptions } from './locks/hold-lease.js';
export type { TokenCounter } from './fencing/types.js';
export type { RunOverlaps } from './middleware/exclusivity-counter/types.js';
export type { ExclusiveConsumerErrorOptions } from './errors/base.js';
