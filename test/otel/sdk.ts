/**
 * The OpenTelemetry SDK as a service would set it up, with in-memory exporters: an async-hooks
 * context manager, the W3C trace context propagator and a tracer provider, registered globally
 * (what the library uses by default), plus a meter provider read on demand.
 */
import { context, propagation, trace, type Attributes } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { MeterProvider, MetricReader, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';

export const exporter = new InMemorySpanExporter();
export const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

let registered = false;

/** Register the SDK globally, once per test file (vitest isolates files). */
export function registerSdk(): void {
  if (registered) return;
  registered = true;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(tracerProvider);
}

/** Finished spans, optionally by name. */
export function spans(name?: string): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((s) => name === undefined || s.name === name);
}

/** A reader the test collects from when it wants. */
class TestReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** A fresh meter provider and a function returning the current data points by metric name. */
export function testMeter(): {
  meterProvider: MeterProvider;
  collect: () => Promise<Map<string, { unit: string; points: DataPoint<number | Histogram>[] }>>;
} {
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  return {
    meterProvider,
    async collect() {
      const { resourceMetrics, errors } = await reader.collect();
      if (errors.length > 0) throw new Error(`metric collection failed: ${errors.map(String).join('; ')}`);
      const out = new Map<string, { unit: string; points: DataPoint<number | Histogram>[] }>();
      for (const scope of resourceMetrics.scopeMetrics) {
        for (const metric of scope.metrics) {
          out.set(metric.descriptor.name, {
            unit: metric.descriptor.unit,
            points: metric.dataPoints as DataPoint<number | Histogram>[],
          });
        }
      }
      return out;
    },
  };
}

/** Sum of a counter's (or gauge's) points whose attributes include `where`. */
export function total(
  metrics: Map<string, { points: DataPoint<number | Histogram>[] }>,
  name: string,
  where: Attributes = {},
): number {
  const metric = metrics.get(name);
  if (metric === undefined) return 0;
  let sum = 0;
  for (const point of metric.points) {
    if (!Object.entries(where).every(([k, v]) => point.attributes[k] === v)) continue;
    sum += typeof point.value === 'number' ? point.value : point.value.count;
  }
  return sum;
}
