import type { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { redisCounterStore, redisFencedStore, redisLock, redisTokenSource } from '../../src/redis/index.js';
import {
  counterStoreContract,
  fencedStoreContract,
  lockContract,
  registerContract,
  tokenSourceContract,
} from '../../src/testing/index.js';
import { connect, deletePrefix, testPrefix, topologies } from './helpers.js';

for (const topology of topologies) {
  if (topology.skip !== undefined) {
    // Printed so that a skipped topology is visible in the run's output, not only as "skipped".
    console.warn(`Redis ${topology.name}: skipping its contract suites: ${topology.skip}`);
    describe.skip(`redis ${topology.name}`, () => it('needs the Redis Cluster', () => undefined));
    continue;
  }
  describe(`redis ${topology.name}`, () => {
    const prefix = testPrefix(`contract-${topology.name}`);
    let client: Redis | Cluster;
    beforeAll(() => {
      client = connect(topology.name);
    });
    afterAll(async () => {
      await deletePrefix(client, prefix);
      client.disconnect();
    });
    const registrar = { describe, it };
    // 500 ms, not the default 200: on a loaded machine a round trip can take 100 ms, and the
    // contract's "extend after half the TTL" case must reach Redis before the lease expires.
    registerContract('redisLock', lockContract(() => redisLock(client, { prefix }), { ttlMs: 500 }), registrar);
    registerContract('RedisLock as a token source', tokenSourceContract(() => redisLock(client, { prefix })), registrar);
    registerContract('redisTokenSource', tokenSourceContract(() => redisTokenSource(client, { prefix })), registrar);
    registerContract('redisFencedStore', fencedStoreContract(() => redisFencedStore(client, { prefix })), registrar);
    registerContract(
      "redisFencedStore with tokenCounter 'none'",
      fencedStoreContract(() => redisFencedStore(client, { prefix, tokenCounter: 'none' })),
      registrar,
    );
    // A short session TTL: the crash and pause cases wait for it to pass.
    registerContract('redisCounterStore', counterStoreContract(() => redisCounterStore(client, { prefix, ttlMs: 500 })), registrar);
  });
}
