/**
 * The dispatcher on the memory outbox: every effect sent and marked done, retries with the library's
 * backoff, dead letters after `maxAttempts` or on an error that is not retriable, the visibility
 * timeout of a claim whose sender died, the send timeout, graceful and forced stops, the concurrency
 * bound, failures of the outbox itself, and middleware. Assertions read what the fake gateway
 * recorded (every call, with its idempotency key and attempt), not counters waited for.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  MemoryOutbox,
  NonRetriableError,
  createOutboxDispatcher,
  isConfigurationError,
  isConsumerStoppedError,
  isHandlerTimeoutError,
  type ClaimedEffect,
  type Fence,
  type Outbox,
  type OutboxDispatcher,
  type OutboxDispatcherOptions,
  type SendEffect,
} from '../../src/index.js';
import { uniqueName } from '../../src/testing/index.js';
import { sleep, waitFor } from '../helpers/index.js';

const fence: Fence = { token: 1, owner: 'decider' };

/** A fake gateway: records every call it gets, and answers as `behaviour` says. */
function gateway(behaviour: (call: { idempotencyKey: string; attempt: number }) => Promise<void> | void = () => undefined) {
  const calls: Array<{ idempotencyKey: string; attempt: number; payload: unknown; signal: AbortSignal }> = [];
  const send: SendEffect<unknown> = async (effect, signal) => {
    calls.push({ idempotencyKey: effect.idempotencyKey, attempt: effect.attempt, payload: effect.payload, signal });
    await behaviour(effect);
  };
  return { calls, send };
}

const dispatchers: OutboxDispatcher<unknown>[] = [];
afterEach(async () => {
  await Promise.all(dispatchers.splice(0).map((d) => d.stop({ timeoutMs: 100 })));
});

function dispatcher(outbox: Outbox, send: SendEffect<unknown>, options: OutboxDispatcherOptions<unknown> = {}): OutboxDispatcher<unknown> {
  const d = createOutboxDispatcher(outbox, send, { pollIntervalMs: 10, ...options });
  dispatchers.push(d);
  return d;
}

async function commitEffects(outbox: Outbox, count: number, key = uniqueName('k')): Promise<string[]> {
  const effects = Array.from({ length: count }, (_, i) => ({ payload: { i }, idempotencyKey: `${key}-${i}` }));
  await outbox.commit(key, count, fence, effects);
  return effects.map((e) => e.idempotencyKey);
}

const settled = async (outbox: Outbox): Promise<boolean> => (await outbox.counts()).pending === 0;

describe('createOutboxDispatcher', () => {
  it('sends every effect once, under its idempotency key, and marks it done', async () => {
    const outbox = new MemoryOutbox();
    const { calls, send } = gateway();
    const ids = await commitEffects(outbox, 25);
    const d = dispatcher(outbox, send, { concurrency: 4 });
    const sent: string[] = [];
    d.on('sent', (e) => sent.push(e.effect.idempotencyKey));
    d.start();
    await waitFor('every effect settled', () => settled(outbox));
    expect(calls.map((c) => c.idempotencyKey).sort()).toEqual([...ids].sort());
    expect(calls.every((c) => c.attempt === 1)).toBe(true);
    expect(sent.sort()).toEqual([...ids].sort());
    expect(await outbox.counts()).toEqual({ pending: 0, done: 25, dead: 0 });
    await d.stop();
    expect(d.state).toBe('stopped');
    expect(d.stats()).toMatchObject({ claimed: 25, sent: 25, retried: 0, deadLettered: 0, inFlight: 0 });
  });

  it('retries a failing send with exponential backoff, under the same idempotency key', async () => {
    const outbox = new MemoryOutbox();
    const { calls, send } = gateway(({ attempt }) => {
      if (attempt <= 3) throw new Error(`gateway 503 (attempt ${attempt})`);
    });
    const [id] = await commitEffects(outbox, 1);
    const d = dispatcher(outbox, send, { retry: { initialDelayMs: 10, factor: 2, maxDelayMs: 1_000, jitter: 0 } });
    const delays: number[] = [];
    d.on('retry', (e) => delays.push(e.delayMs));
    d.start();
    await waitFor('the effect sent', () => settled(outbox));
    expect(calls.map((c) => [c.idempotencyKey, c.attempt])).toEqual([
      [id, 1],
      [id, 2],
      [id, 3],
      [id, 4],
    ]);
    expect(delays).toEqual([10, 20, 40]);
    const effect = await outbox.effect(id!);
    expect(effect).toMatchObject({ status: 'done', attempts: 4, lastError: 'Error: gateway 503 (attempt 3)' });
  });

  it('dead-letters after maxAttempts, keeping the last error, and sends nothing more', async () => {
    const outbox = new MemoryOutbox();
    const { calls, send } = gateway(({ attempt }) => {
      throw new Error(`refused ${attempt}`);
    });
    const [id] = await commitEffects(outbox, 1);
    const d = dispatcher(outbox, send, { maxAttempts: 3, retry: { initialDelayMs: 1, jitter: 0 } });
    const dead: string[] = [];
    d.on('dead-letter', (e) => dead.push(`${e.effect.idempotencyKey} ${e.cause} ${e.error.message}`));
    d.start();
    await waitFor('the effect dead-lettered', () => settled(outbox));
    await sleep(30);
    expect(calls.map((c) => c.attempt)).toEqual([1, 2, 3]);
    expect(dead).toEqual([`${id} attempts refused 3`]);
    const [letter] = await outbox.deadLetters();
    expect(letter).toMatchObject({ idempotencyKey: id, status: 'dead', attempts: 3, lastError: 'Error: refused 3' });
  });

  it('dead-letters at once on an error that is not retriable', async () => {
    const outbox = new MemoryOutbox();
    const { calls, send } = gateway(() => {
      throw new NonRetriableError('invalid phone number');
    });
    await commitEffects(outbox, 1);
    const d = dispatcher(outbox, send);
    const causes: string[] = [];
    d.on('dead-letter', (e) => causes.push(e.cause));
    d.start();
    await waitFor('the effect dead-lettered', () => settled(outbox));
    expect(calls).toHaveLength(1);
    expect(causes).toEqual(['not-retriable']);
    expect((await outbox.deadLetters())[0]?.lastError).toBe('NonRetriableError: invalid phone number');
  });

  it("sends again, under the same key, an effect whose claimer died, once the claim's visibility passed", async () => {
    const outbox = new MemoryOutbox();
    const [id] = await commitEffects(outbox, 1);
    // The dead dispatcher: it claimed, then nothing.
    const [lost] = await outbox.claim(10, 200);
    expect(lost?.attempt).toBe(1);
    const { calls, send } = gateway();
    dispatcher(outbox, send).start();
    await waitFor('the effect sent', () => settled(outbox));
    expect(calls.map((c) => [c.idempotencyKey, c.attempt])).toEqual([[id, 2]]);
  });

  it('dead-letters without sending an effect claimed more than maxAttempts times by senders that died', async () => {
    const outbox = new MemoryOutbox();
    const [id] = await commitEffects(outbox, 1);
    for (let i = 0; i < 2; i++) {
      await outbox.claim(10, 1);
      await sleep(5);
    }
    const { calls, send } = gateway();
    const d = dispatcher(outbox, send, { maxAttempts: 2 });
    d.start();
    await waitFor('the effect dead-lettered', () => settled(outbox));
    expect(calls).toEqual([]);
    expect((await outbox.effect(id!))?.status).toBe('dead');
  });

  it('aborts a send that outlives sendTimeoutMs and retries it', async () => {
    const outbox = new MemoryOutbox();
    const { calls, send } = gateway(async ({ attempt }) => {
      if (attempt > 1) return;
      await new Promise<void>((_, reject) => calls[0]!.signal.addEventListener('abort', () => reject(calls[0]!.signal.reason)));
    });
    const [id] = await commitEffects(outbox, 1);
    dispatcher(outbox, send, { sendTimeoutMs: 50, visibilityMs: 10_000, retry: { initialDelayMs: 1, jitter: 0 } }).start();
    await waitFor('the effect sent', () => settled(outbox));
    expect(calls.map((c) => c.attempt)).toEqual([1, 2]);
    expect(isHandlerTimeoutError(calls[0]!.signal.reason)).toBe(true);
    expect((await outbox.effect(id!))?.lastError).toMatch(/^HandlerTimeoutError: /);
  });

  it('stop() lets the send in flight finish and record its result, and claims nothing after', async () => {
    const outbox = new MemoryOutbox();
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { calls, send } = gateway(() => released);
    const [id] = await commitEffects(outbox, 1);
    const d = dispatcher(outbox, send);
    d.start();
    await waitFor('the send started', () => calls.length === 1);
    let stopped = false;
    const stopping = d.stop().then(() => {
      stopped = true;
    });
    const [later] = await commitEffects(outbox, 1);
    await sleep(50);
    expect(stopped, 'stop waits for the send in flight').toBe(false);
    expect(d.state).toBe('stopping');
    release();
    await stopping;
    expect((await outbox.effect(id!))?.status).toBe('done');
    expect(calls.map((c) => c.idempotencyKey)).toEqual([id]);
    expect(calls[0]!.signal.aborted).toBe(false);
    expect((await outbox.effect(later!))?.status, 'committed after the stop began: left for the next dispatcher').toBe('pending');
  });

  it('stop({ timeoutMs }) aborts a send that does not finish in time; its claim comes back to another dispatcher', async () => {
    const outbox = new MemoryOutbox();
    const first = gateway(() => new Promise<void>(() => undefined));
    const [id] = await commitEffects(outbox, 1);
    const d = dispatcher(outbox, first.send, { visibilityMs: 300, sendTimeoutMs: 0 });
    d.start();
    await waitFor('the send started', () => first.calls.length === 1);
    await d.stop({ timeoutMs: 20 });
    expect(isConsumerStoppedError(first.calls[0]!.signal.reason)).toBe(true);
    const second = gateway();
    dispatcher(outbox, second.send).start();
    await waitFor('the effect sent by the next dispatcher', () => settled(outbox));
    expect(second.calls.map((c) => [c.idempotencyKey, c.attempt])).toEqual([[id, 2]]);
  });

  it('never has more than `concurrency` sends in flight', async () => {
    const outbox = new MemoryOutbox();
    let running = 0;
    const concurrent: number[] = [];
    const { send } = gateway(async () => {
      running += 1;
      concurrent.push(running);
      await sleep(5);
      running -= 1;
    });
    await commitEffects(outbox, 30);
    dispatcher(outbox, send, { concurrency: 3 }).start();
    await waitFor('every effect sent', () => settled(outbox));
    expect(concurrent).toHaveLength(30);
    expect(Math.max(...concurrent)).toBe(3);
  });

  it('keeps going when the outbox fails, reporting each failure', async () => {
    const outbox = new MemoryOutbox();
    let failures = 2;
    const flaky = new Proxy(outbox, {
      get(target, property, receiver) {
        if (property === 'claim') {
          return async (limit: number, visibilityMs: number): Promise<ClaimedEffect<unknown>[]> => {
            if (failures > 0) {
              failures -= 1;
              throw new Error('outbox unreachable');
            }
            return target.claim(limit, visibilityMs);
          };
        }
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const { calls, send } = gateway();
    const [id] = await commitEffects(outbox, 1);
    const d = dispatcher(flaky, send);
    const phases: string[] = [];
    d.on('error', (e) => phases.push(e.phase));
    d.start();
    await waitFor('the effect sent', () => settled(outbox));
    expect(phases).toEqual(['claim', 'claim']);
    expect(calls.map((c) => c.idempotencyKey)).toEqual([id]);
    expect(d.stats().errors).toBe(2);
  });

  it('runs middleware around each send, and refuses a second next()', async () => {
    const outbox = new MemoryOutbox();
    const order: string[] = [];
    const { calls, send } = gateway(() => {
      order.push('send');
    });
    await commitEffects(outbox, 1);
    const d = dispatcher(outbox, send, {
      maxAttempts: 1,
      middleware: [
        async function outer(effect, next) {
          order.push(`outer ${effect.attempt}`);
          await next();
          order.push('outer done');
        },
        async function twice(_effect, next) {
          await next();
          await next();
        },
      ],
    });
    const dead: string[] = [];
    d.on('dead-letter', (e) => dead.push(e.error.message));
    d.start();
    await waitFor('the effect settled', () => settled(outbox));
    expect(calls).toHaveLength(1);
    expect(order).toEqual(['outer 1', 'send']);
    expect(dead).toEqual(['Dispatch middleware "twice" called next() more than once']);
  });

  it('runOnce() claims and sends one batch', async () => {
    const outbox = new MemoryOutbox();
    const { calls, send } = gateway();
    await commitEffects(outbox, 5);
    const d = dispatcher(outbox, send, { concurrency: 3 });
    expect(await d.runOnce()).toBe(3);
    expect(calls).toHaveLength(3);
    expect(await d.runOnce()).toBe(2);
    expect(await d.runOnce()).toBe(0);
    expect(await outbox.counts()).toEqual({ pending: 0, done: 5, dead: 0 });
    d.start();
    await expect(d.runOnce()).rejects.toMatchObject({ code: 'EC_STATE' });
    expect(() => d.start()).toThrow(expect.objectContaining({ code: 'EC_STATE' }));
  });

  it('purges sent effects past the retention', async () => {
    const outbox = new MemoryOutbox({ retainDoneMs: 0 });
    const { send } = gateway();
    await commitEffects(outbox, 3);
    dispatcher(outbox, send, { purgeIntervalMs: 1 }).start();
    await waitFor('sent and purged', async () => {
      const counts = await outbox.counts();
      return counts.pending === 0 && counts.done === 0;
    });
  });

  it('rejects bad options at creation', () => {
    const outbox = new MemoryOutbox();
    const send = (): void => undefined;
    const bad: Array<[OutboxDispatcherOptions<unknown>, string]> = [
      [{ concurrency: 0 }, 'concurrency'],
      [{ visibilityMs: 1_000, sendTimeoutMs: 1_000 }, 'sendTimeoutMs'],
      [{ maxAttempts: 0 }, 'maxAttempts'],
      [{ retry: { jitter: 2 } }, 'retry.jitter'],
      [{ retry: { initialDelayMs: 100, maxDelayMs: 10 } }, 'retry.maxDelayMs'],
      [{ middleware: [1 as never] }, 'middleware[0]'],
    ];
    for (const [options, option] of bad) {
      let error: unknown;
      try {
        createOutboxDispatcher(outbox, send, options);
      } catch (e) {
        error = e;
      }
      expect(isConfigurationError(error), option).toBe(true);
      expect(error).toMatchObject({ option });
    }
    expect(() => createOutboxDispatcher({} as Outbox, send)).toThrow(expect.objectContaining({ code: 'EC_CONFIGURATION' }));
  });
});
