import type { TextMapGetter, TextMapSetter } from '@opentelemetry/api';

/**
 * Reads trace context (W3C `traceparent`/`tracestate`, baggage…) from message properties, which
 * Pulsar carries as string to string: what the consumer side hands to a propagator's `extract`.
 */
export const propertiesGetter: TextMapGetter<Readonly<Record<string, string>>> = Object.freeze({
  keys(carrier: Readonly<Record<string, string>>): string[] {
    return Object.keys(carrier);
  },
  get(carrier: Readonly<Record<string, string>>, key: string): string | undefined {
    // Own properties only: a property named like an Object.prototype member must not resolve.
    return Object.prototype.hasOwnProperty.call(carrier, key) ? carrier[key] : undefined;
  },
});

/** Writes trace context into message properties: what the producer side hands to `inject`. */
export const propertiesSetter: TextMapSetter<Record<string, string>> = Object.freeze({
  set(carrier: Record<string, string>, key: string, value: string): void {
    carrier[key] = value;
  },
});
