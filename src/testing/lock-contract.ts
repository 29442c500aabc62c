import assert from 'node:assert/strict';
import type { Lease, Lock } from '../locks/types.js';
import { describeCall, expectResult } from './calls.js';
import { sleep, uniqueName, type ContractCase } from './contract.js';

/** Options of {@link lockContract}. */
export interface LockContractOptions {
  /**
   * Lease TTL the cases use, in milliseconds. Cases that wait for expiry sleep about 1.5× this, so
   * keep it short, but well above the store's round trip.
   * @default 200
   */
  readonly ttlMs?: number;
  /** Called after each case with the lock it used (e.g. to close a client). */
  readonly cleanup?: (lock: Lock) => Promise<void>;
}

/** Keys that break adapters which build store keys or patterns carelessly. */
const SPECIAL_KEYS: readonly string[] = [
  '{tag}',
  '{',
  '}',
  'with space',
  'ключ-🔑-鍵',
  `quote"d'`,
  '*',
  'a?b[c]',
  'colon:sep',
  '\\back\\slash',
];

/**
 * The behaviour the engine relies on from any {@link Lock}: one holder per key, fencing tokens that
 * strictly increase per key, owner-and-token checks on extend and release, expiry after the TTL,
 * independence of keys, exactly one winner under concurrency, and keys with special characters.
 * Every case uses fresh key names, so a shared store (a real Redis) is fine. Run it on your adapter:
 *
 * ```ts
 * registerContract('my lock', lockContract(() => myLock(), { ttlMs: 300 }), { describe, it });
 * ```
 */
export function lockContract(
  factory: () => Lock | Promise<Lock>,
  options: LockContractOptions = {},
): ContractCase[] {
  const ttl = options.ttlMs ?? 200;
  if (!Number.isFinite(ttl) || ttl <= 0) throw new RangeError(`Expected \`ttlMs\` to be a positive number, got ${ttl}`);
  const timeoutMs = Math.max(5_000, ttl * 20);
  // Long enough past the TTL that a timer firing a little early or a store expiring a little late
  // cannot make a case flaky.
  const pastTtl = Math.ceil(ttl * 1.5) + 20;

  const withLock = (run: (lock: Lock, key: string) => Promise<void>) => async (): Promise<void> => {
    const lock = await factory();
    try {
      await run(lock, uniqueName('lock'));
    } finally {
      await options.cleanup?.(lock);
    }
  };

  const acquire = async (lock: Lock, key: string, owner: string, ttlMs = ttl): Promise<Lease> => {
    const lease = await lock.tryAcquire(key, owner, ttlMs);
    assert.ok(lease !== undefined, `${describeCall('tryAcquire', key, { owner }, `ttlMs ${ttlMs}`)} returned undefined, expected a lease`);
    return lease;
  };
  const refused = async (lock: Lock, key: string, owner: string, why: string): Promise<void> =>
    expectResult(describeCall('tryAcquire', key, { owner }, `ttlMs ${ttl}`), await lock.tryAcquire(key, owner, ttl), undefined, why);
  const release = async (lock: Lock, lease: Lease, expected: boolean, why: string): Promise<void> =>
    expectResult(describeCall('release', lease.key, lease), await lock.release(lease), expected, why);
  const extend = async (lock: Lock, lease: Lease, ttlMs: number, expected: boolean, why: string): Promise<void> =>
    expectResult(describeCall('extend', lease.key, lease, `ttlMs ${ttlMs}`), await lock.extend(lease, ttlMs), expected, why);

  const cases: ContractCase[] = [
    {
      name: 'grants a free key with a positive safe-integer token',
      timeoutMs,
      run: withLock(async (lock, key) => {
        const lease = await acquire(lock, key, 'a');
        assert.equal(lease.key, key);
        assert.equal(lease.owner, 'a');
        assert.equal(lease.ttlMs, ttl);
        assert.ok(Number.isSafeInteger(lease.token) && lease.token > 0, `token ${lease.token} is a positive safe integer`);
      }),
    },
    {
      name: 'refuses another owner while the lease is held',
      timeoutMs,
      run: withLock(async (lock, key) => {
        await acquire(lock, key, 'a', ttl * 10);
        await refused(lock, key, 'b', 'another lease holds the key');
      }),
    },
    {
      name: 'refuses the holder itself while it holds the key (no re-entrance)',
      timeoutMs,
      run: withLock(async (lock, key) => {
        const lease = await acquire(lock, key, 'a', ttl * 10);
        await refused(lock, key, 'a', 'no re-entrance: the same owner holds the key');
        await release(lock, lease, true, 'the original lease is still held');
      }),
    },
    {
      name: 'tokens strictly increase across acquire and release cycles and owners',
      timeoutMs,
      run: withLock(async (lock, key) => {
        let previous = 0;
        for (let i = 0; i < 6; i++) {
          const lease = await acquire(lock, key, i % 2 === 0 ? 'a' : 'b');
          assert.ok(lease.token > previous, `token ${lease.token} > ${previous}`);
          previous = lease.token;
          await release(lock, lease, true, 'the holder releases');
        }
      }),
    },
    {
      name: 'release by a wrong owner or token returns false and leaves the lease',
      timeoutMs,
      run: withLock(async (lock, key) => {
        const lease = await acquire(lock, key, 'a', ttl * 10);
        await release(lock, { ...lease, owner: 'b' }, false, 'wrong owner');
        await release(lock, { ...lease, token: lease.token + 1 }, false, 'newer token');
        await release(lock, { ...lease, token: lease.token - 1 }, false, 'older token');
        await refused(lock, key, 'b', 'still held after failed releases');
        await release(lock, lease, true, 'the holder releases');
        const next = await acquire(lock, key, 'b');
        assert.ok(next.token > lease.token);
      }),
    },
    {
      name: 'extend by a wrong owner or token returns false',
      timeoutMs,
      run: withLock(async (lock, key) => {
        const lease = await acquire(lock, key, 'a', ttl * 10);
        await extend(lock, { ...lease, owner: 'b' }, ttl * 10, false, 'wrong owner');
        await extend(lock, { ...lease, token: lease.token + 1 }, ttl * 10, false, 'newer token');
        await extend(lock, { ...lease, token: lease.token - 1 }, ttl * 10, false, 'older token');
        await extend(lock, lease, ttl * 10, true, 'the holder extends');
      }),
    },
    {
      name: 'extend by the holder keeps the lease past its original TTL',
      timeoutMs,
      run: withLock(async (lock, key) => {
        const lease = await acquire(lock, key, 'a');
        await sleep(ttl / 2);
        await extend(lock, lease, ttl * 4, true, 'the holder extends');
        await sleep(ttl);
        // 1.5 TTL after acquiring; the extension runs to 4.5 TTL.
        await refused(lock, key, 'b', 'still held after the original TTL');
        await extend(lock, lease, ttl, true, 'still extendable');
        await release(lock, lease, true, 'the holder releases');
      }),
    },
    {
      name: 'extend and release after expiry return false',
      timeoutMs,
      run: withLock(async (lock, key) => {
        const lease = await acquire(lock, key, 'a');
        await sleep(pastTtl);
        await extend(lock, lease, ttl, false, 'extend after expiry');
        await release(lock, lease, false, 'release after expiry');
      }),
    },
    {
      name: 'after expiry another owner acquires with a higher token',
      timeoutMs,
      run: withLock(async (lock, key) => {
        const first = await acquire(lock, key, 'a');
        await sleep(pastTtl);
        const second = await acquire(lock, key, 'b');
        assert.ok(second.token > first.token, `token ${second.token} > ${first.token}`);
        await extend(lock, first, ttl, false, 'the expired holder cannot extend');
        await release(lock, first, false, 'the expired holder cannot release');
        await refused(lock, key, 'a', 'the new lease stands');
      }),
    },
    {
      name: 'keys are independent',
      timeoutMs,
      run: withLock(async (lock, key) => {
        const other = `${key}-other`;
        const a = await acquire(lock, key, 'a', ttl * 10);
        const b = await acquire(lock, other, 'b', ttl * 10);
        await release(lock, { ...a, key: other }, false, "a's lease does not release another key");
        await release(lock, a, true, 'the holder releases');
        await refused(lock, other, 'c', 'releasing one key leaves the other held');
        await release(lock, b, true, 'the holder releases');
      }),
    },
    {
      name: 'grants exactly one of 50 concurrent attempts on one key',
      timeoutMs,
      run: withLock(async (lock, key) => {
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) => lock.tryAcquire(key, `owner-${i}`, ttl * 10)),
        );
        const granted = results.filter((lease): lease is Lease => lease !== undefined);
        assert.equal(granted.length, 1, `${granted.length} of 50 attempts granted`);
        await release(lock, granted[0] as Lease, true, 'the holder releases');
      }),
    },
    {
      name: 'keys with special characters work and stay distinct',
      timeoutMs,
      run: withLock(async (lock, key) => {
        // Adapters that wrap keys in hash tags or patterns must not merge `x` with `{x}` or `x*`.
        const keys = [...SPECIAL_KEYS.map((special) => `${key}${special}`), `{${key}}`, key];
        const leases: Lease[] = [];
        for (const k of keys) leases.push(await acquire(lock, k, 'a', ttl * 10));
        for (const k of keys) await refused(lock, k, 'b', `${JSON.stringify(k)} is held`);
        for (const lease of leases) {
          await extend(lock, lease, ttl * 10, true, `extend ${JSON.stringify(lease.key)}`);
          await release(lock, lease, true, `release ${JSON.stringify(lease.key)}`);
        }
        for (const k of keys) {
          const again = await acquire(lock, k, 'b');
          await release(lock, again, true, 'the holder releases');
        }
      }),
    },
  ];
  return cases;
}
