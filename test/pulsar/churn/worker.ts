/**
 * A churn-test consumer process: one exclusive consumer of the churn topic over the WebSocket or
 * the pulsar-client transport. Each handler run appends its event's sequence number to the key's
 * fenced state (idempotently) through `updateFenced` on Redis, under the run's fence, and writes a
 * start and an end line to its run log, synchronously, so that a run that dies with its process
 * stays visible as open. Driven over IPC: `{ cmd: 'stop' }` stops it gracefully and answers with
 * its stats.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Redis } from 'ioredis';
import { createExclusiveConsumer, updateFenced, type ConsumerMode, type ExclusiveConsumer, type Transport } from '../../../src/index.js';
import { pulsarClientTransport, pulsarWebSocketTransport, type PulsarClientLike } from '../../../src/pulsar/index.js';
import { redisFencedStore, redisLock, redisTokenSource } from '../../../src/redis/index.js';
import { monotonicClockId, monotonicMicros } from '../../../src/testing/index.js';

interface ChurnEvent {
  readonly key: string;
  readonly seq: number;
}

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
const send = (message: Record<string, unknown>): void => {
  process.send?.(message);
};

const name = env('CHURN_NAME');
const mode = env('CHURN_MODE') as ConsumerMode;
const handlerMs = Number(env('CHURN_HANDLER_MS'));
const log = openSync(env('CHURN_LOG'), 'a');
const clock = monotonicClockId();
const line = (record: Record<string, unknown>): void => {
  writeSync(log, `${JSON.stringify(record)}\n`);
};

const redis = new Redis(env('CHURN_REDIS_URL'), { maxRetriesPerRequest: 3 });
const prefix = env('CHURN_PREFIX');
const store = redisFencedStore<number[]>(redis, { prefix });
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let client: { close(): Promise<unknown> } | undefined;
function transport(): Transport & { close(): Promise<void> } {
  if (env('CHURN_TRANSPORT') === 'native') {
    const Pulsar = createRequire(import.meta.url)('pulsar-client') as {
      Client: new (config: Record<string, unknown>) => PulsarClientLike & { close(): Promise<unknown> };
    };
    const native = new Pulsar.Client({ serviceUrl: env('CHURN_SERVICE_URL'), operationTimeoutSeconds: 60, log: () => undefined });
    client = native;
    return pulsarClientTransport({ client: native });
  }
  return pulsarWebSocketTransport({ url: env('CHURN_WEB_URL'), reconnect: { initialDelayMs: 50, maxDelayMs: 1000 } });
}

let runs = 0;
const t = transport();
const consumer: ExclusiveConsumer = createExclusiveConsumer<ChurnEvent>(
  env('CHURN_TOPIC'),
  (e) => e.key,
  async (event, ctx) => {
    const id = `${name}:${runs++}`;
    line({ t: 's', id, consumer: name, key: ctx.key, seq: event.seq, messageId: ctx.message.id, token: ctx.fencingToken, start: monotonicMicros(), clock });
    let ok = false;
    try {
      if (handlerMs > 0) await sleep(handlerMs);
      await updateFenced(store, ctx.key, ctx.fence, (list) => (list?.includes(event.seq) === true ? list : [...(list ?? []), event.seq]));
      ok = true;
    } finally {
      line({ t: 'e', id, end: monotonicMicros(), ok });
    }
  },
  {
    transport: t,
    mode,
    subscription: env('CHURN_SUBSCRIPTION'),
    consumerName: name,
    initialPosition: 'earliest',
    maxConcurrency: 100,
    maxInFlight: 500,
    retry: { maxAttempts: 5, initialDelayMs: 20, maxDelayMs: 200 },
    ...(process.env.CHURN_REMEMBER === undefined ? {} : { rememberCompleted: Number(process.env.CHURN_REMEMBER) }),
    ...(mode === 'shared-locked'
      ? { lock: redisLock(redis, { prefix }), lease: { ttlMs: 2000 } }
      : { tokenSource: redisTokenSource(redis, { prefix }) }),
  },
);

process.on('message', (message: { cmd?: string }) => {
  if (message.cmd !== 'stop') return;
  void (async () => {
    await consumer.stop({ timeoutMs: 10_000 });
    await t.close();
    await client?.close();
    const stats = consumer.stats();
    closeSync(log);
    redis.disconnect();
    send({ event: 'stopped', stats });
    process.disconnect?.();
  })();
});

consumer.start().then(
  () => send({ event: 'ready' }),
  (error: unknown) => send({ event: 'fatal', error: String(error) }),
);
