import assert from 'node:assert/strict';
import { isStaleTokenError, type StaleTokenError } from '../errors/stale-token-error.js';
import { isVersionConflictError } from '../errors/version-conflict-error.js';

/** @internal A call under test and the failure-message name of it. */
export interface Call {
  readonly call: string;
  readonly promise: Promise<unknown>;
}

/**
 * @internal How the contract suites name an operation in a failure: `put("fenced-1a2b", token 3,
 * owner "a", ifVersion 2)`. A failing case then says which call broke the contract, not only what
 * value it got.
 */
export function describeCall(
  operation: string,
  key: string,
  fence?: { readonly token?: number; readonly owner?: string },
  ...extra: string[]
): string {
  const parts = [JSON.stringify(key)];
  if (fence?.token !== undefined) parts.push(`token ${fence.token}`);
  if (fence?.owner !== undefined) parts.push(`owner ${JSON.stringify(fence.owner)}`);
  return `${operation}(${[...parts, ...extra].join(', ')})`;
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** @internal Asserts that `call` returned `expected`; the failure names the call and why. */
export function expectResult(call: string, actual: unknown, expected: unknown, why: string): void {
  if (Object.is(actual, expected)) return;
  throw new assert.AssertionError({ message: `${call} returned ${describeValue(actual)}, expected ${describeValue(expected)}: ${why}` });
}

/**
 * @internal Awaits `promise`, which must reject with an error `matches` accepts (it may assert on
 * the error's fields, throwing an `AssertionError` of its own); a failure names `call` and
 * `expected`.
 */
export async function expectRejection(
  call: string,
  promise: Promise<unknown>,
  expected: string,
  matches: (error: unknown) => boolean,
): Promise<void> {
  let value: unknown;
  try {
    value = await promise;
  } catch (error) {
    let accepted: boolean;
    try {
      accepted = matches(error);
    } catch (mismatch) {
      const detail = mismatch instanceof Error ? mismatch.message : String(mismatch);
      throw new assert.AssertionError({ message: `${call} rejected as expected, with ${describeValue(error)}, but ${detail}` });
    }
    if (accepted) return;
    throw new assert.AssertionError({ message: `${call} rejected with ${describeValue(error)}, expected ${expected}` });
  }
  throw new assert.AssertionError({ message: `${call} resolved (${describeValue(value)}), expected it to reject with ${expected}` });
}

/** @internal Rejects unless the call rejects with a `StaleTokenError` carrying these tokens. */
export async function assertStale({ call, promise }: Call, token: number, currentToken: number): Promise<void> {
  await expectRejection(call, promise, `a StaleTokenError (token ${token}, currentToken ${currentToken})`, (error) => {
    if (!isStaleTokenError(error)) return false;
    assert.equal((error as StaleTokenError).token, token, 'error.token');
    assert.equal((error as StaleTokenError).currentToken, currentToken, 'error.currentToken');
    return true;
  });
}

/** @internal Rejects unless the call rejects with a `VersionConflictError`. */
export async function assertVersionConflict({ call, promise }: Call): Promise<void> {
  await expectRejection(call, promise, 'a VersionConflictError', isVersionConflictError);
}
