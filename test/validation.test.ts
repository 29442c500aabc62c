import { describe, expect, it } from 'vitest';
import {
  compose,
  consoleLogger,
  createExclusiveConsumer,
  createProducer,
  isConfigurationError,
  isMiddlewareError,
  type HandlerContext,
} from '../src/index.js';

const configurationError = (option: string) => (error: unknown): boolean =>
  isConfigurationError(error) && (error as { context: { option?: unknown } }).context.option === option;

describe('argument and option validation', () => {
  it('a topic is required by the consumer and the producer, at creation', () => {
    expect(() => createExclusiveConsumer(undefined as unknown as string, () => 'k', () => undefined)).toThrowError(
      expect.objectContaining({ code: 'EC_CONFIGURATION' }),
    );
    let thrown: unknown;
    try {
      createProducer({ key: () => 'k' } as unknown as Parameters<typeof createProducer>[0]);
    } catch (error) {
      thrown = error;
    }
    expect(configurationError('topic')(thrown)).toBe(true);
  });

  it('consoleLogger rejects an unknown level or format with a ConfigurationError', () => {
    expect(() => consoleLogger({ level: 'loud' as never })).toThrowError(/level/);
    for (const options of [{ level: 'loud' }, { format: 'xml' }]) {
      let thrown: unknown;
      try {
        consoleLogger(options as never);
      } catch (error) {
        thrown = error;
      }
      expect(configurationError(Object.keys(options)[0] as string)(thrown)).toBe(true);
    }
  });

  it('an options object is an object: an array, or nothing where options are required, is a ConfigurationError', () => {
    const cases: [string, () => unknown, string][] = [
      ['consoleLogger([])', () => consoleLogger([] as never), 'options'],
      ['createProducer()', () => createProducer(undefined as never), 'options'],
      ['createProducer([])', () => createProducer([] as never), 'options'],
      ['consoleLogger({ write: 1 })', () => consoleLogger({ write: 1 as never }), 'write'],
      ['createExclusiveConsumer(…, { retry: [] })', () => createExclusiveConsumer('t', () => 'k', () => undefined, { retry: [] as never }), 'retry'],
    ];
    for (const [call, run, option] of cases) {
      let thrown: unknown;
      try {
        run();
      } catch (error) {
        thrown = error;
      }
      expect(configurationError(option)(thrown), `${call} threw ${String(thrown)}`).toBe(true);
    }
  });

  it('a middleware calling next() twice gets a MiddlewareError', async () => {
    const twice = compose<unknown>(
      [
        async function twice(_ctx, next) {
          await next();
          await next();
        },
      ],
      async () => undefined,
    );
    const rejection = await twice({} as HandlerContext).catch((error: unknown) => error);
    expect(isMiddlewareError(rejection)).toBe(true);
    expect((rejection as { retriable: boolean }).retriable).toBe(false);
  });
});

describe('privacy of dead-letter reasons', () => {
  it('by default a foreign error message stays out of the dead letter; its type and the library’s own messages go in', async () => {
    const { MemoryBroker, DeadLetterProperties, defaultDeadLetterTopic, NonRetriableError } = await import('../src/index.js');
    const broker = new MemoryBroker();
    try {
      const topic = 'privacy-dlq';
      const c = createExclusiveConsumer<{ n: number }>(
        topic,
        () => 'shopper-42',
        (e) => {
          if (e.n === 1) throw new NonRetriableError('card 4111 of shopper-42 declined');
        },
        { transport: broker.transport(), initialPosition: 'earliest' },
      );
      await c.start();
      const encoder = new TextEncoder();
      broker.publish(topic, { data: encoder.encode('{"n":1}'), partitionKey: 'shopper-42' });
      broker.publish(topic, { data: encoder.encode('{not json'), partitionKey: 'shopper-42' });
      const deadline = Date.now() + 5000;
      while (c.stats().deadLettered < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      await c.stop();
      const letters = broker.peek(defaultDeadLetterTopic(topic, 'exclusive-consumer'));
      const reasons = letters.map((l) => l.properties[DeadLetterProperties.reason]);
      expect(reasons.sort()).toEqual(['DecodeError', 'NonRetriableError']);
      expect(letters.map((l) => l.properties[DeadLetterProperties.code]).sort()).toEqual(['EC_DECODE', 'EC_NON_RETRIABLE']);
    } finally {
      await broker.close();
    }
  });
});

describe('unknown option names', () => {
  it('a misspelt option is a ConfigurationError with a suggestion, at any depth', () => {
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ maxConcurency: 5 }, 'maxConcurency', /did you mean `maxConcurrency`\?/],
      [{ retry: { maxAttempt: 2 } }, 'retry.maxAttempt', /did you mean `retry\.maxAttempts`\?/],
      [{ lease: { ttl: 5 } }, 'lease.ttl', /Unknown option `lease\.ttl`/],
      [{ privacy: { key: 'raw' } }, 'privacy.key', /did you mean `privacy\.keys`\?/],
      [{ zzzzzzzz: 1 }, 'zzzzzzzz', /Known options: transport, mode/],
    ];
    for (const [options, option, message] of cases) {
      let thrown: unknown;
      try {
        createExclusiveConsumer('t', () => 'k', () => undefined, options as never);
      } catch (error) {
        thrown = error;
      }
      expect(configurationError(option)(thrown), option).toBe(true);
      expect((thrown as Error).message).toMatch(message);
    }
  });

  it('a lock with a token source, or a lock in shared mode, is refused; a lock in key-shared and failover is accepted', async () => {
    const { MemoryLock } = await import('../src/index.js');
    const lock = new MemoryLock();
    expect(() => createExclusiveConsumer('t', () => 'k', () => undefined, { lock, tokenSource: lock })).toThrowError(/tokenSource/);
    expect(() => createExclusiveConsumer('t', () => 'k', () => undefined, { mode: 'shared', lock })).toThrowError(/shared-locked/);
    expect(() => createExclusiveConsumer('t', () => 'k', () => undefined, { mode: 'key-shared', lock })).not.toThrow();
    expect(() => createExclusiveConsumer('t', () => 'k', () => undefined, { mode: 'failover', lock })).not.toThrow();
  });
});

describe('updateFenced without a fence', () => {
  it('is a ConfigurationError naming the cause, not a TypeError', async () => {
    const { MemoryFencedStore, updateFenced } = await import('../src/index.js');
    const error = await updateFenced(new MemoryFencedStore<number>(), 'k', undefined as never, (n) => (n ?? 0) + 1).catch((e: unknown) => e);
    expect(configurationError('fence')(error)).toBe(true);
    expect((error as Error).message).toMatch(/`lock` or a `tokenSource`/);
    expect((error as { retriable: boolean }).retriable).toBe(false);
  });
});

describe('producer sends are checked before anything is published', () => {
  it('refuses undefined events, throwing key functions, bad keys and non-string properties', async () => {
    const { MemoryBroker, isKeyExtractionError } = await import('../src/index.js');
    const broker = new MemoryBroker();
    try {
      const producer = createProducer<{ id?: string; boom?: boolean } | undefined>({
        transport: broker.transport(),
        topic: 'p',
        key: (e) => {
          if (e?.boom === true) throw new Error('no id');
          return e?.id as string;
        },
      });
      const errors = await Promise.all([
        producer.send(undefined).catch((e: unknown) => e),
        producer.send({ boom: true }).catch((e: unknown) => e),
        producer.send({}).catch((e: unknown) => e),
        producer.send({ id: 'a' }, { properties: { n: 1 as unknown as string } }).catch((e: unknown) => e),
      ]);
      expect(configurationError('event')(errors[0])).toBe(true);
      expect(isKeyExtractionError(errors[1])).toBe(true);
      expect((errors[1] as Error).message).toBe('Producer key function threw: no id');
      expect(isKeyExtractionError(errors[2])).toBe(true);
      expect((errors[2] as Error).message).toMatch(/got undefined/);
      expect(configurationError('properties.n')(errors[3])).toBe(true);
      expect(broker.peek('p')).toHaveLength(0);
      expect(() => createProducer({ topic: 'p', key: () => 'k', tranport: broker.transport() } as never)).toThrowError(/did you mean `transport`/);
    } finally {
      await broker.close();
    }
  });
});
