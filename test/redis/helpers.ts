/**
 * Shared helpers of the Redis tests: the two topologies the global setup provides (a standalone
 * Redis and a 3-master Cluster), a fresh key prefix per test file, and cleanup of that prefix's keys
 * (fence counters never expire by design, so tests delete their own).
 */
import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { inject } from 'vitest';

export const redisUrl: string = inject('redisUrl');
export const clusterNodes = inject('redisClusterNodes');

/** A prefix no other test run uses: `ec-test-<hex>:`. */
export function testPrefix(label = 'test'): string {
  return `ec-${label}-${randomBytes(5).toString('hex')}:`;
}

export type Topology = 'standalone' | 'cluster';

/** The topologies to run on, with the reason when the Cluster is unavailable. */
export const topologies: ReadonlyArray<{ readonly name: Topology; readonly skip: string | undefined }> = [
  { name: 'standalone', skip: undefined },
  {
    name: 'cluster',
    skip: clusterNodes.length === 0 ? 'the global setup could not start a Redis Cluster' : undefined,
  },
];

/** A new client of the given topology. */
export function connect(topology: Topology): Redis | Cluster {
  if (topology === 'standalone') return new Redis(redisUrl, { maxRetriesPerRequest: 2 });
  return new Cluster(
    clusterNodes.map((n) => ({ host: n.host, port: n.port })),
    { redisOptions: { maxRetriesPerRequest: 2 } },
  );
}

/** Delete every key starting with `prefix` (on every master of a Cluster). */
export async function deletePrefix(client: Redis | Cluster, prefix: string): Promise<number> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  let deleted = 0;
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${escapeGlob(prefix)}*`, 'COUNT', 1000);
      cursor = next;
      // One DEL per key: in a Cluster, keys of one node may still sit in different slots.
      for (const key of keys) deleted += await node.del(key);
    } while (cursor !== '0');
  }
  return deleted;
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

export { sleep, waitFor } from '../helpers/index.js';
