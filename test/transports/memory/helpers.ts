import { vi } from 'vitest';
import type { Delivery, SubscribeOptions, Subscription, Transport } from '../../../src/transports/types.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const bytes = (text: string): Uint8Array => encoder.encode(text);
export const text = (data: Uint8Array): string => decoder.decode(data);
import { rounds } from '../../helpers/index.js';
export { rounds, sleep, waitFor } from '../../helpers/index.js';

/** Everything one consumer received, plus its handle. */
export interface Inbox {
  readonly name: string;
  readonly deliveries: Delivery[];
  readonly subscription: Subscription;
  /** Sizes of the `onMessages` batches, in order. */
  readonly batches: number[];
  readonly errors: Error[];
  /** Deliveries received and not yet settled through `settle`/`ackAll`. */
  readonly pending: Set<Delivery>;
  /** Most pending deliveries seen at once. */
  maxPending: number;
}

export interface ConsumeOptions extends Partial<Omit<SubscribeOptions, 'onMessages'>> {
  readonly topic: string;
  readonly consumerName: string;
  /** Called with each batch after it was recorded (e.g. to ack synchronously). */
  readonly onBatch?: (batch: readonly Delivery[], inbox: Inbox) => void;
}

/** Subscribe and record every delivery. Defaults: shared, earliest, queue 1000, subscription `sub`. */
export async function consume(transport: Transport, options: ConsumeOptions): Promise<Inbox> {
  const { onBatch, ...rest } = options;
  const deliveries: Delivery[] = [];
  const batches: number[] = [];
  const errors: Error[] = [];
  const pending = new Set<Delivery>();
  const inbox: { -readonly [K in keyof Inbox]: Inbox[K] } = {
    name: options.consumerName,
    deliveries,
    batches,
    errors,
    pending,
    maxPending: 0,
    subscription: undefined as unknown as Subscription,
  };
  inbox.subscription = await transport.subscribe({
    subscription: 'sub',
    type: 'shared',
    initialPosition: 'earliest',
    receiverQueueSize: 1000,
    deadLetterTopic: `${options.topic}-sub-DLQ`,
    ...rest,
    onMessages: (batch) => {
      batches.push(batch.length);
      for (const d of batch) {
        deliveries.push(d);
        pending.add(d);
      }
      inbox.maxPending = Math.max(inbox.maxPending, pending.size);
      onBatch?.(batch, inbox);
    },
    onError: (error) => errors.push(error),
  });
  return inbox;
}

/** Ack and forget a delivery of `inbox`. */
export function settle(inbox: Inbox, delivery: Delivery, how: 'ack' | 'nack' = 'ack'): void {
  inbox.pending.delete(delivery);
  if (how === 'ack') void delivery.ack();
  else delivery.nack();
}

/** Ack every pending delivery of `inbox`. */
export function ackAll(inbox: Inbox): void {
  for (const d of [...inbox.pending]) settle(inbox, d);
}

/** Ack each batch as it arrives. */
export const ackEach = (batch: readonly Delivery[], inbox: Inbox): void => {
  for (const d of batch) settle(inbox, d);
};

let counter = 0;
/** A topic name no other test uses. */
export const freshTopic = (prefix = 'topic'): string => `${prefix}-${process.pid}-${++counter}`;


/**
 * Run `body` on a fake clock for the broker's delays (timers and `performance.now()`), so that a test
 * states what has happened before a delay is up and what happens once it is, without measuring
 * time. Dispatch rounds stay real; `advance` moves the clock, then lets them run. Create the broker
 * inside `body`, so that its timers are the fake ones.
 */
export async function onFakeClock<T>(body: (advance: (ms: number) => Promise<void>) => Promise<T>): Promise<T> {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance'] });
  try {
    return await body(async (ms) => {
      await rounds();
      await vi.advanceTimersByTimeAsync(ms);
      await rounds();
    });
  } finally {
    vi.useRealTimers();
  }
}
