import { describe, expect, it } from 'vitest';
import { ConsumerStoppedError, DeadLetterProperties, HandlerTimeoutError, NonRetriableError, TransportError, createExclusiveConsumer, defaultDeadLetterTopic, isConfigurationError, isConsumerStateError, isHandlerError, type ExclusiveConsumer, type ExclusiveConsumerOptions, type Handler, type MemoryBroker, type Transport } from '../../src/index.js';
import { type DeadLetterReason, type Delivery } from '../../src/adapters.js';
import { HistoryRecorder, monotonicMicros } from '../../src/testing/index.js';
import { drained, gate, publishEvents, publishRaw, rounds, sleep, waitFor, resourcesPerTest, type TestEvent } from '../helpers/index.js';

const { consumers, setup } = resourcesPerTest();

function consumer(
  broker: MemoryBroker,
  topic: string,
  handler: Handler<TestEvent>,
  options: ExclusiveConsumerOptions<TestEvent> = {},
): ExclusiveConsumer {
  const c = createExclusiveConsumer<TestEvent>(topic, (e) => e.key, handler, {
    transport: broker.transport(),
    initialPosition: 'earliest',
    retry: { initialDelayMs: 5, maxDelayMs: 20 },
    ...options,
  });
  consumers.push(c);
  return c;
}

const events = (keys: number, perKey: number, extra: Partial<TestEvent> = {}): TestEvent[] => {
  const list: TestEvent[] = [];
  let seq = 0;
  for (let round = 0; round < perKey; round++) {
    for (let k = 0; k < keys; k++) list.push({ key: `k${k}`, seq: seq++, ...extra });
  }
  return list;
};

describe('engine: scheduling', () => {
  it('handles every event once, acknowledges it, and frees per-key state', async () => {
    const { broker, topic } = setup();
    const seen: number[] = [];
    const c = consumer(broker, topic, (e) => {
      seen.push(e.seq);
    });
    await c.start();
    publishEvents(broker, topic, events(50, 20));
    await waitFor('1000 processed', () => c.stats().processed === 1000);
    expect(new Set(seen).size).toBe(1000);
    expect(seen).toHaveLength(1000);
    await waitFor('all settled', () => c.stats().inFlight === 0);
    expect(c.stats().activeKeys).toBe(0);
    expect(broker.topicStats(topic, 'exclusive-consumer')).toMatchObject({ backlog: 0, unacked: 0 });
  });

  it('runs one event per key at a time, in order, and different keys concurrently', async () => {
    const { broker, topic } = setup();
    const recorder = new HistoryRecorder<TestEvent>({ seqOf: (e) => e.seq });
    let running = 0;
    let maxRunning = 0;
    const c = consumer(
      broker,
      topic,
      async () => {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        await sleep(Math.random() * 3);
        running -= 1;
      },
      { middleware: [recorder.middleware()], maxConcurrency: 8 },
    );
    const published = events(20, 10);
    publishEvents(broker, topic, published);
    await c.start();
    await drained(broker, topic);
    await c.stop();
    const report = recorder.check({ published, endOfHistory: monotonicMicros() });
    expect(report.overlaps).toEqual([]);
    expect(report.orderViolations).toEqual([]);
    expect(report.lost).toEqual([]);
    expect(maxRunning).toBeGreaterThan(1);
    expect(maxRunning).toBeLessThanOrEqual(8);
  });

  it('does not let a slow key hold back the other keys', async () => {
    const { broker, topic } = setup();
    const done = new Map<string, number>();
    // The slow key is held until every other key is done: held back by it, they never would be.
    const slow = gate();
    const c = consumer(
      broker,
      topic,
      async (e) => {
        if (e.key === 'slow') await slow.opened;
        done.set(e.key, (done.get(e.key) ?? 0) + 1);
      },
      { maxConcurrency: 4 },
    );
    await c.start();
    const list: TestEvent[] = [{ key: 'slow', seq: -1 }, { key: 'slow', seq: -2 }, ...events(30, 5)];
    publishEvents(broker, topic, list);
    await waitFor('fast keys done', () => [...done.entries()].filter(([k, n]) => k !== 'slow' && n === 5).length === 30);
    expect(done.get('slow') ?? 0).toBe(0);
    expect(c.stats().running).toBe(1);
    slow.open();
    await waitFor('slow key done', () => done.get('slow') === 2);
  });

  it('keeps at most maxInFlight messages unsettled and pauses the transport above it', async () => {
    const { broker, topic } = setup();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const c = consumer(broker, topic, () => gate, { maxInFlight: 50, maxConcurrency: 10 });
    let paused = 0;
    c.on('transport.paused', () => (paused += 1));
    await c.start();
    publishEvents(broker, topic, events(100, 3));
    await waitFor('50 in flight', () => c.stats().inFlight === 50);
    // Dispatch rounds in which an unpaused transport would deliver more.
    await rounds();
    expect(c.stats().inFlight).toBe(50);
    expect(c.stats().paused).toBe(true);
    expect(paused).toBe(1);
    expect(broker.topicStats(topic, 'exclusive-consumer').unacked).toBeLessThanOrEqual(50);
    release();
    await waitFor('300 processed', () => c.stats().processed === 300);
    expect(c.stats().paused).toBe(false);
  });
});

describe('engine: failures', () => {
  it('retries in place with the key blocked, then succeeds in order', async () => {
    const { broker, topic } = setup();
    const attempts: Array<[number, number]> = [];
    const c = consumer(broker, topic, (e, ctx) => {
      attempts.push([e.seq, ctx.attempt]);
      if (e.seq === 0 && ctx.attempt < 3) throw new Error('transient');
    });
    await c.start();
    publishEvents(broker, topic, [
      { key: 'a', seq: 0 },
      { key: 'a', seq: 1 },
    ]);
    await waitFor('2 processed', () => c.stats().processed === 2);
    expect(attempts).toEqual([
      [0, 1],
      [0, 2],
      [0, 3],
      [1, 1],
    ]);
    expect(c.stats()).toMatchObject({ failed: 2, retried: 2, deadLettered: 0 });
  });

  it('dead-letters after the last attempt with the reason, and acknowledges it', async () => {
    const { broker, topic } = setup();
    // The reason quotes a foreign error's message only where privacy allows it.
    const c = consumer(
      broker,
      topic,
      () => {
        throw new Error('always broken');
      },
      { privacy: { errorMessages: true } },
    );
    const dead: string[] = [];
    c.on('message.dead-lettered', (e) => dead.push(e.messageId));
    await c.start();
    publishEvents(broker, topic, [{ key: 'a', seq: 0 }]);
    await waitFor('dead-lettered', () => c.stats().deadLettered === 1);
    expect(c.stats()).toMatchObject({ failed: 3, retried: 2, processed: 0 });
    const [letter] = broker.peek(defaultDeadLetterTopic(topic, 'exclusive-consumer'));
    expect(letter?.properties[DeadLetterProperties.reason]).toBe('always broken');
    expect(letter?.properties[DeadLetterProperties.code]).toBe('Error');
    expect(letter?.properties[DeadLetterProperties.attempts]).toBe('3');
    expect(letter?.properties[DeadLetterProperties.originMessageId]).toBe(dead[0]);
    await waitFor('settled', () => broker.topicStats(topic, 'exclusive-consumer').unacked === 0);
    expect(broker.topicStats(topic, 'exclusive-consumer').backlog).toBe(0);
  });

  it('dead-letters at once on a non-retriable error', async () => {
    const { broker, topic } = setup();
    let calls = 0;
    const c = consumer(broker, topic, () => {
      calls += 1;
      throw new NonRetriableError('rule says no');
    });
    await c.start();
    publishEvents(broker, topic, [{ key: 'a', seq: 0 }]);
    await waitFor('dead-lettered', () => c.stats().deadLettered === 1);
    expect(calls).toBe(1);
    const [letter] = broker.peek(defaultDeadLetterTopic(topic, 'exclusive-consumer'));
    expect(letter?.properties[DeadLetterProperties.code]).toBe('EC_NON_RETRIABLE');
  });

  it('wraps a thrown non-Error in a HandlerError and retries it', async () => {
    const { broker, topic } = setup();
    const errors: unknown[] = [];
    const c = consumer(broker, topic, (_e, ctx) => {
      // eslint-disable-next-line @typescript-eslint/only-throw-error
      if (ctx.attempt === 1) throw 'a string';
    });
    c.on('message.failed', (e) => errors.push(e.error));
    await c.start();
    publishEvents(broker, topic, [{ key: 'a', seq: 0 }]);
    await waitFor('processed', () => c.stats().processed === 1);
    expect(errors).toHaveLength(1);
    expect(isHandlerError(errors[0])).toBe(true);
    expect((errors[0] as Error).cause).toBe('a string');
  });

  it('dead-letters bad input with a typed reason and never runs the handler for it', async () => {
    const { broker, topic } = setup();
    let handled = 0;
    const c = createExclusiveConsumer<Record<string, unknown>>(
      topic,
      (e) => {
        if (e.explode) throw new Error('no key here');
        return e.key as string;
      },
      () => {
        handled += 1;
      },
      { transport: broker.transport(), initialPosition: 'earliest', privacy: { errorMessages: true } },
    );
    consumers.push(c);
    await c.start();
    publishRaw(broker, topic, '{not json', 'x');
    publishRaw(broker, topic, JSON.stringify({ explode: true }), 'x');
    publishRaw(broker, topic, JSON.stringify({ key: '' }), 'x');
    publishRaw(broker, topic, JSON.stringify({ key: 42 }), 'x');
    publishRaw(broker, topic, JSON.stringify({ key: 'x' }), 'x');
    await waitFor('4 dead letters + 1 processed', () => c.stats().deadLettered === 4 && c.stats().processed === 1);
    expect(handled).toBe(1);
    const letters = broker.peek(defaultDeadLetterTopic(topic, 'exclusive-consumer'));
    expect(letters.map((m) => m.properties[DeadLetterProperties.code])).toEqual(['EC_DECODE', 'EC_KEY', 'EC_KEY', 'EC_KEY']);
    expect(letters[1]?.properties[DeadLetterProperties.reason]).toContain('no key here');
    expect(letters[2]?.properties[DeadLetterProperties.reason]).toContain('an empty string');
    expect(letters[3]?.properties[DeadLetterProperties.reason]).toContain('number');
    expect(letters.every((m) => m.properties[DeadLetterProperties.attempts] === '0')).toBe(true);
  });

  it('aborts the signal on timeout, keeps the key blocked until the handler settles, and retries', async () => {
    const { broker, topic } = setup();
    const log: string[] = [];
    const reasons: unknown[] = [];
    const c = consumer(
      broker,
      topic,
      async (e, ctx) => {
        log.push(`start ${e.seq}/${ctx.attempt}`);
        if (e.seq === 0 && ctx.attempt === 1) {
          await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
          reasons.push(ctx.signal.reason);
          await sleep(30); // still running after the abort: the next event must wait
        }
        log.push(`end ${e.seq}/${ctx.attempt}`);
      },
      { handlerTimeoutMs: 50 },
    );
    await c.start();
    publishEvents(broker, topic, [
      { key: 'a', seq: 0 },
      { key: 'a', seq: 1 },
    ]);
    await waitFor('2 processed', () => c.stats().processed === 2);
    expect(reasons[0]).toBeInstanceOf(HandlerTimeoutError);
    expect(log).toEqual(['start 0/1', 'end 0/1', 'start 0/2', 'end 0/2', 'start 1/1', 'end 1/1']);
    expect(c.stats().failed).toBe(1);
  });
});

describe('engine: documented failure paths', () => {
  it('negatively acknowledges a message whose dead letter cannot be published, and dead-letters it when it comes back', async () => {
    const { broker, topic } = setup();
    const inner = broker.transport();
    const deadLetterTries: Array<{ id: string; redeliveryCount: number }> = [];
    const nacked: string[] = [];
    let refusals = 1;
    const wrap = (delivery: Delivery): Delivery =>
      new Proxy(delivery, {
        get(target, property) {
          if (property === 'deadLetter') {
            return async (reason: DeadLetterReason): Promise<void> => {
              deadLetterTries.push({ id: target.id, redeliveryCount: target.redeliveryCount });
              if (refusals-- > 0) throw new TransportError('dead-letter topic unavailable');
              await target.deadLetter(reason);
            };
          }
          if (property === 'nack') return () => (nacked.push(target.id), target.nack());
          const value: unknown = Reflect.get(target, property, target);
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
        },
      });
    // The broker's transport, its deliveries' dead-lettering failing once.
    const transport: Transport = {
      name: inner.name,
      createProducer: (t) => inner.createProducer(t),
      subscribe: (options) => inner.subscribe({ ...options, onMessages: (batch) => options.onMessages(batch.map(wrap)) }),
    };
    let runs = 0;
    const c = consumer(
      broker,
      topic,
      () => {
        runs += 1;
        throw new NonRetriableError('rule says no');
      },
      { transport },
    );
    const phases: string[] = [];
    const released: string[] = [];
    c.on('error', (e) => phases.push(e.phase));
    c.on('message.released', (e) => released.push(e.reason));
    await c.start();
    publishEvents(broker, topic, [{ key: 'a', seq: 0 }]);
    await drained(broker, topic);
    // Refused once: given back (never acknowledged), delivered again, dead-lettered then.
    expect(deadLetterTries).toHaveLength(2);
    const [first, second] = deadLetterTries;
    expect(second?.id).toBe(first?.id);
    expect(second?.redeliveryCount).toBe((first?.redeliveryCount ?? 0) + 1);
    expect(nacked).toEqual([first?.id]);
    expect(phases).toEqual(['dead-letter']);
    expect(released).toEqual(['dead-letter publish failed']);
    expect(runs).toBe(2);
    expect(broker.peek(defaultDeadLetterTopic(topic, 'exclusive-consumer'))).toHaveLength(1);
    expect(c.stats()).toMatchObject({ deadLettered: 1, processed: 0, released: 1 });
  });

  it('reports a handler that ignores its abort past twice its timeout as stuck, once, and keeps its key until it returns', async () => {
    const { broker, topic } = setup();
    const held = gate();
    const stuck: Array<{ key: string; messageId: string; runningMs: number }> = [];
    const startedOfA: number[] = [];
    let stuckId = '';
    let probeAborted = false;
    const c = consumer(
      broker,
      topic,
      async (e, ctx) => {
        if (e.key === 'a') startedOfA.push(e.seq);
        if (e.seq === 0) {
          stuckId = ctx.message.id;
          await held.opened; // ignores ctx.signal
        }
        if (e.key === 'probe' && ctx.attempt === 1) {
          await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
          probeAborted = true;
        }
      },
      { handlerTimeoutMs: 50 },
    );
    c.on('handler.stuck', (e) => stuck.push(e));
    await c.start();
    publishEvents(broker, topic, [
      { key: 'a', seq: 0 },
      { key: 'a', seq: 1 },
    ]);
    await waitFor('stuck reported', () => stuck.length > 0);
    expect(stuck).toEqual([{ key: 'a', messageId: stuckId, runningMs: expect.any(Number) }]);
    expect(stuck[0]?.runningMs).toBeGreaterThanOrEqual(100);
    // Timeouts keep being checked: a run started after the report is aborted by its own timeout,
    // by which time the stuck run was checked again and again, and not reported again.
    publishEvents(broker, topic, [{ key: 'probe', seq: 2 }]);
    await waitFor('probe aborted by its timeout', () => probeAborted);
    expect(stuck).toHaveLength(1);
    expect(startedOfA).toEqual([0]);
    held.open();
    await waitFor('the key runs on', () => startedOfA.includes(1));
    expect(startedOfA).toEqual([0, 0, 1]);
    expect(stuck).toHaveLength(1);
  });
});

describe('engine: lifecycle', () => {
  it('stop drains running handlers, acknowledges them and releases the rest to another consumer', async () => {
    const { broker, topic } = setup();
    // Every run, in the order runs ended: a redelivered message shows up twice.
    const runs: Array<{ seq: number; by: string }> = [];
    const started: Array<{ seq: number; by: string }> = [];
    const handler =
      (name: string): Handler<TestEvent> =>
      async (e) => {
        started.push({ seq: e.seq, by: name });
        await sleep(20);
        runs.push({ seq: e.seq, by: name });
      };
    const a = consumer(broker, topic, handler('a'), { consumerName: 'a', maxConcurrency: 2, mode: 'shared' });
    await a.start();
    const published = events(10, 5);
    publishEvents(broker, topic, published);
    await waitFor('a started', () => a.stats().running === 2);
    const report = await a.stop();
    expect(report.abandoned).toBe(0);
    expect(report.released).toBeGreaterThan(0);
    const byA = runs.filter((r) => r.by === 'a').map((r) => r.seq);
    // Drained: every run a started ended before stop returned.
    expect([...byA].sort((x, y) => x - y)).toEqual(started.map((r) => r.seq).sort((x, y) => x - y));
    expect(byA.length).toBeGreaterThanOrEqual(2);
    const b = consumer(broker, topic, handler('b'), { consumerName: 'b', mode: 'shared' });
    await b.start();
    // The end: the broker holds nothing unacknowledged. Whatever ran is then read from the runs.
    await drained(broker, topic);
    await b.stop();
    const byB = runs.filter((r) => r.by === 'b').map((r) => r.seq);
    // a's runs were acknowledged: none of them came to b again. b ran the released rest, once each.
    expect(byB.filter((seq) => byA.includes(seq))).toEqual([]);
    expect([...byA, ...byB].sort((x, y) => x - y)).toEqual(published.map((e) => e.seq));
    expect(a.stats().state).toBe('stopped');
    expect(a.stats().inFlight).toBe(0);
  });

  it('stop without drain aborts running handlers with ConsumerStoppedError', async () => {
    const { broker, topic } = setup();
    let reason: unknown;
    const c = consumer(broker, topic, async (_e, ctx) => {
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
      reason = ctx.signal.reason;
      throw ctx.signal.reason;
    });
    await c.start();
    publishEvents(broker, topic, [{ key: 'a', seq: 0 }]);
    await waitFor('running', () => c.stats().running === 1);
    const report = await c.stop({ drain: false, timeoutMs: 1000 });
    expect(reason).toBeInstanceOf(ConsumerStoppedError);
    expect(report).toMatchObject({ abandoned: 0, released: 1 });
    expect(c.stats().deadLettered).toBe(0);
  });

  it('reports handlers still running after the stop timeout as abandoned', async () => {
    const { broker, topic } = setup();
    // Held until stop has returned: still running when the stop timeout is up, whatever the load.
    const held = gate();
    const c = consumer(broker, topic, () => held.opened);
    await c.start();
    publishEvents(broker, topic, [{ key: 'a', seq: 0 }]);
    await waitFor('running', () => c.stats().running === 1);
    const report = await c.stop({ timeoutMs: 30 });
    held.open();
    expect(report.abandoned).toBe(1);
  });

  it('is idempotent on stop and refuses to start again', async () => {
    const { broker, topic } = setup();
    const c = consumer(broker, topic, () => undefined);
    const before = await c.stop();
    expect(before.released).toBe(0);
    await expect(c.start()).rejects.toSatisfy(isConsumerStateError);
    const d = consumer(broker, topic, () => undefined);
    await d.start();
    await d.start();
    const [r1, r2] = await Promise.all([d.stop(), d.stop()]);
    expect(r1).toBe(r2);
    expect(d.stats().state).toBe('stopped');
  });

  it('lets listeners unsubscribe and survives a listener that throws', async () => {
    const { broker, topic } = setup();
    const c = consumer(broker, topic, () => undefined);
    const seen: string[] = [];
    const errors: string[] = [];
    const off = c.on('message.processed', (e) => seen.push(e.messageId));
    c.on('message.processed', () => {
      throw new Error('listener bug');
    });
    c.on('error', (e) => errors.push(e.phase));
    await c.start();
    publishEvents(broker, topic, [{ key: 'a', seq: 0 }]);
    await waitFor('1 processed', () => c.stats().processed === 1);
    off();
    publishEvents(broker, topic, [{ key: 'a', seq: 1 }]);
    await waitFor('2 processed', () => c.stats().processed === 2);
    expect(seen).toHaveLength(1);
    expect(errors).toEqual(['listener:message.processed', 'listener:message.processed']);
  });
});

describe('engine: modes and checks', () => {
  it('counts keys that differ from the partition key in broker-routed modes', async () => {
    const { broker, topic } = setup();
    const mismatches: Array<string | undefined> = [];
    const c = consumer(broker, topic, () => undefined);
    c.on('key.mismatch', (e) => mismatches.push(e.partitionKey));
    await c.start();
    publishRaw(broker, topic, JSON.stringify({ key: 'a', seq: 0 }), 'b');
    publishRaw(broker, topic, JSON.stringify({ key: 'a', seq: 1 }));
    publishRaw(broker, topic, JSON.stringify({ key: 'a', seq: 2 }), 'a');
    await waitFor('3 processed', () => c.stats().processed === 3);
    expect(mismatches).toEqual(['b', undefined]);
    expect(c.stats().keyMismatches).toBe(2);
  });

  it("warns that 'shared' mode gives no exclusivity", async () => {
    const { broker, topic } = setup();
    const c = consumer(broker, topic, () => undefined, { mode: 'shared' });
    const warnings: string[] = [];
    c.on('warning', (w) => warnings.push(w.code));
    await c.start();
    expect(warnings).toEqual(['EC_SHARED_MODE']);
  });

  it('hands a fencing token to handlers when a token source is configured', async () => {
    const { broker, topic } = setup();
    let next = 0;
    // Read in the handler, checked outside it: a failed expect inside would only be retried.
    const seen: Array<{ token: number | undefined; fence: unknown }> = [];
    const c = consumer(
      broker,
      topic,
      async (_e, ctx) => {
        seen.push({ token: ctx.fencingToken, fence: ctx.fence });
        await sleep(1);
      },
      { tokenSource: { nextToken: async () => ++next } },
    );
    await c.start();
    publishEvents(broker, topic, [{ key: 'a', seq: 0 }]);
    await waitFor('1 processed', () => c.stats().processed === 1);
    publishEvents(broker, topic, [{ key: 'a', seq: 1 }]);
    await waitFor('2 processed', () => c.stats().processed === 2);
    expect(seen).toEqual([
      { token: 1, fence: { token: 1, owner: c.consumerName } },
      { token: 2, fence: { token: 2, owner: c.consumerName } },
    ]);
    expect(c.stats().failed).toBe(0);
  });

  it('keeps memory bounded by what is in flight, not by keys seen', async () => {
    const { broker, topic } = setup();
    const c = consumer(broker, topic, () => undefined, { maxInFlight: 500 });
    await c.start();
    const list: TestEvent[] = [];
    for (let i = 0; i < 20_000; i++) list.push({ key: `key-${i}`, seq: i });
    publishEvents(broker, topic, list);
    // The timeout only stops a hang; throughput is measured by npm run bench.
    await waitFor('20k processed', () => c.stats().processed === 20_000, 60_000);
    expect(c.stats()).toMatchObject({ activeKeys: 0, inFlight: 0, running: 0 });
  }, 90_000);
});

describe('engine: options', () => {
  const make = (options: Record<string, unknown>) => () =>
    createExclusiveConsumer('t', () => 'k', () => undefined, options as ExclusiveConsumerOptions<unknown>);

  it.each([
    [{ maxConcurrency: 0 }, 'maxConcurrency', 'Expected `maxConcurrency` to be an integer ≥ 1, got 0'],
    [{ maxInFlight: 1.5 }, 'maxInFlight', 'Expected `maxInFlight` to be an integer ≥ 1, got 1.5'],
    [{ mode: 'exclusive' }, 'mode', "Expected `mode` to be one of 'key-shared', 'failover', 'shared-locked', 'shared', got \"exclusive\""],
    [{ mode: 'shared-locked' }, 'lock', undefined],
    [{ retry: { maxAttempts: 0 } }, 'retry.maxAttempts', undefined],
    [{ retry: { jitter: 2 } }, 'retry.jitter', undefined],
    [{ retry: { initialDelayMs: 500, maxDelayMs: 100 } }, 'retry.maxDelayMs', undefined],
    [{ lease: { ttlMs: 5 } }, 'lease.ttlMs', undefined],
    [{ lease: { whenBusy: 'spin' } }, 'lease.whenBusy', undefined],
    [{ transport: {} }, 'transport.subscribe', undefined],
    [{ middleware: [42] }, 'middleware[0]', undefined],
    [{ subscription: '' }, 'subscription', undefined],
  ])('rejects %j naming %s', (options, option, message) => {
    let caught: unknown;
    try {
      make(options)();
    } catch (error) {
      caught = error;
    }
    expect(isConfigurationError(caught)).toBe(true);
    expect((caught as { option: string }).option).toBe(option);
    if (message !== undefined) expect((caught as Error).message).toBe(message);
  });

  it('rejects a bad topic, key function or handler', () => {
    expect(() => createExclusiveConsumer('', () => 'k', () => undefined)).toThrow(/`topic`/);
    expect(() => createExclusiveConsumer('t', 'k' as never, () => undefined)).toThrow(/`keyFn`/);
    expect(() => createExclusiveConsumer('t', () => 'k', undefined as never)).toThrow(/`handler`/);
  });
});
