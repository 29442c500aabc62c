import assert from 'node:assert/strict';
import type { FencingTokenSource } from '../locks/types.js';
import { uniqueName, type ContractCase } from './contract.js';

/** Options of {@link tokenSourceContract}. */
export interface TokenSourceContractOptions {
  /** Called after each case with the source it used (e.g. to close a client). */
  readonly cleanup?: (source: FencingTokenSource) => Promise<void>;
}

function assertToken(token: number): void {
  assert.ok(Number.isSafeInteger(token) && token > 0, `token ${token} is a positive safe integer`);
}

/**
 * The behaviour of a {@link FencingTokenSource}: positive safe-integer tokens, strictly increasing
 * per key in the order calls resolve when awaited one by one, distinct under concurrency, and keys
 * independent of each other — a counter per key, so that tokens minted on other keys (including
 * names that differ only by Redis Cluster hash-tag braces) never advance a key by more than its own
 * step. Every case uses fresh keys.
 *
 * ```ts
 * registerContract('my token source', tokenSourceContract(() => mySource()), { describe, it });
 * ```
 */
export function tokenSourceContract(
  factory: () => FencingTokenSource | Promise<FencingTokenSource>,
  options: TokenSourceContractOptions = {},
): ContractCase[] {
  const withSource = (run: (source: FencingTokenSource, key: string) => Promise<void>) => async (): Promise<void> => {
    const source = await factory();
    try {
      await run(source, uniqueName('tokens'));
    } finally {
      await options.cleanup?.(source);
    }
  };

  const cases: ContractCase[] = [
    {
      name: 'tokens are positive safe integers, strictly increasing when awaited in turn',
      run: withSource(async (source, key) => {
        let previous = 0;
        for (let i = 0; i < 20; i++) {
          const token = await source.nextToken(key);
          assertToken(token);
          assert.ok(token > previous, `token ${token} > ${previous}`);
          previous = token;
        }
      }),
    },
    {
      name: '100 concurrent calls on one key get 100 distinct tokens, all below the next one',
      run: withSource(async (source, key) => {
        const tokens = await Promise.all(Array.from({ length: 100 }, () => source.nextToken(key)));
        tokens.forEach(assertToken);
        assert.equal(new Set(tokens).size, 100, 'distinct');
        const after = await source.nextToken(key);
        assert.ok(after > Math.max(...tokens), `token ${after} minted afterwards is the highest`);
      }),
    },
    {
      name: 'keys are independent: minting on other keys does not advance a key',
      run: withSource(async (source, key) => {
        // Names a shared counter, or a hash tag handled wrongly, would fold into one.
        const keys = [key, `${key}-other`, `{${key}}`, `${key}}`];
        for (const [i, k] of keys.entries()) {
          const others = keys.filter((o) => o !== k);
          // The key's own step, minted alone.
          let previous = await source.nextToken(k);
          assertToken(previous);
          let step = 0;
          for (let j = 0; j < 3; j++) {
            const token = await source.nextToken(k);
            assertToken(token);
            assert.ok(token > previous, `key ${i}: token ${token} > ${previous}`);
            step = Math.max(step, token - previous);
            previous = token;
          }
          for (const other of others) for (let j = 0; j < 5; j++) assertToken(await source.nextToken(other));
          const after = await source.nextToken(k);
          assert.ok(after > previous, `key ${i}: token ${after} > ${previous}`);
          assert.ok(
            after - previous <= step,
            `key ${i}: ${others.length * 5} tokens minted on other keys advanced this key by ${after - previous}, ` +
              `more than its own step (${step}): keys share a counter`,
          );
        }
      }),
    },
  ];
  return cases;
}
