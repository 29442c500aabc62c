/**
 * The contenders. Each consumes a topic already filled on a `MemoryBroker`, through the memory
 * transport's subscription (`broker.transport().subscribe`), with the same receiver queue size, and
 * counts what it acknowledged. None of them is timed here: scenarios time them.
 */
import PQueue from 'p-queue';
import { createExclusiveConsumer, jsonCodec, rawCodec, type Codec, type ExclusiveConsumer, type Transport } from '../../src/index.js';
import { type Delivery, type Subscription } from '../../src/adapters.js';

/** The work done per event. Gets the event's key (the partition key). */
export type BenchHandler = (key: string) => Promise<void> | void;

export interface ContenderOptions {
  readonly transport: Transport;
  readonly topic: string;
  /** Receiver queue size of every contender; the exclusive consumer's `maxInFlight`. */
  readonly maxInFlight: number;
  /** Handler runs at once (ignored by the serial loop). */
  readonly maxConcurrency: number;
  readonly handler: BenchHandler;
  /** Exclusive consumer only: `raw` (no decoding) or `json` (the library's default codec). */
  readonly codec?: 'raw' | 'json';
  /**
   * Exclusive consumer only: pass `handler` itself to the consumer (it then receives the event and
   * the context, not the key). Used for the no-op handler of the core scenario.
   */
  readonly direct?: boolean;
}

export interface Contender {
  /** Subscribe; deliveries start on a later turn of the event loop. */
  start(): Promise<void>;
  /** Events handled successfully and acknowledged so far. */
  acked(): number;
  stop(): Promise<void>;
}

export type ContenderFactory = (options: ContenderOptions) => Contender;

const SUBSCRIPTION = 'bench';

// ------------------------------------------------------------------------------------------------
// a. The exclusive consumer.

export const exclusiveConsumer: ContenderFactory = (o) => {
  const handler = o.handler;
  const codec: Codec<unknown> = o.codec === 'json' ? jsonCodec() : (rawCodec() as Codec<unknown>);
  const consumer: ExclusiveConsumer = createExclusiveConsumer<unknown>(
    o.topic,
    (_, message) => message.partitionKey!,
    o.direct === true ? (handler as () => Promise<void>) : (_, ctx) => handler(ctx.key),
    {
      transport: o.transport,
      subscription: SUBSCRIPTION,
      consumerName: 'bench-exclusive',
      initialPosition: 'earliest',
      codec,
      maxInFlight: o.maxInFlight,
      maxConcurrency: o.maxConcurrency,
    },
  );
  return {
    start: () => consumer.start(),
    acked: () => consumer.stats().processed,
    stop: async () => {
      await consumer.stop({ drain: true, timeoutMs: 5_000 });
    },
  };
};

// ------------------------------------------------------------------------------------------------
// b. A bare async loop: one message at a time, awaiting each handler, then acknowledging. No
// per-key bookkeeping, no concurrency: the floor of the per-message cost. It is also how a serial
// listener (pulsar-client's `listener` awaiting its handler) behaves.

export const serialLoop: ContenderFactory = (o) => {
  const handler = o.handler;
  let queue: Delivery[] = [];
  let head = 0;
  let acked = 0;
  let stopped = false;
  let wake: (() => void) | undefined;
  let subscription: Subscription | undefined;
  let loop: Promise<void> | undefined;

  const run = async (): Promise<void> => {
    for (;;) {
      while (head < queue.length) {
        const delivery = queue[head]!;
        queue[head] = undefined as unknown as Delivery;
        head += 1;
        try {
          await handler(delivery.partitionKey!);
        } catch {
          delivery.nack();
          continue;
        }
        void delivery.ack();
        acked += 1;
        if (stopped) return;
      }
      queue = [];
      head = 0;
      if (stopped) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  };

  return {
    async start() {
      subscription = await o.transport.subscribe({
        topic: o.topic,
        subscription: SUBSCRIPTION,
        consumerName: 'bench-serial',
        type: 'key-shared',
        initialPosition: 'earliest',
        receiverQueueSize: o.maxInFlight,
        deadLetterTopic: `${o.topic}-DLQ`,
        onMessages: (batch) => {
          for (let i = 0; i < batch.length; i++) queue.push(batch[i]!);
          const w = wake;
          if (w !== undefined) {
            wake = undefined;
            w();
          }
        },
      });
      loop = run();
    },
    acked: () => acked,
    async stop() {
      stopped = true;
      wake?.();
      await loop;
      await subscription?.close();
    },
  };
};

// ------------------------------------------------------------------------------------------------
// c. The hand-rolled alternative: p-queue for concurrency plus a promise chain per key for
// exclusivity (each message is chained onto its key's tail and only then takes a p-queue slot, so a
// waiting key holds no slot; the key's entry is deleted when its chain ends), ack after the handler,
// nack on failure, and backpressure on the raw subscription (pause above maxInFlight pending,
// resume at half).

export const pQueueChain: ContenderFactory = (o) => {
  const handler = o.handler;
  const queue = new PQueue({ concurrency: o.maxConcurrency });
  const tails = new Map<string, Promise<void>>();
  const resumeAt = Math.floor(o.maxInFlight / 2);
  let pending = 0;
  let paused = false;
  let acked = 0;
  let subscription: Subscription | undefined;

  const settled = (key: string, tail: Promise<void>): void => {
    pending -= 1;
    if (tails.get(key) === tail) tails.delete(key);
    if (paused && pending <= resumeAt) {
      paused = false;
      subscription?.resume();
    }
  };

  const accept = (delivery: Delivery): void => {
    const key = delivery.partitionKey!;
    const run = (): Promise<void> | void => handler(key);
    const previous = tails.get(key);
    const started = previous === undefined ? queue.add(run) : previous.then(() => queue.add(run));
    const tail: Promise<void> = started.then(
      () => {
        void delivery.ack();
        acked += 1;
        settled(key, tail);
      },
      () => {
        delivery.nack();
        settled(key, tail);
      },
    );
    tails.set(key, tail);
  };

  return {
    async start() {
      subscription = await o.transport.subscribe({
        topic: o.topic,
        subscription: SUBSCRIPTION,
        consumerName: 'bench-pqueue',
        type: 'key-shared',
        initialPosition: 'earliest',
        receiverQueueSize: o.maxInFlight,
        deadLetterTopic: `${o.topic}-DLQ`,
        onMessages: (batch) => {
          pending += batch.length;
          for (let i = 0; i < batch.length; i++) accept(batch[i]!);
          if (!paused && pending >= o.maxInFlight) {
            paused = true;
            subscription?.pause();
          }
        },
      });
    },
    acked: () => acked,
    async stop() {
      subscription?.pause();
      await queue.onIdle();
      await Promise.all(tails.values());
      await subscription?.close();
    },
  };
};

// ------------------------------------------------------------------------------------------------
// Diagnostic transport wrapper.

/**
 * A transport whose deliveries matching `early` are acknowledged at the broker as soon as they
 * arrive; the consumer still receives them, with a no-op `ack`/`nack`. It takes the memory broker's
 * bookkeeping behind an unacknowledged message (every later record stays in the cursor's window
 * until the mark-delete position passes it) out of a measurement, leaving only the consumer's own
 * cost. Not a real contender: diagnostics only.
 */
export function ackOnReceipt(transport: Transport, early: (delivery: Delivery) => boolean): Transport {
  const replace = (d: Delivery): Delivery => {
    if (!early(d)) return d;
    void d.ack();
    return {
      id: d.id,
      data: d.data,
      partitionKey: d.partitionKey,
      properties: d.properties,
      redeliveryCount: d.redeliveryCount,
      publishTime: d.publishTime,
      topic: d.topic,
      ack: () => undefined,
      nack: () => undefined,
      deadLetter: () => Promise.resolve(),
    };
  };
  return {
    name: `${transport.name}+ack-on-receipt`,
    createProducer: (topic) => transport.createProducer(topic),
    subscribe: (options) => transport.subscribe({ ...options, onMessages: (batch) => options.onMessages(batch.map(replace)) }),
  };
}
