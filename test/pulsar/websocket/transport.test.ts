import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DeadLetterProperties, defaultDeadLetterTopic, isConfigurationError, isTransportError, type Transport } from '../../../src/index.js';
import { type Delivery, type SubscribeOptions } from '../../../src/adapters.js';
import WebSocket from 'ws';
import {
  pulsarAdmin,
  pulsarWebSocketTransport,
  resolveTopic,
  type WebSocketConstructor,
  type WebSocketInit,
  type WebSocketLike,
} from '../../../src/pulsar/index.js';
import { partitionOf } from '../../../src/pulsar/websocket/message-id.js';
import { MAX_ASKS } from '../../../src/pulsar/quiet-partitions.js';
import { uniqueName } from '../../../src/testing/index.js';
import { recordingWebSocket, skipReason, sleep, waitFor, webUrl } from './helpers.js';

const skip = skipReason();
const encoder = new TextEncoder();
const transports: Transport[] = [];
afterEach(async () => {
  await Promise.all(transports.splice(0).map((t) => t.close?.()));
});

function track<T extends Transport>(t: T): T {
  transports.push(t);
  return t;
}

describe('pulsar-ws options and names (no broker)', () => {
  it('validates options at creation, naming the option', () => {
    const bad: Array<[unknown, string]> = [
      [{ url: 'ftp://x' }, 'url'],
      [{ url: '' }, 'url'],
      [{ url: 'http://h:8080', reconnect: { initialDelayMs: 0 } }, 'reconnect.initialDelayMs'],
      [{ url: 'http://h:8080', reconnect: { initialDelayMs: 500, maxDelayMs: 100 } }, 'reconnect.maxDelayMs'],
      [{ url: 'http://h:8080', pingIntervalMs: -1 }, 'pingIntervalMs'],
      [{ url: 'http://h:8080', tenant: 'a/b' }, 'tenant'],
      [{ url: 'http://h:8080', headers: { x: 1 } }, 'headers.x'],
      [{ url: 'http://h:8080', deadLetterSubscription: '' }, 'deadLetterSubscription'],
      [{ url: 'http://h:8080', webSocket: 'ws' }, 'webSocket'],
    ];
    for (const [options, option] of bad) {
      let thrown: unknown;
      try {
        pulsarWebSocketTransport(options as never);
      } catch (error) {
        thrown = error;
      }
      expect(isConfigurationError(thrown), JSON.stringify(options)).toBe(true);
      expect((thrown as { option: string }).option).toBe(option);
    }
  });

  it('resolves short, tenant/namespace and full topic names', () => {
    const t = pulsarWebSocketTransport({ url: 'https://broker:8443/pulsar/', tenant: 'acme', namespace: 'shop' });
    expect(t.name).toBe('pulsar-ws');
    expect(t.topicName('orders')).toBe('persistent://acme/shop/orders');
    expect(t.topicName('t/ns/orders')).toBe('persistent://t/ns/orders');
    expect(t.topicName('non-persistent://t/ns/x')).toBe('non-persistent://t/ns/x');
    expect(resolveTopic('a b', 'public', 'default').path).toBe('persistent/public/default/a%20b');
    expect(() => t.topicName('a/b')).toThrow(/topic name/);
    expect(() => t.topicName('persistent://t/cluster/ns/x')).toThrow(/topic name/);
  });

  it('reads the partition from a WebSocket message id', () => {
    // Ids as the 4.0.7 broker sent them: (ledger, entry) of a non-partitioned topic, then partitions 0–2.
    expect(partitionOf('CAQQADAA')).toBe(-1);
    expect(partitionOf('CAQQABgAMAA=')).toBe(0);
    expect(partitionOf('CAUQABgBMAA=')).toBe(1);
    expect(partitionOf('CAYQARgCMAA=')).toBe(2);
    expect(partitionOf('not base64 at all!')).toBe(-1);
  });

  it('never imports ws at module load (an optional peer, imported on first use)', () => {
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (path.endsWith('.ts')) files.push(path);
      }
    };
    walk(join(__dirname, '../../../src/pulsar'));
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      expect(text, file).not.toMatch(/^import(?!\s+type)[^;]*from\s+['"]ws['"]/m);
      expect(text, file).not.toMatch(/require\(['"]ws['"]\)/);
    }
  });
});

describe.skipIf(skip !== undefined)('pulsar-ws transport on the live broker', () => {
  const base = (topic: string, extra: Partial<SubscribeOptions> = {}) => {
    const deliveries: Delivery[] = [];
    const errors: Error[] = [];
    let lost = 0;
    const options: SubscribeOptions = {
      topic,
      subscription: 'sub',
      consumerName: uniqueName('c'),
      type: 'shared',
      initialPosition: 'earliest',
      receiverQueueSize: 100,
      deadLetterTopic: defaultDeadLetterTopic(topic, 'sub'),
      onMessages: (batch) => deliveries.push(...batch),
      onError: (error) => errors.push(error),
      onDeliveriesLost: () => {
        lost += 1;
      },
      ...extra,
    };
    return { options, deliveries, errors, lost: () => lost };
  };

  const publish = async (transport: Transport, topic: string, count: number, keys = 5): Promise<string[]> => {
    const producer = await transport.createProducer(topic);
    const ids = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        producer.send({ data: encoder.encode(JSON.stringify({ i })), partitionKey: `k${i % keys}`, properties: { seq: String(i) } }),
      ),
    );
    await producer.close();
    return ids;
  };

  it('a cut connection is reported, its deliveries are void, and the consumer reconnects and gets them again', async () => {
    const recording = recordingWebSocket();
    const transport = track(
      pulsarWebSocketTransport({ url: webUrl, webSocket: recording.ctor, reconnect: { initialDelayMs: 50, maxDelayMs: 200 } }),
    );
    const topic = uniqueName('ws-cut');
    const c = base(topic);
    const subscription = await transport.subscribe(c.options);
    await publish(transport, topic, 5);
    await waitFor('5 deliveries', () => c.deliveries.length >= 5);
    const first = c.deliveries.splice(0);
    recording.sockets.find((s) => s.url.includes('/ws/v2/consumer/'))?.socket.terminate();
    await waitFor('loss reported', () => c.lost() === 1);
    expect(c.errors.some((e) => isTransportError(e) && /lost its connection/.test(e.message))).toBe(true);
    const gone = first[0] as Delivery;
    await expect(Promise.resolve().then(() => gone.ack())).rejects.toSatisfy(
      (e: unknown) => isTransportError(e) && (e as { retriable: boolean }).retriable === false,
    );
    expect(() => gone.nack()).not.toThrow();
    await expect(gone.deadLetter({ code: 'X', message: 'x', attempts: 1, consumerName: 'c' })).rejects.toSatisfy(isTransportError);
    await waitFor('redelivered after reconnecting', () => new Set(c.deliveries.map((d) => d.id)).size >= 5);
    expect(new Set(c.deliveries.map((d) => d.id))).toEqual(new Set(first.map((d) => d.id)));
    for (const d of c.deliveries) await d.ack();
    await subscription.close();
  });

  /**
   * A `ws` WebSocket per connection, whose pongs or incoming frames are dropped once its socket is
   * muted: a connection that stays open but answers nothing, as after a half-open network failure.
   */
  const muting = () => {
    const sockets: Array<{ url: string; socket: WebSocketLike }> = [];
    const deaf = new Map<WebSocketLike, 'pong' | 'message'>();
    const ctor = function Muting(url: string, init: WebSocketInit): WebSocketLike {
      const socket = new WebSocket(url, init);
      const on = socket.on.bind(socket) as (event: string, listener: (...args: unknown[]) => void) => unknown;
      (socket as unknown as { on: typeof on }).on = (event, listener) =>
        on(event, (...args: unknown[]) => {
          if (deaf.get(socket as unknown as WebSocketLike) !== event) listener(...args);
        });
      sockets.push({ url, socket: socket as unknown as WebSocketLike });
      return socket as unknown as WebSocketLike;
    } as unknown as WebSocketConstructor;
    const find = (part: string): WebSocketLike => {
      const found = sockets.find((s) => s.url.includes(part));
      if (found === undefined) throw new Error(`no ${part} socket`);
      return found.socket;
    };
    return { ctor, sockets, mute: (part: string, what: 'pong' | 'message') => deaf.set(find(part), what) };
  };

  it('replaces a connection that answers no ping: reported, its deliveries void, the messages delivered again on the new one', async () => {
    const wire = muting();
    const transport = track(
      pulsarWebSocketTransport({ url: webUrl, webSocket: wire.ctor, pingIntervalMs: 200, reconnect: { initialDelayMs: 50, maxDelayMs: 200 } }),
    );
    const topic = uniqueName('ws-no-pong');
    const c = base(topic);
    const subscription = await transport.subscribe(c.options);
    await publish(transport, topic, 5);
    await waitFor('5 deliveries', () => c.deliveries.length >= 5);
    const first = c.deliveries.splice(0);
    wire.mute('/ws/v2/consumer/', 'pong');
    await waitFor('the silent connection replaced', () => c.lost() === 1);
    expect(c.errors.map((e) => e.message).join('\n')).toMatch(/No pong from the broker in 200 ms[\s\S]*lost its connection/);
    await expect(Promise.resolve().then(() => first[0]?.ack())).rejects.toSatisfy(isTransportError);
    await waitFor('delivered again on the new connection', () => new Set(c.deliveries.map((d) => d.id)).size >= 5);
    expect(new Set(c.deliveries.map((d) => d.id))).toEqual(new Set(first.map((d) => d.id)));
    expect(wire.sockets.filter((s) => s.url.includes('/ws/v2/consumer/'))).toHaveLength(2);
    for (const d of c.deliveries) await d.ack();
    await subscription.close();
  });

  it('producer: pipelined sends each resolve with the id of their own message, on a partitioned topic too', async () => {
    const transport = track(pulsarWebSocketTransport({ url: webUrl }));
    const topic = uniqueName('ws-correlate');
    // Partitions confirm independently, so replies can come back in another order than the sends.
    expect(await pulsarAdmin(webUrl).createPartitionedTopic(topic, 3)).toBe(true);
    const ids = await publish(transport, topic, 50, 7);
    expect(new Set(ids).size).toBe(50);
    const c = base(topic);
    const subscription = await transport.subscribe(c.options);
    await waitFor('50 deliveries', () => c.deliveries.length >= 50);
    // Each delivery is the message its send was answered for: same id, same payload.
    for (const d of c.deliveries) {
      const seq = Number(d.properties.seq);
      expect(d.id, `message ${seq}`).toBe(ids[seq]);
      expect(JSON.parse(new TextDecoder().decode(d.data))).toEqual({ i: seq });
      await d.ack();
    }
    await subscription.close();
    await pulsarAdmin(webUrl).deleteTopic(topic, { force: true });
  });

  it('producer: a send the broker does not confirm rejects after sendTimeoutMs with a retriable TransportError', async () => {
    const wire = muting();
    const transport = track(pulsarWebSocketTransport({ url: webUrl, webSocket: wire.ctor, sendTimeoutMs: 300 }));
    const topic = uniqueName('ws-send-timeout');
    const producer = await transport.createProducer(topic);
    const confirmed = await producer.send({ data: encoder.encode('confirmed') });
    // The connection stays open, but no reply comes back any more.
    wire.mute('/ws/v2/producer/', 'message');
    const error = await producer.send({ data: encoder.encode('unconfirmed') }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isTransportError(error)).toBe(true);
    expect((error as Error).message).toMatch(/not confirmed within 300 ms/);
    expect((error as { retriable: boolean }).retriable).toBe(true);
    await producer.close();
    // Only the reply was lost: the broker stored the message (so a retry makes it at least once).
    const c = base(topic);
    const subscription = await transport.subscribe(c.options);
    await waitFor('both messages', () => c.deliveries.length >= 2);
    expect(c.deliveries.map((d) => new TextDecoder().decode(d.data))).toEqual(['confirmed', 'unconfirmed']);
    expect(c.deliveries[0]?.id).toBe(confirmed);
    for (const d of c.deliveries) await d.ack();
    await subscription.close();
  });

  it('pings keep the session alive and are answered', async () => {
    const recording = recordingWebSocket();
    // An interval long enough that a broker slowed by a busy machine still answers within it.
    const transport = track(pulsarWebSocketTransport({ url: webUrl, webSocket: recording.ctor, pingIntervalMs: 200 }));
    const topic = uniqueName('ws-ping');
    const c = base(topic);
    const subscription = await transport.subscribe(c.options);
    let pongs = 0;
    recording.sockets[0]?.socket.on('pong', () => {
      pongs += 1;
    });
    await sleep(1500);
    expect(pongs).toBeGreaterThanOrEqual(3);
    expect(c.errors).toEqual([]);
    await subscription.close();
  });

  it('rejects subscribe with a TransportError carrying the HTTP status when the broker refuses', async () => {
    const transport = track(pulsarWebSocketTransport({ url: webUrl, tenant: 'no-such-tenant' }));
    const c = base(uniqueName('ws-refused'));
    const error = await transport.subscribe(c.options).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isTransportError(error)).toBe(true);
    expect((error as { context: { status: number } }).context.status).toBeGreaterThanOrEqual(400);
  });

  it('produces to and consumes from a partitioned topic, naming each partition', async () => {
    const admin = pulsarAdmin(webUrl);
    const topic = uniqueName('ws-partitioned');
    expect(await admin.createPartitionedTopic(topic, 3)).toBe(true);
    expect(await admin.createPartitionedTopic(topic, 3)).toBe(false);
    expect(await admin.partitions(topic)).toBe(3);
    const transport = track(pulsarWebSocketTransport({ url: webUrl }));
    const c = base(topic, { type: 'failover' });
    const subscription = await transport.subscribe(c.options);
    const ids = await publish(transport, topic, 60, 12);
    expect(new Set(ids).size).toBe(60);
    await waitFor('60 deliveries', () => c.deliveries.length >= 60);
    const full = transport.topicName(topic);
    const byKey = new Map<string, Set<string>>();
    for (const d of c.deliveries) {
      expect(d.topic).toMatch(new RegExp(`^${full}-partition-[0-2]$`));
      const set = byKey.get(d.partitionKey ?? '') ?? new Set<string>();
      set.add(d.topic);
      byKey.set(d.partitionKey ?? '', set);
    }
    // The producer routes a key to one partition.
    for (const topics of byKey.values()) expect(topics.size).toBe(1);
    for (const d of c.deliveries) await d.ack();
    await subscription.close();
    // The WebSocket service closes its consumer behind the session asynchronously.
    let consumers: number | undefined;
    for (let i = 0; i < 50 && consumers !== 0; i++) {
      consumers = (await admin.subscriptionStats(topic, 'sub'))?.consumers;
      if (consumers !== 0) await sleep(50);
    }
    expect(consumers).toBe(0);
    expect(await admin.deleteTopic(topic, { force: true })).toBe(true);
    expect(await admin.partitions(topic)).toBe(0);
  });

  it('Failover, partitions gone quiet: each asked for again while quiet, at most MAX_ASKS times, and the broker redelivers nothing acknowledged', async () => {
    const admin = pulsarAdmin(webUrl);
    const topic = uniqueName('ws-quiet');
    expect(await admin.createPartitionedTopic(topic, 2)).toBe(true);
    const recording = recordingWebSocket();
    const sent: string[] = [];
    const webSocket = function Recording(...args: ConstructorParameters<typeof recording.ctor>) {
      const socket = new recording.ctor(...args);
      const send = socket.send.bind(socket);
      socket.send = (frame: string) => {
        sent.push(String(frame));
        send(frame);
      };
      return socket;
    } as unknown as typeof recording.ctor;
    const transport = track(pulsarWebSocketTransport({ url: webUrl, webSocket, failoverRedeliverAfterMs: 150 }));
    const c = base(topic, { type: 'failover', nackRedeliveryDelayMs: 100 });
    const subscription = await transport.subscribe(c.options);
    await publish(transport, topic, 20, 20);
    await waitFor('20 deliveries', () => c.deliveries.length >= 20);
    for (const d of c.deliveries) await d.ack();
    const requests = (): number => sent.filter((frame) => frame.includes('"negativeAcknowledge"')).length;
    await waitFor(`${MAX_ASKS} requests per partition`, () => requests() === 2 * MAX_ASKS);
    await sleep(1500); // the client's nack delay, the broker's rewind and a margin
    expect(c.deliveries).toHaveLength(20);
    expect(new Set(c.deliveries.map((d) => d.id)).size).toBe(20);
    expect(requests()).toBe(2 * MAX_ASKS); // no more this quiet spell
    expect(c.errors).toEqual([]);
    await subscription.close();
    await admin.deleteTopic(topic, { force: true });
  });

  it('broker-side dead-lettering after maxRedeliverCount, retained by the subscription created on the dead-letter topic', async () => {
    const transport = track(pulsarWebSocketTransport({ url: webUrl }));
    const topic = uniqueName('ws-maxredeliver');
    const c = base(topic, { type: 'key-shared', maxRedeliverCount: 2, nackRedeliveryDelayMs: 100 });
    const subscription = await transport.subscribe(c.options);
    const [id] = await publish(transport, topic, 1);
    const counts: number[] = [];
    // Nack every delivery: the broker delivers it 3 times (0, 1, 2), then moves it to the DLQ.
    const deadline = Date.now() + 8000;
    while (Date.now() < deadline && counts.length < 3) {
      const d = c.deliveries.shift();
      if (d === undefined) {
        await sleep(20);
        continue;
      }
      counts.push(d.redeliveryCount);
      d.nack();
    }
    await sleep(800); // a 4th delivery would arrive within the nack delay
    expect([...counts, ...c.deliveries.map((d) => d.redeliveryCount)]).toEqual([0, 1, 2]);
    await subscription.close();
    // Subscribing now (long after the dead letter was written) with the retaining subscription's name finds it.
    const dlq = base(c.options.deadLetterTopic, { subscription: 'sub', consumerName: uniqueName('inspect') });
    const inspect = await transport.subscribe(dlq.options);
    await waitFor('dead letter', () => dlq.deliveries.length >= 1);
    const dead = dlq.deliveries[0] as Delivery;
    expect(dead.properties[DeadLetterProperties.realTopic]).toBe(transport.topicName(topic));
    expect(dead.properties[DeadLetterProperties.originMessageId]).toBeDefined();
    expect(dead.properties.seq).toBe('0');
    expect(typeof id).toBe('string');
    await dead.ack();
    await inspect.close();
  });
});
