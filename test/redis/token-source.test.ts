/** Broker-routed modes with the Redis token source: handlers get `ctx.fencingToken` there too. */
import type { Cluster, Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryBroker, createExclusiveConsumer, type ConsumerMode } from '../../src/index.js';
import { redisFencedStore, redisTokenSource } from '../../src/redis/index.js';
import { connect, deletePrefix, testPrefix, topologies, waitFor } from './helpers.js';

const encoder = new TextEncoder();
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe.each(topologies.filter((t) => t.skip === undefined).map((t) => t.name))('redisTokenSource on %s', (topology) => {
  it.each(['key-shared', 'failover'] as ConsumerMode[])('mode %s: every run has a token, increasing per key, accepted by the fenced store', async (mode) => {
    const prefix = testPrefix(`tokens-${topology}`);
    const client: Redis | Cluster = connect(topology);
    const broker = new MemoryBroker();
    cleanups.push(async () => {
      await broker.close();
      await deletePrefix(client, prefix);
      client.disconnect();
    });
    const store = redisFencedStore<number>(client, { prefix });
    const tokens = new Map<string, number[]>();
    const topic = `tokens-${prefix.slice(0, -1)}`;
    const consumer = createExclusiveConsumer<{ key: string }>(
      topic,
      (e) => e.key,
      async (e, ctx) => {
        const list = tokens.get(e.key) ?? [];
        list.push(ctx.fencingToken ?? -1);
        tokens.set(e.key, list);
        await store.put(e.key, list.length, ctx.fence!);
      },
      { transport: broker.transport(), mode, initialPosition: 'earliest', tokenSource: redisTokenSource(client, { prefix }) },
    );
    await consumer.start();
    for (let i = 0; i < 60; i++) {
      const key = `k${i % 3}`;
      broker.publish(topic, { data: encoder.encode(JSON.stringify({ key })), partitionKey: key });
    }
    await waitFor('60 processed', () => consumer.stats().processed === 60, 10_000);
    await consumer.stop();
    expect(consumer.stats().staleTokens).toBe(0);
    for (const list of tokens.values()) {
      expect(list.every((t) => Number.isSafeInteger(t) && t > 0)).toBe(true);
      for (let i = 1; i < list.length; i++) expect(list[i]!).toBeGreaterThanOrEqual(list[i - 1]!);
    }
  });
});
