import type { Claim } from './claim.js';
import { KeyState } from './key-state.js';

/** Idle key states kept for reuse by one consumer. */
const POOL_SIZE = 1024;

/**
 * @internal The states of the keys a consumer has work for. Most keys hold one event: recycling
 * their states saves an allocation per event.
 */
export class KeyTable<T> {
  readonly #keys = new Map<string, KeyState<T>>();
  readonly #pool: KeyState<T>[] = [];
  readonly #newClaim: () => Claim | undefined;

  constructor(newClaim: () => Claim | undefined) {
    this.#newClaim = newClaim;
  }

  get size(): number {
    return this.#keys.size;
  }

  get(key: string): KeyState<T> | undefined {
    return this.#keys.get(key);
  }

  /** A fresh state for `key`, which must have none. */
  open(key: string): KeyState<T> {
    const recycled = this.#pool.pop();
    const ks = recycled ?? new KeyState<T>(key, this.#newClaim());
    ks.key = key;
    this.#keys.set(key, ks);
    return ks;
  }

  /** Forget `ks`, whose claim was reset; keep it for reuse if nothing refers to it any more. */
  close(ks: KeyState<T>): void {
    if (this.#keys.get(ks.key) !== ks) return;
    this.#keys.delete(ks.key);
    if (this.#pool.length < POOL_SIZE && ks.size === 0 && ks.phase === 'idle') {
      ks.current = undefined;
      this.#pool.push(ks);
    }
  }

  values(): IterableIterator<KeyState<T>> {
    return this.#keys.values();
  }
}
