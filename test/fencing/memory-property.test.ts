import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isStaleTokenError, isVersionConflictError, type StaleTokenError } from '../../src/errors/index.js';
import { MemoryFencedStore } from '../../src/fencing/memory.js';
import type { FencedRecord } from '../../src/fencing/types.js';

interface Write {
  readonly key: string;
  readonly token: number;
  readonly owner: string;
  readonly ifVersion: number | undefined;
  readonly value: number;
}

type Outcome =
  | { readonly kind: 'accepted'; readonly record: FencedRecord<number> }
  | { readonly kind: 'stale'; readonly token: number; readonly currentToken: number }
  | { readonly kind: 'conflict' };

/** The rules of DESIGN.md §5, written as plainly as possible. */
class Model {
  readonly records = new Map<string, FencedRecord<number>>();
  rejected = 0;

  put(w: Write): Outcome {
    const current = this.records.get(w.key);
    if (current !== undefined) {
      const older = w.token < current.token;
      const rival = w.token === current.token && w.owner !== current.owner;
      if (older || rival) {
        this.rejected += 1;
        return { kind: 'stale', token: w.token, currentToken: current.token };
      }
    }
    const version = current === undefined ? 0 : current.version;
    if (w.ifVersion !== undefined && w.ifVersion !== version) return { kind: 'conflict' };
    const record = { value: w.value, token: w.token, owner: w.owner, version: version + 1 };
    this.records.set(w.key, record);
    return { kind: 'accepted', record };
  }
}

// Few keys, tokens and owners, so that equal tokens, rival owners and version hits are frequent.
const write: fc.Arbitrary<Write> = fc.record({
  key: fc.constantFrom('k1', 'k2', '{k1}'),
  token: fc.integer({ min: 1, max: 8 }),
  owner: fc.constantFrom('a', 'b', 'c'),
  ifVersion: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
  value: fc.integer(),
});

async function outcomeOf(promise: Promise<FencedRecord<number>>): Promise<Outcome> {
  try {
    return { kind: 'accepted', record: await promise };
  } catch (error) {
    if (isStaleTokenError(error)) {
      const stale = error as StaleTokenError;
      return { kind: 'stale', token: stale.token, currentToken: stale.currentToken };
    }
    if (isVersionConflictError(error)) return { kind: 'conflict' };
    throw error;
  }
}

describe('MemoryFencedStore against a reference model', () => {
  it('agrees with the model on every write and every read, in sequence', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(write, { maxLength: 60 }), async (writes) => {
        const store = new MemoryFencedStore<number>();
        const model = new Model();
        for (const w of writes) {
          const actual = await outcomeOf(store.put(w.key, w.value, { token: w.token, owner: w.owner }, { ifVersion: w.ifVersion }));
          expect(actual).toEqual(model.put(w));
          for (const key of ['k1', 'k2', '{k1}']) expect(await store.get(key)).toEqual(model.records.get(key));
        }
        expect(store.rejected).toBe(model.rejected);
      }),
      { numRuns: 300 },
    );
  });

  it('applies concurrent writes atomically in call order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(write, { maxLength: 60 }), async (writes) => {
        const store = new MemoryFencedStore<number>();
        const model = new Model();
        // Every put is started before any is awaited: a check-then-record split by an await would
        // let two writes pass the same check and diverge from the sequential model.
        const actual = await Promise.all(
          writes.map((w) => outcomeOf(store.put(w.key, w.value, { token: w.token, owner: w.owner }, { ifVersion: w.ifVersion }))),
        );
        expect(actual).toEqual(writes.map((w) => model.put(w)));
      }),
      { numRuns: 300 },
    );
  });

  it('never lets the stored token of a key go down', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(write, { maxLength: 80 }), async (writes) => {
        const store = new MemoryFencedStore<number>();
        const highest = new Map<string, number>();
        for (const w of writes) {
          await store.put(w.key, w.value, { token: w.token, owner: w.owner }).catch(() => undefined);
          const token = (await store.get(w.key))?.token ?? 0;
          expect(token).toBeGreaterThanOrEqual(highest.get(w.key) ?? 0);
          highest.set(w.key, token);
        }
      }),
      { numRuns: 200 },
    );
  });
});
