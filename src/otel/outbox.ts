import { ROOT_CONTEXT, SpanKind, context, isSpanContextValid, trace, type Attributes, type Link, type Span, type TracerProvider } from '@opentelemetry/api';
import { optionNames, optionsArgument } from '../internal/validate.js';
import { silentLogger, type Logger } from '../logging/logger.js';
import { PRIVACY_OPTION_FLAGS, resolvePrivacy, type TelemetryPrivacy } from '../logging/privacy.js';
import type { DispatchMiddleware } from '../outbox/dispatcher.js';
import type { ClaimedEffect } from '../outbox/types.js';
import { propertiesGetter, propertiesSetter } from './propagation.js';
import { SpanAttributes } from './semconv.js';
import { propagatorOf, recordError, runHook, tracerOf, type Propagator } from './shared.js';

const DISPATCH_OPTION_NAMES = optionNames<DispatchTracingOptions>({
  ...PRIVACY_OPTION_FLAGS,
  tracerProvider: true,
  propagator: true,
  continueTrace: true,
  startHook: true,
  endHook: true,
  logger: true,
});

const CAPTURE_OPTION_NAMES = optionNames<CaptureTraceContextOptions>({ propagator: true });

/** Options of {@link captureTraceContext}. */
export interface CaptureTraceContextOptions {
  /**
   * Writes the active context into the effect's headers.
   * @default the global propagator (W3C trace context and baggage once the OpenTelemetry SDK is set up)
   */
  readonly propagator?: Propagator;
}

/**
 * An outbox's `captureHeaders`: the trace context active at commit (the handler's `process` span,
 * under the `tracing()` middleware), as headers stored with each effect, so that
 * {@link dispatchTracing} can link each send to the run that decided it.
 *
 * @example
 * ```ts
 * const outbox = redisOutbox(redis, { captureHeaders: captureTraceContext() });
 * ```
 */
export function captureTraceContext(options: CaptureTraceContextOptions = {}): () => Record<string, string> {
  optionsArgument(options, CAPTURE_OPTION_NAMES);
  const propagator = propagatorOf(options.propagator);
  return function captureTraceContext() {
    const headers: Record<string, string> = {};
    propagator.inject(context.active(), headers, propertiesSetter);
    return headers;
  };
}

/** Options of {@link dispatchTracing}. */
export interface DispatchTracingOptions<P = unknown> extends TelemetryPrivacy {
  /** @default the global tracer provider */
  readonly tracerProvider?: TracerProvider;
  /** Reads the deciding run's context from the effect's headers. @default the global propagator */
  readonly propagator?: Propagator;
  /**
   * `false`: each `dispatch effect` span starts a trace of its own, **linked** to the run that
   * decided the effect (a send happens later, often in another process). `true`: it is also a
   * child of that run, so one trace goes from the event to the send.
   * @default false
   */
  readonly continueTrace?: boolean;
  /** Called once the span has started, before the send. Cannot break the send. */
  readonly startHook?: (span: Span, effect: ClaimedEffect<P>) => void;
  /** Called just before the span ends, with the send's error if it failed. Cannot break the send. */
  readonly endHook?: (span: Span, effect: ClaimedEffect<P>, error: unknown) => void;
  /** Where a hook's error is logged (a send has no error event). @default silent */
  readonly logger?: Logger;
}

/**
 * Dispatcher middleware: one `dispatch effect` span (kind PRODUCER) per send, linked to the span of
 * the handler run that committed the effect (from the headers `captureTraceContext()` stored), with
 * the idempotency key, the attempt, the fencing token of the commit and the key's hash (the key only
 * with `keys: 'raw'`). A failed send sets `error.type` and ERROR status; the error is rethrown.
 *
 * @example
 * ```ts
 * createOutboxDispatcher(outbox, send, { middleware: [dispatchTracing()] });
 * ```
 */
export function dispatchTracing<P = unknown>(options: DispatchTracingOptions<P> = {}): DispatchMiddleware<P> {
  optionsArgument(options, DISPATCH_OPTION_NAMES);
  const tracer = tracerOf(options.tracerProvider);
  const propagator = propagatorOf(options.propagator);
  const privacy = resolvePrivacy(options, 'dispatch tracing options');
  const continueTrace = options.continueTrace ?? false;
  const logger = options.logger ?? silentLogger;
  const { startHook, endHook } = options;
  const keyAttribute = privacy.raw ? SpanAttributes.key : SpanAttributes.keyHash;
  const report = (hook: string) => (error: unknown) =>
    logger.warn('dispatch tracing hook threw; the send goes on', { hook, error: error instanceof Error ? error.name : typeof error });

  return async function dispatchTracing(effect, next) {
    const decided = propagator.extract(ROOT_CONTEXT, effect.headers, propertiesGetter);
    const origin = trace.getSpanContext(decided);
    const valid = origin !== undefined && isSpanContextValid(origin);
    const links: Link[] = valid ? [{ context: origin }] : [];
    const attributes: Attributes = {
      [SpanAttributes.outboxIdempotencyKey]: effect.idempotencyKey,
      [SpanAttributes.outboxAttempt]: effect.attempt,
      [SpanAttributes.fencingToken]: effect.token,
      [keyAttribute]: privacy.label(effect.key),
    };
    const parent = continueTrace && valid ? decided : ROOT_CONTEXT;
    const span = tracer.startSpan('dispatch effect', { kind: SpanKind.PRODUCER, attributes, links, root: !(continueTrace && valid) }, parent);
    let failure: unknown;
    try {
      if (startHook !== undefined) runHook(() => startHook(span, effect), report('startHook'));
      await context.with(trace.setSpan(parent, span), next);
    } catch (error) {
      failure = error;
      recordError(span, error, privacy, effect.key);
      throw error;
    } finally {
      if (endHook !== undefined) runHook(() => endHook(span, effect, failure), report('endHook'));
      span.end();
    }
  };
}
