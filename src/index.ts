/**
 * `exclusive-consumer`: per-key exclusive event processing. `createExclusiveConsumer(topic, keyFn,
 * handler, options)` runs one handler per key at a time, across the fleet, with concurrency across
 * keys; fencing tokens, fenced stores and the outbox make a stale worker's writes and effects fail;
 * the `exclusivityCounter` middleware reports violations. Adapters for Pulsar, Redis, PostgreSQL
 * and OpenTelemetry live in the subpath entry points.
 *
 * @module exclusive-consumer
 */
export { createExclusiveConsumer } from './consumer/create.js';
export { defaults } from './consumer/options.js';
export type {
  BatchHandler,
  BatchOptions,
  FencedBatchHandler,
  ConsumerEvents,
  ConsumerHealth,
  ConsumerInfo,
  ConsumerMode,
  ConsumerState,
  ConsumerStats,
  DeadLetterOptions,
  ExclusiveConsumer,
  ExclusiveConsumerOptions,
  FencedHandler,
  FencedHandlerContext,
  FencedOptions,
  Handler,
  HandlerContext,
  KeyFn,
  LeaseOptions,
  Middleware,
  RetryOptions,
  RunOutcome,
  StopOptions,
  StopReport,
  Violation,
} from './consumer/types.js';

export { jsonCodec, rawCodec, stringCodec } from './codecs/index.js';
export type { Codec, JsonCodecOptions } from './codecs/index.js';
export { schemaCodec } from './codecs/schema.js';
export type { StandardSchemaV1 } from './codecs/standard-schema.js';

export * from './errors/index.js';

// The API of services that consume and produce events. What adapter authors need besides is in
// `exclusive-consumer/adapters`.
export type { InitialPosition, MessageMeta, Transport } from './transports/types.js';
export { DeadLetterProperties, defaultDeadLetterTopic } from './transports/dead-letter.js';
export { MemoryBroker, defaultMemoryBroker, memoryTransport } from './transports/memory/index.js';
export type { CreateTopicOptions, MemoryBrokerOptions, MemoryTopicStats, MemoryTransportOptions } from './transports/memory/index.js';

export type { FencingTokenSource, Lock } from './locks/types.js';
export { MemoryLock } from './locks/memory.js';

export type { Fence, FencedRecord, FencedStore, PutOptions } from './fencing/types.js';
export { MemoryFencedStore } from './fencing/memory.js';
export { updateFenced } from './fencing/update.js';
export type { UpdateFencedOptions } from './fencing/update.js';

export type {
  ClaimedEffect,
  CommitOptions,
  CommitResult,
  CommittedEffect,
  EffectInput,
  EffectStatus,
  Outbox,
  OutboxCounts,
  OutboxEffect,
  OutboxOptions,
} from './outbox/types.js';
export { MemoryOutbox } from './outbox/memory.js';
export { effectIdempotencyKey } from './outbox/effects.js';
export { commitDecision } from './outbox/commit-decision.js';
export type { CommitDecisionOptions, Decision, DecisionContext } from './outbox/commit-decision.js';
export { createOutboxDispatcher } from './outbox/dispatcher.js';
export type {
  DeadLetterCause,
  DispatchMiddleware,
  DispatchRetryOptions,
  DispatcherStopOptions,
  OutboxDispatcher,
  OutboxDispatcherEvents,
  OutboxDispatcherOptions,
  OutboxDispatcherState,
  OutboxDispatcherStats,
  SendEffect,
} from './outbox/dispatcher.js';

export { compose } from './middleware/compose.js';
export { exclusivityCounter } from './middleware/exclusivity-counter/index.js';
export type { ExclusivityCounterOptions } from './middleware/exclusivity-counter/index.js';
export type { CounterStore } from './middleware/exclusivity-counter/types.js';
export { MemoryCounterStore } from './middleware/exclusivity-counter/memory-store.js';
export type { MemoryCounterStoreOptions } from './middleware/exclusivity-counter/memory-store.js';
export { runLog } from './middleware/run-log/index.js';
export type { RunLog, RunLogOptions } from './middleware/run-log/index.js';

export { shutdown, shutdownOnSignals } from './shutdown.js';
export type { Closable, ShutdownOptions, ShutdownReport, ShutdownTargets } from './shutdown.js';

export { createProducer } from './producer.js';
export type { Producer, ProducerMessage, ProducerMiddleware, ProducerOptions, SendOptions } from './producer.js';

export { consoleLogger, silentLogger } from './logging/logger.js';
export type { ConsoleLoggerOptions, LogFields, LogLevel, Logger } from './logging/logger.js';
export { hashKey } from './logging/privacy.js';
export type { TelemetryPrivacy } from './logging/privacy.js';
