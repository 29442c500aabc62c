/**
 * A key given back to the broker in a broker-routed mode (its token went stale) keeps its order:
 * the broker redelivers the given-back messages after the negative-acknowledgement delay, and the
 * key's later messages that reach this consumer meanwhile wait for them instead of overtaking them.
 */
import { describe, expect, it } from 'vitest';
import { MemoryFencedStore, createExclusiveConsumer, updateFenced, type ConsumerMode, type ExclusiveConsumer, type FencingTokenSource, type Transport } from '../../src/index.js';
import type { Delivery, SubscribeOptions } from '../../src/adapters.js';
import { publishEvents, sleep, testBroker, topicName, waitFor, type TestEvent } from '../helpers/index.js';

/** A transport whose negative acknowledgements go nowhere: as if the broker routed the messages to another consumer. */
function nacksGoElsewhere(inner: Transport): Transport {
  const swallowNack = (d: Delivery): Delivery =>
    new Proxy(d, {
      get(target, property) {
        if (property === 'nack') return () => undefined;
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  return {
    name: inner.name,
    createProducer: inner.createProducer.bind(inner),
    subscribe: (options: SubscribeOptions) => inner.subscribe({ ...options, onMessages: (batch) => options.onMessages(batch.map(swallowNack)) }),
  };
}

interface Outcome {
  readonly state: readonly number[];
  readonly runs: readonly number[];
  readonly released: number;
  /** When the second event first ran, in ms after the first was given back. */
  readonly secondRanAfterMs: number;
}

async function run(mode: ConsumerMode, nackDelayMs: number, wrap: (t: Transport) => Transport = (t) => t): Promise<Outcome> {
  const broker = testBroker({ nackRedeliveryDelayMs: nackDelayMs });
  const topic = topicName();
  const store = new MemoryFencedStore<number[]>();
  let counter = 0;
  const tokens: FencingTokenSource = { nextToken: async () => ++counter };
  const runs: number[] = [];
  let intruded = false;
  let givenBackAt = 0;
  let secondRanAt = 0;
  const c: ExclusiveConsumer = createExclusiveConsumer<TestEvent>(
    topic,
    (e) => e.key,
    async (e, ctx) => {
      runs.push(e.seq);
      if (e.seq === 2 && secondRanAt === 0) secondRanAt = performance.now();
      if (!intruded) {
        // Another owner takes the key (a newer token from the same source) and writes first.
        intruded = true;
        await store.put(ctx.key, [], { token: ++counter, owner: 'intruder' });
      }
      await updateFenced(store, ctx.key, ctx.fence, (list) => [...(list ?? []), e.seq]);
    },
    { transport: wrap(broker.transport()), mode, tokenSource: tokens, initialPosition: 'earliest', nackRedeliveryDelayMs: nackDelayMs },
  );
  let released = 0;
  c.on('message.released', () => {
    released += 1;
    givenBackAt = performance.now();
    // The key's next event reaches this consumer while the given-back one waits out the delay.
    if (released === 1) publishEvents(broker, topic, [{ key: 'k', seq: 2 }]);
  });
  try {
    await c.start();
    publishEvents(broker, topic, [{ key: 'k', seq: 1 }]);
    await waitFor('the second event ran', () => secondRanAt > 0, 10_000);
    await sleep(nackDelayMs + 100); // whatever comes back, comes back by now
    return { state: (await store.get('k'))?.value ?? [], runs, released, secondRanAfterMs: secondRanAt - givenBackAt };
  } finally {
    await c.stop();
    await broker.close();
  }
}

describe('a key given back in a broker-routed mode', () => {
  for (const mode of ['key-shared', 'failover'] as const) {
    it(`${mode}: its later events wait for the given-back ones, which then run first`, async () => {
      const r = await run(mode, 200);
      expect(r.released).toBe(1);
      expect(r.runs).toEqual([1, 1, 2]);
      expect(r.state).toEqual([1, 2]);
    });
  }

  it('when the given-back messages never come back here, the later events run after a bounded wait', async () => {
    // nack delay 50 ms: the key waits 2 × 50 + 1000 ms for them, then runs what it has.
    const r = await run('key-shared', 50, nacksGoElsewhere);
    expect(r.runs).toEqual([1, 2]);
    expect(r.state).toEqual([2]);
    expect(r.secondRanAfterMs).toBeGreaterThanOrEqual(1000);
  });

  it('shared: a given-back key does not wait (order is not promised there)', async () => {
    const r = await run('shared', 1000);
    expect(r.runs).toEqual([1, 2, 1]);
    expect(r.state).toEqual([2, 1]);
  });
});
