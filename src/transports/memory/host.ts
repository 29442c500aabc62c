import type { OutgoingMessage } from '../types.js';
import type { ConsumerState } from './consumer.js';
import type { Cursor } from './cursor.js';
import type { CursorRecord } from './record.js';

/** @internal What cursors, consumers and deliveries need from the broker that owns them. */
export interface BrokerHost {
  readonly hashRangePoints: number;
  readonly sharedRoundRobinBatchSize: number;
  readonly failoverDelayMs: number;
  /** Queue `cursor` for the next dispatch round (scheduling one if needed). */
  markDirty(cursor: Cursor): void;
  /** `consumer` received its first delivery of the current round. */
  enlist(consumer: ConsumerState): void;
  /** Publish synchronously (dead letters). Throws a `TransportError` once the broker is closed. */
  publish(topic: string, message: OutgoingMessage): string;
  /** Whether a fault loses this acknowledgement of `consumer` (it then never reaches the cursor). */
  loseAck(consumer: ConsumerState): boolean;
  /** Move `record` back to its cursor's replay set after `delayMs`. */
  scheduleNack(record: CursorRecord, delayMs: number): void;
}
