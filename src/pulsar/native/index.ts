export { pulsarClientTransport } from './transport.js';
export type { PulsarClientTransport } from './transport.js';
export type { PulsarClientProducerOptions, PulsarClientReceiveOptions, PulsarClientTransportOptions } from './options.js';
export type {
  PulsarClientLike,
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
} from './client.js';
