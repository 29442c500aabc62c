import { functionArgument } from './validate.js';

/**
 * @internal `JSON.stringify` that refuses what JSON cannot hold: a stored value that serialized to
 * `undefined` (a function, a symbol, `undefined` itself) would be stored as nothing and read back
 * as an error.
 */
export function serializeJson(value: unknown): string {
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError(`Cannot store ${typeof value} as JSON`);
  return text;
}

/**
 * @internal The text a user's `serialize` made of a stored value. A store keeps text only, and a
 * serializer that returns anything else would store something that cannot be read back.
 */
export function serializedText<V>(serialize: (value: V) => unknown, value: V, store: 'fenced store' | 'outbox'): string {
  const text = serialize(value);
  if (typeof text !== 'string') throw new TypeError(`The ${store} can only store values its \`serialize\` turns into a string`);
  return text;
}

/** @internal The validated `serialize` and `deserialize` options of a store, JSON by default. */
export function valueCodec<V>(options: { readonly serialize?: (value: V) => string; readonly deserialize?: (text: string) => V }): {
  readonly serialize: (value: V) => string;
  readonly deserialize: (text: string) => V;
} {
  const serialize = options.serialize ?? serializeJson;
  const deserialize = options.deserialize ?? (JSON.parse as (text: string) => V);
  functionArgument('serialize', serialize);
  functionArgument('deserialize', deserialize);
  return { serialize, deserialize };
}
