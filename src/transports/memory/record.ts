import type { ConsumerState, MemoryDelivery } from './consumer.js';
import type { Cursor } from './cursor.js';

/** @internal Read by the cursor, waiting in its replay set (never delivered, or to be redelivered). */
export const WAITING = 0;
/** @internal Delivered to `holder` and not settled by it. */
export const DELIVERED = 1;
/** @internal Negatively acknowledged; back to `WAITING` when the nack delay has passed. */
export const NACKED = 2;
/** @internal Acknowledged by the subscription. Final. */
export const ACKED = 3;

/**
 * @internal What one subscription knows of one entry of its log it has read: its state, how often it was
 * redelivered, and who got it last. Lives from the read until the mark-delete position passes it.
 */
export class CursorRecord {
  state = WAITING;
  redeliveryCount = 0;
  /** The latest delivery made of this record (outstanding only while `state` is `DELIVERED`). */
  delivery: MemoryDelivery | null = null;
  /** The consumer of `delivery`. */
  holder: ConsumerState | null = null;
  /** `performance.now()` of the dispatch round that delivered it, for the ack timeout. */
  deliveredAt = 0;
  /** Counted in its cursor's draining hashes (Key_Shared: its hash stays with `holder`). */
  draining = false;

  constructor(
    readonly entryId: number,
    readonly cursor: Cursor,
  ) {}
}

/**
 * @internal Stands in the cursor's window for every entry acknowledged ahead of the mark-delete
 * position, so that an ack hole costs a pointer per entry instead of a record and its delivery.
 */
export const ACKED_MARKER: CursorRecord = (() => {
  const marker = new CursorRecord(-1, null as unknown as Cursor);
  marker.state = ACKED;
  return marker;
})();
