/**
 * Phases of a key around the consumer's own lifecycle: work delivered while `start()` is still
 * subscribing, and connection losses while a key waits for its claim.
 */
import { describe, expect, it } from 'vitest';
import { MemoryLock, createExclusiveConsumer, type ExclusiveConsumer, type ExclusiveConsumerOptions, type FencingTokenSource, type Handler, type Transport } from '../../src/index.js';
import { type Subscription } from '../../src/adapters.js';
import { publishEvents, resourcesPerTest, sleep, waitFor, type TestEvent } from '../helpers/index.js';

const { consumers, setup } = resourcesPerTest();

/**
 * A transport whose `subscribe()` resolves only after `holdMs` (its deliveries flow meanwhile),
 * that counts the pauses of its subscriptions and lets a test report a lost connection.
 */
function controlledTransport(inner: Transport, holdMs = 0): Transport & { pauses: number; loseConnection(): void } {
  const lost: Array<() => void> = [];
  const wrapper = {
    name: inner.name,
    pauses: 0,
    loseConnection(): void {
      for (const report of lost) report();
    },
    createProducer: inner.createProducer.bind(inner),
    async subscribe(options: Parameters<Transport['subscribe']>[0]): Promise<Subscription> {
      if (options.onDeliveriesLost !== undefined) lost.push(options.onDeliveriesLost);
      const subscription = await inner.subscribe(options);
      if (holdMs > 0) await sleep(holdMs);
      return {
        pause: () => {
          wrapper.pauses += 1;
          subscription.pause();
        },
        resume: () => subscription.resume(),
        close: () => subscription.close(),
      };
    },
  };
  return wrapper;
}

function consumer(
  transport: Transport,
  topic: string,
  handler: Handler<TestEvent>,
  options: ExclusiveConsumerOptions<TestEvent> = {},
): ExclusiveConsumer {
  const c = createExclusiveConsumer<TestEvent>(topic, (e) => e.key, handler, {
    transport,
    initialPosition: 'earliest',
    retry: { initialDelayMs: 5, maxDelayMs: 5 },
    ...options,
  });
  consumers.push(c);
  return c;
}

describe('engine: work delivered while start() subscribes', () => {
  it('retries a failed attempt instead of dead-lettering it', async () => {
    const { broker, topic } = setup();
    publishEvents(broker, topic, [{ key: 'k', seq: 1 }]);
    const attempts: number[] = [];
    const c = consumer(controlledTransport(broker.transport(), 300), topic, (_e, ctx) => {
      attempts.push(ctx.attempt);
      if (ctx.attempt === 1) throw new Error('first attempt fails');
    });
    const started = c.start();
    await waitFor('the retry ran', () => attempts.length === 2);
    expect(c.stats().state).toBe('starting'); // the whole story happened before subscribe() resolved
    await started;
    expect(attempts).toEqual([1, 2]);
    expect(c.stats()).toMatchObject({ processed: 1, deadLettered: 0, released: 0, retried: 1 });
  });

  it('shared-locked: runs a key whose lease was granted, instead of giving its messages back', async () => {
    const { broker, topic } = setup();
    publishEvents(broker, topic, [{ key: 'k', seq: 1 }, { key: 'k', seq: 2 }]);
    const ran: number[] = [];
    const c = consumer(
      controlledTransport(broker.transport(), 300),
      topic,
      (e) => {
        ran.push(e.seq);
      },
      { mode: 'shared-locked', lock: new MemoryLock() },
    );
    const started = c.start();
    await waitFor('both ran', () => ran.length === 2);
    expect(c.stats().state).toBe('starting');
    await started;
    expect(ran).toEqual([1, 2]);
    expect(c.stats()).toMatchObject({ processed: 2, released: 0 });
  });

  it('pauses the subscription once subscribed when maxInFlight filled up meanwhile', async () => {
    const { broker, topic } = setup();
    publishEvents(broker, topic, [{ key: 'a', seq: 1 }, { key: 'b', seq: 2 }, { key: 'c', seq: 3 }]);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const transport = controlledTransport(broker.transport(), 200);
    const c = consumer(transport, topic, () => gate, { maxInFlight: 2 });
    await c.start();
    expect(c.stats().paused).toBe(true);
    expect(transport.pauses).toBe(1);
    release();
    await waitFor('all processed', () => c.stats().processed === 3);
  });
});

describe('engine: a lost connection while a key waits', () => {
  it('a token minted across the loss is not used: the next run carries a newer one', async () => {
    const { broker, topic } = setup();
    let counter = 0;
    const gates: Array<() => void> = [];
    const tokens: FencingTokenSource = {
      nextToken: () => {
        const token = ++counter;
        // The first mint hangs until the test lets it finish, after the connection was lost.
        return token === 1 ? new Promise((resolve) => gates.push(() => resolve(token))) : Promise.resolve(token);
      },
    };
    const transport = controlledTransport(broker.transport());
    const runs: Array<{ seq: number; token: number | undefined }> = [];
    const c = consumer(
      transport,
      topic,
      (e, ctx) => {
        runs.push({ seq: e.seq, token: ctx.fencingToken });
      },
      { tokenSource: tokens },
    );
    await c.start();
    publishEvents(broker, topic, [{ key: 'k', seq: 1 }]);
    await waitFor('the first mint started', () => gates.length === 1);
    transport.loseConnection();
    publishEvents(broker, topic, [{ key: 'k', seq: 2 }]);
    await sleep(20);
    gates[0]?.();
    await waitFor('seq 2 ran', () => runs.some((r) => r.seq === 2));
    // seq 1 came over the lost connection: dropped, never run; seq 2 runs under a token minted after the loss.
    expect(runs.map((r) => r.seq)).toEqual([2]);
    expect(runs[0]?.token).toBeGreaterThan(1);
  });

  it('shared-locked: a lingering key keeps one linger, which a loss neither ends nor doubles', async () => {
    const { broker, topic } = setup();
    const lock = new MemoryLock();
    const transport = controlledTransport(broker.transport());
    const tokens: Array<number | undefined> = [];
    const c = consumer(
      transport,
      topic,
      (_e, ctx) => {
        tokens.push(ctx.fencingToken);
      },
      { mode: 'shared-locked', lock, lease: { lingerMs: 1000 } },
    );
    await c.start();
    publishEvents(broker, topic, [{ key: 'k', seq: 1 }]);
    await waitFor('seq 1 ran', () => tokens.length === 1);
    await sleep(300);
    transport.loseConnection();
    await sleep(300);
    publishEvents(broker, topic, [{ key: 'k', seq: 2 }]); // 600 ms into the linger: same lease
    await waitFor('seq 2 ran', () => tokens.length === 2);
    expect(tokens[1]).toBe(tokens[0]);
    // seq 2 lingers anew for 1 s: a timer left over from before the loss must not cut it short.
    await sleep(500);
    publishEvents(broker, topic, [{ key: 'k', seq: 3 }]);
    await waitFor('seq 3 ran', () => tokens.length === 3);
    expect(tokens[2]).toBe(tokens[0]);
  });
});

describe('engine: a token source that answers synchronously', () => {
  it('runs the key (a JavaScript source may return a number, not a promise)', async () => {
    const { broker, topic } = setup();
    let counter = 0;
    const tokens = { nextToken: () => ++counter } as unknown as FencingTokenSource;
    const seen: Array<number | undefined> = [];
    const c = consumer(broker.transport(), topic, (_e, ctx) => {
      seen.push(ctx.fencingToken);
    }, { tokenSource: tokens });
    await c.start();
    publishEvents(broker, topic, [{ key: 'k', seq: 1 }]);
    await waitFor('seq 1 ran', () => seen.length === 1);
    expect(seen).toEqual([1]);
  });
});
