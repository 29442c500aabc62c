import type { Claim } from './claim.js';
import type { RunContext } from './context.js';
import type { Entry } from './entry.js';

/**
 * @internal Where a key stands. Only `running` holds a concurrency slot.
 *
 * - `idle`: no slot, nothing scheduled (a fresh or just-emptied state).
 * - `ready`: queued for a slot.
 * - `running`: holds a slot: runs its head event, obtains its claim, or dead-letters its head.
 * - `waiting`: gave its slot back until its timer fires (retry backoff, lease busy elsewhere), or,
 *   given back in a broker-routed mode, until its given-back messages return; its later events
 *   wait behind them.
 * - `lingering`: no events; keeps its lease until its timer fires, so a burst costs one acquire.
 */
export type KeyPhase = 'idle' | 'ready' | 'running' | 'waiting' | 'lingering';

/**
 * @internal Per-key state, alive only while the key has queued or running events (or a lingering
 * lease), so memory is bounded by what is in flight rather than by the number of keys ever seen.
 * The queue is a linked list: most keys hold one event, and an array per key would cost more than
 * the key.
 */
export class KeyState<T> {
  phase: KeyPhase = 'idle';
  first: Entry<T> | undefined = undefined;
  last: Entry<T> | undefined = undefined;
  size = 0;
  /** The run in progress, while `running` one. */
  current: RunContext<T> | undefined = undefined;
  /** Fires the end of `waiting` or `lingering`; set only in those phases. */
  timer: NodeJS.Timeout | undefined = undefined;
  /**
   * While `waiting` after the key was given back in a broker-routed mode: the ids of the messages
   * given back, whose redelivery the key's later events wait for.
   */
  awaiting: Set<string> | undefined = undefined;
  /** The last given-back message back in the queue: the next one goes after it. */
  #returned: Entry<T> | undefined = undefined;

  constructor(
    public key: string,
    /** What a run of the key must hold, in modes that need one. */
    readonly claim: Claim | undefined,
  ) {}

  push(entry: Entry<T>): void {
    if (this.last === undefined) this.first = entry;
    else this.last.next = entry;
    this.last = entry;
    this.size += 1;
  }

  /**
   * Queue a given-back message that came back: after those that came back before it, before the
   * later events that waited for it. Returns true when it was the last one awaited.
   */
  putBack(entry: Entry<T>): boolean {
    const after = this.#returned;
    if (after === undefined) {
      entry.next = this.first;
      this.first = entry;
    } else {
      entry.next = after.next;
      after.next = entry;
    }
    if (entry.next === undefined) this.last = entry;
    this.#returned = entry;
    this.size += 1;
    this.awaiting?.delete(entry.delivery.id);
    return this.awaiting?.size === 0;
  }

  shift(): void {
    const first = this.first;
    if (first === undefined) return;
    this.first = first.next;
    first.next = undefined;
    if (this.first === undefined) this.last = undefined;
    this.size -= 1;
  }

  /** Remove and return every entry but the first `keep` (the run in progress). */
  drain(keep: number): Entry<T>[] {
    let kept: Entry<T> | undefined;
    let count = 0;
    for (let e = this.first; e !== undefined && count < keep; e = e.next) {
      kept = e;
      count += 1;
    }
    const taken: Entry<T>[] = [];
    let entry = kept === undefined ? this.first : kept.next;
    while (entry !== undefined) {
      taken.push(entry);
      const next: Entry<T> | undefined = entry.next;
      entry.next = undefined;
      entry = next;
    }
    if (kept === undefined) {
      this.first = undefined;
      this.last = undefined;
    } else {
      kept.next = undefined;
      this.last = kept;
    }
    this.size = count;
    return taken;
  }

  /** Enter `waiting` or `lingering` until `fire` runs after `delayMs`. */
  sleep(phase: 'waiting' | 'lingering', delayMs: number, fire: () => void): void {
    this.phase = phase;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.#endWait();
      fire();
    }, delayMs);
  }

  /** Leave `waiting` or `lingering` early: the timer will not fire. */
  wake(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.#endWait();
  }

  #endWait(): void {
    this.phase = 'idle';
    this.awaiting = undefined;
    this.#returned = undefined;
  }
}
