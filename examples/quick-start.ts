// The README's quick start, runnable: `npx tsx examples/quick-start.ts`.
import { createExclusiveConsumer, createProducer, MemoryBroker, shutdown, shutdownOnSignals } from '../src/index.js';

interface ShopperEvent {
  shopperId: string;
  type: 'view' | 'add-to-cart' | 'checkout';
}

async function decideWhetherToMessage(event: ShopperEvent, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  console.log(`decided for ${event.shopperId} after ${event.type}`);
}

const broker = new MemoryBroker(); // the embedded transport; in production: pulsarWebSocketTransport({ url })
const transport = broker.transport();

const consumer = createExclusiveConsumer<ShopperEvent>(
  'shopper-events',
  (event) => event.shopperId, // the exclusivity key
  async (event, ctx) => {
    // Never two runs of one shopper at once; ctx.signal aborts on timeout, lease loss or stop.
    await decideWhetherToMessage(event, ctx.signal);
  },
  { transport, mode: 'key-shared', maxConcurrency: 200 },
);
await consumer.start();

const producer = createProducer<ShopperEvent>({ transport, topic: 'shopper-events', key: (e) => e.shopperId });
await producer.send({ shopperId: 's-42', type: 'add-to-cart' });

// On SIGTERM: finish running handlers, give the rest back, close the producer and the transport.
const targets = { consumers: [consumer], producers: [producer], transports: [transport] };
shutdownOnSignals(targets);

// For the example: wait for the event, then shut down as SIGTERM would.
while (consumer.stats().processed < 1) await new Promise((resolve) => setTimeout(resolve, 10));
console.log(await shutdown(targets));
await broker.close();
