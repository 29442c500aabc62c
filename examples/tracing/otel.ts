/**
 * The OpenTelemetry SDK, set up as a service would at start-up: async context across awaits, W3C
 * trace context in message properties, a tracer provider and a meter provider.
 *
 * A real service exports with OTLP (`@opentelemetry/exporter-trace-otlp-http`, a Collector…). Here
 * spans are kept in memory so that the demo can pick one shopper's traces and hand them to the
 * console exporter, and metrics are read on demand.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { MeterProvider, MetricReader, type MetricData } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

/** A reader collected when the demo asks (a Prometheus exporter is one of these, scraped). */
class OnDemandReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** What the demo needs from the SDK. */
export interface Telemetry {
  /** Every span ended so far. */
  readonly spans: InMemorySpanExporter;
  readonly meterProvider: MeterProvider;
  /** The current value of every metric. */
  collectMetrics(): Promise<MetricData[]>;
  shutdown(): Promise<void>;
}

/** Register the SDK globally: the library's `tracing()` and `createTracedProducer()` use the globals. */
export function setUpOpenTelemetry(): Telemetry {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const spans = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  trace.setGlobalTracerProvider(tracerProvider);
  const reader = new OnDemandReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  return {
    spans,
    meterProvider,
    async collectMetrics() {
      const { resourceMetrics } = await reader.collect();
      return resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
    },
    async shutdown() {
      await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]);
    },
  };
}
