import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { jsonCodec, type Codec } from '../codecs/index.js';
import { ConfigurationError } from '../errors/configuration-error.js';
import { adapterOption, booleanOption, functionsOption, integerOption, knownOptions, numberOption, objectOption, oneOfOption, optionNames, stringOption } from '../internal/validate.js';
import { silentLogger, type Logger } from '../logging/logger.js';
import { PRIVACY_OPTIONS, resolvePrivacy, type ResolvedPrivacy } from '../logging/privacy.js';
import type { FencingTokenSource, Lock } from '../locks/types.js';
import { memoryTransport } from '../transports/memory/index.js';
import type { InitialPosition, Transport } from '../transports/types.js';
import type { BatchOptions, ConsumerMode, DeadLetterOptions, ExclusiveConsumerOptions, LeaseOptions, Middleware, RetryOptions } from './types.js';

/** Defaults of {@link ExclusiveConsumerOptions}, frozen. */
export const defaults = Object.freeze({
  mode: 'key-shared' as ConsumerMode,
  subscription: 'exclusive-consumer',
  initialPosition: 'latest' as InitialPosition,
  maxConcurrency: 100,
  maxInFlight: 1000,
  handlerTimeoutMs: 30_000,
  stopTimeoutMs: 30_000,
  startTimeoutMs: 30_000,
  rememberCompleted: 10_000,
  checkPartitionKey: true,
  retry: Object.freeze({ maxAttempts: 3, initialDelayMs: 100, maxDelayMs: 10_000, factor: 2, jitter: 0.5 }),
  lease: Object.freeze({
    ttlMs: 10_000,
    whenBusy: 'wait' as 'wait' | 'release',
    acquireTimeoutMs: 30_000,
    retryDelayMs: 50,
    lingerMs: 0,
  }),
});

const MODES: readonly ConsumerMode[] = ['key-shared', 'failover', 'shared-locked', 'shared'];

/** Every option's name, for the unknown-name check. */
const OPTION_NAMES = optionNames<ExclusiveConsumerOptions<unknown>>({
  transport: true,
  mode: true,
  subscription: true,
  consumerName: true,
  initialPosition: true,
  codec: true,
  maxConcurrency: true,
  maxInFlight: true,
  handlerTimeoutMs: true,
  retry: true,
  lock: true,
  lease: true,
  tokenSource: true,
  middleware: true,
  batch: true,
  checkPartitionKey: true,
  stopTimeoutMs: true,
  startTimeoutMs: true,
  deadLetter: true,
  nackRedeliveryDelayMs: true,
  rememberCompleted: true,
  logger: true,
  privacy: true,
});
const RETRY_NAMES = optionNames<RetryOptions>({ maxAttempts: true, initialDelayMs: true, maxDelayMs: true, factor: true, jitter: true });
const LEASE_NAMES = optionNames<LeaseOptions>({ ttlMs: true, whenBusy: true, acquireTimeoutMs: true, retryDelayMs: true, lingerMs: true });
const BATCH_NAMES = optionNames<BatchOptions>({ maxSize: true, maxWaitMs: true });
const DEAD_LETTER_NAMES = optionNames<DeadLetterOptions>({ topic: true, maxRedeliverCount: true });

/** @internal Options with every default applied. */
export interface ResolvedOptions<T> {
  readonly transport: Transport;
  readonly mode: ConsumerMode;
  readonly subscription: string;
  readonly consumerName: string;
  readonly initialPosition: InitialPosition;
  readonly codec: Codec<T>;
  readonly maxConcurrency: number;
  readonly maxInFlight: number;
  readonly handlerTimeoutMs: number;
  readonly stopTimeoutMs: number;
  readonly startTimeoutMs: number;
  readonly checkPartitionKey: boolean;
  readonly retry: {
    readonly maxAttempts: number;
    readonly initialDelayMs: number;
    readonly maxDelayMs: number;
    readonly factor: number;
    readonly jitter: number;
  };
  readonly lock: Lock | undefined;
  readonly lease: {
    readonly ttlMs: number;
    readonly whenBusy: 'wait' | 'release';
    readonly acquireTimeoutMs: number;
    readonly retryDelayMs: number;
    readonly lingerMs: number;
  };
  readonly tokenSource: FencingTokenSource | undefined;
  readonly middleware: readonly Middleware<T>[];
  /** Undefined: one event per run. */
  readonly batch: { readonly maxSize: number; readonly maxWaitMs: number } | undefined;
  readonly deadLetterTopic: string | undefined;
  readonly maxRedeliverCount: number | undefined;
  readonly nackRedeliveryDelayMs: number | undefined;
  /** 0: no record of completions. */
  readonly rememberCompleted: number;
  /** Undefined when silent, so that nothing listens for log lines. */
  readonly logger: Logger | undefined;
  readonly privacy: ResolvedPrivacy;
}

/** @internal Validate `options` and apply defaults; throws `ConfigurationError` naming the option. */
export function resolveOptions<T>(options: ExclusiveConsumerOptions<T> | undefined): ResolvedOptions<T> {
  const o = objectOption('options', options) as ExclusiveConsumerOptions<T> & Record<string, unknown>;
  knownOptions(o, OPTION_NAMES);
  const mode = oneOfOption('mode', o.mode, defaults.mode, MODES);

  if (o.transport !== undefined) adapterOption('transport', o.transport, ['subscribe', 'createProducer']);
  if (o.codec !== undefined) adapterOption('codec', o.codec, ['decode', 'encode']);
  if (o.lock !== undefined) adapterOption('lock', o.lock, ['tryAcquire', 'extend', 'release']);
  if (o.tokenSource !== undefined) adapterOption('tokenSource', o.tokenSource, ['nextToken']);
  if (mode === 'shared-locked' && o.lock === undefined) {
    throw new ConfigurationError('lock', "a Lock in 'shared-locked' mode (e.g. new MemoryLock() or a Redis lock)", o.lock);
  }
  if (mode === 'shared' && o.lock !== undefined) {
    throw new ConfigurationError('lock', "absent in 'shared' mode: Shared with a lock is mode 'shared-locked'", o.lock);
  }
  if (o.lock !== undefined && o.tokenSource !== undefined) {
    throw new ConfigurationError('tokenSource', "absent when a `lock` is given: the lock's lease mints the fencing token", o.tokenSource);
  }
  functionsOption('middleware', o.middleware);
  if (o.logger !== undefined) adapterOption('logger', o.logger, ['debug', 'info', 'warn', 'error']);
  booleanOption('checkPartitionKey', o.checkPartitionKey);

  const retry = objectOption('retry', o.retry);
  knownOptions(retry, RETRY_NAMES, 'retry.');
  const lease = objectOption('lease', o.lease);
  knownOptions(lease, LEASE_NAMES, 'lease.');
  const deadLetter = objectOption('deadLetter', o.deadLetter);
  knownOptions(deadLetter, DEAD_LETTER_NAMES, 'deadLetter.');
  if (typeof o.privacy === 'object' && o.privacy !== null) knownOptions(o.privacy, PRIVACY_OPTIONS, 'privacy.');
  let batch: ResolvedOptions<T>['batch'];
  if (o.batch !== undefined) {
    const b = objectOption('batch', o.batch);
    knownOptions(b, BATCH_NAMES, 'batch.');
    if (b.maxSize === undefined) throw new ConfigurationError('batch.maxSize', 'an integer ≥ 1', undefined);
    batch = { maxSize: integerOption('batch.maxSize', b.maxSize, 1, 1), maxWaitMs: integerOption('batch.maxWaitMs', b.maxWaitMs, 0, 0) };
  }
  const maxInFlight = integerOption('maxInFlight', o.maxInFlight, defaults.maxInFlight, 1);
  const retryInitial = integerOption('retry.initialDelayMs', retry.initialDelayMs, defaults.retry.initialDelayMs, 0);
  const retryMax = integerOption('retry.maxDelayMs', retry.maxDelayMs, Math.max(defaults.retry.maxDelayMs, retryInitial), 0);
  if (retryMax < retryInitial) {
    throw new ConfigurationError('retry.maxDelayMs', `an integer ≥ retry.initialDelayMs (${retryInitial})`, retryMax);
  }
  const ttlMs = integerOption('lease.ttlMs', lease.ttlMs, defaults.lease.ttlMs, 30);
  const transport = o.transport ?? memoryTransport();

  return {
    transport,
    mode,
    subscription: stringOption('subscription', o.subscription, defaults.subscription),
    consumerName: stringOption(
      'consumerName',
      o.consumerName,
      `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    ),
    initialPosition: oneOfOption('initialPosition', o.initialPosition, defaults.initialPosition, ['earliest', 'latest']),
    codec: o.codec ?? (jsonCodec() as Codec<T>),
    maxConcurrency: integerOption('maxConcurrency', o.maxConcurrency, defaults.maxConcurrency, 1),
    maxInFlight,
    handlerTimeoutMs: integerOption('handlerTimeoutMs', o.handlerTimeoutMs, defaults.handlerTimeoutMs, 0),
    stopTimeoutMs: integerOption('stopTimeoutMs', o.stopTimeoutMs, defaults.stopTimeoutMs, 0),
    startTimeoutMs: integerOption('startTimeoutMs', o.startTimeoutMs, defaults.startTimeoutMs, 0),
    checkPartitionKey: o.checkPartitionKey ?? defaults.checkPartitionKey,
    retry: {
      maxAttempts: integerOption('retry.maxAttempts', retry.maxAttempts, defaults.retry.maxAttempts, 1),
      initialDelayMs: retryInitial,
      maxDelayMs: retryMax,
      factor: numberOption('retry.factor', retry.factor, defaults.retry.factor, 1),
      jitter: numberOption('retry.jitter', retry.jitter, defaults.retry.jitter, 0, 1),
    },
    lock: o.lock,
    lease: {
      ttlMs,
      whenBusy: oneOfOption('lease.whenBusy', lease.whenBusy, defaults.lease.whenBusy, ['wait', 'release']),
      acquireTimeoutMs: integerOption('lease.acquireTimeoutMs', lease.acquireTimeoutMs, defaults.lease.acquireTimeoutMs, 0),
      retryDelayMs: integerOption('lease.retryDelayMs', lease.retryDelayMs, defaults.lease.retryDelayMs, 1),
      lingerMs: integerOption('lease.lingerMs', lease.lingerMs, defaults.lease.lingerMs, 0),
    },
    tokenSource: o.tokenSource,
    middleware: o.middleware ?? [],
    batch,
    deadLetterTopic: deadLetter.topic === undefined ? undefined : stringOption('deadLetter.topic', deadLetter.topic),
    maxRedeliverCount:
      deadLetter.maxRedeliverCount === undefined
        ? undefined
        : integerOption('deadLetter.maxRedeliverCount', deadLetter.maxRedeliverCount, 0, 1),
    nackRedeliveryDelayMs:
      o.nackRedeliveryDelayMs === undefined ? undefined : integerOption('nackRedeliveryDelayMs', o.nackRedeliveryDelayMs, 0, 0),
    rememberCompleted: integerOption(
      'rememberCompleted',
      o.rememberCompleted,
      transport.acknowledgementsCanBeLost === true ? defaults.rememberCompleted : 0,
      0,
    ),
    logger: o.logger === silentLogger ? undefined : o.logger,
    privacy: resolvePrivacy(o.privacy, 'privacy'),
  };
}
