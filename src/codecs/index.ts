import type { MessageMeta } from '../transports/types.js';

/**
 * Turns payload bytes into the event a handler receives, and back for producers. `decode` may throw;
 * the message is then dead-lettered with a `DecodeError`, unless the error is a `ConfigurationError`
 * (the codec, not the payload, is at fault): then it is reported and the message released.
 */
export interface Codec<T> {
  /** Short name, reported in decode errors. */
  readonly name: string;
  decode(data: Uint8Array, message: MessageMeta): T;
  encode(value: T): Uint8Array;
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/** Options of {@link jsonCodec}. */
export interface JsonCodecOptions {
  /** Passed to `JSON.parse`. */
  readonly reviver?: (this: unknown, key: string, value: unknown) => unknown;
}

/**
 * UTF-8 JSON. The default codec. It does not validate the shape of the event: validate in the
 * handler, or use `schemaCodec(schema)`, which wraps this codec with a schema check.
 */
export function jsonCodec<T = unknown>(options: JsonCodecOptions = {}): Codec<T> {
  const { reviver } = options;
  return {
    name: 'json',
    decode: (data) => JSON.parse(utf8Decoder.decode(data), reviver) as T,
    encode: (value) => utf8Encoder.encode(JSON.stringify(value)),
  };
}

/** UTF-8 text; rejects invalid UTF-8. */
export function stringCodec(): Codec<string> {
  return {
    name: 'string',
    decode: (data) => utf8Decoder.decode(data),
    encode: (value) => utf8Encoder.encode(value),
  };
}

/** The payload bytes as they are. */
export function rawCodec(): Codec<Uint8Array> {
  return { name: 'raw', decode: (data) => data, encode: (value) => value };
}
