/**
 * @internal Throws a `RangeError` unless `ttlMs` is a positive finite number: a lease with no
 * lifetime, or an endless one, would either never be held or never expire.
 */
export function checkTtl(ttlMs: number): void {
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new RangeError(`Expected \`ttlMs\` to be a positive finite number, got ${String(ttlMs)}`);
  }
}
