/**
 * Attribute and metric names used by `exclusive-consumer/otel`.
 *
 * The messaging ones are copied from `@opentelemetry/semantic-conventions` (1.45, the incubating
 * entry point) rather than imported: they are experimental there, may be renamed in a minor
 * release, and that package is not a dependency of this library. Copying pins what we emit to what
 * docs/observability.md documents.
 */

// ---------------------------------------------------------------- OpenTelemetry semantic conventions

/** Stable: the class of error an operation ended with. */
export const ATTR_ERROR_TYPE = 'error.type' as const;
/** The messaging system, e.g. `pulsar`. */
export const ATTR_MESSAGING_SYSTEM = 'messaging.system' as const;
/** System-specific operation name: `process`, `send`. */
export const ATTR_MESSAGING_OPERATION_NAME = 'messaging.operation.name' as const;
/** Operation type: `process` on the consumer side, `send` on the producer side. */
export const ATTR_MESSAGING_OPERATION_TYPE = 'messaging.operation.type' as const;
/** The topic. */
export const ATTR_MESSAGING_DESTINATION_NAME = 'messaging.destination.name' as const;
/** The partition index, for a partitioned topic. */
export const ATTR_MESSAGING_DESTINATION_PARTITION_ID = 'messaging.destination.partition.id' as const;
/** The subscription a message is consumed from. */
export const ATTR_MESSAGING_DESTINATION_SUBSCRIPTION_NAME = 'messaging.destination.subscription.name' as const;
/** The consumer group: for Pulsar, the subscription. */
export const ATTR_MESSAGING_CONSUMER_GROUP_NAME = 'messaging.consumer.group.name' as const;
/** The client (here the consumer name) that consumed or produced the message. */
export const ATTR_MESSAGING_CLIENT_ID = 'messaging.client.id' as const;
/** The broker's message id. */
export const ATTR_MESSAGING_MESSAGE_ID = 'messaging.message.id' as const;
/** Payload size in bytes. */
export const ATTR_MESSAGING_MESSAGE_BODY_SIZE = 'messaging.message.body.size' as const;

/** `messaging.system` of Apache Pulsar. */
export const MESSAGING_SYSTEM_VALUE_PULSAR = 'pulsar' as const;
/** `messaging.operation.type` of a handler run. */
export const MESSAGING_OPERATION_TYPE_VALUE_PROCESS = 'process' as const;
/** `messaging.operation.type` of a send (`publish` was deprecated in favour of it). */
export const MESSAGING_OPERATION_TYPE_VALUE_SEND = 'send' as const;

/** Messages delivered to the application. */
export const METRIC_MESSAGING_CLIENT_CONSUMED_MESSAGES = 'messaging.client.consumed.messages' as const;
/** Duration of processing operations, in seconds. */
export const METRIC_MESSAGING_PROCESS_DURATION = 'messaging.process.duration' as const;

/**
 * Bucket boundaries, in seconds, that the semantic conventions advise for messaging durations
 * (the SDK's default buckets are meant for milliseconds and would put every run in the first one).
 */
export const DURATION_BUCKETS_S: readonly number[] = Object.freeze([
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
]);

// ---------------------------------------------------------------- this library's own names

/**
 * Span attributes this library adds to the messaging ones. Exported so that dashboards, tests and
 * span processors can refer to them by constant.
 */
export const SpanAttributes = Object.freeze({
  /** Consumer mode: `key-shared`, `failover`, `shared-locked` or `shared`. */
  mode: 'exclusive_consumer.mode',
  /** Transport adapter name, e.g. `memory`, `pulsar-ws`. */
  transport: 'exclusive_consumer.transport',
  /** Handler attempt of this delivery in this consumer: 1, then 2, 3… on retries in place. */
  attempt: 'exclusive_consumer.attempt',
  /** How many times the broker delivered the message before. */
  redeliveryCount: 'exclusive_consumer.redelivery_count',
  /** The run's fencing token, when there is one. */
  fencingToken: 'exclusive_consumer.fencing_token',
  /** Milliseconds spent acquiring the key's lease before the run (`shared-locked`). */
  lockWaitMs: 'exclusive_consumer.lock_wait_ms',
  /** Hash of the key (`hashKey(key, keySalt)`): the default. */
  keyHash: 'exclusive_consumer.key.hash',
  /** The key itself, only with `keys: 'raw'`. */
  key: 'exclusive_consumer.key',
  /** What the consumer did after the run: `ack`, `retry`, `dead-letter` or `release`. */
  outcome: 'exclusive_consumer.outcome',
  /** On `exclusive_consumer.retry` events: delay before the next attempt. */
  retryDelayMs: 'exclusive_consumer.retry.delay_ms',
  /** On `exclusive_consumer.retry` events: the attempt that follows. */
  retryNextAttempt: 'exclusive_consumer.retry.next_attempt',
  /** On `exclusive_consumer.release` events: `stale-token`, `stopping` or `connection-lost`. */
  releaseReason: 'exclusive_consumer.release.reason',
  /** On `exclusive_consumer.abort` events: `lease-lost`, `timeout`, `stopping`, `connection-lost` or `other`. */
  abortReason: 'exclusive_consumer.abort.reason',
  /** On `dispatch effect` spans: the effect's idempotency key. */
  outboxIdempotencyKey: 'exclusive_consumer.outbox.idempotency_key',
  /** On `dispatch effect` spans: the attempt (claim number) of this send, 1 for the first. */
  outboxAttempt: 'exclusive_consumer.outbox.attempt',
} as const);

/** Span event names. */
export const SpanEvents = Object.freeze({
  /** The run failed and the same message runs again in place after a delay. */
  retry: 'exclusive_consumer.retry',
  /** The run failed for good: the message goes to the dead-letter topic. */
  deadLetter: 'exclusive_consumer.dead_letter',
  /** The message goes back to the broker without another run here. */
  release: 'exclusive_consumer.release',
  /** `ctx.signal` was aborted during the run (lease lost, timeout, stop, connection lost). */
  abort: 'exclusive_consumer.abort',
} as const);

/**
 * How a metric is recorded, which decides how a backend stores it: `counter` is a monotonic sum
 * (Prometheus: `_total`), `updowncounter` a non-monotonic sum (a Prometheus gauge), `gauge` a last
 * value, `histogram` a distribution (`_bucket`, `_sum`, `_count`).
 */
export type MetricInstrument = 'counter' | 'updowncounter' | 'gauge' | 'histogram';

/** Name, unit and instrument of one metric this library records. */
export interface MetricDefinition {
  readonly name: string;
  /** UCUM unit as the OpenTelemetry conventions write it: `s`, `1`, or an annotation such as `{message}`. */
  readonly unit: string;
  readonly instrument: MetricInstrument;
}

const metric = <N extends string, U extends string, I extends MetricInstrument>(
  name: N,
  unit: U,
  instrument: I,
): { readonly name: N; readonly unit: U; readonly instrument: I } => Object.freeze({ name, unit, instrument });

/**
 * Every metric `instrumentConsumer` and `instrumentDispatcher` (the `outbox*` ones) record, with its
 * unit and instrument: the one list the instruments, docs/observability.md and the dashboards and
 * alert rules in ops/ are checked against.
 */
export const Metrics = Object.freeze({
  consumedMessages: metric(METRIC_MESSAGING_CLIENT_CONSUMED_MESSAGES, '{message}', 'counter'),
  processDuration: metric(METRIC_MESSAGING_PROCESS_DURATION, 's', 'histogram'),
  processed: metric('exclusive_consumer.messages.processed', '{message}', 'counter'),
  failed: metric('exclusive_consumer.messages.failed', '{attempt}', 'counter'),
  retried: metric('exclusive_consumer.messages.retried', '{retry}', 'counter'),
  deadLettered: metric('exclusive_consumer.messages.dead_lettered', '{message}', 'counter'),
  released: metric('exclusive_consumer.messages.released', '{message}', 'counter'),
  repeatsSkipped: metric('exclusive_consumer.messages.repeats_skipped', '{message}', 'counter'),
  inFlight: metric('exclusive_consumer.messages.in_flight', '{message}', 'updowncounter'),
  oldestUnsettledAge: metric('exclusive_consumer.messages.oldest_unsettled.age', 's', 'gauge'),
  running: metric('exclusive_consumer.handlers.running', '{handler}', 'updowncounter'),
  activeKeys: metric('exclusive_consumer.keys.active', '{key}', 'updowncounter'),
  queueDepthHighWater: metric('exclusive_consumer.keys.queue_depth.high_water', '{message}', 'gauge'),
  redeliveredRuns: metric('exclusive_consumer.runs.redelivered', '{run}', 'counter'),
  paused: metric('exclusive_consumer.transport.paused', '1', 'gauge'),
  connected: metric('exclusive_consumer.transport.connected', '1', 'gauge'),
  lockWait: metric('exclusive_consumer.lock.wait.duration', 's', 'histogram'),
  lockWaitTime: metric('exclusive_consumer.lock.wait.time', 's', 'counter'),
  violations: metric('exclusive_consumer.exclusivity.violations', '{violation}', 'counter'),
  staleWrites: metric('exclusive_consumer.fencing.stale_writes', '{write}', 'counter'),
  keyMismatches: metric('exclusive_consumer.key.mismatches', '{message}', 'counter'),
  leasesLost: metric('exclusive_consumer.leases.lost', '{lease}', 'counter'),
  stuck: metric('exclusive_consumer.handlers.stuck', '{handler}', 'counter'),
  errors: metric('exclusive_consumer.errors', '{error}', 'counter'),
  subscriptionBacklog: metric('exclusive_consumer.pulsar.subscription.backlog', '{message}', 'gauge'),
  subscriptionUnacked: metric('exclusive_consumer.pulsar.subscription.unacked', '{message}', 'gauge'),
  subscriptionConsumers: metric('exclusive_consumer.pulsar.subscription.consumers', '{consumer}', 'gauge'),
  subscriptionBlocked: metric('exclusive_consumer.pulsar.subscription.blocked', '1', 'gauge'),
  drainingHashes: metric('exclusive_consumer.pulsar.subscription.draining.hashes', '{hash}', 'gauge'),
  drainingUnacked: metric('exclusive_consumer.pulsar.subscription.draining.unacked', '{message}', 'gauge'),
  consumerDrainingHashes: metric('exclusive_consumer.pulsar.consumer.draining.hashes', '{hash}', 'gauge'),
  statsAge: metric('exclusive_consumer.pulsar.stats.age', 's', 'gauge'),
  // instrumentDispatcher: the dispatcher's stats()…
  outboxClaimed: metric('exclusive_consumer.outbox.effects.claimed', '{effect}', 'counter'),
  outboxSent: metric('exclusive_consumer.outbox.effects.sent', '{effect}', 'counter'),
  outboxRetried: metric('exclusive_consumer.outbox.effects.retried', '{retry}', 'counter'),
  outboxDeadLettered: metric('exclusive_consumer.outbox.effects.dead_lettered', '{effect}', 'counter'),
  outboxInFlight: metric('exclusive_consumer.outbox.effects.in_flight', '{effect}', 'updowncounter'),
  outboxErrors: metric('exclusive_consumer.outbox.errors', '{error}', 'counter'),
  // …and, with its `outbox` option, the outbox's counts().
  outboxPending: metric('exclusive_consumer.outbox.effects.pending', '{effect}', 'gauge'),
  outboxDone: metric('exclusive_consumer.outbox.effects.done', '{effect}', 'gauge'),
  outboxDead: metric('exclusive_consumer.outbox.effects.dead', '{effect}', 'gauge'),
  outboxCountsAge: metric('exclusive_consumer.outbox.counts.age', 's', 'gauge'),
} as const);

/** Names of the metrics `instrumentConsumer` and `instrumentDispatcher` record (their units and instruments are in {@link Metrics}). */
export const MetricNames: { readonly [K in keyof typeof Metrics]: (typeof Metrics)[K]['name'] } = Object.freeze(
  Object.fromEntries(Object.entries(Metrics).map(([id, m]) => [id, m.name])) as { [K in keyof typeof Metrics]: (typeof Metrics)[K]['name'] },
);

/** Metric attributes of this library's own. */
export const MetricAttributes = Object.freeze({
  mode: SpanAttributes.mode,
  /** On `exclusive_consumer.exclusivity.violations`: what detected it, e.g. `exclusivity-counter`. */
  violationSource: 'exclusive_consumer.violation.source',
  /**
   * On `exclusive_consumer.errors`: where the non-fatal error happened, e.g. `ack`, `lease`; on
   * `exclusive_consumer.outbox.errors`: `claim`, `complete`, `retry`, `dead-letter`, `purge`,
   * `listener` or `counts`.
   */
  errorPhase: 'exclusive_consumer.error.phase',
  /** On the `exclusive_consumer.outbox.*` metrics: the `name` given to `instrumentDispatcher`. */
  outboxName: 'exclusive_consumer.outbox.name',
} as const);
