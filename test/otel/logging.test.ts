import { describe, expect, it } from 'vitest';
import {
  MemoryCounterStore,
  MemoryLock,
  NonRetriableError,
  createExclusiveConsumer,
  exclusivityCounter,
  isConfigurationError,
  type ExclusiveConsumer,
  type ExclusiveConsumerOptions,
  type Handler,
  type MemoryBroker,
} from '../../src/index.js';
import { consoleLogger, hashKey, silentLogger, type LogFields, type Logger, type LogLevel } from '../../src/index.js';
import { publishEvents, publishRaw, sleep, topicName, waitFor, resourcesPerTest, type TestEvent } from '../helpers/index.js';

const { consumers, setup: fresh } = resourcesPerTest();
const setup = (): { broker: MemoryBroker; topic: string } => fresh('log');

interface Line {
  readonly level: LogLevel;
  readonly message: string;
  readonly fields: LogFields;
}

/** A logger that keeps its lines. */
function memoryLogger(level: LogLevel = 'debug'): Logger & { lines: Line[] } {
  const order: LogLevel[] = ['debug', 'info', 'warn', 'error'];
  const lines: Line[] = [];
  const at = (l: LogLevel) => (message: string, fields: LogFields = {}) => {
    if (order.indexOf(l) >= order.indexOf(level)) lines.push({ level: l, message, fields });
  };
  return {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    isLevelEnabled: (l) => order.indexOf(l) >= order.indexOf(level),
  };
}

async function start(
  broker: MemoryBroker,
  topic: string,
  handler: Handler<TestEvent>,
  options: ExclusiveConsumerOptions<TestEvent>,
): Promise<ExclusiveConsumer> {
  const c = createExclusiveConsumer<TestEvent>(topic, (e) => e.key, handler, {
    transport: broker.transport(),
    consumerName: 'c1',
    initialPosition: 'earliest',
    retry: { maxAttempts: 2, initialDelayMs: 5, maxDelayMs: 5 },
    ...options,
  });
  consumers.push(c);
  await c.start();
  return c;
}

const text = (lines: readonly Line[]): string => JSON.stringify(lines);

describe('consoleLogger()', () => {
  it('writes JSON lines at or above its level', () => {
    const out: string[] = [];
    const logger = consoleLogger({ level: 'warn', write: (line) => out.push(line) });
    logger.info('dropped', { a: 1 });
    logger.warn('kept', { a: 1, b: 'x y', c: undefined });
    expect(out).toHaveLength(1);
    const line = JSON.parse(out[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'warn', msg: 'kept', a: 1, b: 'x y' });
    expect(typeof line.time).toBe('string');
    expect(logger.isLevelEnabled?.('info')).toBe(false);
    expect(logger.isLevelEnabled?.('error')).toBe(true);
  });

  it('writes key=value text for a terminal', () => {
    const out: string[] = [];
    consoleLogger({ format: 'text', level: 'debug', write: (line) => out.push(line) }).debug('lease acquired', {
      keyHash: 'ab12',
      waitMs: 3,
      reason: 'two words',
    });
    expect(out[0]).toMatch(/^\S+Z DEBUG lease acquired keyHash=ab12 waitMs=3 reason="two words"$/);
  });
});

describe('the consumer logger option', () => {
  it('is silent by default and validated when given', () => {
    expect(() => createExclusiveConsumer('t', () => 'k', () => undefined, { logger: {} as Logger })).toThrow(
      /Expected `logger.debug` to be a function/,
    );
    try {
      createExclusiveConsumer('t', () => 'k', () => undefined, { privacy: { keys: 'plain' as 'raw' } });
      expect.unreachable();
    } catch (error) {
      expect(isConfigurationError(error)).toBe(true);
      expect((error as Error).message).toContain('`privacy.keys`');
    }
    expect(() => createExclusiveConsumer('t', () => 'k', () => undefined, { logger: silentLogger })).not.toThrow();
  });

  it('logs lifecycle, failures and dead letters with hashed keys, never payloads', async () => {
    const { broker, topic } = setup();
    const logger = memoryLogger();
    const c = await start(
      broker,
      topic,
      (e) => {
        if (e.seq === 1) throw new Error(`card 4111-1111 declined for ${e.key}`);
        if (e.seq === 2) throw new NonRetriableError(`no profile for ${e.key}`);
      },
      { logger, subscription: 'decisions' },
    );
    publishEvents(broker, topic, [
      { key: 'shopper-1@example.com', seq: 1 },
      { key: 'shopper-2@example.com', seq: 2 },
    ]);
    // A payload that does not decode: JSON.parse quotes it in its message.
    publishRaw(broker, topic, '{"card": "4111-1111-secret"', 'shopper-3@example.com');
    await waitFor('dead letters', () => c.stats().deadLettered === 3);
    await c.stop();

    const all = text(logger.lines);
    for (const secret of ['shopper-1@example.com', 'shopper-2@example.com', 'shopper-3', '4111']) {
      expect(all).not.toContain(secret);
    }
    expect(logger.lines.map((l) => `${l.level} ${l.message}`)).toEqual(
      expect.arrayContaining([
        'info consumer started',
        'warn handler failed, retrying',
        'warn handler failed, not retried',
        'error message dead-lettered',
        'info consumer stopping',
        'info consumer stopped',
      ]),
    );
    const started = logger.lines.find((l) => l.message === 'consumer started')!;
    expect(started.fields).toMatchObject({ topic, consumerName: 'c1', subscription: 'decisions', mode: 'key-shared', transport: 'memory' });
    const retrying = logger.lines.find((l) => l.message === 'handler failed, retrying')!;
    expect(retrying.fields).toMatchObject({ keyHash: hashKey('shopper-1@example.com'), attempt: 1, error: 'Error' });
    expect(retrying.fields.errorMessage).toBeUndefined();
    expect(typeof retrying.fields.retryInMs).toBe('number');
    const deadLetters = logger.lines.filter((l) => l.message === 'message dead-lettered');
    expect(deadLetters.map((l) => l.fields.errorCode).sort()).toEqual(['EC_DECODE', 'EC_NON_RETRIABLE', undefined].sort());
    expect(deadLetters.every((l) => l.fields.errorMessage === undefined)).toBe(true);
  });

  it('writes raw keys and error messages only when asked to', async () => {
    const { broker, topic } = setup();
    const logger = memoryLogger('warn');
    const c = await start(
      broker,
      topic,
      (e) => {
        throw new NonRetriableError(`no profile for ${e.key}`);
      },
      { logger, privacy: { keys: 'raw', errorMessages: true } },
    );
    publishEvents(broker, topic, [{ key: 'shopper-1', seq: 1 }]);
    await waitFor('dead letter', () => c.stats().deadLettered === 1);
    const line = logger.lines.find((l) => l.message === 'message dead-lettered')!;
    expect(line.fields).toMatchObject({ key: 'shopper-1', errorMessage: 'no profile for shopper-1' });
    // Level 'warn': no info lines, and debug events are not even listened to.
    expect(logger.lines.some((l) => l.level === 'info' || l.level === 'debug')).toBe(false);
  });

  it('hashes a key quoted in an error message when error messages are on, with the salt', async () => {
    const { broker, topic } = setup();
    const logger = memoryLogger('warn');
    const c = await start(
      broker,
      topic,
      (e) => {
        throw new NonRetriableError(`no profile for ${e.key}`);
      },
      { logger, privacy: { errorMessages: true, keySalt: 'pepper' } },
    );
    publishEvents(broker, topic, [{ key: 'shopper-1', seq: 1 }]);
    await waitFor('dead letter', () => c.stats().deadLettered === 1);
    const line = logger.lines.find((l) => l.message === 'message dead-lettered')!;
    expect(line.fields).toMatchObject({
      keyHash: hashKey('shopper-1', 'pepper'),
      errorMessage: `no profile for ${hashKey('shopper-1', 'pepper')}`,
    });
  });

  it('logs violations, lease losses, key mismatches (one warning) and stays up when the logger throws', async () => {
    const { broker, topic } = setup();
    const logger = memoryLogger();
    const store = new MemoryCounterStore();
    const lock = new MemoryLock();
    let expired = false;
    const locked = await start(
      broker,
      topic,
      async () => {
        if (!expired) {
          expired = true;
          lock.expire('k0');
          await sleep(80);
        }
      },
      { logger, mode: 'shared-locked', lock, lease: { ttlMs: 45 }, subscription: 'locked' },
    );
    publishEvents(broker, topic, [{ key: 'k0', seq: 0 }]);
    await waitFor('lease lost', () => locked.stats().leasesLost === 1 && locked.stats().processed === 1, 3000);
    const lost = logger.lines.find((l) => l.message === 'lease lost')!;
    expect(lost.level).toBe('warn');
    expect(lost.fields).toMatchObject({ keyHash: hashKey('k0'), error: 'LockLostError' });
    expect(String(lost.fields.errorMessage)).toContain('Lease on key lost');
    expect(logger.lines.some((l) => l.message === 'lease acquired' && l.level === 'debug')).toBe(true);

    // Violations: two consumers of a shared subscription running one key at once.
    const shared = [1, 2].map((i) =>
      createExclusiveConsumer<TestEvent>(topic, (e) => e.key, () => sleep(5), {
        transport: broker.transport(),
        mode: 'shared',
        subscription: 'shared',
        consumerName: `s${i}`,
        initialPosition: 'earliest',
        middleware: [exclusivityCounter({ store })],
        logger,
      }),
    );
    consumers.push(...shared);
    await Promise.all(shared.map((c) => c.start()));
    const events: TestEvent[] = [];
    for (let seq = 1; seq <= 40; seq++) events.push({ key: 'k0', seq });
    publishEvents(broker, topic, events);
    await waitFor('violations', () => shared.reduce((n, c) => n + c.stats().violations, 0) > 0, 5000);
    const violation = logger.lines.find((l) => l.message === 'exclusivity violation')!;
    expect(violation.level).toBe('warn');
    expect(violation.fields).toMatchObject({ keyHash: hashKey('k0'), source: 'exclusivity-counter' });
    expect(logger.lines.some((l) => l.message.includes("Mode 'shared'") && l.fields.code === 'EC_SHARED_MODE')).toBe(true);

    // Mismatches: the first is a warning, the rest debug.
    const mismatched = await start(broker, topic, () => undefined, { logger, subscription: 'mismatch', consumerName: 'm1' });
    const encoder = new TextEncoder();
    for (let seq = 0; seq < 3; seq++) {
      broker.publish(topic, { data: encoder.encode(JSON.stringify({ key: 'real', seq })), partitionKey: 'other' });
    }
    await waitFor('mismatches', () => mismatched.stats().keyMismatches === 3);
    const mismatches = logger.lines.filter((l) => l.message.startsWith('key differs from the partition key'));
    expect(mismatches.map((l) => l.level)).toEqual(['warn', 'debug', 'debug']);
    expect(text(mismatches)).not.toContain('other');

    // A logger that throws breaks nothing.
    const broken: Logger = {
      debug: () => {
        throw new Error('log sink down');
      },
      info: () => {
        throw new Error('log sink down');
      },
      warn: () => {
        throw new Error('log sink down');
      },
      error: () => {
        throw new Error('log sink down');
      },
    };
    const fresh = topicName('log');
    const survivor = await start(
      broker,
      fresh,
      (e) => {
        if (e.seq === 1 && survivor.stats().failed === 0) throw new Error('fails once');
      },
      { logger: broken, subscription: 'survivor', consumerName: 'v1' },
    );
    publishEvents(broker, fresh, [1, 2, 3].map((seq) => ({ key: `k${seq}`, seq })));
    await waitFor('survivor processed', () => survivor.stats().processed === 3);
    expect(survivor.stats().failed).toBe(1);
  });
});
