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
import { optionNames, optionsArgument } from '../internal/validate.js';
import { silentLogger, type Logger } from '../logging/logger.js';
import { PRIVACY_OPTION_FLAGS, resolvePrivacy, type TelemetryPrivacy } from '../logging/privacy.js';
import { createProducer, type Producer, type ProducerMessage, type ProducerMiddleware, type ProducerOptions } from '../producer.js';
import { propertiesGetter, propertiesSetter } from './propagation.js';
import {
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_MESSAGE_BODY_SIZE,
  ATTR_MESSAGING_MESSAGE_ID,
  ATTR_MESSAGING_OPERATION_NAME,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_SYSTEM,
  MESSAGING_OPERATION_TYPE_VALUE_SEND,
  MESSAGING_SYSTEM_VALUE_PULSAR,
  SpanAttributes,
} from './semconv.js';
import { propagatorOf, recordError, runHook, tracerOf, type Propagator } from './shared.js';

const OPTION_NAMES = optionNames<ProducerTracingOptions>({
  ...PRIVACY_OPTION_FLAGS,
  tracerProvider: true,
  propagator: true,
  system: true,
  startHook: true,
  endHook: true,
  logger: true,
});

/** Options of {@link producerTracing}. */
export interface ProducerTracingOptions<T = unknown> extends TelemetryPrivacy {
  /** @default the global tracer provider */
  readonly tracerProvider?: TracerProvider;
  /**
   * Writes the trace context into the message properties.
   * @default the global propagator (W3C trace context and baggage once the OpenTelemetry SDK is set up)
   */
  readonly propagator?: Propagator;
  /** `messaging.system`. @default 'pulsar' */
  readonly system?: string;
  /** Called once the span has started, before the send: add your own attributes. Cannot break the send. */
  readonly startHook?: (span: Span, message: ProducerMessage<T>) => void;
  /** Called just before the span ends, with the message id or the error. Cannot break the send. */
  readonly endHook?: (span: Span, message: ProducerMessage<T>, result: { messageId?: string; error?: unknown }) => void;
  /**
   * Where a hook's error is logged (a producer has no `error` event).
   * @default silent
   */
  readonly logger?: Logger;
}

/**
 * Producer middleware: one `send <topic>` span (kind PRODUCER) per message, child of the caller's
 * active span, whose context is injected into the message properties (W3C `traceparent` with the
 * SDK's default propagator). That injected context is the message's creation context: the
 * consumer's `tracing()` middleware continues the trace from it.
 *
 * A creation context the caller already put in the properties is kept, not overwritten (as the
 * messaging semantic conventions ask); the send span links to it instead.
 */
export function producerTracing<T = unknown>(options: ProducerTracingOptions<T> = {}): ProducerMiddleware<T> {
  optionsArgument(options, OPTION_NAMES);
  const tracer = tracerOf(options.tracerProvider);
  const propagator = propagatorOf(options.propagator);
  const privacy = resolvePrivacy(options, 'producer tracing options');
  const system = options.system ?? MESSAGING_SYSTEM_VALUE_PULSAR;
  const logger = options.logger ?? silentLogger;
  const { startHook, endHook } = options;
  const keyAttribute = privacy.raw ? SpanAttributes.key : SpanAttributes.keyHash;
  const report = (hook: string) => (error: unknown) =>
    logger.warn('tracing hook threw; the send goes on', {
      hook,
      error: error instanceof Error ? error.name : typeof error,
    });

  return async function producerTracing(message, next) {
    const parent = context.active();
    const given = trace.getSpanContext(propagator.extract(ROOT_CONTEXT, message.properties, propertiesGetter));
    const custom = given !== undefined && isSpanContextValid(given);
    const links: Link[] = custom ? [{ context: given }] : [];
    const attributes: Attributes = {
      [ATTR_MESSAGING_SYSTEM]: system,
      [ATTR_MESSAGING_OPERATION_NAME]: 'send',
      [ATTR_MESSAGING_OPERATION_TYPE]: MESSAGING_OPERATION_TYPE_VALUE_SEND,
      [ATTR_MESSAGING_DESTINATION_NAME]: message.topic,
      [ATTR_MESSAGING_MESSAGE_BODY_SIZE]: message.data.byteLength,
      [keyAttribute]: privacy.label(message.key),
    };
    const span = tracer.startSpan(`send ${message.topic}`, { kind: SpanKind.PRODUCER, attributes, links }, parent);
    const active = trace.setSpan(parent, span);
    if (!custom) propagator.inject(active, message.properties, propertiesSetter);
    if (startHook !== undefined) runHook(() => startHook(span, message), report('startHook'));
    let result: { messageId?: string; error?: unknown } = {};
    try {
      const messageId = await context.with(active, next);
      result = { messageId };
      span.setAttribute(ATTR_MESSAGING_MESSAGE_ID, messageId);
      return messageId;
    } catch (error) {
      result = { error };
      recordError(span, error, privacy, message.key);
      throw error;
    } finally {
      if (endHook !== undefined) runHook(() => endHook(span, message, result), report('endHook'));
      span.end();
    }
  };
}

/** Options of {@link createTracedProducer}: those of `createProducer`, plus tracing's. */
export interface TracedProducerOptions<T> extends ProducerOptions<T> {
  /** Options of the `producerTracing()` middleware put first in the chain. */
  readonly tracing?: ProducerTracingOptions<T>;
}

/**
 * A keyed producer that traces its sends: `createProducer` (the event's key as partition key, for
 * Key_Shared routing) with `producerTracing()` first in its middleware, so that every message
 * carries its creation context to the consumer. Works with any transport (memory, Pulsar).
 *
 * @example
 * ```ts
 * const producer = createTracedProducer<ShopperEvent>({ transport, topic: 'shopper-events', key: (e) => e.shopperId });
 * await producer.send(event); // a `send shopper-events` span; its context travels in `traceparent`
 * ```
 */
export function createTracedProducer<T>(options: TracedProducerOptions<T>): Producer<T> {
  const { tracing, middleware, ...rest } = options;
  return createProducer<T>({ ...rest, middleware: [producerTracing<T>(tracing), ...(middleware ?? [])] });
}
