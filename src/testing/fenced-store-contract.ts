import assert from 'node:assert/strict';
import { isStaleTokenError } from '../errors/stale-token-error.js';
import type { Fence, FencedRecord, FencedStore, PutOptions } from '../fencing/types.js';
import { updateFenced } from '../fencing/update.js';
import { assertStale, assertVersionConflict, describeCall, type Call } from './calls.js';
import { uniqueName, type ContractCase } from './contract.js';

/** Options of {@link fencedStoreContract}. */
export interface FencedStoreContractOptions {
  /** Called after each case with the store it used (e.g. to close a client). */
  readonly cleanup?: (store: FencedStore<unknown>) => Promise<void>;
}

/** `store.put(…)`, named with its key, token, owner and version condition. */
function put(store: FencedStore<unknown>, key: string, value: unknown, fence: Fence, options?: PutOptions): Call {
  const extra = options?.ifVersion === undefined ? [] : [`ifVersion ${options.ifVersion}`];
  return { call: describeCall('put', key, fence, ...extra), promise: store.put(key, value, fence, options) };
}

/** A shuffled copy of `items` (Fisher–Yates). */
function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/**
 * The behaviour a {@link FencedStore} must have: accept a write only with a token at least the
 * highest accepted (an equal token only from the same owner), reject stale writes with a
 * `StaleTokenError` that changes nothing, honour `ifVersion`, keep accepted tokens non-decreasing
 * under concurrent writers, serve `updateFenced` under contention, and round-trip plain values
 * (objects, arrays, strings, numbers, booleans, null). Every case uses fresh keys. Run it on yours:
 *
 * ```ts
 * registerContract('my store', fencedStoreContract(() => myStore()), { describe, it });
 * ```
 */
export function fencedStoreContract(
  factory: () => FencedStore<unknown> | Promise<FencedStore<unknown>>,
  options: FencedStoreContractOptions = {},
): ContractCase[] {
  const withStore = (run: (store: FencedStore<unknown>, key: string) => Promise<void>) => async (): Promise<void> => {
    const store = await factory();
    try {
      await run(store, uniqueName('fenced'));
    } finally {
      await options.cleanup?.(store);
    }
  };

  const cases: ContractCase[] = [
    {
      name: 'accepts the first write with version 1',
      run: withStore(async (store, key) => {
        assert.equal(await store.get(key), undefined, 'nothing before the first write');
        const record = await store.put(key, { n: 1 }, { token: 1, owner: 'a' });
        assert.deepEqual(record, { value: { n: 1 }, token: 1, owner: 'a', version: 1 });
        assert.deepEqual(await store.get(key), record);
      }),
    },
    {
      name: 'accepts a higher token',
      run: withStore(async (store, key) => {
        await store.put(key, 'first', { token: 1, owner: 'a' });
        const record = await store.put(key, 'second', { token: 7, owner: 'b' });
        assert.deepEqual(record, { value: 'second', token: 7, owner: 'b', version: 2 });
        assert.deepEqual(await store.get(key), record);
      }),
    },
    {
      name: 'rejects a lower token with a StaleTokenError carrying both tokens',
      run: withStore(async (store, key) => {
        await store.put(key, 'new', { token: 5, owner: 'b' });
        await assertStale(put(store, key, 'old', { token: 3, owner: 'a' }), 3, 5);
        await assertStale(put(store, key, 'old', { token: 4, owner: 'b' }), 4, 5);
      }),
    },
    {
      name: 'accepts an equal token from the same owner',
      run: withStore(async (store, key) => {
        await store.put(key, 1, { token: 4, owner: 'a' });
        const record = await store.put(key, 2, { token: 4, owner: 'a' });
        assert.deepEqual(record, { value: 2, token: 4, owner: 'a', version: 2 });
      }),
    },
    {
      name: 'rejects an equal token from another owner',
      run: withStore(async (store, key) => {
        await store.put(key, 1, { token: 4, owner: 'a' });
        await assertStale(put(store, key, 2, { token: 4, owner: 'b' }), 4, 4);
      }),
    },
    {
      name: 'a rejected write changes nothing',
      run: withStore(async (store, key) => {
        await store.put(key, { v: 'first' }, { token: 2, owner: 'a' });
        const before = await store.put(key, { v: 'kept' }, { token: 6, owner: 'b' });
        await assertStale(put(store, key, { v: 'lost' }, { token: 5, owner: 'a' }), 5, 6);
        await assertStale(put(store, key, { v: 'lost' }, { token: 6, owner: 'a' }), 6, 6);
        await assertStale(put(store, key, { v: 'lost' }, { token: 1, owner: 'b' }, { ifVersion: 2 }), 1, 6);
        assert.deepEqual(await store.get(key), before);
        // The rejected tokens were not recorded either: the holder of 6 still writes.
        const after = await store.put(key, { v: 'next' }, { token: 6, owner: 'b' });
        assert.equal(after.version, 3);
      }),
    },
    {
      name: 'ifVersion 0 creates a missing record and conflicts with an existing one',
      run: withStore(async (store, key) => {
        const created = await store.put(key, 'x', { token: 1, owner: 'a' }, { ifVersion: 0 });
        assert.equal(created.version, 1);
        await assertVersionConflict(put(store, key, 'y', { token: 2, owner: 'a' }, { ifVersion: 0 }));
        assert.deepEqual(await store.get(key), created, 'a conflicting write changes nothing');
      }),
    },
    {
      name: 'ifVersion accepts a matching version and rejects another',
      run: withStore(async (store, key) => {
        await store.put(key, 'x', { token: 1, owner: 'a' });
        await assertVersionConflict(put(store, key, 'y', { token: 3, owner: 'a' }, { ifVersion: 2 }));
        const record = await store.put(key, 'y', { token: 1, owner: 'a' }, { ifVersion: 1 });
        assert.deepEqual(record, { value: 'y', token: 1, owner: 'a', version: 2 });
        // The conflicting write did not record its token 3, so token 2 is still current enough.
        await store.put(key, 'z', { token: 2, owner: 'a' }, { ifVersion: 2 });
      }),
    },
    {
      name: 'reports a stale token rather than a version conflict when both apply',
      run: withStore(async (store, key) => {
        await store.put(key, 'x', { token: 5, owner: 'a' });
        await assertStale(put(store, key, 'y', { token: 3, owner: 'b' }, { ifVersion: 9 }), 3, 5);
      }),
    },
    {
      name: 'concurrent writers with interleaved tokens: accepted tokens never go down',
      timeoutMs: 10_000,
      run: withStore(async (store, key) => {
        const max = 30;
        const fences: Fence[] = Array.from({ length: max }, (_, i) => ({ token: i + 1, owner: `w${i + 1}` }));
        // Equal tokens from rival owners (not the maximum, so the winner of `max` is unique).
        for (let t = 3; t < max; t += 4) fences.push({ token: t, owner: `rival${t}` });
        const accepted: FencedRecord<unknown>[] = [];
        let rejected = 0;
        await Promise.all(
          shuffled(fences).map(async (fence) => {
            try {
              accepted.push(await store.put(key, { by: fence.owner }, fence));
            } catch (error) {
              assert.ok(isStaleTokenError(error), `only stale writes may fail, got ${String(error)}`);
              rejected += 1;
            }
          }),
        );
        assert.equal(accepted.length + rejected, fences.length);
        // Versions number the accepted writes in the order the store applied them.
        accepted.sort((a, b) => a.version - b.version);
        accepted.forEach((record, i) => {
          assert.equal(record.version, i + 1, 'versions are 1..n without gaps');
          const previous = accepted[i - 1];
          if (previous !== undefined) {
            assert.ok(record.token >= previous.token, `token ${record.token} accepted after ${previous.token}`);
            if (record.token === previous.token) assert.equal(record.owner, previous.owner, 'equal token, same owner');
          }
        });
        const final = await store.get(key);
        assert.equal(final?.token, max, 'the highest token wins');
        assert.deepEqual(final?.value, { by: `w${max}` });
        assert.equal(final?.version, accepted.length);
      }),
    },
    {
      name: 'updateFenced counts each of 10 concurrent increments exactly once',
      timeoutMs: 10_000,
      run: withStore(async (store, key) => {
        const fence: Fence = { token: 1, owner: 'updater' };
        const increment = (current: unknown): number => (typeof current === 'number' ? current : 0) + 1;
        // N contending updaters need at most N attempts each: every failed attempt is another's success.
        await Promise.all(
          Array.from({ length: 10 }, () => updateFenced(store, key, fence, increment, { maxAttempts: 10 })),
        );
        const final = await store.get(key);
        assert.equal(final?.value, 10);
        assert.equal(final?.version, 10);
      }),
    },
    {
      name: 'updateFenced rethrows a stale token without retrying',
      run: withStore(async (store, key) => {
        await store.put(key, 0, { token: 9, owner: 'new' });
        let calls = 0;
        const fence: Fence = { token: 2, owner: 'old' };
        const promise = updateFenced(store, key, fence, () => {
          calls += 1;
          return 1;
        });
        await assertStale({ call: describeCall('updateFenced', key, fence), promise }, 2, 9);
        assert.equal(calls, 1, 'computed once');
      }),
    },
    {
      name: 'values round-trip',
      run: withStore(async (store, key) => {
        const values: readonly unknown[] = [
          { a: 1, nested: { list: [1, 'two', { three: 3 }], flag: true, none: null } },
          [1, 2, [3, 4], { five: 5 }],
          [],
          {},
          'text with "quotes", ünïcödé and 🔑',
          '',
          0,
          -12.5,
          Number.MAX_SAFE_INTEGER,
          true,
          false,
          null,
        ];
        for (const [i, value] of values.entries()) {
          const k = `${key}-${i}`;
          const record = await store.put(k, value, { token: 1, owner: 'a' });
          assert.deepEqual(record.value, value, `put returns value ${i}`);
          assert.deepEqual((await store.get(k))?.value, value, `get returns value ${i}`);
        }
      }),
    },
    {
      name: 'keys with special characters are distinct',
      run: withStore(async (store, key) => {
        const keys = [key, `{${key}}`, `${key}*`, `${key} space`, `${key}-ключ-🔑`, `${key}"'`, `${key}:x`];
        for (const [i, k] of keys.entries()) await store.put(k, i, { token: 10 - i, owner: 'a' });
        for (const [i, k] of keys.entries()) {
          assert.deepEqual(await store.get(k), { value: i, token: 10 - i, owner: 'a', version: 1 }, JSON.stringify(k));
        }
      }),
    },
  ];
  return cases;
}
