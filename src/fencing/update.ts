import { ConfigurationError } from '../errors/configuration-error.js';
import { isVersionConflictError } from '../errors/version-conflict-error.js';
import { integerOption } from '../internal/validate.js';
import type { Fence, FencedRecord, FencedStore } from './types.js';

/** Options of {@link updateFenced}. */
export interface UpdateFencedOptions {
  /**
   * Attempts in all (read, compute, conditional write) before a `VersionConflictError` is rethrown.
   * Contention of N writers on one key needs at most N attempts: each failed attempt means another
   * writer's attempt succeeded.
   * @default 5
   */
  readonly maxAttempts?: number;
}

/**
 * Read-modify-write of one key of a fenced store: read the record, compute the new value with `fn`,
 * write it under `fence` only if the record did not change meanwhile (`ifVersion`). On a
 * `VersionConflictError` it starts over, up to `maxAttempts` attempts, then rethrows. A
 * `StaleTokenError` is rethrown at once, never retried: a newer fence exists and retrying with the
 * same token cannot succeed. `fn` may run several times, so keep it free of side effects. A missing
 * fence (a consumer without `lock` or `tokenSource`) is a `ConfigurationError` saying so, which a
 * handler does not retry.
 *
 * @example
 * ```ts
 * await updateFenced(store, ctx.key, ctx.fence, (count: number | undefined) => (count ?? 0) + 1);
 * ```
 */
export async function updateFenced<V>(
  store: FencedStore<V>,
  key: string,
  fence: Fence,
  fn: (current: V | undefined) => V | Promise<V>,
  options: UpdateFencedOptions = {},
): Promise<FencedRecord<V>> {
  if (typeof fence !== 'object' || fence === null || typeof fence.token !== 'number' || typeof fence.owner !== 'string') {
    throw new ConfigurationError(
      'fence',
      'a Fence { token, owner }',
      fence,
      'updateFenced needs a fence, got ' +
        (fence === undefined ? 'undefined' : 'something else') +
        ": `ctx.fence` is set only when the consumer has a `lock` or a `tokenSource` in its options",
    );
  }
  const maxAttempts = integerOption('maxAttempts', options.maxAttempts, 5, 1);
  for (let attempt = 1; ; attempt += 1) {
    const current = await store.get(key);
    const value = await fn(current?.value);
    try {
      return await store.put(key, value, fence, { ifVersion: current?.version ?? 0 });
    } catch (error) {
      if (!isVersionConflictError(error) || attempt >= maxAttempts) throw error;
    }
  }
}
