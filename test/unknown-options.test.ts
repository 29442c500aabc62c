/**
 * Every factory and constructor that takes options refuses a name it does not know, suggesting the
 * one meant: from JavaScript (or through a variable, where TypeScript checks no excess property),
 * a misspelt option would otherwise be ignored in silence and its default used.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createOutboxDispatcher } from '../src/outbox/dispatcher.js';
import {
  MemoryBroker,
  MemoryCounterStore,
  MemoryOutbox,
  commitDecision,
  consoleLogger,
  createExclusiveConsumer,
  createProducer,
  exclusivityCounter,
  isConfigurationError,
  memoryTransport,
  runLog,
  shutdown,
} from '../src/index.js';
import { captureTraceContext, dispatchTracing, instrumentConsumer, instrumentDispatcher, producerTracing, tracing } from '../src/otel/index.js';
import { createPostgresTables, postgresDdl, postgresFencedStore, postgresOutbox } from '../src/postgres/index.js';
import { pulsarAdmin, pulsarClientTransport, pulsarWebSocketTransport } from '../src/pulsar/index.js';
import { redisCounterStore, redisFencedStore, redisLock, redisOutbox, redisTokenSource } from '../src/redis/index.js';

// Clients that are never used: the options are refused before anything is sent.
const redis = new Redis({ lazyConnect: true, enableOfflineQueue: false });
const pool = new pg.Pool({ max: 1 });
const pulsarClient = { subscribe: async () => undefined, createProducer: async () => undefined, close: async () => undefined };
const consumer = createExclusiveConsumer('t', () => 'k', () => undefined);
const outbox = new MemoryOutbox();
const dispatcher = createOutboxDispatcher(outbox, async () => undefined, {});
const decision = { key: 'k', fence: { token: 1, owner: 'a' }, message: { id: 'm-1' } };

afterAll(async () => {
  redis.disconnect();
  await pool.end();
});

/** What a misspelt option gets: a ConfigurationError naming it, and the name meant when it is close. */
async function refusal(call: () => unknown): Promise<{ option: unknown; message: string } | undefined> {
  try {
    await call();
  } catch (error) {
    if (!isConfigurationError(error)) throw error;
    return { option: (error as { context: { option?: unknown } }).context.option, message: (error as Error).message };
  }
  return undefined;
}

const cases: [string, string, string, (options: never) => unknown][] = [
  ['createExclusiveConsumer', 'maxConcurency', 'maxConcurrency', (o) => createExclusiveConsumer('t', () => 'k', () => undefined, o)],
  ['createProducer', 'codex', 'codec', (o) => createProducer({ topic: 't', key: () => 'k', ...(o as object) } as never)],
  ['consoleLogger', 'levle', 'level', (o) => consoleLogger(o)],
  ['new MemoryBroker', 'ackTimeoutMS', 'ackTimeoutMs', (o) => new MemoryBroker(o)],
  ['memoryTransport', 'brokr', 'broker', (o) => memoryTransport(o)],
  ['new MemoryOutbox', 'retainDone', 'retainDoneMs', (o) => new MemoryOutbox(o)],
  ['new MemoryCounterStore', 'ttl', 'ttlMs', (o) => new MemoryCounterStore(o)],
  ['exclusivityCounter', 'onViolations', 'onViolation', (o) => exclusivityCounter(o)],
  ['runLog', 'maxBufferBytes', 'maxBufferedBytes', (o) => runLog({ write: () => undefined, ...(o as object) } as never)],
  ['shutdown', 'timeout', 'timeoutMs', (o) => shutdown({}, o)],
  ['createOutboxDispatcher', 'concurency', 'concurrency', (o) => createOutboxDispatcher(outbox, async () => undefined, o)],
  ['createOutboxDispatcher retry', 'retry.maxDelay', 'retry.maxDelayMs', (o) => createOutboxDispatcher(outbox, async () => undefined, { retry: o })],
  ['commitDecision', 'maxAttempt', 'maxAttempts', (o) => commitDecision(outbox, decision, () => ({ value: 1, effects: [] }), o)],
  ['redisLock', 'prefx', 'prefix', (o) => redisLock(redis, o)],
  ['redisTokenSource', 'prefx', 'prefix', (o) => redisTokenSource(redis, o)],
  ['redisFencedStore', 'serialise', 'serialize', (o) => redisFencedStore(redis, o)],
  ['redisCounterStore', 'retain', 'retainMs', (o) => redisCounterStore(redis, o)],
  ['redisOutbox', 'shard', 'shards', (o) => redisOutbox(redis, o)],
  ['postgresFencedStore', 'tabel', 'table', (o) => postgresFencedStore(pool, o)],
  ['postgresOutbox', 'outboxTabel', 'outboxTable', (o) => postgresOutbox(pool, o)],
  ['postgresDdl', 'schem', 'schema', (o) => postgresDdl(o)],
  ['createPostgresTables', 'valuetype', 'valueType', (o) => createPostgresTables(pool, o)],
  ['pulsarClientTransport', 'tennant', 'tenant', (o) => pulsarClientTransport({ client: pulsarClient, ...(o as object) } as never)],
  ['pulsarClientTransport receive', 'receive.batchsize', 'receive.batchSize', (o) => pulsarClientTransport({ client: pulsarClient, receive: o } as never)],
  ['pulsarClientTransport producer', 'producer.hashScheme', 'producer.hashingScheme', (o) => pulsarClientTransport({ client: pulsarClient, producer: o } as never)],
  ['pulsarWebSocketTransport', 'pingInterval', 'pingIntervalMs', (o) => pulsarWebSocketTransport({ url: 'ws://127.0.0.1:8080', ...(o as object) } as never)],
  ['pulsarWebSocketTransport reconnect', 'reconnect.maxDelay', 'reconnect.maxDelayMs', (o) => pulsarWebSocketTransport({ url: 'ws://127.0.0.1:8080', reconnect: o })],
  ['pulsarAdmin', 'timeout', 'timeoutMs', (o) => pulsarAdmin('http://127.0.0.1:8080', o)],
  ['tracing', 'keySlat', 'keySalt', (o) => tracing(o)],
  ['producerTracing', 'sytem', 'system', (o) => producerTracing(o)],
  ['dispatchTracing', 'continueTrac', 'continueTrace', (o) => dispatchTracing(o)],
  ['captureTraceContext', 'propagater', 'propagator', (o) => captureTraceContext(o)],
  ['instrumentConsumer', 'atributes', 'attributes', (o) => instrumentConsumer(consumer, o)],
  ['instrumentDispatcher', 'countsInterval', 'countsIntervalMs', (o) => instrumentDispatcher(dispatcher, o)],
];

describe('unknown option names', () => {
  for (const [factory, misspelt, meant, call] of cases) {
    it(`${factory} refuses \`${misspelt}\` and suggests \`${meant}\``, async () => {
      const leaf = misspelt.slice(misspelt.lastIndexOf('.') + 1);
      const refused = await refusal(() => call({ [leaf]: 1 } as never));
      expect(refused?.option).toBe(misspelt);
      expect(refused?.message).toContain(`did you mean \`${meant}\`?`);
    });
  }

  it('a factory accepts every option name of its type, inherited ones included', async () => {
    expect(await refusal(() => consoleLogger({ level: 'warn', format: 'text', write: () => undefined }))).toBeUndefined();
    expect(await refusal(() => redisOutbox(redis, { prefix: 'p:', shards: 2, tokenCounter: 'none', captureHeaders: () => undefined, retainDoneMs: 1 }))).toBeUndefined();
    expect(await refusal(() => postgresDdl({ schema: 's', table: 't', valueType: 'text', outboxTable: 'o', outbox: true }))).toBeUndefined();
    expect(await refusal(() => pulsarWebSocketTransport({ url: 'ws://127.0.0.1:8080', tenant: 'a', reconnect: { initialDelayMs: 1, maxDelayMs: 2 } }))).toBeUndefined();
  });
});
