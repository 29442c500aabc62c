import { describe, expect, it } from 'vitest';
import { isConfigurationError, isStaleTokenError, isVersionConflictError } from '../../src/errors/index.js';
import { MemoryFencedStore } from '../../src/fencing/memory.js';
import type { FencedRecord, FencedStore, PutOptions } from '../../src/fencing/types.js';
import { updateFenced } from '../../src/fencing/update.js';

const fence = { token: 1, owner: 'a' };

/** A store whose writes conflict the first `conflicts` times, as if another writer got in first. */
function contended(conflicts: number): { store: FencedStore<number>; puts: () => number } {
  const inner = new MemoryFencedStore<number>();
  let puts = 0;
  let remaining = conflicts;
  const store: FencedStore<number> = {
    name: 'contended',
    get: (key) => inner.get(key),
    async put(key, value, f, options?: PutOptions): Promise<FencedRecord<number>> {
      puts += 1;
      if (remaining > 0) {
        remaining -= 1;
        // A rival's write slips in between our read and our write.
        const current = await inner.get(key);
        await inner.put(key, (current?.value ?? 0) + 100, f);
      }
      return inner.put(key, value, f, options);
    },
  };
  return { store, puts: () => puts };
}

describe('updateFenced', () => {
  it('creates a missing record with ifVersion 0 semantics', async () => {
    const store = new MemoryFencedStore<number>();
    const seen: (number | undefined)[] = [];
    const record = await updateFenced(store, 'k', fence, (current) => {
      seen.push(current);
      return 1;
    });
    expect(seen).toEqual([undefined]);
    expect(record).toEqual({ value: 1, token: 1, owner: 'a', version: 1 });
  });

  it('accepts an async update function', async () => {
    const store = new MemoryFencedStore<string>();
    await store.put('k', 'a', fence);
    const record = await updateFenced(store, 'k', fence, async (current) => `${current ?? ''}b`);
    expect(record.value).toBe('ab');
  });

  it('retries on a version conflict with a fresh read', async () => {
    const { store, puts } = contended(2);
    const record = await updateFenced(store, 'k', fence, (current) => (current ?? 0) + 1);
    expect(puts()).toBe(3);
    expect(record.value).toBe(201);
    expect(record.version).toBe(3);
  });

  it('rethrows the version conflict after maxAttempts', async () => {
    const { store, puts } = contended(10);
    const error = await updateFenced(store, 'k', fence, (c) => (c ?? 0) + 1, { maxAttempts: 3 }).catch((e: unknown) => e);
    expect(isVersionConflictError(error)).toBe(true);
    expect(puts()).toBe(3);
  });

  it('defaults to 5 attempts', async () => {
    const { store, puts } = contended(10);
    await expect(updateFenced(store, 'k', fence, (c) => (c ?? 0) + 1)).rejects.toSatisfy(isVersionConflictError);
    expect(puts()).toBe(5);
  });

  it('never retries a stale token', async () => {
    const store = new MemoryFencedStore<number>();
    await store.put('k', 0, { token: 9, owner: 'b' });
    let calls = 0;
    const error = await updateFenced(store, 'k', fence, () => ++calls).catch((e: unknown) => e);
    expect(isStaleTokenError(error)).toBe(true);
    expect(calls).toBe(1);
    expect(store.rejected).toBe(1);
  });

  it('propagates an error of the update function without writing', async () => {
    const store = new MemoryFencedStore<number>();
    await expect(
      updateFenced(store, 'k', fence, () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await store.get('k')).toBeUndefined();
  });

  it('rejects a bad maxAttempts with a ConfigurationError', async () => {
    const store = new MemoryFencedStore<number>();
    for (const maxAttempts of [0, 1.5, -1]) {
      await expect(updateFenced(store, 'k', fence, () => 1, { maxAttempts })).rejects.toSatisfy(isConfigurationError);
    }
  });

  it('counts 50 concurrent increments exactly once with enough attempts', async () => {
    const store = new MemoryFencedStore<number>();
    await Promise.all(
      Array.from({ length: 50 }, () => updateFenced(store, 'k', fence, (c) => (c ?? 0) + 1, { maxAttempts: 50 })),
    );
    expect(await store.get('k')).toEqual({ value: 50, token: 1, owner: 'a', version: 50 });
  });
});
