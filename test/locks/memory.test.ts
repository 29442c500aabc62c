import { describe, expect, it } from 'vitest';
import { MemoryLock } from '../../src/locks/memory.js';
import { lockContract } from '../../src/testing/lock-contract.js';
import { registerContract } from '../../src/testing/contract.js';
import { tokenSourceContract } from '../../src/testing/token-source-contract.js';
import { sleep } from '../helpers/index.js';

registerContract('MemoryLock: lock contract', lockContract(() => new MemoryLock()), { describe, it });
registerContract('MemoryLock: token source contract', tokenSourceContract(() => new MemoryLock()), { describe, it });

describe('MemoryLock', () => {
  it('is named memory', () => {
    expect(new MemoryLock().name).toBe('memory');
  });

  it('expire() lets another owner in with a higher token and disarms the old lease', async () => {
    const lock = new MemoryLock();
    const a = await lock.tryAcquire('k', 'a', 60_000);
    expect(a).toBeDefined();
    expect(lock.expire('k')).toBe(true);
    expect(lock.expire('k')).toBe(false);
    const b = await lock.tryAcquire('k', 'b', 60_000);
    expect(b?.token).toBeGreaterThan(a?.token ?? Infinity);
    expect(await lock.extend(a!, 60_000)).toBe(false);
    expect(await lock.release(a!)).toBe(false);
    expect(await lock.release(b!)).toBe(true);
  });

  it('expire() of a free key is a no-op', () => {
    const lock = new MemoryLock();
    expect(lock.expire('nobody')).toBe(false);
    expect(lock.leaseCount).toBe(0);
  });

  it('does not re-grant a held key to its own owner, but does once it expired', async () => {
    const lock = new MemoryLock();
    const first = await lock.tryAcquire('k', 'a', 50);
    expect(await lock.tryAcquire('k', 'a', 50)).toBeUndefined();
    await sleep(70);
    const second = await lock.tryAcquire('k', 'a', 50);
    expect(second?.token).toBe((first?.token ?? 0) + 1);
    // The old lease of the same owner cannot touch the new one: the token differs.
    expect(await lock.release(first!)).toBe(false);
    expect(await lock.release(second!)).toBe(true);
  });

  it('shares one counter between leases and nextToken', async () => {
    const lock = new MemoryLock();
    const seen: number[] = [];
    for (let i = 0; i < 10; i++) {
      seen.push(await lock.nextToken('k'));
      const lease = await lock.tryAcquire('k', `o${i}`, 1000);
      seen.push(lease!.token);
      seen.push(await lock.nextToken('k'));
      await lock.release(lease!);
    }
    expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });

  it('nextToken does not disturb a held lease', async () => {
    const lock = new MemoryLock();
    const lease = await lock.tryAcquire('k', 'a', 1000);
    expect(await lock.nextToken('k')).toBe(lease!.token + 1);
    expect(await lock.extend(lease!, 1000)).toBe(true);
    expect(await lock.release(lease!)).toBe(true);
  });

  it('keeps no lease entries after 10k keys were acquired and released; keeps their fences', async () => {
    const lock = new MemoryLock();
    for (let i = 0; i < 10_000; i++) {
      const lease = await lock.tryAcquire(`k${i}`, 'a', 1000);
      expect(await lock.release(lease!)).toBe(true);
    }
    expect(lock.leaseCount).toBe(0);
    expect(lock.fenceCount).toBe(10_000);
    // Fences outlive leases: the next lease on a key gets token 2, never 1 again.
    expect((await lock.tryAcquire('k0', 'b', 1000))?.token).toBe(2);
  });

  it('sweeps expired leases that were never released nor touched again', async () => {
    const lock = new MemoryLock();
    for (let i = 0; i < 5000; i++) await lock.tryAcquire(`old${i}`, 'a', 1);
    await sleep(10);
    for (let i = 0; i < 5000; i++) await lock.tryAcquire(`new${i}`, 'a', 60_000);
    expect(lock.leaseCount).toBe(5000);
  });

  it('computes expiry on the monotonic clock, not the wall clock', async () => {
    const lock = new MemoryLock();
    const realNow = Date.now;
    try {
      const lease = await lock.tryAcquire('k', 'a', 1000);
      Date.now = () => realNow() + 3_600_000;
      expect(await lock.tryAcquire('k', 'b', 1000)).toBeUndefined();
      expect(await lock.extend(lease!, 1000)).toBe(true);
    } finally {
      Date.now = realNow;
    }
  });

  it('rejects a TTL that is not a positive finite number', async () => {
    const lock = new MemoryLock();
    for (const ttl of [0, -1, Number.NaN, Infinity]) {
      await expect(lock.tryAcquire('k', 'a', ttl)).rejects.toThrow(RangeError);
    }
    const lease = await lock.tryAcquire('k', 'a', 1000);
    await expect(lock.extend(lease!, 0)).rejects.toThrow(RangeError);
    expect(lock.fenceCount).toBe(1);
  });

  it('returns frozen leases', async () => {
    const lease = await new MemoryLock().tryAcquire('k', 'a', 1000);
    expect(Object.isFrozen(lease)).toBe(true);
  });
});
