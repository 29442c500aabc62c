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
  type ObservableCounter,
  type ObservableGauge,
  type ObservableUpDownCounter,
} from '@opentelemetry/api';
import type { ExclusiveConsumer } from '../consumer/types.js';
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
  MetricNames,
} from './semconv.js';
import { SCOPE, errorType } from './shared.js';

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
}

/** The instruments, created once per meter and shared by every consumer instrumented on it. */
interface Instruments {
  readonly consumed: ObservableCounter;
  readonly processDuration: Histogram;
  readonly processed: ObservableCounter;
  readonly failed: Counter;
  readonly retried: ObservableCounter;
  readonly deadLettered: Counter;
  readonly released: ObservableCounter;
  readonly lockWait: Histogram;
  readonly violations: Counter;
  readonly staleWrites: ObservableCounter;
  readonly keyMismatches: ObservableCounter;
  readonly leasesLost: ObservableCounter;
  readonly stuck: Counter;
  readonly errors: Counter;
  readonly inFlight: ObservableUpDownCounter;
  readonly running: ObservableUpDownCounter;
  readonly activeKeys: ObservableUpDownCounter;
  readonly paused: ObservableGauge;
}

const byMeter = new WeakMap<Meter, Instruments>();

function instrumentsOf(meter: Meter): Instruments {
  const known = byMeter.get(meter);
  if (known !== undefined) return known;
  const counter = (name: string, unit: string, description: string): Counter =>
    meter.createCounter(name, { unit, description, valueType: ValueType.INT });
  // Counts the engine keeps anyway (stats()) are observed at collection: nothing per message.
  const observed = (name: string, unit: string, description: string): ObservableCounter =>
    meter.createObservableCounter(name, { unit, description, valueType: ValueType.INT });
  const gauge = (name: string, unit: string, description: string): ObservableUpDownCounter =>
    meter.createObservableUpDownCounter(name, { unit, description, valueType: ValueType.INT });
  const created: Instruments = {
    consumed: observed(
      MetricNames.consumedMessages,
      '{message}',
      'Messages delivered to the handler: once per delivery from the broker, retries in place not counted again.',
    ),
    processDuration: meter.createHistogram(MetricNames.processDuration, {
      unit: 's',
      description: 'Duration of one handler run (middleware included), failed ones with error.type.',
      advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_S] },
    }),
    processed: observed(MetricNames.processed, '{message}', 'Messages handled successfully and acknowledged.'),
    failed: counter(MetricNames.failed, '{attempt}', 'Failed handler attempts (each retry counts), by error.type.'),
    retried: observed(MetricNames.retried, '{retry}', 'Attempts scheduled again in place after a failure.'),
    deadLettered: counter(MetricNames.deadLettered, '{message}', 'Messages published to the dead-letter topic, by error.type.'),
    released: observed(
      MetricNames.released,
      '{message}',
      'Messages given back to the broker for redelivery (stop, lease not acquired, stale token, connection lost).',
    ),
    lockWait: meter.createHistogram(MetricNames.lockWait, {
      unit: 's',
      description: "Time spent acquiring a key's lease before a run (shared-locked mode).",
      advice: { explicitBucketBoundaries: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] },
    }),
    violations: counter(
      MetricNames.violations,
      '{violation}',
      'Runs that started while another run of the same key was in progress (the exclusivity counter). Alert on any.',
    ),
    staleWrites: observed(
      MetricNames.staleWrites,
      '{write}',
      'Fenced writes rejected as stale (a handler let StaleTokenError propagate): the key had a newer owner.',
    ),
    keyMismatches: observed(
      MetricNames.keyMismatches,
      '{message}',
      'Messages whose key differs from their partition key in a broker-routed mode: the broker did not route them by key.',
    ),
    leasesLost: observed(MetricNames.leasesLost, '{lease}', 'Leases lost while their key had work (shared-locked mode).'),
    stuck: counter(MetricNames.stuck, '{handler}', 'Handlers still running at twice their timeout, ignoring their abort signal.'),
    errors: counter(MetricNames.errors, '{error}', 'Non-fatal errors (a failed ack, a counter store down), by phase.'),
    inFlight: gauge(MetricNames.inFlight, '{message}', 'Messages received and not yet settled.'),
    running: gauge(MetricNames.running, '{handler}', 'Handler runs in progress.'),
    activeKeys: gauge(MetricNames.activeKeys, '{key}', 'Keys with queued or running messages.'),
    paused: meter.createObservableGauge(MetricNames.paused, {
      unit: '1',
      description: '1 while the transport is paused for backpressure (maxInFlight reached), else 0.',
      valueType: ValueType.INT,
    }),
  };
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

  // Gauges carry the consumer's name so that consumers of one process do not overwrite each
  // other's value; counters observed from stats() too, for the same reason.
  const perConsumer: Attributes = { ...base, [ATTR_MESSAGING_CLIENT_ID]: consumer.consumerName };
  const observables: Observable[] = [
    m.consumed,
    m.processed,
    m.retried,
    m.released,
    m.staleWrites,
    m.keyMismatches,
    m.leasesLost,
    m.inFlight,
    m.running,
    m.activeKeys,
    m.paused,
  ];
  const observe = (result: BatchObservableResult): void => {
    const s = consumer.stats();
    result.observe(m.consumed, consumed, perConsumer);
    result.observe(m.processed, s.processed, perConsumer);
    result.observe(m.retried, s.retried, perConsumer);
    result.observe(m.released, s.released, perConsumer);
    result.observe(m.staleWrites, s.staleTokens, perConsumer);
    result.observe(m.keyMismatches, s.keyMismatches, perConsumer);
    result.observe(m.leasesLost, s.leasesLost, perConsumer);
    result.observe(m.inFlight, s.inFlight, perConsumer);
    result.observe(m.running, s.running, perConsumer);
    result.observe(m.activeKeys, s.activeKeys, perConsumer);
    result.observe(m.paused, s.paused ? 1 : 0, perConsumer);
  };
  meter.addBatchObservableCallback(observe, observables);

  let active = true;
  return () => {
    if (!active) return;
    active = false;
    for (const off of offs) off();
    meter.removeBatchObservableCallback(observe, observables);
  };
}
