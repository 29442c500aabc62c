import { randomBytes } from 'node:crypto';

/**
 * One case of a contract suite: a named async check that throws (an `AssertionError` from
 * `node:assert/strict`) when the adapter breaks the contract. Cases are independent of any test
 * runner; {@link registerContract} hands them to one.
 */
export interface ContractCase {
  /** Test name, unique within its suite. */
  readonly name: string;
  /** Time the case may take, in milliseconds; the runner's default when absent. */
  readonly timeoutMs?: number;
  /** Runs the case; rejects when the contract is broken. */
  run(): Promise<void>;
}

/**
 * The two functions of a test runner that {@link registerContract} needs. Vitest's and Jest's
 * `describe` and `it` fit as they are; Mocha's too (the timeout is then ignored). For `node:test`,
 * whose `it` takes options before the function, adapt `it`:
 *
 * ```ts
 * import { describe, it } from 'node:test';
 * const registrar = { describe, it: (name, fn, timeout) => it(name, { timeout }, fn) };
 * ```
 */
export interface TestRegistrar {
  /** Declares a group of tests, registered synchronously by `fn`. */
  describe(name: string, fn: () => void): void;
  /** Declares one test; `timeoutMs` is passed only when the case sets one. */
  it(name: string, fn: () => Promise<void>, timeoutMs?: number): void;
}

/**
 * Register `cases` as one group named `suiteName` with a test runner.
 *
 * @example
 * ```ts
 * import { describe, it } from 'vitest';
 * registerContract('my lock', lockContract(() => new MyLock()), { describe, it });
 * ```
 * @throws Error when two cases share a name, which runners would report confusingly.
 */
export function registerContract(suiteName: string, cases: readonly ContractCase[], registrar: TestRegistrar): void {
  const names = new Set<string>();
  for (const c of cases) {
    if (names.has(c.name)) throw new Error(`Contract suite ${JSON.stringify(suiteName)} has two cases named ${JSON.stringify(c.name)}`);
    names.add(c.name);
  }
  registrar.describe(suiteName, () => {
    for (const c of cases) {
      const run = (): Promise<void> => c.run();
      // Some runners read a third argument of undefined as options; pass it only when set.
      if (c.timeoutMs === undefined) registrar.it(c.name, run);
      else registrar.it(c.name, run, c.timeoutMs);
    }
  });
}

/**
 * A fresh name for a key, topic or owner, so tests sharing a real broker or store never see each
 * other's state: `${prefix}-${12 random hex digits}`.
 * @param prefix @default 'test'
 */
export function uniqueName(prefix = 'test'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

/** @internal Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
