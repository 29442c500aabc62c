// `exclusive-consumer/pulsar`: Apache Pulsar adapters and helpers.
export { pulsarWebSocketTransport } from './websocket/index.js';
export type {
  PulsarWebSocketOptions,
  PulsarWebSocketReconnectOptions,
  PulsarWebSocketTransport,
  WebSocketConstructor,
  WebSocketInit,
  WebSocketLike,
} from './websocket/index.js';
export { pulsarAdmin } from './admin.js';
export type { PulsarAdmin, PulsarAdminOptions, PulsarSubscriptionStats } from './admin.js';
export { partitionTopic, resolveTopic } from './topic.js';
export type { PulsarTopicName } from './topic.js';
export { pulsarClientTransport } from './native/index.js';
export type {
  PulsarClientLike,
  PulsarClientProducerOptions,
  PulsarClientReceiveOptions,
  PulsarClientTransport,
  PulsarClientTransportOptions,
  PulsarCompressionType,
  PulsarConsumerConfig,
  PulsarConsumerLike,
  PulsarHashingScheme,
  PulsarMessageIdLike,
  PulsarMessageLike,
  PulsarNativeSubscriptionType,
  PulsarProducerConfig,
  PulsarProducerLike,
  PulsarProducerMessage,
} from './native/index.js';
