import type { Fence } from './types.js';

/**
 * @internal Throws a `RangeError` unless `fence.token` is a positive safe integer: a NaN or a
 * fractional token would compare neither below nor equal to the stored one and slip past the fence.
 */
export function checkFenceToken(fence: Fence): void {
  if (!Number.isSafeInteger(fence.token) || fence.token < 1) {
    throw new RangeError(`Expected \`fence.token\` to be a positive safe integer, got ${String(fence.token)}`);
  }
}

/** @internal Throws a `RangeError` unless `ifVersion` is undefined or an integer ≥ 0. */
export function checkIfVersion(ifVersion: number | undefined): void {
  if (ifVersion !== undefined && (!Number.isSafeInteger(ifVersion) || ifVersion < 0)) {
    throw new RangeError(`Expected \`ifVersion\` to be an integer ≥ 0, got ${String(ifVersion)}`);
  }
}

/**
 * @internal The fence rule of every fenced store, for stores that apply it in this process: a write
 * is stale when its token is below the record's, or equal to it from another owner.
 */
export function isStale(fence: Fence, current: { readonly token: number; readonly owner: string } | undefined): boolean {
  return current !== undefined && (fence.token < current.token || (fence.token === current.token && fence.owner !== current.owner));
}

/** @internal Throws a `TypeError` unless `key` is a string (an adapter's keys come from callers). */
export function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string') throw new TypeError(`Expected the key to be a string, got ${typeof key}`);
}
