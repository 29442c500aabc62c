import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBroker } from '../../../src/transports/memory/index.js';
import type { SubscriptionType } from '../../../src/transports/types.js';

let broker: MemoryBroker;
afterEach(async () => {
  await broker?.close();
});

const COUNT = 200_000;

describe('memory broker under volume', () => {
  it.each<[SubscriptionType, number]>([
    ['key-shared', 0],
    ['shared', 0],
    ['key-shared', 4],
  ])(
    'publishes, consumes and acknowledges %s traffic of 200k messages (%i partitions), retaining nothing after',
    async (type, partitions) => {
      broker = new MemoryBroker();
      broker.createTopic('volume', { partitions });
      const data = new Uint8Array(8);
      const keys = Array.from({ length: 10_000 }, (_, i) => `key-${i}`);
      let received = 0;
      let outOfOrder = 0;
      // Speed is the benchmarks' business (npm run bench): here, only that all of it arrives.
      let allReceived!: () => void;
      const done = new Promise<void>((resolve) => (allReceived = resolve));
      const last = new Map<string, number>();
      await broker.transport().subscribe({
        topic: 'volume',
        subscription: 'sub',
        consumerName: 'c',
        type,
        initialPosition: 'earliest',
        receiverQueueSize: 1000,
        deadLetterTopic: 'volume-DLQ',
        onMessages: (batch) => {
          for (const d of batch) {
            // Entry ids grow per partition, and a key lives in one partition.
            const entry = Number(d.id.slice(d.id.indexOf(':') + 1));
            if (entry <= (last.get(d.partitionKey!) ?? -1)) outOfOrder++;
            last.set(d.partitionKey!, entry);
            d.ack();
          }
          received += batch.length;
          if (received === COUNT) allReceived();
        },
      });
      // Half as a backlog, half while consuming.
      for (let i = 0; i < COUNT / 2; i++) broker.publish('volume', { data, partitionKey: keys[i % keys.length] });
      for (let i = COUNT / 2; i < COUNT; i += 1000) {
        for (let j = i; j < i + 1000; j++) broker.publish('volume', { data, partitionKey: keys[j % keys.length] });
        await new Promise((resolve) => setImmediate(resolve));
      }
      await done;
      expect(received).toBe(COUNT);
      expect(outOfOrder).toBe(0);
      expect(broker.topicStats('volume', 'sub')).toEqual({ backlog: 0, unacked: 0, consumers: 1, retainedEntries: 0 });
    },
    // Only a guard against a hang on a loaded machine.
    120_000,
  );
});
