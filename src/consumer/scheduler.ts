import { Deque } from '../internal/deque.js';
import type { KeyState } from './key-state.js';

/** @internal What the scheduler drives. */
export interface SchedulerHost<T> {
  /** Run `ks`'s events; it holds a slot until it gives it back with {@link Scheduler.free}. */
  drive(ks: KeyState<T>): void;
  /** No slot is in use any more. */
  drained(): void;
}

/**
 * @internal Concurrency slots and the ready queue: up to `maxConcurrency` keys run at once, and the
 * others wait their turn in arrival order.
 */
export class Scheduler<T> {
  readonly #ready = new Deque<KeyState<T>>();
  readonly #max: number;
  readonly #host: SchedulerHost<T>;
  #active = 0;
  #pumping = false;

  constructor(maxConcurrency: number, host: SchedulerHost<T>) {
    this.#max = maxConcurrency;
    this.#host = host;
  }

  /** Keys holding a slot. */
  get active(): number {
    return this.#active;
  }

  /** Whether keys wait for a slot. */
  get contended(): boolean {
    return this.#ready.length > 0;
  }

  /** `ks` has work: drive it now if a slot is free, else queue it. */
  schedule(ks: KeyState<T>): void {
    if (this.#active < this.#max) {
      ks.phase = 'running';
      this.#active += 1;
      this.#host.drive(ks);
    } else {
      ks.phase = 'ready';
      this.#ready.push(ks);
    }
  }

  /** `ks` gives its slot up and goes to the back of the line: fairness across keys. */
  requeue(ks: KeyState<T>): void {
    ks.phase = 'ready';
    this.#ready.push(ks);
    this.free();
  }

  /** A key gave its slot back. */
  free(): void {
    this.#active -= 1;
    this.#pump();
    if (this.#active === 0) this.#host.drained();
  }

  /** Forget every queued key (the consumer stops); their phases are the caller's to reset. */
  clear(): void {
    this.#ready.clear();
  }

  /**
   * Hand free slots to queued keys. Not re-entrant: a key finishing synchronously inside the loop
   * frees its slot for this same loop, instead of recursing once per key.
   */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#active < this.#max) {
        const ks = this.#ready.shift();
        if (ks === undefined) break;
        ks.phase = 'running';
        this.#active += 1;
        this.#host.drive(ks);
      }
    } finally {
      this.#pumping = false;
    }
  }
}
