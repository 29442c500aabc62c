import { describe, expect, it } from 'vitest';
import { isStaleTokenError, StaleTokenError } from '../../src/errors/index.js';
import { MemoryFencedStore } from '../../src/fencing/memory.js';
import { registerContract } from '../../src/testing/contract.js';
import { fencedStoreContract } from '../../src/testing/fenced-store-contract.js';

registerContract('MemoryFencedStore: fenced store contract', fencedStoreContract(() => new MemoryFencedStore()), {
  describe,
  it,
});

describe('MemoryFencedStore', () => {
  it('is named memory', () => {
    expect(new MemoryFencedStore().name).toBe('memory');
  });

  it('counts rejected stale writes only', async () => {
    const store = new MemoryFencedStore<number>();
    await store.put('k', 1, { token: 5, owner: 'a' });
    await expect(store.put('k', 2, { token: 4, owner: 'a' })).rejects.toBeInstanceOf(StaleTokenError);
    await expect(store.put('k', 2, { token: 5, owner: 'b' })).rejects.toSatisfy(isStaleTokenError);
    await expect(store.put('k', 2, { token: 6, owner: 'a' }, { ifVersion: 7 })).rejects.toThrow(/version/);
    expect(store.rejected).toBe(2);
  });

  it('puts the rejected writer and key in the error context', async () => {
    const store = new MemoryFencedStore<number>();
    await store.put('k', 1, { token: 5, owner: 'a' });
    const error = await store.put('k', 2, { token: 3, owner: 'late' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'EC_STALE_TOKEN', retriable: false, token: 3, currentToken: 5 });
    expect((error as StaleTokenError).context).toEqual({ key: 'k', token: 3, currentToken: 5, owner: 'late' });
  });

  it('copies values: mutating the argument or a read value does not change the store', async () => {
    const store = new MemoryFencedStore<{ list: number[] }>();
    const value = { list: [1] };
    const written = await store.put('k', value, { token: 1, owner: 'a' });
    value.list.push(2);
    written.value.list.push(3);
    const read = await store.get('k');
    read!.value.list.push(4);
    expect((await store.get('k'))?.value).toEqual({ list: [1] });
    expect(Object.isFrozen(read)).toBe(true);
  });

  it('rejects an uncloneable value and leaves the record as it was', async () => {
    const store = new MemoryFencedStore<unknown>();
    const before = await store.put('k', 'ok', { token: 1, owner: 'a' });
    await expect(store.put('k', { f: () => 1 }, { token: 2, owner: 'a' })).rejects.toThrow();
    expect(await store.get('k')).toEqual(before);
    // The token of the failed write was not recorded.
    await store.put('k', 'still', { token: 1, owner: 'a' });
  });

  it('rejects tokens that are not positive safe integers', async () => {
    const store = new MemoryFencedStore<number>();
    for (const token of [0, -1, 1.5, Number.NaN, Infinity, 2 ** 53]) {
      await expect(store.put('k', 1, { token, owner: 'a' })).rejects.toThrow(RangeError);
    }
    expect(await store.get('k')).toBeUndefined();
  });
});
