/**
 * A message completed here comes back when its acknowledgement was lost with a connection: it is
 * acknowledged again, not run again.
 */
import { describe, expect, it } from 'vitest';
import { createExclusiveConsumer, type Transport } from '../../src/index.js';
import { type Delivery, type SubscribeOptions } from '../../src/adapters.js';
import { waitFor } from '../helpers/index.js';

const encoder = new TextEncoder();

/** A transport that hands the consumer whatever the test pushes, recording acks and nacks. */
function handTransport(acknowledgementsCanBeLost: boolean) {
  let options: SubscribeOptions | undefined;
  const acks: string[] = [];
  const transport: Transport = {
    name: 'hand',
    acknowledgementsCanBeLost,
    subscribe: async (o) => {
      options = o;
      return { pause: () => undefined, resume: () => undefined, close: async () => undefined };
    },
    createProducer: () => Promise.reject(new Error('not used')),
  };
  const delivery = (id: string, seq: number, fail = false): Delivery => ({
    id,
    data: encoder.encode(JSON.stringify({ key: 'k', seq, fail })),
    partitionKey: 'k',
    properties: {},
    redeliveryCount: 0,
    publishTime: 0,
    topic: 't',
    ack: () => void acks.push(id),
    nack: () => undefined,
    deadLetter: async () => void acks.push(`dlq:${id}`),
  });
  const push = (...batch: Delivery[]): void => options?.onMessages(batch);
  return { transport, acks, delivery, push, lose: () => options?.onDeliveriesLost?.() };
}

describe('repeats of completed messages', () => {
  it('acknowledges a completed message that comes back instead of running it, and counts it', async () => {
    const hand = handTransport(true);
    const runs: number[] = [];
    const c = createExclusiveConsumer<{ key: string; seq: number; fail: boolean }>(
      't',
      (e) => e.key,
      (e) => {
        runs.push(e.seq);
        if (e.fail) throw new Error('always');
      },
      { transport: hand.transport, retry: { maxAttempts: 1 } },
    );
    await c.start();
    hand.push(hand.delivery('m1', 1), hand.delivery('m2', 2, true));
    await waitFor('both settled', () => hand.acks.length === 2);
    hand.lose(); // the acknowledgements went down with the connection…
    hand.push(hand.delivery('m1', 1), hand.delivery('m2', 2, true), hand.delivery('m3', 3)); // …and the broker sends them again
    await waitFor('m3 ran', () => runs.includes(3));
    expect(runs).toEqual([1, 2, 3]);
    expect(hand.acks).toEqual(['m1', 'dlq:m2', 'm1', 'm2', 'm3']);
    expect(c.stats()).toMatchObject({ repeatsSkipped: 2, processed: 2, deadLettered: 1 });
    await c.stop();
  });

  it('remembers nothing on a transport whose acknowledgements cannot be lost, or with rememberCompleted: 0', async () => {
    for (const [lossy, remember] of [[false, undefined], [true, 0]] as const) {
      const hand = handTransport(lossy);
      const runs: number[] = [];
      const c = createExclusiveConsumer<{ key: string; seq: number }>('t', (e) => e.key, (e) => void runs.push(e.seq), {
        transport: hand.transport,
        ...(remember === undefined ? {} : { rememberCompleted: remember }),
      });
      await c.start();
      hand.push(hand.delivery('m1', 1));
      await waitFor('ran', () => runs.length === 1);
      hand.push(hand.delivery('m1', 1));
      await waitFor('ran again', () => runs.length === 2);
      expect(c.stats().repeatsSkipped).toBe(0);
      await c.stop();
    }
  });

  it('forgets the oldest completions beyond rememberCompleted', async () => {
    const hand = handTransport(true);
    const runs: string[] = [];
    const c = createExclusiveConsumer<{ key: string; seq: number }>('t', (e) => `k${e.seq}`, (e) => void runs.push(`m${e.seq}`), {
      transport: hand.transport,
      rememberCompleted: 2,
    });
    await c.start();
    hand.push(hand.delivery('m1', 1), hand.delivery('m2', 2), hand.delivery('m3', 3));
    await waitFor('three ran', () => runs.length === 3);
    hand.push(hand.delivery('m1', 1), hand.delivery('m3', 3));
    await waitFor('m1 ran again', () => runs.length === 4);
    expect(runs).toEqual(['m1', 'm2', 'm3', 'm1']);
    expect(c.stats().repeatsSkipped).toBe(1);
    await c.stop();
  });
});
