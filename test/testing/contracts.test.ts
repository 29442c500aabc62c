/**
 * The exported contract suites fail on adapters that break them: each case is run on a planted
 * broken adapter and must reject, naming what is wrong.
 */
import { describe, expect, it } from 'vitest';
import type { FencingTokenSource } from '../../src/index.js';
import { tokenSourceContract } from '../../src/testing/index.js';

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
