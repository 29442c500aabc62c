import { describe, expect, it } from 'vitest';
import { MemoryLock, type Lock } from '../../src/index.js';
import { holdLease } from '../../src/adapters.js';
import { sleep } from '../helpers/index.js';

describe('holdLease: remainingMs and renew', () => {
  it('remainingMs counts down on the monotonic clock, renew() starts it over, release() ends it', async () => {
    const held = await holdLease(new MemoryLock(), 'k', 'me', { ttlMs: 3000 });
    if (held === undefined) throw new Error('not granted');
    const fresh = held.remainingMs();
    expect(fresh).toBeLessThanOrEqual(3000);
    await sleep(60);
    const later = held.remainingMs();
    expect(later).toBeLessThan(fresh);
    expect(await held.renew()).toBe(true);
    expect(held.remainingMs()).toBeGreaterThan(later);
    await held.release();
    expect(held.remainingMs()).toBe(0);
    expect(await held.renew()).toBe(false);
  });

  it('renew() resolves false when the store stops answering and the lease runs out', async () => {
    const inner = new MemoryLock();
    const lock: Lock = { ...inner, name: 'mute', tryAcquire: (k, o, t) => inner.tryAcquire(k, o, t), release: (l) => inner.release(l), extend: () => new Promise<boolean>(() => undefined) };
    const held = await holdLease(lock, 'k', 'me', { ttlMs: 90 });
    if (held === undefined) throw new Error('not granted');
    expect(await held.renew()).toBe(false);
    expect(held.signal.aborted).toBe(true);
    expect(held.remainingMs()).toBe(0);
  });
});
