/**
 * The Redis outbox on the real Redis, standalone and Cluster: the outbox and fenced-store contracts
 * (with one shard and with several), the key layout (every key of a shard in one slot), and the
 * fence counter raised after a rejected commit.
 */
import type { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStaleTokenError, type Outbox } from '../../src/index.js';
import { redisLock, redisOutbox, type RedisOutbox } from '../../src/redis/index.js';
import { fencedStoreContract, outboxContract, registerContract, uniqueName } from '../../src/testing/index.js';
import { connect, deletePrefix, testPrefix, topologies } from './helpers.js';

for (const topology of topologies) {
  if (topology.skip !== undefined) {
    console.warn(`Redis ${topology.name}: skipping its outbox suites: ${topology.skip}`);
    describe.skip(`redis ${topology.name} outbox`, () => it('needs the Redis Cluster', () => undefined));
    continue;
  }
  describe(`redis ${topology.name} outbox`, () => {
    let client: Redis | Cluster;
    const prefixes: string[] = [];
    const fresh = (): string => {
      const prefix = testPrefix(`outbox-${topology.name}`);
      prefixes.push(prefix);
      return prefix;
    };
    beforeAll(() => {
      client = connect(topology.name);
    });
    afterAll(async () => {
      for (const prefix of prefixes) await deletePrefix(client, prefix);
      client.disconnect();
    });
    const registrar = { describe, it };
    const cleanup = async (outbox: Outbox<unknown, unknown>): Promise<void> => {
      await deletePrefix(client, (outbox as RedisOutbox).prefix);
    };
    for (const shards of topology.name === 'cluster' ? [3] : [1, 4]) {
      registerContract(
        `redisOutbox, ${shards} shard${shards === 1 ? '' : 's'}`,
        outboxContract((options) => redisOutbox(client, { ...options, prefix: fresh(), shards }), { cleanup }),
        registrar,
      );
      registerContract(
        `redisOutbox as a fenced store, ${shards} shard${shards === 1 ? '' : 's'}`,
        fencedStoreContract(() => redisOutbox(client, { prefix: fresh(), shards }), { cleanup: (s) => cleanup(s as Outbox) }),
        registrar,
      );
    }

    it('raises the lock counter after a rejected commit (on a Cluster too, from a shard in another slot)', async () => {
      const prefix = fresh();
      const lock = redisLock(client, { prefix });
      const outbox = redisOutbox<string, string>(client, { prefix, shards: 3 });
      const key = uniqueName('raise');
      await outbox.commit(key, 'from the past', { token: 30, owner: 'old' }, [{ payload: 'x', idempotencyKey: `${key}-x` }]);
      const lease = await lock.tryAcquire(key, 'b', 5_000);
      expect(lease?.token, 'the counter never saw token 30').toBe(1);
      const error = await outbox
        .commit(key, 'by b', { token: lease!.token, owner: 'b' }, [{ payload: 'y', idempotencyKey: `${key}-y` }])
        .catch((e: unknown) => e);
      expect(isStaleTokenError(error)).toBe(true);
      expect(await outbox.effect(`${key}-y`)).toBeUndefined();
      await lock.release(lease!);
      expect((await lock.tryAcquire(key, 'b', 5_000))?.token, 'raised past the token the outbox holds').toBe(31);
    });
  });
}

describe('redis outbox options', () => {
  it('rejects bad shards and token counters', () => {
    const client = { evalsha: async () => null, eval: async () => null };
    expect(() => redisOutbox(client, { shards: 0 })).toThrow(expect.objectContaining({ option: 'shards' }));
    expect(() => redisOutbox(client, { shards: 2048 })).toThrow(expect.objectContaining({ option: 'shards' }));
    expect(() => redisOutbox(client, { tokenCounter: 'elsewhere' as 'same' })).toThrow(expect.objectContaining({ option: 'tokenCounter' }));
    expect(() => redisOutbox(client, { prefix: 'a{b' })).toThrow(expect.objectContaining({ option: 'prefix' }));
  });
});
