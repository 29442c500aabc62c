import {
  ValueType,
  metrics,
  type Attributes,
  type BatchObservableResult,
  type Counter,
  type Histogram,
  type Meter,
  type MeterProvider,
  type Observable,
} from '@opentelemetry/api';
import type { ExclusiveConsumer } from '../consumer/types.js';
import { ConfigurationError } from '../errors/configuration-error.js';
import { numberOption, optionNames, optionsArgument } from '../internal/validate.js';
import { COUNTER_SOURCE } from '../middleware/exclusivity-counter/types.js';
import type { PulsarSubscriptionStats } from '../pulsar/admin.js';
import {
  ATTR_ERROR_TYPE,
  ATTR_MESSAGING_CLIENT_ID,
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_DESTINATION_SUBSCRIPTION_NAME,
  ATTR_MESSAGING_OPERATION_NAME,
  ATTR_MESSAGING_SYSTEM,
  DURATION_BUCKETS_S,
  MESSAGING_OPERATION_TYPE_VALUE_PROCESS,
  MESSAGING_SYSTEM_VALUE_PULSAR,
  MetricAttributes,
  Metrics,
} from './semconv.js';
import { pollLatest, type LatestPoller } from './poller.js';
import { SCOPE, errorType } from './shared.js';

const OPTION_NAMES = optionNames<ConsumerMetricsOptions>({
  meterProvider: true,
  system: true,
  attributes: true,
  subscriptionStats: true,
});

/** Options of {@link instrumentConsumer}. */
export interface ConsumerMetricsOptions {
  /**
   * Where the metrics go.
   * @default the global meter provider (`metrics.getMeterProvider()`)
   */
  readonly meterProvider?: MeterProvider;
  /** `messaging.system`. @default 'pulsar' */
  readonly system?: string;
  /**
   * Attributes added to every data point, e.g. `{ 'deployment.environment.name': 'prod' }`. Keep
   * them few and of low cardinality: never a key or a message id.
   */
  readonly attributes?: Attributes;
  /**
   * Poll the broker for the subscription's backlog, unacknowledged messages, consumers and
   * (Key_Shared, Pulsar ≥ 4.0) draining hashes, and report them as gauges, so that a stuck
   * subscription shows: a backlog that grows, draining hashes that stay. Pass `pulsarAdmin(url)`
   * as `source`. A failed poll is counted in `exclusive_consumer.errors` (phase `pulsar-stats`),
   * never thrown; the gauges keep the last answer and `exclusive_consumer.pulsar.stats.age` says
   * how old it is (alert when it exceeds a few intervals).
   * Polling stops when the function `instrumentConsumer` returned is called.
   *
   * In a fleet every instrumented process reports the same subscription: aggregate with `max`.
   *
   * @example
   * ```ts
   * instrumentConsumer(consumer, { subscriptionStats: { source: pulsarAdmin('http://pulsar:8080') } });
   * ```
   */
  readonly subscriptionStats?: SubscriptionStatsPolling;
}

/** Where and how often {@link instrumentConsumer} reads the subscription's stats from the broker. */
export interface SubscriptionStatsPolling {
  /** Reads the stats: `pulsarAdmin(url)`, or anything with its `subscriptionStats` method. */
  readonly source: { subscriptionStats(topic: string, subscription: string): Promise<PulsarSubscriptionStats | undefined> };
  /**
   * Milliseconds between polls, from 1,000 to 300,000. Each poll is one or two admin requests per
   * instrumented consumer: keep it at the scrape interval or above.
   * @default 15_000
   */
  readonly intervalMs?: number;
}

type MetricId = keyof typeof Metrics;
/** Counters recorded when their event happens: they need the event's attributes (error.type, phase…). */
const PER_EVENT = ['failed', 'deadLettered', 'violations', 'stuck', 'errors', 'outboxErrors'] as const satisfies readonly MetricId[];
type PerEvent = (typeof PER_EVENT)[number];
type Histograms = 'processDuration' | 'lockWait';

/**
 * @internal The instruments, created once per meter and shared by every consumer (and dispatcher,
 * `instrumentDispatcher`) instrumented on it.
 */
export type Instruments = { readonly [K in PerEvent]: Counter } & { readonly [K in Histograms]: Histogram } & {
  readonly [K in Exclude<MetricId, PerEvent | Histograms>]: Observable;
};

/** What each metric counts: its description. */
const DESCRIPTIONS: { readonly [K in MetricId]: string } = {
  consumedMessages: 'Messages delivered to the handler: once per delivery from the broker, retries in place not counted again.',
  processDuration: 'Duration of one handler run (middleware included), failed ones with error.type.',
  processed: 'Messages handled successfully and acknowledged.',
  failed: 'Failed handler attempts (each retry counts), by error.type.',
  retried: 'Attempts scheduled again in place after a failure.',
  deadLettered: 'Messages published to the dead-letter topic, by error.type.',
  released: 'Messages given back to the broker for redelivery (stop, lease not acquired, stale token, connection lost).',
  repeatsSkipped: 'Deliveries of messages this consumer had already completed: acknowledged again, not run (rememberCompleted).',
  inFlight: 'Messages received and not yet settled.',
  oldestUnsettledAge: 'How long the oldest message received and not yet settled has been here; 0 when none. A stuck handler makes it grow.',
  running: 'Handler runs in progress.',
  activeKeys: 'Keys with queued or running messages.',
  queueDepthHighWater: 'The most messages one key had queued here at once, since start (a hot or stuck key).',
  redeliveredRuns: 'Runs of messages the broker had delivered before (redelivery count > 0): work possibly done twice.',
  paused: '1 while the transport is paused for backpressure (maxInFlight reached), else 0.',
  connected: '1 while subscribed with the connection up, else 0.',
  lockWait: "Time spent acquiring a key's lease before a run (shared-locked mode).",
  lockWaitTime: "Time runs spent waiting for their key's lease before starting, summed (shared-locked mode).",
  violations: 'Runs that started while another run of the same key was in progress (the exclusivity counter). Alert on any.',
  staleWrites: 'Fenced writes rejected as stale (a handler let StaleTokenError propagate): the key had a newer owner.',
  keyMismatches: 'Messages whose key differs from their partition key in a broker-routed mode: the broker did not route them by key.',
  leasesLost: 'Leases lost while their key had work (shared-locked mode).',
  stuck: 'Handlers still running at twice their timeout, ignoring their abort signal.',
  errors: 'Non-fatal errors (a failed ack, a counter store down, a failed stats poll), by phase.',
  subscriptionBacklog: "Messages not yet acknowledged by the subscription, from the broker's stats.",
  subscriptionUnacked: "Messages delivered to the subscription's consumers and not yet acknowledged, from the broker's stats.",
  subscriptionConsumers: 'Consumers connected to the subscription (once per partition), from the broker.',
  subscriptionBlocked: '1 while the broker stops dispatching on the subscription (unacked-messages limit reached), else 0.',
  drainingHashes: "Key_Shared (Pulsar ≥ 4.0): hashes waiting for another consumer's unacknowledged messages. Staying up means a consumer does not acknowledge.",
  drainingUnacked: 'Key_Shared (Pulsar ≥ 4.0): unacknowledged messages that keep hashes draining.',
  consumerDrainingHashes: "Key_Shared (Pulsar ≥ 4.0): hashes moved away from this consumer that still wait for its unacknowledged messages.",
  statsAge: "Seconds since the subscription's stats were last read from the broker: above a few poll intervals, the other pulsar gauges are stale.",
  outboxClaimed: 'Effects the outbox dispatcher claimed for sending (each claim of an effect counts).',
  outboxSent: 'Effects sent and marked done by the outbox dispatcher.',
  outboxRetried: 'Failed sends of effects given another attempt.',
  outboxDeadLettered: 'Effects the dispatcher gave up on (attempts exhausted, or an error that is not retriable): decided, never sent. Alert on any.',
  outboxInFlight: 'Sends of effects in progress.',
  outboxErrors: 'Failed calls to the outbox (the dispatcher backs off and goes on), listeners that threw, failed counts polls, by phase.',
  outboxPending: 'Effects waiting to be sent (or being sent), from outbox.counts().',
  outboxDone: 'Sent effects the outbox still keeps (until purged after retainDoneMs), from outbox.counts().',
  outboxDead: 'Dead-lettered effects kept until requeued, from outbox.counts().',
  outboxCountsAge: "Seconds since the outbox's counts were last read: above a few poll intervals, the other outbox gauges are stale.",
};

const byMeter = new WeakMap<Meter, Instruments>();

const LOCK_WAIT_BUCKETS_S = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** @internal The library's instruments on `meter`, created at the first call. */
export function instrumentsOf(meter: Meter): Instruments {
  const known = byMeter.get(meter);
  if (known !== undefined) return known;
  // Counts the engine keeps anyway (stats()) are observed at collection: nothing per message.
  const create = (id: MetricId): Counter | Histogram | Observable => {
    const { name, unit, instrument } = Metrics[id];
    const description = DESCRIPTIONS[id];
    const valueType = unit === 's' ? ValueType.DOUBLE : ValueType.INT;
    switch (instrument) {
      case 'histogram':
        return meter.createHistogram(name, {
          unit,
          description,
          advice: { explicitBucketBoundaries: [...(id === 'lockWait' ? LOCK_WAIT_BUCKETS_S : DURATION_BUCKETS_S)] },
        });
      case 'counter':
        return (PER_EVENT as readonly MetricId[]).includes(id)
          ? meter.createCounter(name, { unit, description, valueType })
          : meter.createObservableCounter(name, { unit, description, valueType });
      case 'updowncounter':
        return meter.createObservableUpDownCounter(name, { unit, description, valueType });
      case 'gauge':
        return meter.createObservableGauge(name, { unit, description, valueType });
    }
  };
  const created = Object.fromEntries(Object.keys(Metrics).map((id) => [id, create(id as MetricId)])) as unknown as Instruments;
  byMeter.set(meter, created);
  return created;
}

/**
 * Record a consumer's metrics through the OpenTelemetry metrics API: messages consumed, processed,
 * failed, retried, dead-lettered and released; handler duration and lock wait histograms;
 * in-flight messages, running handlers, active keys and backpressure as gauges; exclusivity
 * violations, stale fenced writes, key/partition-key mismatches, lost leases, stuck handlers and
 * non-fatal errors. Names and units are in docs/observability.md.
 *
 * Every data point carries `messaging.system`, `messaging.destination.name`,
 * `messaging.consumer.group.name` (= `messaging.destination.subscription.name`, the subscription)
 * and `exclusive_consumer.mode`. Counts observed from `stats()` and gauges also carry
 * `messaging.client.id` (the consumer name), so that consumers of one process do not overwrite
 * each other. Never a key: it would be personal data and unbounded cardinality.
 *
 * The cost per message is one histogram record (and, when a run fails, a counter by `error.type`);
 * the other counts are the engine's own, read at collection time, so they include what happened
 * before this call. Returns a function that stops recording; call it after `stop()` to stop
 * reporting the consumer.
 *
 * @example
 * ```ts
 * const consumer = createExclusiveConsumer(topic, keyFn, handler, options);
 * const stopMetrics = instrumentConsumer(consumer);
 * await consumer.start();
 * // …
 * await consumer.stop();
 * stopMetrics();
 * ```
 */
export function instrumentConsumer(consumer: ExclusiveConsumer, options: ConsumerMetricsOptions = {}): () => void {
  optionsArgument(options, OPTION_NAMES);
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(SCOPE);
  const m = instrumentsOf(meter);
  const base: Attributes = {
    ...options.attributes,
    [ATTR_MESSAGING_SYSTEM]: options.system ?? MESSAGING_SYSTEM_VALUE_PULSAR,
    [ATTR_MESSAGING_DESTINATION_NAME]: consumer.topic,
    [ATTR_MESSAGING_DESTINATION_SUBSCRIPTION_NAME]: consumer.subscription,
    [ATTR_MESSAGING_CONSUMER_GROUP_NAME]: consumer.subscription,
    [MetricAttributes.mode]: consumer.mode,
  };
  const processAttributes: Attributes = { ...base, [ATTR_MESSAGING_OPERATION_NAME]: MESSAGING_OPERATION_TYPE_VALUE_PROCESS };
  const failedWith = (error: Error, attributes: Attributes): Attributes => ({ ...attributes, [ATTR_ERROR_TYPE]: errorType(error) });

  // Per message, only what needs the message: its duration (a histogram) and, on the rare paths,
  // what needs the error's type. Everything else is observed from stats() at collection.
  let consumed = 0;
  const offs = [
    consumer.on('message.processed', (p) => {
      if (p.attempt === 1) consumed += 1;
      m.processDuration.record(p.durationMs / 1000, processAttributes);
    }),
    consumer.on('message.failed', (p) => {
      if (p.durationMs !== undefined) {
        if (p.attempt === 1) consumed += 1;
        m.processDuration.record(p.durationMs / 1000, failedWith(p.error, processAttributes));
      }
      m.failed.add(1, failedWith(p.error, base));
    }),
    consumer.on('message.dead-lettered', (p) => m.deadLettered.add(1, failedWith(p.error, base))),
    consumer.on('violation', (p) => m.violations.add(1, { ...base, [MetricAttributes.violationSource]: p.source })),
    consumer.on('lease.acquired', (p) => m.lockWait.record(p.waitMs / 1000, base)),
    consumer.on('handler.stuck', () => m.stuck.add(1, base)),
    consumer.on('error', (p) => m.errors.add(1, { ...base, [MetricAttributes.errorPhase]: p.phase })),
  ];

  // The counters an alert fires on at their first increase start at 0: Prometheus' increase()
  // needs two samples, so a series that appeared at 1 would hide its first violation or stuck handler.
  m.violations.add(0, { ...base, [MetricAttributes.violationSource]: COUNTER_SOURCE });
  m.stuck.add(0, base);

  // Gauges carry the consumer's name so that consumers of one process do not overwrite each
  // other's value; counters observed from stats() too, for the same reason.
  const perConsumer: Attributes = { ...base, [ATTR_MESSAGING_CLIENT_ID]: consumer.consumerName };
  const pollFailed = (): void => m.errors.add(1, { ...base, [MetricAttributes.errorPhase]: 'pulsar-stats' });
  const poller = options.subscriptionStats === undefined ? undefined : pollStats(consumer, options.subscriptionStats, pollFailed);
  const observables: Observable[] = [
    m.consumedMessages,
    m.processed,
    m.retried,
    m.released,
    m.repeatsSkipped,
    m.staleWrites,
    m.keyMismatches,
    m.leasesLost,
    m.redeliveredRuns,
    m.lockWaitTime,
    m.inFlight,
    m.running,
    m.activeKeys,
    m.queueDepthHighWater,
    m.oldestUnsettledAge,
    m.paused,
    m.connected,
    ...(poller === undefined
      ? []
      : [m.subscriptionBacklog, m.subscriptionUnacked, m.subscriptionConsumers, m.subscriptionBlocked, m.drainingHashes, m.drainingUnacked, m.consumerDrainingHashes, m.statsAge]),
  ];
  const observe = (result: BatchObservableResult): void => {
    const s = consumer.stats();
    const h = consumer.health();
    result.observe(m.consumedMessages, consumed, perConsumer);
    result.observe(m.processed, s.processed, perConsumer);
    result.observe(m.retried, s.retried, perConsumer);
    result.observe(m.released, s.released, perConsumer);
    result.observe(m.repeatsSkipped, s.repeatsSkipped, perConsumer);
    result.observe(m.staleWrites, s.staleTokens, perConsumer);
    result.observe(m.keyMismatches, s.keyMismatches, perConsumer);
    result.observe(m.leasesLost, s.leasesLost, perConsumer);
    result.observe(m.redeliveredRuns, s.redeliveredRuns, perConsumer);
    result.observe(m.lockWaitTime, s.leaseWaitMs / 1000, perConsumer);
    result.observe(m.inFlight, s.inFlight, perConsumer);
    result.observe(m.running, s.running, perConsumer);
    result.observe(m.activeKeys, s.activeKeys, perConsumer);
    result.observe(m.queueDepthHighWater, s.queueDepthHighWater, perConsumer);
    result.observe(m.oldestUnsettledAge, h.oldestUnsettledMs / 1000, perConsumer);
    result.observe(m.paused, s.paused ? 1 : 0, perConsumer);
    result.observe(m.connected, h.connected ? 1 : 0, perConsumer);
    const read = poller?.current();
    if (read !== undefined) {
      const stats = read.value;
      result.observe(m.statsAge, read.ageS, base);
      // The subscription's own numbers: the same from every consumer of it, so without the client id.
      result.observe(m.subscriptionBacklog, stats.backlog, base);
      result.observe(m.subscriptionUnacked, stats.unacked, base);
      result.observe(m.subscriptionConsumers, stats.consumers, base);
      result.observe(m.subscriptionBlocked, stats.blocked ? 1 : 0, base);
      if (stats.drainingHashes !== undefined) result.observe(m.drainingHashes, stats.drainingHashes, base);
      if (stats.drainingUnacked !== undefined) result.observe(m.drainingUnacked, stats.drainingUnacked, base);
      const own = stats.consumerStats.find((c) => c.name === consumer.consumerName);
      if (own?.drainingHashes !== undefined) result.observe(m.consumerDrainingHashes, own.drainingHashes, perConsumer);
    }
  };
  meter.addBatchObservableCallback(observe, observables);

  let active = true;
  return () => {
    if (!active) return;
    active = false;
    poller?.stop();
    for (const off of offs) off();
    meter.removeBatchObservableCallback(observe, observables);
  };
}

/**
 * Polls the subscription's stats every `intervalMs`, one poll at a time, on a timer that does not
 * keep the process alive. `current()` is the last answer and its age; a subscription the broker
 * does not know (deleted) is no answer.
 */
function pollStats(consumer: ExclusiveConsumer, polling: SubscriptionStatsPolling, failed: () => void): LatestPoller<PulsarSubscriptionStats> {
  if (typeof polling !== 'object' || polling === null || typeof polling.source?.subscriptionStats !== 'function') {
    const expected = 'an object with a subscriptionStats(topic, subscription) method (pulsarAdmin(url))';
    throw new ConfigurationError('subscriptionStats.source', expected, (polling as { source?: unknown } | null)?.source);
  }
  const intervalMs = numberOption('subscriptionStats.intervalMs', polling.intervalMs, 15_000, 1_000, 300_000);
  return pollLatest(() => polling.source.subscriptionStats(consumer.topic, consumer.subscription), intervalMs, failed);
}
