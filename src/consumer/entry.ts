import type { Delivery } from '../transports/types.js';

/** @internal One received message waiting for, or in, its key's handler; linked in its key's queue. */
export class Entry<T> {
  /** Handler runs of this delivery so far in this consumer. */
  attempt = 0;
  next: Entry<T> | undefined = undefined;
  constructor(
    readonly key: string,
    readonly delivery: Delivery,
    readonly event: T,
    /** The connection epoch it arrived in; a lost connection makes it void. */
    readonly epoch: number,
    /** `performance.now()` when its batch arrived. */
    readonly receivedAt: number,
  ) {}
}
