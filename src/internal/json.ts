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
