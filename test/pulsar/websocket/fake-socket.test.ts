/**
 * The WebSocket transport against a scripted fake of the broker's WebSocket API (no broker): permit
 * accounting, pause, dead-connection detection, reconnection, producer correlation and errors.
 */
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defaultDeadLetterTopic, isTransportError } from '../../../src/index.js';
import { type Delivery, type SubscribeOptions } from '../../../src/adapters.js';
import { pulsarWebSocketTransport, type WebSocketConstructor, type WebSocketInit, type WebSocketLike } from '../../../src/pulsar/index.js';
import { sleep, waitFor } from './helpers.js';
import { MAX_ASKS } from '../../../src/pulsar/quiet-partitions.js';

/** The client end of a fake connection; the test plays the server through it. */
class FakeSocket extends EventEmitter implements WebSocketLike {
  static all: FakeSocket[] = [];
  /** What the next connection does: open, or refuse with an HTTP status. */
  static next: { refuse?: number; body?: string } = {};
  /** How many connections after `next` are refused too (HTTP 503). */
  static refusals = 0;
  readyState = 0;
  readonly sent: Array<Record<string, unknown>> = [];
  pings = 0;
  /** Answer pings (a live server does). */
  pong = true;

  constructor(
    readonly url: string,
    readonly init: WebSocketInit,
  ) {
    super();
    FakeSocket.all.push(this);
    let plan = FakeSocket.next;
    FakeSocket.next = {};
    if (plan.refuse === undefined && FakeSocket.refusals > 0) {
      FakeSocket.refusals -= 1;
      plan = { refuse: 503, body: 'broker busy' };
    }
    setImmediate(() => {
      if (plan.refuse !== undefined) {
        const response = new EventEmitter() as EventEmitter & { statusCode: number };
        response.statusCode = plan.refuse;
        this.emit('unexpected-response', {}, response);
        response.emit('data', Buffer.from(plan.body ?? ''));
        response.emit('end');
        return;
      }
      this.readyState = 1;
      this.emit('open');
    });
  }

  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }

  ping(): void {
    this.pings += 1;
    if (this.pong) setImmediate(() => this.emit('pong'));
  }

  close(code = 1000): void {
    this.serverClose(code);
  }

  terminate(): void {
    this.serverClose(1006);
  }

  /** The server closes the connection. */
  serverClose(code: number): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    setImmediate(() => this.emit('close', code, Buffer.alloc(0)));
  }

  /** The server sends a JSON frame. */
  push(frame: unknown): void {
    this.emit('message', Buffer.from(JSON.stringify(frame)), false);
  }

  permits(): number {
    return this.sent.filter((f) => f.type === 'permit').reduce((n, f) => n + (f.permitMessages as number), 0);
  }
}

const Fake = FakeSocket as unknown as WebSocketConstructor;
let nextId = 0;
/** A consumer message frame as the API sends it; the id is base64 of a MessageIdData (ledger 1, entry n). */
function message(key: string, body = '{}'): Record<string, unknown> {
  nextId += 1;
  return {
    messageId: Buffer.from([0x08, 0x01, 0x10, nextId & 0x7f]).toString('base64'),
    payload: Buffer.from(body).toString('base64'),
    properties: { n: String(nextId) },
    publishTime: '2026-01-01T00:00:00.000Z',
    redeliveryCount: 0,
    key,
  };
}

afterEach(() => {
  FakeSocket.all = [];
  FakeSocket.next = {};
  FakeSocket.refusals = 0;
  vi.useRealTimers();
  vi.restoreAllMocks();
});

/** Let the fake's socket events (on `setImmediate`, left real) fire. */
async function turns(count = 5): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

function subscribeOptions(extra: Partial<SubscribeOptions> = {}) {
  const deliveries: Delivery[] = [];
  const errors: Error[] = [];
  let lost = 0;
  const options: SubscribeOptions = {
    topic: 'orders',
    subscription: 'sub',
    consumerName: 'c1',
    type: 'key-shared',
    initialPosition: 'earliest',
    receiverQueueSize: 4,
    deadLetterTopic: defaultDeadLetterTopic('orders', 'sub'),
    onMessages: (batch) => deliveries.push(...batch),
    onError: (e) => errors.push(e),
    onDeliveriesLost: () => {
      lost += 1;
    },
    ...extra,
  };
  return { options, deliveries, errors, lost: () => lost };
}

describe('pulsar-ws consumer against a fake broker', () => {
  it('asks for pull mode with the mapped parameters and never lets unsettled deliveries exceed the queue', async () => {
    const transport = pulsarWebSocketTransport({ url: 'http://broker:8080/prefix', webSocket: Fake, token: 't0k' });
    const c = subscribeOptions({ nackRedeliveryDelayMs: 250, maxRedeliverCount: 3 });
    const subscription = await transport.subscribe(c.options);
    // maxRedeliverCount: the dead-letter topic's retaining subscription was created first (a
    // consumer that connected, asked for nothing and left).
    expect(FakeSocket.all).toHaveLength(2);
    const dlq = FakeSocket.all[0] as FakeSocket;
    expect(dlq.url).toContain('/prefix/ws/v2/consumer/persistent/public/default/orders-sub-DLQ/sub?');
    expect(dlq.url).toContain('subscriptionInitialPosition=Earliest');
    expect(dlq.readyState).toBe(3);
    expect(dlq.permits()).toBe(0);
    const socket = FakeSocket.all[1] as FakeSocket;
    const url = new URL(socket.url);
    expect(url.protocol).toBe('ws:');
    expect(url.pathname).toBe('/prefix/ws/v2/consumer/persistent/public/default/orders/sub');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      subscriptionType: 'Key_Shared',
      receiverQueueSize: '4',
      consumerName: 'c1',
      pullMode: 'true',
      subscriptionInitialPosition: 'Earliest',
      negativeAckRedeliveryDelay: '250',
      maxRedeliverCount: '3',
      deadLetterTopic: 'persistent://public/default/orders-sub-DLQ',
    });
    expect(socket.init.headers).toEqual({ Authorization: 'Bearer t0k' });
    expect(socket.permits()).toBe(4);

    // What the broker may still send (permits granted, minus messages sent) plus what is delivered
    // and unsettled: never more than the queue.
    let pushed = 0;
    const settled = new Set<Delivery>();
    const push = (key: string): void => {
      pushed += 1;
      socket.push(message(key));
    };
    const committed = (): number => socket.permits() - pushed + (c.deliveries.length - settled.size);
    for (let i = 0; i < 4; i++) push(`k${i}`);
    await waitFor('4 deliveries', () => c.deliveries.length === 4);
    expect(committed()).toBe(4);
    const first = c.deliveries[0] as Delivery;
    expect(first.partitionKey).toBe('k0');
    expect(first.topic).toBe('persistent://public/default/orders');
    expect(first.publishTime).toBe(Date.parse('2026-01-01T00:00:00.000Z'));
    expect(new TextDecoder().decode(first.data)).toBe('{}');

    // One settled: room for one, below the permit batch (1 of 4) while the broker holds none: granted.
    await first.ack();
    settled.add(first);
    await waitFor('ack frame', () => socket.sent.some((f) => f.messageId === first.id && f.type === undefined));
    await waitFor('one more permit', () => socket.permits() > 4);
    expect(committed()).toBe(4);
    const second = c.deliveries[1] as Delivery;
    second.nack();
    settled.add(second);
    await waitFor('nack frame', () => socket.sent.some((f) => f.type === 'negativeAcknowledge'));
    await waitFor('another permit', () => socket.permits() > 5);
    expect(committed()).toBe(4);
    // The broker uses the permits it holds; settling three deliveries frees three places, granted
    // back together.
    push('k4');
    push('k5');
    await waitFor('6 deliveries', () => c.deliveries.length === 6);
    expect(committed()).toBe(4);
    for (const d of [c.deliveries[2], c.deliveries[4], c.deliveries[5]] as Delivery[]) {
      await d.ack();
      settled.add(d);
    }
    await waitFor('the places granted again', () => committed() >= 4);
    // Let any further top-up go out before reading the bound again.
    await sleep(20);
    expect(committed()).toBe(4);
    expect(socket.permits()).toBe(pushed + 3);
    await subscription.close();
    expect(socket.readyState).toBe(3);
    await expect(Promise.resolve().then(() => (c.deliveries[3] as Delivery).ack())).rejects.toSatisfy(isTransportError);
  });

  it('holds what arrives while paused and hands it over on resume, granting nothing meanwhile', async () => {
    const transport = pulsarWebSocketTransport({ url: 'ws://broker:8080', webSocket: Fake });
    const c = subscribeOptions();
    const subscription = await transport.subscribe(c.options);
    const socket = FakeSocket.all[0] as FakeSocket;
    subscription.pause();
    socket.push(message('a'));
    socket.push(message('b'));
    await sleep(20);
    expect(c.deliveries).toHaveLength(0);
    subscription.resume();
    expect(c.deliveries.map((d) => d.partitionKey)).toEqual(['a', 'b']);
    subscription.pause();
    for (const d of c.deliveries) await d.ack();
    await sleep(20);
    expect(socket.permits()).toBe(4); // no top-up while paused
    subscription.resume();
    expect(socket.permits()).toBe(6);
    await subscription.close();
  });

  it('Failover: asks for redelivery of a partition gone quiet with nothing unsettled, again while it stays quiet, so that what was given back is not stranded', async () => {
    // Pulsar 4.0 ignores a Failover consumer's redelivery request while it is not the partition's
    // active consumer, or during the hand-over delay, and can skip the dispatch of the hand-over
    // rewind: messages given back then would wait for the next message published to the
    // partition. Only a later request of the active consumer makes the broker redeliver them.
    const transport = pulsarWebSocketTransport({ url: 'ws://broker:8080', webSocket: Fake, failoverRedeliverAfterMs: 60 });
    const c = subscribeOptions({ type: 'failover' });
    const subscription = await transport.subscribe(c.options);
    const socket = FakeSocket.all[0] as FakeSocket;
    expect(new URL(socket.url).searchParams.get('subscriptionType')).toBe('Failover');
    const on = (partition: number, entry: number): Record<string, unknown> => ({
      ...message(`p${partition}`),
      messageId: Buffer.from([0x08, 0x02, 0x10, entry, 0x18, partition]).toString('base64'),
    });
    socket.push(on(1, 1));
    socket.push(on(1, 2));
    socket.push(on(2, 3));
    await waitFor('3 deliveries', () => c.deliveries.length === 3);
    const [p1a, p1b, p2] = c.deliveries as [Delivery, Delivery, Delivery];
    const requests = (id: string): number => socket.sent.filter((f) => f.type === 'negativeAcknowledge' && f.messageId === id).length;

    await p1a.ack();
    await p2.ack();
    // Partition 2 is quiet with nothing unsettled: a request. Partition 1 still has p1b here.
    await waitFor('a request for partition 2', () => requests(p2.id) >= 1);
    expect(requests(p1b.id)).toBe(0);

    p1b.nack(); // given back, e.g. after a stale fencing token
    expect(requests(p1b.id)).toBe(1);
    await waitFor('the request once partition 1 went quiet', () => requests(p1b.id) === 2);

    // The broker may have ignored it: asked again while quiet, with growing spacing, a few times.
    await waitFor(`${MAX_ASKS} requests for partition 2`, () => requests(p2.id) === MAX_ASKS, 5000);
    await sleep(300);
    expect(requests(p2.id)).toBe(MAX_ASKS); // no more in this quiet spell: nothing arrived since

    socket.push(on(2, 4)); // partition 2 delivers again: asked again once it is quiet again
    await waitFor('4th delivery', () => c.deliveries.length === 4);
    await (c.deliveries[3] as Delivery).ack();
    await waitFor('request for the 4th', () => requests((c.deliveries[3] as Delivery).id) === 1);
    await subscription.close();

    // Other subscription types never ask.
    const shared = subscribeOptions({ type: 'key-shared' });
    const other = await transport.subscribe(shared.options);
    const socket2 = FakeSocket.all.at(-1) as FakeSocket;
    socket2.push(on(1, 5));
    await waitFor('delivery', () => shared.deliveries.length === 1);
    await (shared.deliveries[0] as Delivery).ack();
    await sleep(200);
    expect(socket2.sent.filter((f) => f.type === 'negativeAcknowledge')).toHaveLength(0);
    await other.close();
  });

  it('Failover: a partition does not go quiet while the subscription is paused (the proxy may hold its messages)', async () => {
    const transport = pulsarWebSocketTransport({ url: 'ws://broker:8080', webSocket: Fake, failoverRedeliverAfterMs: 60 });
    const c = subscribeOptions({ type: 'failover' });
    const subscription = await transport.subscribe(c.options);
    const socket = FakeSocket.all.at(-1) as FakeSocket;
    socket.push(message('p0'));
    await waitFor('delivery', () => c.deliveries.length === 1);
    const only = c.deliveries[0] as Delivery;
    subscription.pause();
    await only.ack();
    await sleep(250);
    const requests = (): number => socket.sent.filter((f) => f.type === 'negativeAcknowledge').length;
    expect(requests()).toBe(0);
    subscription.resume();
    await sleep(20);
    expect(requests()).toBe(0); // the clock starts again at the resume
    await waitFor('the request once quiet', () => requests() === 1);
    await subscription.close();
  });

  it('Failover: after a reconnection, each partition seen before is asked for once quiet, on the new connection', async () => {
    // The broker may make this consumer a partition's active one again on its new connection, by
    // the hand-over whose rewind can go undispatched, without sending it anything of the partition.
    const transport = pulsarWebSocketTransport({
      url: 'ws://broker:8080',
      webSocket: Fake,
      failoverRedeliverAfterMs: 60,
      reconnect: { initialDelayMs: 5, maxDelayMs: 10 },
    });
    const c = subscribeOptions({ type: 'failover' });
    const subscription = await transport.subscribe(c.options);
    const first = FakeSocket.all.at(-1) as FakeSocket;
    const id = Buffer.from([0x08, 0x02, 0x10, 0x07, 0x18, 0x03]).toString('base64'); // partition 3
    first.push({ ...message('k'), messageId: id });
    await waitFor('delivery', () => c.deliveries.length === 1);
    // Unsettled when its connection drops: partition 3 never went quiet on the first connection.
    first.serverClose(1006);
    await waitFor('reconnected', () => FakeSocket.all.length === 2 && FakeSocket.all[1]?.readyState === 1);
    const second = FakeSocket.all[1] as FakeSocket;
    await waitFor('the request on the new connection', () => second.sent.some((f) => f.type === 'negativeAcknowledge' && f.messageId === id));
    expect(first.sent.filter((f) => f.type === 'negativeAcknowledge')).toHaveLength(0);
    await subscription.close();
  });

  it('replaces a connection that stopped answering pings, declaring its deliveries lost', async () => {
    const transport = pulsarWebSocketTransport({
      url: 'http://broker:8080',
      webSocket: Fake,
      pingIntervalMs: 20,
      reconnect: { initialDelayMs: 5, maxDelayMs: 10 },
    });
    const c = subscribeOptions();
    const subscription = await transport.subscribe(c.options);
    const first = FakeSocket.all[0] as FakeSocket;
    first.push(message('k'));
    await waitFor('delivery', () => c.deliveries.length === 1);
    first.pong = false;
    await waitFor('reconnected', () => FakeSocket.all.length === 2 && FakeSocket.all[1]?.readyState === 1, 2000);
    expect(first.readyState).toBe(3);
    expect(c.lost()).toBe(1);
    expect(c.errors.map((e) => e.message).join('\n')).toMatch(/No pong[\s\S]*lost its connection/);
    const second = FakeSocket.all[1] as FakeSocket;
    await waitFor('permits on the new session', () => second.permits() === 4);
    expect((c.deliveries[0] as Delivery).nack()).toBeUndefined(); // a no-op now
    expect(second.sent.filter((f) => f.type === 'negativeAcknowledge')).toEqual([]);
    await subscription.close();
  });

  it('keeps reconnecting with backoff while the broker refuses, and reports each failure', async () => {
    const transport = pulsarWebSocketTransport({ url: 'http://broker:8080', webSocket: Fake, reconnect: { initialDelayMs: 5, maxDelayMs: 20 } });
    const c = subscribeOptions();
    const subscription = await transport.subscribe(c.options);
    expect(subscription.connected).toBe(true);
    FakeSocket.next = { refuse: 500, body: 'topic not ready' };
    (FakeSocket.all[0] as FakeSocket).serverClose(1005);
    await waitFor('the drop seen', () => subscription.connected === false);
    await waitFor('reconnected after a refusal', () => FakeSocket.all.length === 3 && FakeSocket.all[2]?.readyState === 1, 2000);
    expect(subscription.connected).toBe(true);
    expect(c.errors.some((e) => isTransportError(e) && /HTTP 500\): topic not ready/.test(e.message))).toBe(true);
    expect(c.lost()).toBe(0); // nothing had been delivered on the lost connection
    await subscription.close();
  });

  it('backs off between refused reconnections: doubling from the initial delay up to the cap, never sooner, jittered downwards', async () => {
    const transport = pulsarWebSocketTransport({ url: 'http://broker:8080', webSocket: Fake, reconnect: { initialDelayMs: 100, maxDelayMs: 400 } });
    const c = subscribeOptions();
    const subscription = await transport.subscribe(c.options);
    // The reconnection timers on a fake clock; no jitter drawn (the longest delay) until said.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const random = vi.spyOn(Math, 'random').mockReturnValue(0);
    FakeSocket.refusals = 3;
    (FakeSocket.all[0] as FakeSocket).serverClose(1006);
    await turns();
    const attempts = (): number => FakeSocket.all.length - 1;
    for (const [n, delay] of [[1, 100], [2, 200], [3, 400], [4, 400]] as const) {
      await vi.advanceTimersByTimeAsync(delay - 1);
      await turns();
      expect(attempts(), `attempt ${n} not before ${delay} ms`).toBe(n - 1);
      await vi.advanceTimersByTimeAsync(1);
      await turns();
      expect(attempts(), `attempt ${n} at ${delay} ms`).toBe(n);
    }
    // The fourth attempt was accepted: the next loss starts from the initial delay again, and the
    // jitter draws each delay down to as little as half of it.
    expect(FakeSocket.all.at(-1)?.readyState).toBe(1);
    expect(c.errors.filter((e) => /HTTP 503\): broker busy/.test(e.message))).toHaveLength(3);
    random.mockReturnValue(0.9999);
    (FakeSocket.all.at(-1) as FakeSocket).serverClose(1006);
    await turns();
    await vi.advanceTimersByTimeAsync(49);
    await turns();
    expect(attempts()).toBe(4);
    await vi.advanceTimersByTimeAsync(1);
    await turns();
    expect(attempts()).toBe(5);
    vi.useRealTimers();
    await subscription.close();
  });

  it('rejects subscribe with the HTTP status and body when the first connection is refused', async () => {
    const transport = pulsarWebSocketTransport({ url: 'http://broker:8080', webSocket: Fake });
    FakeSocket.next = { refuse: 409, body: 'Exclusive consumer is already connected' };
    const error = await transport.subscribe(subscribeOptions().options).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isTransportError(error)).toBe(true);
    expect((error as { context: Record<string, unknown> }).context).toMatchObject({ status: 409, body: 'Exclusive consumer is already connected' });
    expect((error as { retriable: boolean }).retriable).toBe(true);
  });
});

describe('pulsar-ws producer against a fake broker', () => {
  it('correlates out-of-order replies by context and rejects send errors with a TransportError', async () => {
    const transport = pulsarWebSocketTransport({ url: 'http://broker:8080', webSocket: Fake });
    const producer = await transport.createProducer('persistent://acme/shop/orders');
    const socket = FakeSocket.all[0] as FakeSocket;
    expect(new URL(socket.url).pathname).toBe('/ws/v2/producer/persistent/acme/shop/orders');
    const sends = [0, 1, 2].map((i) =>
      producer.send({ data: new TextEncoder().encode(`m${i}`), partitionKey: `k${i}`, properties: { i: String(i) } }),
    );
    await waitFor('3 frames', () => socket.sent.length === 3);
    expect(socket.sent[0]).toEqual({ payload: Buffer.from('m0').toString('base64'), context: '1', properties: { i: '0' }, key: 'k0' });
    socket.push({ result: 'ok', messageId: 'id-2', context: socket.sent[2]?.context });
    socket.push({ result: 'send-error:3', errorMsg: 'Topic is terminated', context: socket.sent[1]?.context });
    socket.push({ result: 'ok', messageId: 'id-0', context: socket.sent[0]?.context });
    await expect(sends[0]).resolves.toBe('id-0');
    await expect(sends[2]).resolves.toBe('id-2');
    await expect(sends[1]).rejects.toSatisfy((e: unknown) => isTransportError(e) && /send-error:3\): Topic is terminated/.test((e as Error).message));
    await producer.close();
  });

  it('rejects what was in flight when the connection drops, and reconnects for the next send', async () => {
    const transport = pulsarWebSocketTransport({ url: 'http://broker:8080', webSocket: Fake, reconnect: { initialDelayMs: 5, maxDelayMs: 10 } });
    const producer = await transport.createProducer('orders');
    const socket = FakeSocket.all[0] as FakeSocket;
    const inFlight = producer.send({ data: new Uint8Array([1]) });
    await waitFor('frame', () => socket.sent.length === 1);
    socket.serverClose(1005);
    await expect(inFlight).rejects.toSatisfy((e: unknown) => isTransportError(e) && /may or may not be stored/.test((e as Error).message));
    const next = producer.send({ data: new Uint8Array([2]) });
    await waitFor('new connection', () => FakeSocket.all.length === 2 && (FakeSocket.all[1] as FakeSocket).sent.length === 1);
    const second = FakeSocket.all[1] as FakeSocket;
    second.push({ result: 'ok', messageId: 'id-x', context: second.sent[0]?.context });
    await expect(next).resolves.toBe('id-x');
    await producer.close();
  });

  it('keeps at most maxPendingSends in flight and rejects sends not confirmed within sendTimeoutMs', async () => {
    const transport = pulsarWebSocketTransport({ url: 'http://broker:8080', webSocket: Fake, maxPendingSends: 2, sendTimeoutMs: 100 });
    const producer = await transport.createProducer('orders');
    const socket = FakeSocket.all[0] as FakeSocket;
    const sends = [0, 1, 2].map(() => producer.send({ data: new Uint8Array([0]) }));
    await sleep(10);
    expect(socket.sent).toHaveLength(2);
    socket.push({ result: 'ok', messageId: 'a', context: socket.sent[0]?.context });
    await waitFor('third sent once room was made', () => socket.sent.length === 3);
    await expect(sends[0]).resolves.toBe('a');
    await expect(sends[1]).rejects.toSatisfy((e: unknown) => isTransportError(e) && /not confirmed within 100 ms/.test((e as Error).message));
    await expect(sends[2]).rejects.toSatisfy(isTransportError);
    await producer.close();
  });
});

describe('pulsar-ws consumer after the process stood still', () => {
  /** Block the event loop, as SIGSTOP or a frozen VM would: no timer runs meanwhile. */
  const standStill = (ms: number): void => {
    const until = performance.now() + ms;
    while (performance.now() < until) {
      // busy: the point is that nothing else runs
    }
  };

  it('holds frames that arrived during the stall until a pong proves the connection outlived it', async () => {
    const transport = pulsarWebSocketTransport({ url: 'http://broker:8080', webSocket: Fake, pingIntervalMs: 0 });
    const c = subscribeOptions();
    const subscription = await transport.subscribe(c.options);
    const socket = FakeSocket.all.at(-1) as FakeSocket;
    await turns();
    socket.pong = false; // the pong comes when the test says
    standStill(400);
    socket.push(message('a'));
    await turns();
    expect(c.deliveries).toHaveLength(0);
    expect(socket.pings).toBe(1);
    socket.emit('pong');
    await turns();
    expect(c.deliveries.map((d) => d.partitionKey)).toEqual(['a']);
    await subscription.close();
  });

  it('drops them when the close is read before any pong: their messages are the broker’s again', async () => {
    const transport = pulsarWebSocketTransport({ url: 'http://broker:8080', webSocket: Fake, pingIntervalMs: 0, reconnect: { initialDelayMs: 60_000 } });
    const c = subscribeOptions();
    const subscription = await transport.subscribe(c.options);
    const socket = FakeSocket.all.at(-1) as FakeSocket;
    await turns();
    socket.pong = false;
    standStill(400);
    socket.push(message('a'));
    socket.serverClose(1001);
    await turns();
    socket.emit('pong');
    await turns();
    expect(c.deliveries).toHaveLength(0);
    await subscription.close();
  });

  it('hands frames over at once when the event loop kept running', async () => {
    const transport = pulsarWebSocketTransport({ url: 'http://broker:8080', webSocket: Fake, pingIntervalMs: 0 });
    const c = subscribeOptions();
    const subscription = await transport.subscribe(c.options);
    const socket = FakeSocket.all.at(-1) as FakeSocket;
    await turns();
    socket.push(message('a'));
    await turns();
    expect(c.deliveries).toHaveLength(1);
    expect(socket.pings).toBe(0);
    await subscription.close();
  });
});
