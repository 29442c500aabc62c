/**
 * `exclusive-consumer/pulsar`: Apache Pulsar adapters and helpers. Each transport's barrel lists
 * exactly its public API; what the two transports share is listed here.
 *
 * @module exclusive-consumer/pulsar
 */
export * from './websocket/index.js';
export * from './native/index.js';
export type { PulsarTransport } from './transport-base.js';
export type { PulsarTransportBaseOptions } from './transport-options.js';
export { pulsarAdmin } from './admin.js';
export type { PulsarAdmin, PulsarAdminOptions, PulsarSubscriptionConsumerStats, PulsarSubscriptionStats } from './admin.js';
export { partitionTopic, resolveTopic } from './topic.js';
export type { PulsarTopicName } from './topic.js';
