/**
 * The fault kit of the embedded broker (`brokerFaults`): each fault's effect on the transport, and
 * on a consumer (the engine's reconnect handling, its record of completions), one test each; then
 * the kit's refusals.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  createExclusiveConsumer,
  isConfigurationError,
  isTransportError,
  type ExclusiveConsumer,
  type HandlerContext,
} from '../../../src/index.js';
import { brokerFaults, type BrokerFaults } from '../../../src/testing/index.js';
import { MemoryBroker } from '../../../src/transports/memory/index.js';
import { ackEach, bytes, consume, settle, sleep, text, waitFor } from './helpers.js';

let broker: MemoryBroker;
const consumers: ExclusiveConsumer[] = [];
afterEach(async () => {
  await Promise.all(consumers.splice(0).map((c) => c.stop({ timeoutMs: 1000 })));
  await broker?.close();
});

interface Event {
  readonly key: string;
  readonly seq: number;
}

const publish = (topic: string, keys: readonly string[], from = 0): Event[] =>
  keys.map((key, i) => {
    const event = { key, seq: from + i };
    broker.publish(topic, { data: bytes(JSON.stringify(event)), partitionKey: key });
    return event;
  });

/** A consumer on `broker` recording who ran what; `hold` keeps a run going until the test lets it go. */
function consumer(
  transport: ReturnType<MemoryBroker['transport']>,
  topic: string,
  name: string,
  mode: 'key-shared' | 'failover' | 'shared',
  runs: Array<{ consumer: string; seq: number; aborted?: boolean }>,
  options: { hold?: (event: Event, signal: AbortSignal) => Promise<void> | undefined; rememberCompleted?: number } = {},
): ExclusiveConsumer {
  const c = createExclusiveConsumer<Event>(
    topic,
    (e) => e.key,
    async (event: Event, ctx: HandlerContext<Event>) => {
      const run: { consumer: string; seq: number; aborted?: boolean } = { consumer: name, seq: event.seq };
      runs.push(run);
      await options.hold?.(event, ctx.signal);
      if (ctx.signal.aborted) run.aborted = true;
    },
    {
      transport,
      mode,
      consumerName: name,
      subscription: 'sub',
      initialPosition: 'earliest',
      ...(options.rememberCompleted === undefined ? {} : { rememberCompleted: options.rememberCompleted }),
    },
  );
  consumers.push(c);
  return c;
}

const seqs = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe('dropConnection', () => {
  it('voids the deliveries of the connection, hands its messages over, then connects again', async () => {
    broker = new MemoryBroker({ nackRedeliveryDelayMs: 10_000 });
    const faults = brokerFaults(broker);
    const t = broker.transport();
    const a = await consume(t, { topic: 'd', consumerName: 'a', type: 'key-shared' });
    const b = await consume(t, { topic: 'd', consumerName: 'b', type: 'key-shared', onBatch: ackEach });
    publish('d', Array.from({ length: 40 }, (_, i) => `k${i}`));
    await waitFor('40 deliveries', () => a.deliveries.length + b.deliveries.length === 40);
    const held = [...a.deliveries];
    expect(held.length).toBeGreaterThan(0);
    expect(held.every((d) => d.lost === false)).toBe(true);

    const dropping = faults.dropConnection('a', { reconnectDelayMs: 50 });
    // At once: a's deliveries are void, its acks reject, it is told, its messages go to b.
    expect(held.every((d) => d.lost === true)).toBe(true);
    expect(a.subscription.connected).toBe(false);
    expect(isTransportError(await Promise.resolve(held[0]!.ack()).catch((e: unknown) => e))).toBe(true);
    expect(a.errors.some((e) => isTransportError(e) && e.retriable && /connection dropped/.test(e.message))).toBe(true);
    await waitFor('b gets a’s messages', () => b.deliveries.length === 40);
    expect(b.deliveries.slice(40 - held.length).map((d) => d.id)).toEqual(held.map((d) => d.id));

    expect(await dropping).toEqual(['a']);
    expect(a.subscription.connected).toBe(true);
    // Connected again: a owns its keys again for what comes next.
    publish('d', Array.from({ length: 40 }, (_, i) => `k${i}`), 40);
    await waitFor('a gets new messages', () => a.deliveries.length > held.length);
    expect(a.deliveries.slice(held.length).every((d) => d.lost === false && Number(JSON.parse(text(d.data)).seq) >= 40)).toBe(true);
  });

  it('on a consumer: its running handler aborts and the new owner runs the messages (failover)', async () => {
    broker = new MemoryBroker({ activeConsumerFailoverDelayMs: 30 });
    const faults = brokerFaults(broker);
    const t = broker.transport();
    const runs: Array<{ consumer: string; seq: number; aborted?: boolean }> = [];
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const a = consumer(t, 'f', 'a', 'failover', runs, { hold: (e) => (e.seq === 0 ? held : undefined) });
    await a.start();
    publish('f', ['k', 'k', 'k']);
    await waitFor('a runs the first', () => runs.length === 1);
    const b = consumer(t, 'f', 'b', 'failover', runs);
    await b.start();

    const dropping = faults.dropConnection('a', { reconnectDelayMs: 20 });
    await waitFor('b, active now, runs all three', () => runs.filter((r) => r.consumer === 'b').length === 3);
    release();
    await dropping;
    await waitFor('a’s run ends', () => runs[0]!.aborted !== undefined);
    expect(runs[0]).toMatchObject({ consumer: 'a', seq: 0, aborted: true });
    expect(runs.filter((r) => r.consumer === 'b').map((r) => r.seq)).toEqual([0, 1, 2]);
    // a is back (and active again after the failover delay): new events run there.
    publish('f', ['k'], 3);
    await waitFor('the new event ran', () => runs.some((r) => r.seq === 3));
    expect(a.health().connected).toBe(true);
    await waitFor('settled', () => broker.topicStats('f', 'sub').backlog === 0);
  });

  it('key-shared: a consumer that connects again before the next dispatch keeps its keys', async () => {
    broker = new MemoryBroker();
    const faults = brokerFaults(broker);
    const t = broker.transport();
    const a = await consume(t, { topic: 'ks', consumerName: 'a', type: 'key-shared' });
    const b = await consume(t, { topic: 'ks', consumerName: 'b', type: 'key-shared', onBatch: ackEach });
    publish('ks', Array.from({ length: 40 }, (_, i) => `k${i}`));
    await waitFor('40 deliveries', () => a.deliveries.length + b.deliveries.length === 40);
    const held = a.deliveries.length;
    const bBefore = b.deliveries.length;
    await faults.dropConnection('a', { reconnectDelayMs: 0 });
    await waitFor('a gets its messages again', () => a.deliveries.length === 2 * held);
    expect(b.deliveries).toHaveLength(bBefore);
    expect(a.deliveries.slice(held).every((d) => d.redeliveryCount === 1 && d.lost === false)).toBe(true);
  });
});

describe('loseAcks', () => {
  it('the messages come back after the reconnection, and the consumer acknowledges them instead of running them', async () => {
    broker = new MemoryBroker();
    const faults = brokerFaults(broker);
    const t = broker.transport();
    expect(t.acknowledgementsCanBeLost).toBe(true);
    const runs: Array<{ consumer: string; seq: number }> = [];
    const c = consumer(t, 'la', 'a', 'key-shared', runs);
    await c.start();
    const losing = faults.loseAcks({ count: 20, reconnectDelayMs: 10 });
    publish('la', Array.from({ length: 20 }, (_, i) => `k${i % 5}`));
    expect(await losing).toEqual({ lost: 20, consumers: ['a'] });
    await waitFor('everything acknowledged', () => broker.topicStats('la', 'sub').backlog === 0);
    expect(c.stats().repeatsSkipped).toBe(20);
    expect(runs.map((r) => r.seq).sort((x, y) => x - y)).toEqual(seqs(20));
  });

  it('without the record of completions, the handler runs them again', async () => {
    broker = new MemoryBroker();
    const faults = brokerFaults(broker);
    const runs: Array<{ consumer: string; seq: number }> = [];
    const c = consumer(broker.transport(), 'lb', 'a', 'key-shared', runs, { rememberCompleted: 0 });
    await c.start();
    const losing = faults.loseAcks({ forMs: 150, reconnectDelayMs: 10 });
    publish('lb', ['k', 'k', 'k']);
    expect((await losing).lost).toBe(3);
    await waitFor('everything acknowledged', () => broker.topicStats('lb', 'sub').backlog === 0);
    expect(runs.map((r) => r.seq)).toEqual([0, 1, 2, 0, 1, 2]);
    expect(c.stats().repeatsSkipped).toBe(0);
  });

  it('with reconnect: false the messages stay with the consumer until its connection drops', async () => {
    broker = new MemoryBroker();
    const faults = brokerFaults(broker);
    const t = broker.transport();
    const a = await consume(t, { topic: 'lc', consumerName: 'a', type: 'shared', onBatch: ackEach });
    const losing = faults.loseAcks({ count: 3, reconnect: false });
    publish('lc', ['x', 'y', 'z']);
    expect(await losing).toEqual({ lost: 3, consumers: ['a'] });
    expect(broker.topicStats('lc', 'sub')).toMatchObject({ backlog: 3, unacked: 3 });
    // Acknowledged as far as the consumer knows: its queue has room for more.
    publish('lc', ['w']);
    await waitFor('a gets the next one', () => a.deliveries.length === 4);
    expect(broker.topicStats('lc', 'sub').backlog).toBe(3);
    await faults.dropConnection('a', { reconnectDelayMs: 0 });
    await waitFor('redelivered and acknowledged', () => broker.topicStats('lc', 'sub').backlog === 0);
    expect(a.deliveries.slice(4).map((d) => text(d.data))).toHaveLength(3);
  });
});

describe('pauseDispatch', () => {
  it('delivers nothing while paused, everything after, while acknowledgements go on', async () => {
    broker = new MemoryBroker();
    const faults = brokerFaults(broker);
    const t = broker.transport();
    const a = await consume(t, { topic: 'p', consumerName: 'a', type: 'shared' });
    publish('p', ['k']);
    await waitFor('one delivery', () => a.deliveries.length === 1);
    let resumed = false;
    const pausing = faults.pauseDispatch(150).then(() => (resumed = true));
    publish('p', ['k', 'k', 'k'], 1);
    settle(a, a.deliveries[0]!);
    await sleep(80);
    expect(a.deliveries).toHaveLength(1);
    expect(resumed).toBe(false);
    expect(broker.topicStats('p', 'sub')).toMatchObject({ backlog: 3, unacked: 0 });
    await pausing;
    await waitFor('the rest', () => a.deliveries.length === 4);
  });

  it('resumeDispatch ends a pause without an end; pausing again extends it', async () => {
    broker = new MemoryBroker();
    const faults = brokerFaults(broker);
    const a = await consume(broker.transport(), { topic: 'q', consumerName: 'a', type: 'shared' });
    const first = faults.pauseDispatch(20);
    const open = faults.pauseDispatch();
    expect(open).toBe(first);
    publish('q', ['k']);
    await sleep(60);
    expect(a.deliveries).toHaveLength(0);
    faults.resumeDispatch();
    await first;
    await waitFor('delivered', () => a.deliveries.length === 1);
    faults.resumeDispatch(); // not paused: nothing happens
  });
});

describe('unloadTopic', () => {
  it('reconnects every consumer of the topic, and redelivers what was unacknowledged as new', async () => {
    broker = new MemoryBroker({ nackRedeliveryDelayMs: 60_000 });
    broker.createTopic('u', { partitions: 2 });
    const faults = brokerFaults(broker);
    const t = broker.transport();
    const a = await consume(t, { topic: 'u', consumerName: 'a', type: 'shared' });
    const b = await consume(t, { topic: 'u', consumerName: 'b', type: 'shared' });
    const other = await consume(t, { topic: 'elsewhere', consumerName: 'o', type: 'shared' });
    publish('u', ['x', 'y', 'z', 'w']);
    await waitFor('4 deliveries', () => a.deliveries.length + b.deliveries.length === 4);
    // One is negatively acknowledged: a broker loading the topic afresh does not wait out its delay.
    const nacked = (a.deliveries[0] ?? b.deliveries[0])!;
    settle(a.deliveries.includes(nacked) ? a : b, nacked, 'nack');
    expect(await faults.unloadTopic('u', { reconnectDelayMs: 10 })).toEqual(['a', 'b']);
    expect(other.subscription.connected).toBe(true);
    expect(other.errors).toEqual([]);
    await waitFor('all 4 again', () => a.deliveries.length + b.deliveries.length === 8);
    const again = [...a.deliveries, ...b.deliveries].filter((d) => !d.lost);
    expect(again).toHaveLength(4);
    expect(again.every((d) => d.redeliveryCount === 0)).toBe(true);
    expect(new Set(again.map((d) => d.id)).has(nacked.id)).toBe(true);
  });
});

describe('restart', () => {
  it('drops every connection, refuses new ones while down, loses nothing and redelivers once back', async () => {
    broker = new MemoryBroker();
    const faults = brokerFaults(broker);
    const t = broker.transport();
    const producer = await t.createProducer('r');
    const runs: Array<{ consumer: string; seq: number }> = [];
    // The first run lasts until the connection is lost, and fails: its message stays unacknowledged.
    let held = false;
    const hold = (e: Event, signal: AbortSignal): Promise<void> | undefined => {
      if (e.seq !== 0 || held) return undefined;
      held = true;
      return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error)));
    };
    const c = consumer(t, 'r', 'a', 'key-shared', runs, { hold });
    await c.start();
    publish('r', ['k0', 'k1']);
    await waitFor('two runs', () => runs.length === 2);

    const restarting = faults.restart({ downMs: 150, reconnectDelayMs: 10 });
    expect(c.health().connected).toBe(false);
    const refused = await t
      .subscribe({
        topic: 'r',
        subscription: 'other',
        consumerName: 'x',
        type: 'shared',
        initialPosition: 'earliest',
        receiverQueueSize: 10,
        deadLetterTopic: 'r-DLQ',
        onMessages: () => undefined,
      })
      .catch((e: unknown) => e);
    expect(isTransportError(refused) && refused.retriable).toBe(true);
    let sent = false;
    const sending = producer.send({ data: bytes(JSON.stringify({ key: 'k2', seq: 2 })), partitionKey: 'k2' }).then(() => (sent = true));
    await sleep(60);
    expect(sent).toBe(false);
    expect(runs).toHaveLength(2);

    expect(await restarting).toEqual(['a']);
    await sending;
    // Back: the unacknowledged first event runs again (as new), the sent one runs.
    await waitFor('seq 0 again and seq 2', () => runs.filter((r) => r.seq === 0).length === 2 && runs.some((r) => r.seq === 2));
    expect(runs.filter((r) => r.seq === 1)).toHaveLength(1);
  });
});

describe('the kit refuses what it cannot do', () => {
  const expectConfig = async (p: Promise<unknown> | (() => unknown), option: string): Promise<void> => {
    const error = typeof p === 'function' ? (() => { try { p(); } catch (e) { return e; } return undefined; })() : await p.catch((e: unknown) => e);
    expect(isConfigurationError(error), String(error)).toBe(true);
    expect((error as { option: string }).option).toBe(option);
  };

  it('bad arguments, with the option they name', async () => {
    broker = new MemoryBroker();
    const faults: BrokerFaults = brokerFaults(broker);
    await expectConfig(() => brokerFaults({} as MemoryBroker), 'broker');
    await expectConfig(() => brokerFaults(broker, { reconnectDelayMs: -1 }), 'reconnectDelayMs');
    await expectConfig(faults.dropConnection(42 as unknown as string), 'consumers');
    await expectConfig(faults.dropConnection('', {}), 'consumers');
    await expectConfig(faults.dropConnection('a', { reconectDelayMs: 1 } as never), 'reconectDelayMs');
    await expectConfig(faults.unloadTopic('no-such-topic'), 'topic');
    await expectConfig(faults.restart({ downMs: Number.NaN }), 'downMs');
    await expectConfig(faults.pauseDispatch(-5), 'forMs');
    await expectConfig(faults.loseAcks({}), 'options');
    await expectConfig(faults.loseAcks({ count: 0 }), 'count');
    await expectConfig(faults.loseAcks({ forMs: 10, reconnect: 'yes' as unknown as boolean }), 'reconnect');
    expect(await faults.dropConnection('nobody')).toEqual([]);
  });

  it('one window of lost acknowledgements and one restart at a time', async () => {
    broker = new MemoryBroker();
    const faults = brokerFaults(broker);
    const window = faults.loseAcks({ forMs: 30 });
    await expectConfig(brokerFaults(broker).loseAcks({ count: 1 }), 'loseAcks');
    expect(await window).toEqual({ lost: 0, consumers: [] });
    const restart = faults.restart({ downMs: 30 });
    await expectConfig(faults.restart(), 'restart');
    await restart;
  });

  it('no lost acknowledgements for consumers whose transport predates the kit', async () => {
    broker = new MemoryBroker();
    const before = broker.transport();
    expect(before.acknowledgementsCanBeLost).toBe(false);
    await consume(before, { topic: 'old', consumerName: 'old', type: 'shared' });
    const faults = brokerFaults(broker);
    expect(broker.transport().acknowledgementsCanBeLost).toBe(true);
    await expectConfig(faults.loseAcks({ forMs: 10 }), 'loseAcks');
    // Selecting only consumers that know is fine.
    expect(await faults.loseAcks({ forMs: 10, consumers: (c) => c.name !== 'old' })).toEqual({ lost: 0, consumers: [] });
  });

  it('a closed broker rejects with a TransportError', async () => {
    broker = new MemoryBroker();
    const faults = brokerFaults(broker);
    await broker.close();
    for (const p of [faults.dropConnection('a'), faults.restart(), faults.pauseDispatch(1), faults.loseAcks({ count: 1 })]) {
      expect(isTransportError(await p.catch((e: unknown) => e))).toBe(true);
    }
    expect(() => brokerFaults(broker)).toThrow(/closed/);
  });
});
