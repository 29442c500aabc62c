import { describe, it } from 'vitest';
import { MemoryBroker } from '../../../src/index.js';
import { registerContract, transportContract } from '../../../src/testing/index.js';

const brokers = new WeakMap<object, MemoryBroker>();

registerContract(
  'memory transport',
  transportContract(
    () => {
      const broker = new MemoryBroker();
      const transport = broker.transport();
      brokers.set(transport, broker);
      return transport;
    },
    { nackRedeliveryDelayMs: 20, waitMs: 2000, cleanup: async (t) => brokers.get(t)?.close() },
  ),
  { describe, it },
);
