import { ConfigurationError } from '../errors/configuration-error.js';
import { SchemaValidationError, type SchemaIssue } from '../errors/schema-validation-error.js';
import { adapterOption } from '../internal/validate.js';
import { jsonCodec, type Codec } from './index.js';
import type { StandardSchemaV1 } from './standard-schema.js';

/**
 * A codec that validates with a Standard Schema (zod, valibot, arktype…; none is imported by the
 * library): `decode` decodes with `inner` (UTF-8 JSON by default) and then validates, so a payload
 * that does not fit is dead-lettered by the consumer with a `DecodeError` whose cause, a
 * {@link SchemaValidationError}, lists the issues; `encode` validates before encoding, so
 * `producer.send` rejects with that error and publishes nothing.
 *
 * The handler receives the schema's output (after its transforms); `encode` validates the value it
 * is given and encodes that value, not the output, so that a consumer's validation sees what the
 * producer sent. Schemas whose output differs from their input (transforms, coercions) are
 * therefore best used on one side only.
 *
 * The schema must validate synchronously: decoding is synchronous so that each key's events stay in
 * order. A schema whose `validate` returns a Promise (zod's async refinements, valibot's `…Async`
 * schemas) is refused with a `ConfigurationError` on its first validation: `producer.send`
 * rejects with it, and a consumer reports it as an `error` event and releases the message for
 * redelivery rather than dead-letter it (the payload is not at fault).
 *
 * @param schema any object implementing Standard Schema v1 (`schema['~standard']`)
 * @param inner turns bytes into the value to validate, and back (default: `jsonCodec()`)
 *
 * @example
 * ```ts
 * import { z } from 'zod';
 * const ShopperEvent = z.object({ shopperId: z.string(), type: z.enum(['view', 'cart', 'checkout']) });
 * const consumer = createExclusiveConsumer('shopper-events', (e) => e.shopperId, handle, {
 *   codec: schemaCodec(ShopperEvent), // handle receives z.infer<typeof ShopperEvent>
 * });
 * ```
 */
export function schemaCodec<S extends StandardSchemaV1>(
  schema: S,
  inner: Codec<unknown> = jsonCodec(),
): Codec<StandardSchemaV1.InferOutput<S>> {
  const props = standardProps(schema);
  adapterOption('inner', inner, ['decode', 'encode']);
  const vendor = typeof props.vendor === 'string' && props.vendor.length > 0 ? props.vendor : 'schema';
  const check = (value: unknown, operation: 'decode' | 'encode'): StandardSchemaV1.InferOutput<S> => {
    // Called on the validator's own object: `validate` may use `this`.
    const result = props.validate(value);
    if (isThenable(result)) {
      // Nobody awaits it: keep its rejection, if any, from being unhandled.
      Promise.resolve(result).catch(() => undefined);
      throw new ConfigurationError(
        'schema',
        'a schema that validates synchronously',
        schema,
        `schemaCodec needs a schema that validates synchronously; the ${vendor} schema returned a Promise (remove its async checks)`,
      );
    }
    if (result.issues !== undefined) throw new SchemaValidationError(vendor, operation, result.issues.map(toIssue));
    return result.value as StandardSchemaV1.InferOutput<S>;
  };
  return {
    name: `${inner.name}+${vendor}`,
    decode: (data, message) => check(inner.decode(data, message), 'decode'),
    encode: (value) => {
      check(value, 'encode');
      return inner.encode(value);
    },
  };
}

function standardProps(schema: unknown): StandardSchemaV1.Props {
  const props = (schema as { '~standard'?: unknown } | null | undefined)?.['~standard'];
  if (
    (typeof schema !== 'object' && typeof schema !== 'function') ||
    typeof props !== 'object' ||
    props === null ||
    (props as { version?: unknown }).version !== 1 ||
    typeof (props as { validate?: unknown }).validate !== 'function'
  ) {
    throw new ConfigurationError('schema', 'a Standard Schema (an object with `~standard` of version 1)', schema);
  }
  return props as StandardSchemaV1.Props;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

function toIssue(issue: StandardSchemaV1.Issue): SchemaIssue {
  const path = (issue.path ?? []).map((segment) => (typeof segment === 'object' && segment !== null ? segment.key : segment));
  return { message: String(issue.message), path };
}
