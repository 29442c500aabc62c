import assert from 'node:assert/strict';
import type { CounterStore, RunOverlaps } from '../middleware/exclusivity-counter/types.js';
import { describeCall, expectResult } from './calls.js';
import { uniqueName, type ContractCase } from './contract.js';

/** Options of {@link counterStoreContract}. */
export interface CounterStoreContractOptions {
  /** Called after each case with the store it used (e.g. to close a client). */
  readonly cleanup?: (store: CounterStore) => Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The behaviour the exclusivity counter needs from a {@link CounterStore}: `increment` resolves with
 * the number of other runs in progress, `decrement` undoes it idempotently per holder, keys are
 * independent, concurrent increments see each count exactly once; and a crash is told from an
 * overlap: a run that stops renewing stops counting after the store's `ttlMs` and is never reported
 * on, a start records an overlap on every other run of its key, and that run collects it once
 * (`renew` or `decrement`), also after a pause past `ttlMs`. Every case uses fresh keys; each
 * holder stands for one run of some process, so one store instance plays the whole fleet.
 *
 * Cases wait for the store's `ttlMs` to pass: give the factory a store with a short one (a few
 * hundred milliseconds).
 *
 * ```ts
 * registerContract('my counter store', counterStoreContract(() => myStore({ ttlMs: 300 })), { describe, it });
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
  /** Long enough for an entry written now, and not renewed, to have expired. */
  const pastTtl = (store: CounterStore): Promise<void> => sleep(Math.ceil(store.ttlMs * 1.5) + 50);
  const none: RunOverlaps = { overlaps: 0, concurrent: 0, forgotten: false };
  const timeoutMs = 20_000;
  const call = (operation: string, key: string, holder: string): string => describeCall(operation, key, undefined, `holder ${JSON.stringify(holder)}`);
  const increment = async (store: CounterStore, key: string, holder: string, expected: number, why: string): Promise<void> =>
    expectResult(call('increment', key, holder), await store.increment(key, holder), expected, why);
  /** `renew` or `decrement` of `holder` on `key` must resolve with `expected`. */
  const collects = async (store: CounterStore, operation: 'renew' | 'decrement', key: string, holder: string, expected: RunOverlaps, why: string): Promise<void> => {
    const actual = await store[operation](key, holder);
    assert.deepEqual(actual, expected, `${call(operation, key, holder)} returned ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}: ${why}`);
  };

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
      name: 'decrement is idempotent per holder: a run not (or no longer) known is forgotten',
      run: withStore(async (store, key) => {
        await store.increment(key, 'h1');
        await store.increment(key, 'h2');
        assert.equal((await store.decrement(key, 'h2')).forgotten, false, `${call('decrement', key, 'h2')}: a counted run is not forgotten`);
        await collects(store, 'decrement', key, 'h2', { overlaps: 0, concurrent: 0, forgotten: true }, 'a second decrement is forgotten');
        assert.equal((await store.decrement(key, 'never-counted')).forgotten, true, `${call('decrement', key, 'never-counted')}: an unknown run is forgotten`);
        assert.equal((await store.renew(key, 'never-counted')).forgotten, true, `${call('renew', key, 'never-counted')}: an unknown run is forgotten`);
        await increment(store, key, 'h3', 1, 'h1 is still counted, the unknown renewal added nothing');
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
        await collects(store, 'decrement', other, 'h2', none, 'a start on another key is no overlap');
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
        const ends = await Promise.all(Array.from({ length: n }, (_, i) => store.decrement(key, `h${i}`)));
        // Each of the 20 runs overlapped every other: 190 pairs, each collected by exactly one side.
        assert.equal(
          ends.reduce((sum, end) => sum + end.overlaps, 0),
          (n * (n - 1)) / 2,
        );
        await increment(store, key, 'after', 0, 'all decremented');
      }),
    },
    {
      name: 'an overlap is collected once, by the run that was in progress, at its end',
      run: withStore(async (store, key) => {
        await increment(store, key, 'first', 0, '0 other runs counted on the key');
        await increment(store, key, 'second', 1, '1 other run counted on the key');
        await increment(store, key, 'third', 2, '2 other runs counted on the key');
        await collects(store, 'decrement', key, 'third', none, 'nothing started during the third run');
        await collects(store, 'decrement', key, 'second', { overlaps: 1, concurrent: 3, forgotten: false }, 'its overlaps');
        await collects(store, 'decrement', key, 'first', { overlaps: 2, concurrent: 3, forgotten: false }, 'its overlaps');
      }),
    },
    {
      name: 'a run renewed past ttlMs stays counted and collects an overlap once, by renew',
      timeoutMs,
      run: withStore(async (store, key) => {
        await increment(store, key, 'long', 0, '0 other runs counted on the key');
        const until = Date.now() + store.ttlMs * 1.5;
        while (Date.now() < until) {
          await sleep(Math.max(1, Math.floor(store.ttlMs / 4)));
          await collects(store, 'renew', key, 'long', none, 'its overlaps');
        }
        await increment(store, key, 'overlapping', 1, 'the renewed run is counted');
        await collects(store, 'renew', key, 'long', { overlaps: 1, concurrent: 2, forgotten: false }, 'its overlaps');
        await collects(store, 'renew', key, 'long', none, 'collected once');
        await collects(store, 'decrement', key, 'overlapping', none, 'the starting run reports nothing');
        await collects(store, 'decrement', key, 'long', none, 'its overlaps');
      }),
    },
    {
      name: 'crash: a run that stops renewing is not counted after ttlMs, and nothing is collected on its behalf',
      timeoutMs,
      run: withStore(async (store, key) => {
        await increment(store, key, 'crashed', 0, '0 other runs counted on the key');
        await pastTtl(store);
        await increment(store, key, 'survivor-1', 0, 'the crashed run is not counted');
        await collects(store, 'decrement', key, 'survivor-1', none, 'its overlaps');
        await increment(store, key, 'survivor-2', 0, '0 other runs counted on the key');
        await collects(store, 'decrement', key, 'survivor-2', none, 'nor later');
        // The crashed run never renews nor ends: its overlaps are never collected.
      }),
    },
    {
      name: 'pause: a run that stopped renewing past ttlMs collects, on resuming, each run that started meanwhile, once',
      timeoutMs,
      run: withStore(async (store, key) => {
        await increment(store, key, 'paused', 0, '0 other runs counted on the key');
        await pastTtl(store);
        await increment(store, key, 'other', 0, 'the paused run looks dead');
        await collects(store, 'decrement', key, 'other', none, 'the starting run reports nothing');
        // The paused process resumes: its heartbeat renews, then its run ends.
        await collects(store, 'renew', key, 'paused', { overlaps: 1, concurrent: 2, forgotten: false }, 'its overlaps');
        await increment(store, key, 'after-resume', 1, 'renewed, it counts again');
        await collects(store, 'decrement', key, 'paused', { overlaps: 1, concurrent: 2, forgotten: false }, 'its overlaps');
        await collects(store, 'decrement', key, 'after-resume', none, 'its overlaps');
      }),
    },
    {
      name: 'pause: a run that resumes without renewing collects the overlap at its end; a pause alone is no overlap',
      timeoutMs,
      run: withStore(async (store, key) => {
        const alone = `${key}-alone`;
        await increment(store, key, 'paused', 0, '0 other runs counted on the key');
        await increment(store, alone, 'paused-alone', 0, '0 other runs counted on the key');
        await pastTtl(store);
        await increment(store, key, 'other', 0, '0 other runs counted on the key');
        await collects(store, 'decrement', key, 'paused', { overlaps: 1, concurrent: 2, forgotten: false }, 'its overlaps');
        await collects(store, 'decrement', key, 'other', none, 'its overlaps');
        await collects(store, 'renew', alone, 'paused-alone', none, 'nothing started on the other key');
        await collects(store, 'decrement', alone, 'paused-alone', none, 'its overlaps');
      }),
    },
  ];
  return cases;
}
