import type { Claim } from './claim.js';
import type { RunContext } from './context.js';
import type { Entry } from './entry.js';

/**
 * @internal Where a key stands. Only `running` holds a concurrency slot.
 *
 * - `idle`: no slot, nothing scheduled (a fresh or just-emptied state).
 * - `ready`: queued for a slot.
 * - `running`: holds a slot: runs its head event, obtains its claim, or dead-letters its head.
 * - `waiting`: gave its slot back until its timer fires (retry backoff, lease busy elsewhere); its
 *   later events wait behind the head.
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
      this.phase = 'idle';
      fire();
    }, delayMs);
  }

  /** Leave `waiting` or `lingering` early: the timer will not fire. */
  wake(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.phase = 'idle';
  }
}
