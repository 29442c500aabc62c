/**
 * What a service needs around a consumer: pause and resume, a health view for probes, a first
 * subscription that survives a broker still starting, and strict exclusivity (a lock in a
 * broker-routed mode).
 */
import { describe, expect, it } from 'vitest';
import { ConfigurationError, MemoryLock, TransportError, createExclusiveConsumer, isTransportError, type Transport } from '../../src/index.js';
import { type Subscription } from '../../src/adapters.js';
import { HistoryRecorder, monotonicMicros } from '../../src/testing/index.js';
import { drained, publishEvents, resourcesPerTest, sleep, waitFor, type TestEvent } from '../helpers/index.js';

const { consumers, setup } = resourcesPerTest();

/** A transport whose first `failures` subscriptions fail with `error`. */
function flakyTransport(inner: Transport, failures: number, error: () => Error): Transport & { attempts: number } {
  const wrapper = {
    name: inner.name,
    attempts: 0,
    createProducer: inner.createProducer.bind(inner),
    subscribe(options: Parameters<Transport['subscribe']>[0]): Promise<Subscription> {
      wrapper.attempts += 1;
      if (wrapper.attempts <= failures) return Promise.reject(error());
      return inner.subscribe(options);
    },
  };
  return wrapper;
}

const refused = (): Error => new TransportError('connect ECONNREFUSED 127.0.0.1:8080');

describe('pause, resume and health', () => {
  it('pause() stops taking messages while what was received keeps running; resume() takes them again', async () => {
    const { broker, topic } = setup();
    const ran: number[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const c = createExclusiveConsumer<TestEvent>(
      topic,
      (e) => e.key,
      async (e) => {
        if (e.seq === 0) await gate;
        ran.push(e.seq);
      },
      { transport: broker.transport(), initialPosition: 'earliest' },
    );
    consumers.push(c);
    await c.start();
    publishEvents(broker, topic, [{ key: 'a', seq: 0 }, { key: 'a', seq: 1 }]);
    await waitFor('seq 0 running', () => c.stats().running === 1);
    c.pause();
    expect(c.health()).toMatchObject({ paused: true, inFlight: 2, running: 1 });
    publishEvents(broker, topic, [{ key: 'b', seq: 2 }]);
    release();
    await waitFor('what was received ran', () => ran.length === 2);
    // The broker holds seq 2 while paused: give it every chance to arrive.
    await sleep(100);
    expect(ran).toEqual([0, 1]);
    expect(broker.topicStats(topic, 'exclusive-consumer').backlog).toBe(1);
    c.resume();
    await waitFor('seq 2 ran', () => ran.length === 3);
    expect(ran).toEqual([0, 1, 2]);
    expect(c.health()).toMatchObject({ paused: false, inFlight: 0, oldestUnsettledMs: 0 });
  });

  it('health() reports connection, the oldest unsettled message and the last error (privacy applied)', async () => {
    const { broker, topic } = setup();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const c = createExclusiveConsumer<TestEvent>(topic, (e) => e.key, () => gate, {
      transport: broker.transport(),
      initialPosition: 'earliest',
      consumerName: 'probe',
    });
    consumers.push(c);
    expect(c.health()).toMatchObject({ state: 'idle', connected: false, lastError: undefined });
    await c.start();
    expect(c.health()).toMatchObject({ state: 'running', connected: true });
    publishEvents(broker, topic, [{ key: 'a', seq: 0 }]);
    await waitFor('running', () => c.stats().running === 1);
    await sleep(60);
    expect(c.health().oldestUnsettledMs).toBeGreaterThanOrEqual(50);
    broker.kill('probe');
    const { lastError } = c.health();
    expect(lastError).toMatchObject({ phase: 'transport', type: 'TransportError', code: 'EC_TRANSPORT' });
    expect(lastError?.message).toBeUndefined(); // a driver's words may quote a URL: hidden by default
    expect(lastError?.at).toBeInstanceOf(Date);
    release();
  });
});

describe('start() while the broker is not reachable yet', () => {
  it('retries a refused first subscription with backoff, then starts', async () => {
    const { broker, topic } = setup();
    const transport = flakyTransport(broker.transport(), 2, refused);
    const errors: string[] = [];
    const c = createExclusiveConsumer<TestEvent>(topic, (e) => e.key, () => undefined, { transport, initialPosition: 'earliest' });
    consumers.push(c);
    c.on('error', ({ phase, error }) => errors.push(`${phase}: ${error.message}`));
    await c.start();
    expect(transport.attempts).toBe(3);
    expect(errors).toEqual(['start: connect ECONNREFUSED 127.0.0.1:8080', 'start: connect ECONNREFUSED 127.0.0.1:8080']);
    expect(c.stats().state).toBe('running');
  });

  it('gives up after startTimeoutMs with a TransportError naming the topic and the attempts', async () => {
    const { broker, topic } = setup();
    const transport = flakyTransport(broker.transport(), Infinity, refused);
    const c = createExclusiveConsumer<TestEvent>(topic, (e) => e.key, () => undefined, { transport, startTimeoutMs: 400 });
    consumers.push(c);
    const error = await c.start().catch((e: unknown) => e);
    expect(isTransportError(error)).toBe(true);
    expect((error as Error).message).toMatch(new RegExp(`Could not subscribe to ${topic} in \\d+ ms \\(${transport.attempts} attempts\\): connect ECONNREFUSED`));
    expect(transport.attempts).toBeGreaterThan(1);
    expect((error as Error).cause).toBeInstanceOf(TransportError);
    expect(c.stats().state).toBe('idle');
  });

  it('does not retry a failure that retrying cannot fix', async () => {
    const { broker, topic } = setup();
    const transport = flakyTransport(broker.transport(), 1, () => new ConfigurationError('type', 'a type the broker accepts', 'x'));
    const c = createExclusiveConsumer<TestEvent>(topic, (e) => e.key, () => undefined, { transport });
    consumers.push(c);
    await expect(c.start()).rejects.toBeInstanceOf(ConfigurationError);
    expect(transport.attempts).toBe(1);
  });
});

describe('strict exclusivity: a lock in a broker-routed mode', () => {
  it('key-shared: a killed consumer keeps its key’s lease while its handler runs, so the new owner waits for it', async () => {
    const { broker, topic } = setup();
    const lock = new MemoryLock();
    const recorder = new HistoryRecorder<TestEvent>({ seqOf: (e) => e.seq });
    const tokens: Array<number | undefined> = [];
    const make = (name: string, delayMs: number) => {
      const c = createExclusiveConsumer<TestEvent>(
        topic,
        (e) => e.key,
        async (_e, ctx) => {
          tokens.push(ctx.fencingToken);
          await sleep(delayMs);
        },
        {
          transport: broker.transport(),
          consumerName: name,
          initialPosition: 'earliest',
          lock,
          lease: { ttlMs: 2000, retryDelayMs: 5 },
          middleware: [recorder.middleware()],
        },
      );
      consumers.push(c);
      return c;
    };
    const first = make('first', 150);
    await first.start();
    const published: TestEvent[] = [];
    for (let i = 0; i < 6; i++) published.push({ key: 'shopper', seq: i });
    publishEvents(broker, topic, published);
    await waitFor('first running', () => first.stats().running === 1);
    broker.kill('first'); // its keys move to the next consumer at once; its handler still runs
    const second = make('second', 1);
    await second.start();
    // The end of the history: the broker holds nothing unacknowledged. Loss is read from the runs.
    await drained(broker, topic);
    await Promise.all([first.stop(), second.stop()]);
    const report = recorder.check({ published, endOfHistory: monotonicMicros() });
    expect(report.overlaps).toEqual([]);
    expect(report.lost).toEqual([]);
    // The new owner waited for the lease: its first run started after the killed run ended.
    const killedRun = recorder.runs.find((r) => r.consumer === 'first');
    const firstOfSecond = recorder.runs.filter((r) => r.consumer === 'second').sort((a, b) => a.start - b.start)[0];
    expect(killedRun).toBeDefined();
    expect(firstOfSecond?.start ?? 0).toBeGreaterThanOrEqual(killedRun?.end ?? Infinity);
    expect(second.stats().leasesLost).toBe(0);
    expect(tokens.every((t) => typeof t === 'number')).toBe(true);
  });
});

describe('lag counters', () => {
  it('counts the deepest key queue and the time runs waited for their lease', async () => {
    const { broker, topic } = setup();
    const lock = new MemoryLock();
    await lock.tryAcquire('a', 'someone-else', 80); // the first lease waits about 80 ms
    const c = createExclusiveConsumer<TestEvent>(topic, (e) => e.key, () => undefined, {
      transport: broker.transport(),
      initialPosition: 'earliest',
      mode: 'shared-locked',
      lock,
      lease: { retryDelayMs: 5 },
    });
    consumers.push(c);
    publishEvents(broker, topic, [{ key: 'a', seq: 0 }, { key: 'a', seq: 1 }, { key: 'a', seq: 2 }, { key: 'b', seq: 3 }]);
    await c.start();
    await waitFor('all processed', () => c.stats().processed === 4);
    expect(c.stats().queueDepthHighWater).toBe(3);
    expect(c.stats().leaseWaitMs).toBeGreaterThanOrEqual(50);
    expect(c.stats().redeliveredRuns).toBe(0);
  });

  it('counts runs of messages the broker delivered before', async () => {
    const { broker, topic } = setup();
    const lock = new MemoryLock();
    await lock.tryAcquire('a', 'someone-else', 60); // busy: its messages go back, and come again
    const c = createExclusiveConsumer<TestEvent>(topic, (e) => e.key, () => undefined, {
      transport: broker.transport(),
      initialPosition: 'earliest',
      mode: 'shared-locked',
      lock,
      lease: { whenBusy: 'release' },
    });
    consumers.push(c);
    publishEvents(broker, topic, [{ key: 'a', seq: 0 }, { key: 'b', seq: 1 }]);
    await c.start();
    await waitFor('both processed', () => c.stats().processed === 2);
    expect(c.stats().released).toBeGreaterThanOrEqual(1);
    expect(c.stats().redeliveredRuns).toBe(1);
  });
});
