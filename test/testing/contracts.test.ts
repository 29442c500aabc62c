/**
 * The exported contract suites fail on adapters that break them: each case is run on a planted
 * broken adapter and must reject, naming what is wrong.
 */
import { describe, expect, it } from 'vitest';
import {
  MemoryFencedStore,
  MemoryLock,
  MemoryOutbox,
  StaleTokenError,
  isStaleTokenError,
  type CommitOptions,
  type CommitResult,
  type CounterStore,
  type EffectInput,
  type Fence,
  type FencedRecord,
  type FencingTokenSource,
  type PutOptions,
} from '../../src/index.js';
import type { Lease } from '../../src/adapters.js';
import {
  counterStoreContract,
  fencedStoreContract,
  lockContract,
  outboxContract,
  tokenSourceContract,
  type ContractCase,
} from '../../src/testing/index.js';

function caseNamed(name: RegExp, source: () => FencingTokenSource) {
  const found = tokenSourceContract(source).find((c) => name.test(c.name));
  if (found === undefined) throw new Error(`no case matches ${String(name)}`);
  return found;
}

describe('tokenSourceContract on broken sources', () => {
  it('rejects a source whose keys share one counter', async () => {
    let shared = 0;
    const source: FencingTokenSource = { nextToken: async () => ++shared };
    await expect(caseNamed(/keys are independent/, () => source).run()).rejects.toThrow(/keys share a counter/);
  });

  it('rejects a source that folds a hash-tagged name into the plain one', async () => {
    const counters = new Map<string, number>();
    const source: FencingTokenSource = {
      nextToken: async (key) => {
        const slot = key.replace(/[{}]/g, '');
        const next = (counters.get(slot) ?? 0) + 1;
        counters.set(slot, next);
        return next;
      },
    };
    await expect(caseNamed(/keys are independent/, () => source).run()).rejects.toThrow(/keys share a counter/);
  });

  it('accepts a counter per key, whatever its step', async () => {
    const counters = new Map<string, number>();
    const source: FencingTokenSource = {
      nextToken: async (key) => {
        const next = (counters.get(key) ?? 1000) + 7;
        counters.set(key, next);
        return next;
      },
    };
    for (const c of tokenSourceContract(() => source)) await c.run();
  });
});

describe('contract failures name the operation, the key, the token and the owner', () => {
  const run = async (cases: readonly ContractCase[], name: RegExp): Promise<string> => {
    const found = cases.find((c) => name.test(c.name));
    if (found === undefined) throw new Error(`no case matches ${String(name)}`);
    const error = await found.run().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Error);
    return (error as Error).message;
  };

  it('a fenced store that accepts stale writes: the put that should have been rejected', async () => {
    class AcceptsStale extends MemoryFencedStore<unknown> {
      override async put(key: string, value: unknown, fence: Fence, options?: PutOptions): Promise<FencedRecord<unknown>> {
        const current = await this.get(key);
        return current === undefined ? super.put(key, value, fence, options) : { value, ...fence, version: current.version + 1 };
      }
    }
    const message = await run(fencedStoreContract(() => new AcceptsStale()), /rejects a lower token/);
    expect(message).toMatch(
      /^put\("fenced-[0-9a-f]+", token 3, owner "a"\) resolved \(.*\), expected it to reject with a StaleTokenError \(token 3, currentToken 5\)$/,
    );
    expect(message).not.toMatch(/Missing expected rejection/);
  });

  it('a fenced store that rejects with the wrong tokens: which call, which field', async () => {
    class WrongTokens extends MemoryFencedStore<unknown> {
      override async put(key: string, value: unknown, fence: Fence, options?: PutOptions): Promise<FencedRecord<unknown>> {
        return super.put(key, value, fence, options).catch((error: unknown) => {
          throw isStaleTokenError(error) ? new StaleTokenError(key, fence.token, 0) : error;
        });
      }
    }
    const message = await run(fencedStoreContract(() => new WrongTokens()), /rejects an equal token from another owner/);
    expect(message).toMatch(/^put\("fenced-[0-9a-f]+", token 4, owner "b"\) rejected as expected, with StaleTokenError: .*, but error\.currentToken/);
  });

  it('a lock that lets anyone release: the release, its token and its owner', async () => {
    class ReleasesForAnyone extends MemoryLock {
      override async release(lease: Lease): Promise<boolean> {
        await super.release({ ...lease, owner: 'a' });
        return true;
      }
    }
    const message = await run(lockContract(() => new ReleasesForAnyone(), { ttlMs: 50 }), /release by a wrong owner/);
    expect(message).toMatch(/^release\("lock-[0-9a-f]+", token \d+, owner "b"\) returned true, expected false: wrong owner$/);
  });

  it('an outbox that accepts stale commits: the commit, its token and its owner', async () => {
    class AcceptsStale extends MemoryOutbox<unknown, unknown> {
      override async commit(
        key: string,
        value: unknown,
        fence: Fence,
        effects: readonly EffectInput<unknown>[],
        options?: CommitOptions,
      ): Promise<CommitResult<unknown>> {
        const current = await this.get(key);
        return super.commit(key, value, current === undefined ? fence : { token: current.token, owner: current.owner }, effects, options);
      }
    }
    const message = await run(outboxContract(() => new AcceptsStale()), /a stale commit is rejected whole/);
    expect(message).toMatch(/^commit\("outbox-[0-9a-f]+", token 3, owner "a", 1 effect\) resolved .*, expected it to reject with a StaleTokenError \(token 3, currentToken 5\)$/);
  });

  it('a counter store that never counts: the increment and its holder', async () => {
    const none = { overlaps: 0, concurrent: 0, forgotten: false };
    const store: CounterStore = { name: 'never-counts', ttlMs: 300, increment: async () => 0, renew: async () => none, decrement: async () => none };
    const message = await run(counterStoreContract(() => store), /increment returns 0 for the first run/);
    expect(message).toMatch(/^increment\("counter-[0-9a-f]+", holder "h2"\) returned 0, expected 1: 1 other run counted on the key$/);
  });

  it('a counter store that never collects: the call, its holder and what it returned', async () => {
    const none = { overlaps: 0, concurrent: 0, forgotten: false };
    const counted = new Map<string, Set<string>>();
    const store: CounterStore = {
      name: 'never-collects',
      ttlMs: 300,
      increment: async (key, holder) => {
        const holders = counted.get(key) ?? new Set<string>();
        counted.set(key, holders);
        const others = holders.size;
        holders.add(holder);
        return others;
      },
      renew: async () => none,
      decrement: async (key, holder) => {
        counted.get(key)?.delete(holder);
        return none;
      },
    };
    const message = await run(counterStoreContract(() => store), /an overlap is collected once/);
    expect(message).toMatch(/^decrement\("counter-[0-9a-f]+", holder "second"\) returned \{"overlaps":0,"concurrent":0,"forgotten":false\}, expected \{"overlaps":1,"concurrent":3,"forgotten":false\}: its overlaps/);
  });
});
