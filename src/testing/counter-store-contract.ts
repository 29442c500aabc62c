import assert from 'node:assert/strict';
import type { CounterStore } from '../middleware/exclusivity-counter/types.js';
import { describeCall, expectResult } from './calls.js';
import { uniqueName, type ContractCase } from './contract.js';

/** Options of {@link counterStoreContract}. */
export interface CounterStoreContractOptions {
  /** Called after each case with the store it used (e.g. to close a client). */
  readonly cleanup?: (store: CounterStore) => Promise<void>;
}

/**
 * The behaviour the exclusivity counter needs from a {@link CounterStore}: `increment` resolves with
 * the number of other runs in progress, `decrement` undoes it idempotently per holder, keys are
 * independent, and concurrent increments see each count exactly once. Every case uses fresh keys.
 *
 * ```ts
 * registerContract('my counter store', counterStoreContract(() => myStore()), { describe, it });
 * ```
 */
export function counterStoreContract(
  factory: () => CounterStore | Promise<CounterStore>,
  options: CounterStoreContractOptions = {},
): ContractCase[] {
  const withStore = (run: (store: CounterStore, key: string) => Promise<void>) => async (): Promise<void> => {
    const store = await factory();
    try {
      await run(store, uniqueName('counter'));
    } finally {
      await options.cleanup?.(store);
    }
  };

  const increment = async (store: CounterStore, key: string, holder: string, expected: number, why: string): Promise<void> =>
    expectResult(describeCall('increment', key, undefined, `holder ${JSON.stringify(holder)}`), await store.increment(key, holder), expected, why);

  const cases: ContractCase[] = [
    {
      name: 'increment returns 0 for the first run and 1 for another holder',
      run: withStore(async (store, key) => {
        await increment(store, key, 'h1', 0, '0 other runs counted on the key');
        await increment(store, key, 'h2', 1, '1 other run counted on the key');
        await increment(store, key, 'h3', 2, '2 other runs counted on the key');
      }),
    },
    {
      name: 'decrement restores the count',
      run: withStore(async (store, key) => {
        await store.increment(key, 'h1');
        await store.increment(key, 'h2');
        await store.decrement(key, 'h2');
        await increment(store, key, 'h3', 1, 'only h1 left before h3');
        await store.decrement(key, 'h1');
        await store.decrement(key, 'h3');
        await increment(store, key, 'h4', 0, 'nothing left before h4');
      }),
    },
    {
      name: 'decrement is idempotent per holder',
      run: withStore(async (store, key) => {
        await store.increment(key, 'h1');
        await store.increment(key, 'h2');
        await store.decrement(key, 'h2');
        await store.decrement(key, 'h2');
        await store.decrement(key, 'never-counted');
        await increment(store, key, 'h3', 1, 'h1 is still counted');
      }),
    },
    {
      name: 'keys are independent',
      run: withStore(async (store, key) => {
        const other = `${key}-other`;
        await increment(store, key, 'h1', 0, '0 other runs counted on the key');
        await increment(store, other, 'h2', 0, '0 other runs counted on the key');
        await store.decrement(other, 'h1');
        await increment(store, key, 'h3', 1, 'decrement on another key does not count here');
      }),
    },
    {
      name: '20 concurrent increments on one key return each of 0..19 exactly once',
      run: withStore(async (store, key) => {
        const n = 20;
        const counts = await Promise.all(Array.from({ length: n }, (_, i) => store.increment(key, `h${i}`)));
        assert.deepEqual(
          [...counts].sort((a, b) => a - b),
          Array.from({ length: n }, (_, i) => i),
        );
        await Promise.all(Array.from({ length: n }, (_, i) => store.decrement(key, `h${i}`)));
        await increment(store, key, 'after', 0, 'all decremented');
      }),
    },
  ];
  return cases;
}
