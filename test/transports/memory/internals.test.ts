import { describe, expect, it } from 'vitest';
import { Deque } from '../../../src/internal/deque.js';
import { HashRing, stickyKeyHash } from '../../../src/transports/memory/hash-ring.js';
import { murmur3, murmur3Bytes } from '../../../src/transports/memory/murmur3.js';

describe('murmur3', () => {
  it('matches the reference MurmurHash3 x86_32 vectors', () => {
    expect(murmur3('')).toBe(0);
    expect(murmur3('hello')).toBe(0x248bfa47);
    expect(murmur3('abc')).toBe(0xb3dd93fa);
    expect(murmur3('The quick brown fox jumps over the lazy dog')).toBe(0x2e4ff723);
    expect(murmur3('a', 0x9747b28c)).toBe(0x7fa09ea6);
  });

  it('hashes the UTF-8 bytes of non-ASCII text', () => {
    const textValue = 'héllo wörld ✓ 😀';
    expect(murmur3(textValue)).toBe(murmur3Bytes(new TextEncoder().encode(textValue)));
    expect(murmur3(textValue)).toBe(0x7ebd655c);
  });

  it('puts sticky-key hashes in [0, 65536) and gives key-less messages one hash', () => {
    for (let i = 0; i < 1000; i++) {
      const h = stickyKeyHash(`key-${i}`);
      expect(h).toBeGreaterThanOrEqual(0);
      expect(h).toBeLessThan(65536);
    }
    expect(stickyKeyHash(undefined)).toBe(stickyKeyHash(''));
  });
});

describe('Deque', () => {
  it('keeps FIFO order across growth and shrinking', () => {
    const deque = new Deque<number>();
    let next = 0;
    let expected = 0;
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 1000; i++) deque.push(next++);
      for (let i = 0; i < 700; i++) expect(deque.shift()).toBe(expected++);
      expect(deque.peek()).toBe(expected);
      expect(deque.get(1)).toBe(expected + 1);
      expect(deque.get(deque.length)).toBeUndefined();
    }
    while (deque.length > 0) expect(deque.shift()).toBe(expected++);
    expect(expected).toBe(next);
    expect(deque.shift()).toBeUndefined();
  });
});

describe('HashRing', () => {
  const consumers = (...names: string[]) => names.map((name) => ({ name }));

  it('moves only keys that go to a joining consumer', () => {
    const [a, b, c] = consumers('a', 'b', 'c') as [{ name: string }, { name: string }, { name: string }];
    const before = new HashRing([a, b], 100);
    const after = new HashRing([a, b, c], 100);
    let moved = 0;
    for (let i = 0; i < 5000; i++) {
      const hash = stickyKeyHash(`key-${i}`);
      const was = before.owner(hash);
      const now = after.owner(hash);
      if (was !== now) {
        expect(now).toBe(c);
        moved++;
      }
    }
    // Roughly a third of the keys, not all and not none.
    expect(moved).toBeGreaterThan(800);
    expect(moved).toBeLessThan(2500);
  });

  it('does not depend on the order consumers joined in', () => {
    const [a, b, c] = consumers('a', 'b', 'c') as [{ name: string }, { name: string }, { name: string }];
    const one = new HashRing([a, b, c], 50);
    const two = new HashRing([c, a, b], 50);
    for (let h = 0; h < 65536; h += 97) expect(one.owner(h)).toBe(two.owner(h));
    expect(new HashRing([], 10).owner(5)).toBeUndefined();
  });
});
