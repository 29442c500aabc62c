import { metrics, type Attributes, type BatchObservableResult, type Meter, type MeterProvider, type Observable } from '@opentelemetry/api';
import { ConfigurationError } from '../errors/configuration-error.js';
import { adapterOption, numberOption, objectOption, optionNames, optionsArgument, stringOption } from '../internal/validate.js';
import type { OutboxDispatcher } from '../outbox/dispatcher.js';
import type { Outbox, OutboxCounts } from '../outbox/types.js';
import { instrumentsOf } from './metrics.js';
import { pollLatest, type LatestPoller } from './poller.js';
import { MetricAttributes } from './semconv.js';
import { SCOPE } from './shared.js';

const OPTION_NAMES = optionNames<DispatcherMetricsOptions>({
  meterProvider: true,
  name: true,
  attributes: true,
  outbox: true,
  countsIntervalMs: true,
});

/** Options of {@link instrumentDispatcher}. */
export interface DispatcherMetricsOptions {
  /**
   * Where the metrics go.
   * @default the global meter provider (`metrics.getMeterProvider()`)
   */
  readonly meterProvider?: MeterProvider;
  /**
   * `exclusive_consumer.outbox.name` on every data point: tells the outboxes (and their
   * dispatchers) of one process apart. Two dispatchers instrumented on one meter need different
   * names or `attributes`.
   * @default 'outbox'
   */
  readonly name?: string;
  /**
   * Attributes added to every data point, e.g. `{ 'deployment.environment.name': 'prod' }`. Keep
   * them few and of low cardinality: never a key or an idempotency key.
   */
  readonly attributes?: Attributes;
  /**
   * The dispatcher's outbox (or anything with its `counts()`): poll it every `countsIntervalMs` and
   * report its pending, done and dead effects as gauges, so that a backlog or dead letters left
   * by any dispatcher show. A failed poll is counted in `exclusive_consumer.outbox.errors` (phase
   * `counts`), never thrown; the gauges keep the last answer and
   * `exclusive_consumer.outbox.counts.age` says how old it is.
   *
   * Every instrumented process reports the same outbox: aggregate these gauges with `max`. On
   * PostgreSQL `counts()` counts the outbox table's rows by status: keep the interval at the scrape
   * interval or above, and give the outbox to one or a few processes only.
   */
  readonly outbox?: Pick<Outbox, 'counts'>;
  /**
   * Milliseconds between polls of `outbox.counts()`, from 1,000 to 300,000.
   * @default 15_000
   */
  readonly countsIntervalMs?: number;
}

/** Attribute sets instrumented on each meter and not stopped: a second one would overwrite the first's series. */
const active = new WeakMap<Meter, Set<string>>();

/**
 * Record an outbox dispatcher's metrics through the OpenTelemetry metrics API, so that a dead
 * letter (an effect decided and never sent) or a stalled dispatcher can page: effects claimed,
 * sent, retried and dead-lettered and sends in flight, read from `dispatcher.stats()` at
 * collection (so they include what happened before this call, and start at 0: `increase()` sees
 * the first dead letter); failed calls to the outbox by phase; and, with `outbox`, the outbox's
 * pending, done and dead effects, polled from `outbox.counts()`. Names and units are in
 * docs/observability.md.
 *
 * Every data point carries `exclusive_consumer.outbox.name` (`name`) and your `attributes`; never
 * a key or an idempotency key. Returns a function that stops recording and polling; call it after
 * `dispatcher.stop()`.
 *
 * @example
 * ```ts
 * const dispatcher = createOutboxDispatcher(outbox, send);
 * const stopMetrics = instrumentDispatcher(dispatcher, { outbox, name: 'sms' });
 * dispatcher.start();
 * // …
 * await dispatcher.stop();
 * stopMetrics();
 * ```
 */
export function instrumentDispatcher<P>(dispatcher: OutboxDispatcher<P>, options: DispatcherMetricsOptions = {}): () => void {
  adapterOption('dispatcher', dispatcher, ['stats', 'on']);
  optionsArgument(options, OPTION_NAMES);
  const name = stringOption('name', options.name, 'outbox');
  const attributes = objectOption('attributes', options.attributes) as Attributes;
  if (options.outbox !== undefined) adapterOption('outbox', options.outbox, ['counts']);
  const intervalMs = numberOption('countsIntervalMs', options.countsIntervalMs, 15_000, 1_000, 300_000);

  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(SCOPE);
  const base: Attributes = { ...attributes, [MetricAttributes.outboxName]: name };
  const signature = JSON.stringify(Object.entries(base).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const live = active.get(meter) ?? new Set<string>();
  active.set(meter, live);
  if (live.has(signature)) {
    throw new ConfigurationError('name', `a name (or attributes) no other instrumented dispatcher on this meter has`, name);
  }
  live.add(signature);

  const m = instrumentsOf(meter);
  const phase = (p: string): Attributes => ({ ...base, [MetricAttributes.errorPhase]: p });
  const off = dispatcher.on('error', (p) => m.outboxErrors.add(1, phase(p.phase)));
  const poller = options.outbox === undefined ? undefined : pollCounts(options.outbox, intervalMs, () => m.outboxErrors.add(1, phase('counts')));
  // Started at 0, so that the first failed poll is an increase.
  if (poller !== undefined) m.outboxErrors.add(0, phase('counts'));

  const observables: Observable[] = [
    m.outboxClaimed,
    m.outboxSent,
    m.outboxRetried,
    m.outboxDeadLettered,
    m.outboxInFlight,
    ...(poller === undefined ? [] : [m.outboxPending, m.outboxDone, m.outboxDead, m.outboxCountsAge]),
  ];
  const observe = (result: BatchObservableResult): void => {
    const s = dispatcher.stats();
    result.observe(m.outboxClaimed, s.claimed, base);
    result.observe(m.outboxSent, s.sent, base);
    result.observe(m.outboxRetried, s.retried, base);
    result.observe(m.outboxDeadLettered, s.deadLettered, base);
    result.observe(m.outboxInFlight, s.inFlight, base);
    const read = poller?.current();
    if (read !== undefined) {
      result.observe(m.outboxPending, read.value.pending, base);
      result.observe(m.outboxDone, read.value.done, base);
      result.observe(m.outboxDead, read.value.dead, base);
      result.observe(m.outboxCountsAge, read.ageS, base);
    }
  };
  meter.addBatchObservableCallback(observe, observables);

  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    poller?.stop();
    off();
    meter.removeBatchObservableCallback(observe, observables);
    live.delete(signature);
  };
}

/** Polls `outbox.counts()`, refusing an answer without its three numbers as a failed poll. */
function pollCounts(outbox: Pick<Outbox, 'counts'>, intervalMs: number, failed: () => void): LatestPoller<OutboxCounts> {
  return pollLatest(
    async () => {
      const counts = await outbox.counts();
      if (typeof counts !== 'object' || counts === null || ![counts.pending, counts.done, counts.dead].every(Number.isFinite)) {
        throw new TypeError('outbox.counts() resolved with no { pending, done, dead } numbers');
      }
      return counts;
    },
    intervalMs,
    failed,
  );
}
