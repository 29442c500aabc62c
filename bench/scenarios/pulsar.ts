/**
 * Scenario 4 — real Pulsar over the WebSocket transport.
 *
 * A raw WebSocket consumer (Key_Shared, push mode, receiver queue 1000, acknowledging every message
 * as it arrives: what a user of the WebSocket API writes by hand) against the exclusive consumer on
 * `pulsarWebSocketTransport` (Key_Shared, `maxInFlight` 1000, raw codec, no-op handler), interleaved
 * in the same run. Each run gets its own topic with a pre-published backlog (`EVENTS` events over
 * 1,000 keys, published by the transport's pipelined producer, untimed), read through a
 * subscription created before publishing. Timed from subscribing until the last acknowledgement was
 * sent. Target: exclusive / raw ≥ 0.9 (DESIGN.md §7). For information, the raw consumer again with
 * the acknowledgements of one event-loop turn written together, as the transport writes its frames.
 *
 * The broker: `EC_PULSAR_WEB_URL` (default http://127.0.0.1:8080, e.g. `scripts/pulsar/pulsar.sh
 * start`). The scenario is skipped, saying why, when it does not answer.
 */
import WebSocket from 'ws';
import { rawCodec, createExclusiveConsumer } from '../../src/index.js';
import { pulsarAdmin, pulsarWebSocketTransport, type PulsarAdmin } from '../../src/pulsar/index.js';
import { interleave, pairedRatio, row, series, type Measures, type Scenario } from '../lib/scenario.js';
import { formatRate, now, prng, until } from '../lib/util.js';

const KEYS = 1_000;
const RECEIVER_QUEUE = 1_000;
const MAX_CONCURRENCY = 100;
const SUBSCRIPTION = 'bench';

type Name = 'raw-ws' | 'exclusive' | 'raw-ws-corked';

/** The broker's base URL, and why it cannot be used (undefined when it can). */
async function broker(): Promise<{ url: string; unavailable: string | undefined }> {
  const url = process.env.EC_PULSAR_WEB_URL ?? 'http://127.0.0.1:8080';
  try {
    const response = await fetch(`${url}/admin/v2/namespaces/public/default`, { signal: AbortSignal.timeout(2000) });
    return { url, unavailable: response.ok ? undefined : `${url} answered ${response.status}` };
  } catch (error) {
    return { url, unavailable: `no Pulsar broker at ${url} (${(error as Error).message}); start one with scripts/pulsar/pulsar.sh start or set EC_PULSAR_WEB_URL` };
  }
}

let topicSeq = 0;

/** A fresh topic with a subscription at the earliest position and `events` events published to it. */
async function backlog(url: string, admin: PulsarAdmin, events: number, seed: number): Promise<{ topic: string; publishRate: number }> {
  topicSeq += 1;
  const topic = `bench-pulsar-${process.pid}-${Date.now().toString(36)}-${topicSeq}`;
  await admin.createSubscription(topic, SUBSCRIPTION, 'earliest');
  const transport = pulsarWebSocketTransport({ url });
  const producer = await transport.createProducer(topic);
  const random = prng(seed);
  const encoder = new TextEncoder();
  const payloads = Array.from({ length: KEYS }, (_, k) => encoder.encode(JSON.stringify({ key: `key-${k}` })));
  const began = now();
  const sends: Promise<string>[] = [];
  for (let i = 0; i < events; i++) {
    const k = Math.floor(random() * KEYS);
    // The producer keeps up to 1000 in flight and queues the rest: this is a pipelined publish.
    sends.push(producer.send({ data: payloads[k]!, partitionKey: `key-${k}` }));
  }
  await Promise.all(sends);
  const publishRate = (events / (now() - began)) * 1000;
  await transport.close();
  return { topic, publishRate };
}

/**
 * A plain WebSocket consumer: parse each frame, decode the payload, acknowledge. `corked`: the
 * acknowledgements of one event-loop turn leave in one socket write (as the transport sends its
 * frames), to show what that alone is worth.
 */
async function rawConsumer(url: string, topic: string, events: number, timeoutMs: number, corked = false): Promise<number> {
  const wsBase = url.replace(/^http/, 'ws');
  const began = now();
  const socket = new WebSocket(
    `${wsBase}/ws/v2/consumer/persistent/public/default/${topic}/${SUBSCRIPTION}?subscriptionType=Key_Shared&receiverQueueSize=${RECEIVER_QUEUE}&consumerName=bench-raw`,
    { perMessageDeflate: false },
  );
  let acked = 0;
  let cork = false;
  socket.on('message', (data: Buffer) => {
    const frame = JSON.parse(data.toString()) as { messageId: string; payload: string; key?: string };
    Buffer.from(frame.payload, 'base64');
    const tcp = (socket as unknown as { _socket: { cork(): void; uncork(): void } | null })._socket;
    if (corked && !cork && tcp !== null) {
      cork = true;
      tcp.cork();
      setImmediate(() => {
        cork = false;
        tcp.uncork();
      });
    }
    socket.send(`{"messageId":${JSON.stringify(frame.messageId)}}`);
    acked += 1;
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  try {
    await until(() => acked >= events, timeoutMs, `${events} raw acknowledgements`);
    return now() - began;
  } finally {
    socket.close();
  }
}

async function exclusive(url: string, topic: string, events: number, timeoutMs: number): Promise<number> {
  const transport = pulsarWebSocketTransport({ url });
  const consumer = createExclusiveConsumer<Uint8Array>(topic, (_, message) => message.partitionKey!, async () => {}, {
    transport,
    mode: 'key-shared',
    subscription: SUBSCRIPTION,
    consumerName: 'bench-exclusive',
    initialPosition: 'earliest',
    codec: rawCodec(),
    maxInFlight: RECEIVER_QUEUE,
    maxConcurrency: MAX_CONCURRENCY,
  });
  const began = now();
  try {
    await consumer.start();
    await until(() => consumer.stats().processed >= events, timeoutMs, `${events} events through the exclusive consumer`);
    return now() - began;
  } finally {
    await consumer.stop({ timeoutMs: 5000 });
    await transport.close();
  }
}

export const pulsarScenario: Scenario = {
  name: 'pulsar',
  title: '4. Real Pulsar (WebSocket transport): exclusive consumer vs a raw WebSocket consumer',
  async run(ctx) {
    const began = now();
    const events = ctx.quick ? 3_000 : 15_000;
    const { url, unavailable } = await broker();
    const params = { broker: url, events, keys: KEYS, receiverQueue: RECEIVER_QUEUE, maxConcurrency: MAX_CONCURRENCY, subscription: 'Key_Shared' };
    if (unavailable !== undefined) {
      ctx.log(`  skipped: ${unavailable}`);
      return { name: 'pulsar', title: this.title, params, rows: [], notes: [`Skipped: ${unavailable}.`], durationMs: now() - began };
    }
    const admin = pulsarAdmin(url);
    const publishRates: number[] = [];
    const timeoutMs = 120_000;
    const runs = await interleave<Name>(
      ctx,
      ['raw-ws', 'exclusive', 'raw-ws-corked'],
      async (name, round): Promise<Measures> => {
        const { topic, publishRate } = await backlog(url, admin, events, 1000 + round);
        publishRates.push(publishRate);
        try {
          const ms =
            name === 'exclusive'
              ? await exclusive(url, topic, events, timeoutMs)
              : await rawConsumer(url, topic, events, timeoutMs, name === 'raw-ws-corked');
          return { rate: (events / ms) * 1000, ms };
        } finally {
          await admin.deleteTopic(topic, { force: true }).catch(() => undefined);
        }
      },
      (_, m) => `${formatRate(m.rate!)} (${m.ms!.toFixed(0)} ms)`,
    );
    const raw = series(runs['raw-ws'], 'rate');
    const ec = series(runs.exclusive, 'rate');
    const corked = series(runs['raw-ws-corked'], 'rate');
    return {
      name: 'pulsar',
      title: this.title,
      params,
      durationMs: now() - began,
      rows: [
        row('pulsar.raw', 'raw WebSocket consumer (push, ack on arrival)', 'events/s', raw),
        row('pulsar.ec', 'exclusive consumer on pulsarWebSocketTransport (pull mode, permits)', 'events/s', ec),
        row('pulsar.ec/raw', 'exclusive / raw, paired per round', 'ratio', pairedRatio(ec, raw), {
          text: '≥ 0.9',
          ok: (m) => m >= 0.9,
        }),
        row('pulsar.raw-corked', 'raw WebSocket consumer, acks of a turn in one write', 'events/s', corked),
        row('pulsar.ec/raw-corked', 'exclusive / raw with corked acks, paired per round', 'ratio', pairedRatio(ec, corked)),
        row('pulsar.publish', 'WebSocket producer, one message per frame, pipelined (1000 in flight)', 'events/s', publishRates, undefined, 'untimed setup of each run'),
      ],
      notes: [
        'The broker runs on the same machine and its JVM competes with the bench for the cores: both rates are bounded by the broker, so the ratio says how much the exclusive consumer costs on top of reading the topic.',
        'Each run reads a backlog published just before it to a fresh topic (so every contender reads from the broker cache alike).',
        'The transport holds the TCP socket corked until the end of each event-loop turn, so the acks (and permits) of a turn leave in one write; a hand-written consumer sends one write per ack. The corked raw consumer shows what that alone is worth: the exclusive consumer\'s own cost is exclusive / raw-corked.',
      ],
    };
  },
};
