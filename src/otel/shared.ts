import { SpanStatusCode, propagation, trace, type Span, type TextMapPropagator, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { safeError, type ResolvedPrivacy } from '../logging/privacy.js';
import { ATTR_ERROR_TYPE } from './semconv.js';

/** Name of the tracer and meter (the instrumentation scope). */
export const SCOPE = 'exclusive-consumer';

/** The parts of a propagator used here (`inject`, `extract`); the global `propagation` API has them too. */
export type Propagator = Pick<TextMapPropagator, 'inject' | 'extract'>;

/** @internal The tracer from `provider`, or from the global provider (resolved lazily by the API). */
export function tracerOf(provider: TracerProvider | undefined): Tracer {
  return (provider ?? trace.getTracerProvider()).getTracer(SCOPE);
}

/** @internal `propagator`, or the global one (which the SDK sets to W3C trace context + baggage). */
export function propagatorOf(propagator: Propagator | undefined): Propagator {
  return propagator ?? propagation;
}

/**
 * @internal Mark `span` as failed by `thrown` the way OpenTelemetry instrumentations do: an
 * `error.type` attribute, ERROR status, an exception event. Personal data stays out (see
 * `safeError`): the key, if quoted, is replaced by its label.
 */
export function recordError(span: Span, thrown: unknown, privacy: ResolvedPrivacy, key: string | undefined): void {
  const error = thrown instanceof Error ? thrown : new Error(typeof thrown === 'string' ? thrown : 'non-Error value thrown');
  const safe = safeError(error, privacy, key);
  span.setAttribute(ATTR_ERROR_TYPE, safe.type);
  span.setStatus({ code: SpanStatusCode.ERROR, ...(safe.message === undefined ? {} : { message: safe.message }) });
  span.recordException({
    name: safe.type,
    ...(safe.message === undefined ? {} : { message: safe.message }),
    ...(safe.stack === undefined ? {} : { stack: safe.stack }),
    // No `code`: the SDK would report it as exception.type instead of the class name.
  });
}

/** @internal `error.type` of an error: its class name. */
export function errorType(error: Error): string {
  return typeof error.name === 'string' && error.name.length > 0 ? error.name : 'Error';
}

/**
 * @internal Run a user hook so that it cannot break processing: what it throws goes to `report`,
 * and whatever `report` throws is dropped.
 */
export function runHook(hook: () => void, report: (error: unknown) => void): void {
  try {
    hook();
  } catch (error) {
    try {
      report(error);
    } catch {
      // Nowhere left to report to; processing must go on.
    }
  }
}

/** @internal Low-cardinality name of why `ctx.signal` was aborted. */
export function abortReasonOf(reason: unknown): string {
  const code = typeof reason === 'object' && reason !== null ? (reason as { code?: unknown }).code : undefined;
  switch (code) {
    case 'EC_LOCK_LOST':
      return 'lease-lost';
    case 'EC_HANDLER_TIMEOUT':
      return 'timeout';
    case 'EC_STOPPED':
      return 'stopping';
    case 'EC_TRANSPORT':
      return 'connection-lost';
    default:
      return 'other';
  }
}

const PARTITION = /-partition-(\d+)$/;

/** @internal The partition index of a Pulsar partition topic name (`<topic>-partition-<i>`). */
export function partitionOf(topic: string): string | undefined {
  return PARTITION.exec(topic)?.[1];
}
