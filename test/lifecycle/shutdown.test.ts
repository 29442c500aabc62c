/**
 * Shutting a service down: `shutdown()` stops consumers, then closes producers, transports and
 * clients, whatever fails on the way; `shutdownOnSignals()` lets a Pulsar service exit on SIGTERM,
 * which `consumer.stop()` alone does not (its producer and transport keep the process alive).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryBroker, createExclusiveConsumer, createProducer, isConfigurationError, shutdown } from '../../src/index.js';
import { uniqueName } from '../../src/testing/index.js';
import { forkFixture } from '../helpers/processes.js';
import { sleep } from '../helpers/index.js';
import { skipReason, webUrl } from '../pulsar/websocket/helpers.js';

describe('shutdown()', () => {
  it('stops consumers first, then closes producers, transports and clients in that order, collecting failures', async () => {
    const broker = new MemoryBroker();
    const order: string[] = [];
    const consumer = createExclusiveConsumer('t', () => 'k', () => undefined, { transport: broker.transport() });
    consumer.on('consumer.stopped', () => order.push('consumer'));
    await consumer.start();
    const producer = createProducer({ transport: broker.transport(), topic: 't', key: () => 'k' });
    const report = await shutdown({
      consumers: [consumer],
      producers: [{ close: async () => void order.push('producer') }, producer],
      transports: [{ close: async () => void order.push('transport') }, {}],
      clients: [
        {
          close: async () => {
            order.push('client 1');
            throw new Error('client 1 would not close');
          },
        },
        { close: async () => void order.push('client 2') },
      ],
    });
    expect(order).toEqual(['consumer', 'producer', 'transport', 'client 1', 'client 2']);
    expect(report.errors.map((e) => e.message)).toEqual(['client 1 would not close']);
    expect(report.consumers).toHaveLength(1);
    expect(consumer.stats().state).toBe('stopped');
    await broker.close();
  });

  it('refuses what it cannot shut down with a ConfigurationError', async () => {
    await expect(shutdown({ consumers: 'c' as never })).rejects.toSatisfy(isConfigurationError);
    await expect(shutdown({}, { timeout: 5 } as never)).rejects.toThrow(/did you mean `timeoutMs`/);
  });
});

const skip = skipReason();

describe.skipIf(skip !== undefined)('a Pulsar service on SIGTERM (separate process, live broker)', () => {
  const run = async (mode: 'library' | 'stop-only'): Promise<number | null | 'still running'> => {
    const service = forkFixture(join(import.meta.dirname, 'fixtures', 'service.ts'), `service-${mode}`, {
      SERVICE_URL: webUrl,
      SERVICE_TOPIC: uniqueName('shutdown'),
      SERVICE_SHUTDOWN: mode,
    });
    await service.next('ready', 30_000);
    service.child.kill('SIGTERM');
    const exited = await Promise.race([service.exited().then(() => true), sleep(8000).then(() => false)]);
    return exited ? service.child.exitCode : 'still running';
  };

  it('exits with code 0 with shutdownOnSignals', async () => {
    expect(await run('library')).toBe(0);
  }, 60_000);

  it('keeps running with consumer.stop() alone: what shutdownOnSignals is for', async () => {
    expect(await run('stop-only')).toBe('still running');
  }, 60_000);
});
