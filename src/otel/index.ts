/**
 * `exclusive-consumer/otel`: OpenTelemetry tracing, context propagation and metrics for exclusive
 * consumers. Needs `@opentelemetry/api` (an optional peer dependency of exclusive-consumer: install
 * it, and an SDK, to use this entry point). The rest of the library never imports it.
 *
 * - `tracing()`: consumer middleware, one `process <topic>` span per handler run, continuing the
 *   producer's trace.
 * - `createTracedProducer()` / `producerTracing()`: a keyed producer whose sends are `send <topic>`
 *   spans and carry their trace context in the message properties.
 * - `instrumentConsumer()`: the consumer's metrics, exclusivity violations included.
 * - `instrumentDispatcher()`: an outbox dispatcher's metrics (sent, retried, dead-lettered) and
 *   its outbox's pending and dead effects.
 * - `captureTraceContext()` / `dispatchTracing()`: an outbox's effects carry the deciding run's
 *   trace context, and each send is a `dispatch effect` span linked to that run.
 *
 * See docs/observability.md for every span attribute, event and metric.
 *
 * @module exclusive-consumer/otel
 */
// First: under require(), a missing @opentelemetry/api is reported with what to install.
import './require-api.js';

export { tracing } from './tracing.js';
export type { TracingOptions } from './tracing.js';
export { createTracedProducer, producerTracing } from './producer.js';
export type { ProducerTracingOptions, TracedProducerOptions } from './producer.js';
export { instrumentConsumer } from './metrics.js';
export { instrumentDispatcher } from './dispatcher-metrics.js';
export type { DispatcherMetricsOptions } from './dispatcher-metrics.js';
export { captureTraceContext, dispatchTracing } from './outbox.js';
export type { CaptureTraceContextOptions, DispatchTracingOptions } from './outbox.js';
export type { ConsumerMetricsOptions, SubscriptionStatsPolling } from './metrics.js';
export { propertiesGetter, propertiesSetter } from './propagation.js';
export { MetricAttributes, MetricNames, Metrics, SpanAttributes, SpanEvents } from './semconv.js';
export type { MetricDefinition, MetricInstrument } from './semconv.js';
export type { Propagator } from './shared.js';
export type { TelemetryPrivacy } from '../logging/privacy.js';
