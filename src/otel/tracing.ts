import { performance } from 'node:perf_hooks';
import {
  ROOT_CONTEXT,
  SpanKind,
  context,
  isSpanContextValid,
  trace,
  type Attributes,
  type Link,
  type Span,
  type TracerProvider,
} from '@opentelemetry/api';
import type { HandlerContext, RunOutcome } from '../consumer/types.js';
import { optionNames, optionsArgument } from '../internal/validate.js';
import { PRIVACY_OPTION_FLAGS, resolvePrivacy, type TelemetryPrivacy } from '../logging/privacy.js';
import type { Middleware } from '../consumer/types.js';
import { propertiesGetter } from './propagation.js';
import {
  ATTR_ERROR_TYPE,
  ATTR_MESSAGING_CLIENT_ID,
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_DESTINATION_PARTITION_ID,
  ATTR_MESSAGING_DESTINATION_SUBSCRIPTION_NAME,
  ATTR_MESSAGING_MESSAGE_BODY_SIZE,
  ATTR_MESSAGING_MESSAGE_ID,
  ATTR_MESSAGING_OPERATION_NAME,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_SYSTEM,
  MESSAGING_OPERATION_TYPE_VALUE_PROCESS,
  MESSAGING_SYSTEM_VALUE_PULSAR,
  SpanAttributes,
  SpanEvents,
} from './semconv.js';
import {
  abortReasonOf,
  errorType,
  partitionOf,
  propagatorOf,
  recordError,
  runHook,
  tracerOf,
  type Propagator,
} from './shared.js';

const OPTION_NAMES = optionNames<TracingOptions>({
  ...PRIVACY_OPTION_FLAGS,
  tracerProvider: true,
  propagator: true,
  continueTrace: true,
  system: true,
  startHook: true,
  endHook: true,
});

/** Options of {@link tracing}. */
export interface TracingOptions<T = unknown> extends TelemetryPrivacy {
  /**
   * Where spans go.
   * @default the global tracer provider (`trace.getTracerProvider()`)
   */
  readonly tracerProvider?: TracerProvider;
  /**
   * Reads the producer's trace context from the message properties.
   * @default the global propagator (W3C trace context and baggage once the OpenTelemetry SDK is set up)
   */
  readonly propagator?: Propagator;
  /**
   * `true`: the `process` span is a **child** of the producer's span, so one trace runs from the
   * event to the decision, and it also **links** to it, as the messaging semantic conventions ask
   * of every process span. `false`: each `process` span starts a new trace, linked to the
   * producer's (for consumers whose traces would otherwise grow without bound, e.g. a workflow
   * that republishes its own events).
   * @default true
   */
  readonly continueTrace?: boolean;
  /**
   * `messaging.system`.
   * @default 'pulsar' (the embedded transport behaves as Pulsar)
   */
  readonly system?: string;
  /**
   * Called once the span has started, before the handler: add your own attributes. What it throws
   * is reported as the consumer's `error` event (phase `tracing:startHook`), never to the handler.
   */
  readonly startHook?: (span: Span, ctx: HandlerContext<T>) => void;
  /**
   * Called just before the span ends, with what the consumer did with the message (`undefined`
   * when the context cannot tell, e.g. a hand-made one in a test). Errors as for `startHook`.
   */
  readonly endHook?: (span: Span, ctx: HandlerContext<T>, outcome: RunOutcome | undefined) => void;
}

/**
 * Tracing middleware: one `process <topic>` span (kind CONSUMER) per handler run, following the
 * OpenTelemetry messaging semantic conventions, with the producer's trace context taken from the
 * message properties. The handler runs inside the span's context, so the spans it starts (a
 * database call, an HTTP request) are its children.
 *
 * - Attributes: `messaging.system`, `messaging.operation.name`/`.type` (`process`),
 *   `messaging.destination.name`, `messaging.destination.partition.id`,
 *   `messaging.destination.subscription.name` and `messaging.consumer.group.name` (the
 *   subscription), `messaging.client.id` (the consumer name), `messaging.message.id`,
 *   `messaging.message.body.size`, and `exclusive_consumer.*`: mode, transport, attempt,
 *   redelivery count, fencing token, lock wait, the key's hash (the key only with `keys: 'raw'`)
 *   and the outcome.
 * - A failed run: `error.type`, ERROR status, an exception event; the error is rethrown.
 * - What follows the run is on the span: an `exclusive_consumer.retry` event (with the delay), a
 *   `…dead_letter` or `…release` event; an `…abort` event when `ctx.signal` was aborted during the
 *   run (lease lost, timeout), recorded when the run ends; a `lease <topic>` child span covering
 *   the wait for the key's lease.
 *
 * The span ends when the run settles: right after the middleware chain returned, once the consumer
 * decided what to do with the message (`ctx.onSettled`); in `finally` when the context cannot say.
 * Put it first in `middleware`, so the other middleware (the exclusivity counter's store calls)
 * runs inside the span.
 *
 * @example
 * ```ts
 * createExclusiveConsumer<ShopperEvent>('shopper-events', (e) => e.shopperId, decide, {
 *   middleware: [tracing({ keySalt: process.env.KEY_SALT }), exclusivityCounter({ store })],
 * });
 * ```
 */
export function tracing<T = unknown>(options: TracingOptions<T> = {}): Middleware<T> {
  optionsArgument(options, OPTION_NAMES);
  const tracer = tracerOf(options.tracerProvider);
  const propagator = propagatorOf(options.propagator);
  const privacy = resolvePrivacy(options, 'tracing options');
  const continueTrace = options.continueTrace ?? true;
  const system = options.system ?? MESSAGING_SYSTEM_VALUE_PULSAR;
  const { startHook, endHook } = options;
  const keyAttribute = privacy.raw ? SpanAttributes.key : SpanAttributes.keyHash;

  return async function tracing(ctx, next) {
    const consumer = ctx.consumer;
    const message = ctx.message;
    // From the root, never from the active context: the transport may deliver inside whatever
    // context happened to be active (the producer's, with the embedded broker), which is not this
    // message's origin.
    const creation = propagator.extract(ROOT_CONTEXT, message.properties, propertiesGetter);
    const origin = trace.getSpanContext(creation);
    const links: Link[] = origin !== undefined && isSpanContextValid(origin) ? [{ context: origin }] : [];

    const attributes: Attributes = {
      [ATTR_MESSAGING_SYSTEM]: system,
      [ATTR_MESSAGING_OPERATION_NAME]: MESSAGING_OPERATION_TYPE_VALUE_PROCESS,
      [ATTR_MESSAGING_OPERATION_TYPE]: MESSAGING_OPERATION_TYPE_VALUE_PROCESS,
      [ATTR_MESSAGING_DESTINATION_NAME]: consumer.topic,
      [ATTR_MESSAGING_DESTINATION_SUBSCRIPTION_NAME]: consumer.subscription,
      [ATTR_MESSAGING_CONSUMER_GROUP_NAME]: consumer.subscription,
      [ATTR_MESSAGING_CLIENT_ID]: consumer.consumerName,
      [ATTR_MESSAGING_MESSAGE_ID]: message.id,
      [ATTR_MESSAGING_MESSAGE_BODY_SIZE]: message.data.byteLength,
      [SpanAttributes.mode]: consumer.mode,
      [SpanAttributes.transport]: consumer.transport,
      [SpanAttributes.attempt]: ctx.attempt,
      [SpanAttributes.redeliveryCount]: message.redeliveryCount,
      [keyAttribute]: privacy.label(ctx.key),
    };
    const partition = partitionOf(message.topic);
    if (partition !== undefined) attributes[ATTR_MESSAGING_DESTINATION_PARTITION_ID] = partition;
    if (ctx.fencingToken !== undefined) attributes[SpanAttributes.fencingToken] = ctx.fencingToken;
    if (consumer.mode === 'shared-locked') attributes[SpanAttributes.lockWaitMs] = ctx.lockWaitMs;

    // A run that waited for its key's lease starts when the wait did, so the wait shows on the
    // timeline as the first child, before the handler.
    // Both ends are stamped here on one clock, the time origin plus the monotonic clock (as run
    // logs are): the SDK's default start is Date.now(), whole milliseconds, and its default end is
    // offset from it, so a key's next span could seem to start before this one ended.
    const now = performance.timeOrigin + performance.now();
    const waited = ctx.lockWaitMs > 0;
    const startTime = waited ? now - ctx.lockWaitMs : now;
    const span = tracer.startSpan(
      `process ${consumer.topic}`,
      {
        kind: SpanKind.CONSUMER,
        attributes,
        links,
        startTime,
        ...(continueTrace ? {} : { root: true }),
      },
      creation,
    );
    // Baggage and other entries of the producer's context stay available to the handler.
    const active = trace.setSpan(creation, span);
    if (waited) {
      tracer
        .startSpan(
          `lease ${consumer.topic}`,
          {
            kind: SpanKind.INTERNAL,
            startTime,
            attributes: {
              [SpanAttributes.lockWaitMs]: ctx.lockWaitMs,
              [keyAttribute]: attributes[keyAttribute],
              ...(ctx.fencingToken === undefined ? {} : { [SpanAttributes.fencingToken]: ctx.fencingToken }),
            },
          },
          active,
        )
        .end(now);
    }

    const report = (phase: string) => (error: unknown) => ctx.reportError(error, phase);
    let failed = false;
    let ended = false;
    const end = (outcome: RunOutcome | undefined): void => {
      if (ended) return;
      ended = true;
      if (outcome !== undefined) {
        span.setAttribute(SpanAttributes.outcome, outcome.action);
        if (outcome.abortReason !== undefined) {
          span.addEvent(SpanEvents.abort, {
            [SpanAttributes.abortReason]: abortReasonOf(outcome.abortReason),
            [ATTR_ERROR_TYPE]: errorType(outcome.abortReason),
          });
        }
        // A run can fail without throwing through here: a timeout counted after the handler
        // returned, or an outer middleware that threw.
        if (outcome.action !== 'ack' && outcome.error !== undefined && !failed) {
          failed = true;
          recordError(span, outcome.error, privacy, ctx.key);
        }
        switch (outcome.action) {
          case 'retry':
            span.addEvent(SpanEvents.retry, {
              [SpanAttributes.retryDelayMs]: outcome.retryInMs,
              [SpanAttributes.retryNextAttempt]: outcome.nextAttempt,
            });
            break;
          case 'dead-letter':
            span.addEvent(SpanEvents.deadLetter, { [ATTR_ERROR_TYPE]: errorType(outcome.error) });
            break;
          case 'release':
            span.addEvent(SpanEvents.release, { [SpanAttributes.releaseReason]: outcome.reason });
            break;
          default:
            break;
        }
      }
      if (endHook !== undefined) runHook(() => endHook(span, ctx, outcome), report('tracing:endHook'));
      span.end(performance.timeOrigin + performance.now());
    };
    // The outcome also says whether `ctx.signal` fired during the run; listening to the signal
    // instead would create an AbortController per run, which costs more than the span.
    const settles = typeof ctx.onSettled === 'function';
    try {
      if (settles) ctx.onSettled(end);
      if (startHook !== undefined) runHook(() => startHook(span, ctx), report('tracing:startHook'));
      await context.with(active, next);
    } catch (error) {
      failed = true;
      recordError(span, error, privacy, ctx.key);
      throw error;
    } finally {
      if (!settles) end(undefined);
    }
  };
}
