// A handler tested against broker faults (docs/testing.md), runnable: `npx tsx examples/broker-faults.ts`.
// Three consumers keep a per-shopper list of the events they applied, in a fenced store, while the
// embedded broker loses acknowledgements, drops a connection, unloads the topic and restarts.
import { createExclusiveConsumer, MemoryBroker, MemoryFencedStore, MemoryLock, updateFenced } from '../src/index.js';
import { brokerFaults } from '../src/testing/index.js';

interface ShopperEvent {
  readonly shopperId: string;
  readonly seq: number;
}

const broker = new MemoryBroker();
// Before the transports: their consumers then remember what they completed, as on Pulsar.
const faults = brokerFaults(broker);
const transport = broker.transport();
const tokens = new MemoryLock();
const store = new MemoryFencedStore<number[]>();

const consumers = ['c0', 'c1', 'c2'].map((consumerName) =>
  createExclusiveConsumer<ShopperEvent>(
    'shopper-events',
    (event) => event.shopperId,
    async (event, ctx) => {
      // Idempotent and fenced: a redelivered event is not applied twice, a stale run cannot write.
      await updateFenced(store, ctx.key, ctx.fence, (seen) => (seen?.includes(event.seq) ? seen : [...(seen ?? []), event.seq]));
    },
    { transport, mode: 'key-shared', consumerName, tokenSource: tokens },
  ),
);
await Promise.all(consumers.map((c) => c.start()));

const producer = await transport.createProducer('shopper-events');
const publish = async (from: number, count: number): Promise<void> => {
  for (let seq = from; seq < from + count; seq++) {
    const event: ShopperEvent = { shopperId: `s-${seq % 10}`, seq };
    await producer.send({ data: new TextEncoder().encode(JSON.stringify(event)), partitionKey: event.shopperId });
  }
};

// Acknowledgements sent in the next 100 ms never reach the broker; their consumers then reconnect
// and get the messages again, and recognise them.
const losing = faults.loseAcks({ forMs: 100 });
await publish(0, 100);
const { lost } = await losing;
await faults.dropConnection('c1'); // its keys move to c0 and c2 while it is away
await publish(100, 100);
await faults.unloadTopic('shopper-events');
const restarting = faults.restart({ downMs: 200 });
await publish(200, 100); // sends wait for the broker to be back
await restarting;

const applied = async (): Promise<number> => {
  let count = 0;
  for (let s = 0; s < 10; s++) count += (await store.get(`s-${s}`))?.value.length ?? 0;
  return count;
};
while ((await applied()) < 300) await new Promise((resolve) => setTimeout(resolve, 20));
const skipped = consumers.reduce((n, c) => n + c.stats().repeatsSkipped, 0);
console.log(`acks lost: ${lost}; repeats recognised and acknowledged: ${skipped}; events applied: ${await applied()} of 300 (each once)`);

await Promise.all(consumers.map((c) => c.stop()));
await broker.close();
