import { describe, expect, it } from 'vitest';
import { MemoryCounterStore } from '../../src/middleware/exclusivity-counter/memory-store.js';
import { registerContract } from '../../src/testing/contract.js';
import { counterStoreContract } from '../../src/testing/counter-store-contract.js';

registerContract('MemoryCounterStore: counter store contract', counterStoreContract(() => new MemoryCounterStore({ ttlMs: 200 })), {
  describe,
  it,
});

describe('MemoryCounterStore', () => {
  it('is named memory', () => {
    expect(new MemoryCounterStore().name).toBe('memory');
  });

  it('forgets keys whose runs all finished', async () => {
    const store = new MemoryCounterStore();
    for (let i = 0; i < 10_000; i++) {
      await store.increment(`k${i}`, 'h1');
      await store.increment(`k${i}`, 'h2');
    }
    expect(store.size).toBe(10_000);
    for (let i = 0; i < 10_000; i++) {
      await store.decrement(`k${i}`, 'h1');
      await store.decrement(`k${i}`, 'h2');
    }
    expect(store.size).toBe(0);
  });

  it('does not create a key on decrement', async () => {
    const store = new MemoryCounterStore();
    await store.decrement('k', 'h');
    expect(store.size).toBe(0);
  });

  it('counts the same holder once', async () => {
    const store = new MemoryCounterStore();
    expect(await store.increment('k', 'h')).toBe(0);
    expect(await store.increment('k', 'h')).toBe(0);
    await store.decrement('k', 'h');
    expect(store.size).toBe(0);
  });
});
