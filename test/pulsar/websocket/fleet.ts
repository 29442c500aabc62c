/**
 * A fleet of exclusive consumers of one mode on one fresh topic of a live broker, for the live
 * tests. Locks and fencing tokens come from the real Redis the global setup provides (the Redis lock
 * adapter), under a key prefix of the fleet's own.
 */
import { Redis } from 'ioredis';
import { inject } from 'vitest';
import { createExclusiveConsumer, createProducer, defaultDeadLetterTopic, type ConsumerMode, type ExclusiveConsumer, type ExclusiveConsumerOptions, type FencingTokenSource, type HandlerContext } from '../../../src/index.js';
import { type Delivery } from '../../../src/adapters.js';
import { pulsarAdmin, pulsarWebSocketTransport, type PulsarWebSocketTransport } from '../../../src/pulsar/index.js';
import { redisLock, redisTokenSource, type RedisLock } from '../../../src/redis/index.js';
import { keyName } from '../../../src/redis/keys.js';
import { HistoryRecorder, uniqueName, type HistoryReport } from '../../../src/testing/index.js';
import { recordingWebSocket, sleep, waitDrained, waitFor } from './helpers.js';

export const SUBSCRIPTION = 'generations';
/** What a consumer reports when its connection goes, and when it then settles a delivery of it. */
const CONNECTION_LOSS = /lost its connection|connection to the broker lost|is gone/i;
/** Pulsar's activeConsumerFailoverDelayTimeMillis (the dev broker's is the default, 1 s) plus margin. */
export const FAILOVER_SETTLE_MS = 1500;
/** Lease of `shared-locked` (renewed every third of it). */
export const LEASE_TTL_MS = 150;

/** An event of the live tests. */
export interface Event {
  readonly key: string;
  readonly seq: number;
  /** Fails on every attempt (dead-lettered after the retries). */
  readonly fail?: boolean;
  /** Pause this long between reading and writing, on the first run only. */
  readonly stallMs?: number;
}

/** Topics the fleets created, for cleanup. */
export const createdTopics: Array<{ url: string; topic: string }> = [];

let redis: Redis | undefined;
const prefixes: string[] = [];

/** The Redis client the fleets of this test file share (created on first use). */
function sharedRedis(): Redis {
  redis ??= new Redis(inject('redisUrl'), { maxRetriesPerRequest: 2, lazyConnect: false });
  return redis;
}

/** Delete every key the fleets wrote (fence counters never expire by design) and disconnect. */
export async function closeRedis(): Promise<void> {
  const client = redis;
  redis = undefined;
  if (client === undefined) return;
  for (const prefix of prefixes.splice(0)) {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await client.del(...keys);
    } while (cursor !== '0');
  }
  client.disconnect();
}

/** One mode's consumers on one fresh topic, sharing a lock, a recorder and a transport. */
export class Fleet {
  readonly transport: PulsarWebSocketTransport;
  readonly recording = recordingWebSocket();
  /** Key prefix of this fleet's locks and fence counters in Redis. */
  readonly prefix = `${uniqueName('ec-pulsar-test')}:`;
  readonly lock: RedisLock;
  readonly tokens: FencingTokenSource;
  /** Broker-routed modes: hand handlers fencing tokens from `tokens` (set before adding consumers). */
  fencingTokens = false;
  readonly recorder = new HistoryRecorder<Event>({ seqOf: (e) => e.seq });
  readonly consumers = new Map<string, ExclusiveConsumer>();
  /** Every error a consumer reported, in order. */
  readonly reported: Array<{ readonly consumer: string; readonly phase: string; readonly message: string }> = [];
  /** Consumers whose connection this fleet dropped on purpose. */
  readonly #cut = new Set<string>();
  readonly deadLettered = new Set<string>();
  readonly topic: string;
  readonly dlqTopic: string;

  constructor(
    readonly mode: ConsumerMode,
    readonly handler: (event: Event, ctx: HandlerContext<Event>) => Promise<void>,
    readonly extra: ExclusiveConsumerOptions<Event> = {},
    prefix = 'gen',
    readonly url: string,
  ) {
    this.lock = redisLock(sharedRedis(), { prefix: this.prefix });
    this.tokens = redisTokenSource(sharedRedis(), { prefix: this.prefix });
    prefixes.push(this.prefix);
    this.transport = pulsarWebSocketTransport({
      url,
      webSocket: this.recording.ctor,
      reconnect: { initialDelayMs: 100, maxDelayMs: 1000 },
    });
    this.topic = uniqueName(`${prefix}-${mode}`);
    this.dlqTopic = defaultDeadLetterTopic(this.topic, SUBSCRIPTION);
    createdTopics.push({ url, topic: this.topic }, { url, topic: this.dlqTopic });
  }

  /** Expire `key`'s lease now, as Redis does when its holder paused past the TTL. */
  async expireLease(key: string): Promise<void> {
    await sharedRedis().del(keyName(this.prefix, key, 'lock'));
  }

  async createTopic(): Promise<void> {
    // Failover needs partitions to spread work over consumers; the others use one topic.
    if (this.mode === 'failover') await pulsarAdmin(this.url).createPartitionedTopic(this.topic, 4);
  }

  add(name: string): ExclusiveConsumer {
    const consumer = createExclusiveConsumer<Event>(this.topic, (e) => e.key, (e, ctx) => this.handler(e, ctx), {
      transport: this.transport,
      mode: this.mode,
      subscription: SUBSCRIPTION,
      consumerName: name,
      initialPosition: 'earliest',
      maxConcurrency: 50,
      maxInFlight: 200,
      retry: { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 50 },
      nackRedeliveryDelayMs: 200,
      stopTimeoutMs: 5000,
      middleware: [this.recorder.middleware()],
      ...(this.mode === 'shared-locked' ? { lock: this.lock, lease: { ttlMs: LEASE_TTL_MS, retryDelayMs: 5 } } : {}),
      ...(this.fencingTokens && this.mode !== 'shared-locked' ? { tokenSource: this.tokens } : {}),
      ...this.extra,
    });
    consumer.on('message.dead-lettered', ({ messageId }) => this.deadLettered.add(messageId));
    consumer.on('error', ({ error, phase }) => this.reported.push({ consumer: name, phase, message: error.message }));
    this.consumers.set(name, consumer);
    return consumer;
  }

  async start(names: readonly string[]): Promise<void> {
    await Promise.all(names.map((n) => this.add(n).start()));
    // Failover: wait until the broker's assignment of partitions settled, so the windows measured
    // are the ones the test makes.
    if (this.mode === 'failover') await sleep(FAILOVER_SETTLE_MS);
  }

  /**
   * Errors reported but the connection losses of the consumers {@link cut} on purpose: a steady run
   * must report none, so an unexpected disconnect shows here.
   */
  get errors(): string[] {
    return this.reported
      .filter((e) => !(this.#cut.has(e.consumer) && CONNECTION_LOSS.test(e.message)))
      .map((e) => `${e.consumer} ${e.phase}: ${e.message}`);
  }

  /** Drop `name`'s connection as a crash or a network partition would (the transport then reconnects). */
  cut(name: string): void {
    this.#cut.add(name);
    const tag = `consumerName=${encodeURIComponent(name)}`;
    for (const { url, socket } of this.recording.sockets) {
      if (url.includes('/ws/v2/consumer/') && url.includes(tag) && socket.readyState === 1) socket.terminate();
    }
  }

  /**
   * Resolves once the broker holds nothing unacknowledged on the fleet's subscription: the fixed
   * end of a run, after which what ran is read from the history (not waited for).
   */
  async drained(timeoutMs = 30_000): Promise<void> {
    await waitDrained(this.url, this.topic, SUBSCRIPTION, timeoutMs);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.consumers.values()].map((c) => c.stop({ timeoutMs: 5000 })));
  }

  async close(): Promise<void> {
    await this.stopAll();
    await this.transport.close();
  }

  /** Every dead letter on the subscription's dead-letter topic, read through its retaining subscription. */
  async readDeadLetters(expected: number, timeoutMs = 10_000): Promise<Delivery[]> {
    const letters: Delivery[] = [];
    const inbox = await this.transport.subscribe({
      topic: this.dlqTopic,
      subscription: SUBSCRIPTION,
      consumerName: uniqueName('dlq-reader'),
      type: 'shared',
      initialPosition: 'earliest',
      receiverQueueSize: 1000,
      deadLetterTopic: defaultDeadLetterTopic(this.dlqTopic, SUBSCRIPTION),
      onMessages: (batch) => letters.push(...batch),
    });
    try {
      await waitFor(`${expected} dead letters`, () => letters.length >= expected, timeoutMs);
      await sleep(300);
      for (const d of letters) await d.ack();
    } finally {
      await inbox.close();
    }
    return letters;
  }
}

/** Publish events as JSON with their key as partition key, pipelined. */
export async function publishAll(transport: PulsarWebSocketTransport, topic: string, events: readonly Event[]): Promise<void> {
  const producer = createProducer<Event>({ transport, topic, key: (e) => e.key });
  await Promise.all(events.map((e) => producer.send(e)));
  await producer.close();
}

export function summary(mode: string, label: string, report: HistoryReport, extra: Record<string, unknown> = {}): string {
  const cross = report.overlaps.filter((o) => !o.sameConsumer);
  const sample = cross
    .slice(0, 3)
    .map((o) => {
      const until = Math.min(o.first.end ?? Infinity, o.second.end ?? Infinity);
      const length = Number.isFinite(until) ? `${((until - o.second.start) / 1000).toFixed(1)} ms` : 'open';
      return `${o.key}: ${o.first.consumer}#${o.first.seq} ∩ ${o.second.consumer}#${o.second.seq} (${length})`;
    })
    .join('; ');
  const fields = Object.entries(extra).map(([k, v]) => `${k}=${String(v)}`);
  return `[${mode}] ${label}: runs=${report.runs} overlaps=${report.overlaps.length} (across consumers ${cross.length}${sample ? `: ${sample}` : ''}) ` +
    `orderViolations=${report.orderViolations.length} lost=${report.lost.length} duplicates=${report.duplicates.length} ${fields.join(' ')}`;
}

