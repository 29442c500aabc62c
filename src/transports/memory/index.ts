export { MemoryBroker, defaultMemoryBroker, memoryTransport } from './broker.js';
export type { CreateTopicOptions, MemoryTransportOptions } from './broker.js';
export type { MemoryTopicStats } from './core.js';
export type { MemoryBrokerOptions } from './options.js';
