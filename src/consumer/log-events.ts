import type { LogFields, Logger, LogLevel } from '../logging/logger.js';
import { safeError, type ResolvedPrivacy } from '../logging/privacy.js';
import type { ConsumerEvents } from './types.js';

/** @internal The part of a consumer the log wiring needs. */
export interface LoggedConsumer {
  readonly topic: string;
  readonly subscription: string;
  readonly consumerName: string;
  readonly mode: string;
  on<E extends keyof ConsumerEvents>(event: E, listener: (payload: ConsumerEvents[E]) => void): () => void;
}

/**
 * @internal Write a consumer's lifecycle, failures, dead letters, lease losses, violations and
 * warnings to `logger`, by listening to its events: a consumer without a logger has no listener,
 * and its hot path does not change. Events whose level the logger drops are not listened to.
 * Returns a function that stops logging.
 */
export function logConsumerEvents(consumer: LoggedConsumer, logger: Logger, privacy: ResolvedPrivacy, transport: string): () => void {
  const enabled = (level: LogLevel): boolean => {
    try {
      return logger.isLevelEnabled === undefined || logger.isLevelEnabled(level);
    } catch {
      return true;
    }
  };
  const keyField = privacy.raw ? 'key' : 'keyHash';
  const keyOf = (key: string | undefined): LogFields => (key === undefined ? {} : { [keyField]: privacy.label(key) });
  const errorOf = (error: Error, key?: string): LogFields => {
    const safe = safeError(error, privacy, key);
    return { error: safe.type, errorCode: safe.code, errorMessage: safe.message };
  };
  const base: LogFields = { topic: consumer.topic, consumerName: consumer.consumerName };
  const offs: (() => void)[] = [];
  const on = <E extends keyof ConsumerEvents>(
    level: LogLevel | ((payload: ConsumerEvents[E]) => LogLevel),
    event: E,
    line: (payload: ConsumerEvents[E]) => readonly [string, LogFields],
  ): void => {
    if (typeof level === 'string' && !enabled(level)) return;
    offs.push(
      consumer.on(event, (payload) => {
        const at = typeof level === 'string' ? level : level(payload);
        const [message, fields] = line(payload);
        logger[at](message, { ...base, ...fields });
      }),
    );
  };

  on('info', 'consumer.started', () => [
    'consumer started',
    { subscription: consumer.subscription, mode: consumer.mode, transport },
  ]);
  on('info', 'consumer.stopping', (p) => ['consumer stopping', { drain: p.drain }]);
  on('info', 'consumer.stopped', (p) => [
    'consumer stopped',
    { released: p.released, abandoned: p.abandoned, durationMs: Math.round(p.durationMs) },
  ]);
  on('warn', 'message.failed', (p) => [
    p.retryInMs === undefined ? 'handler failed, not retried' : 'handler failed, retrying',
    { ...keyOf(p.key), messageId: p.messageId, attempt: p.attempt, retryInMs: p.retryInMs, ...errorOf(p.error, p.key) },
  ]);
  on('error', 'message.dead-lettered', (p) => [
    'message dead-lettered',
    { ...keyOf(p.key), messageId: p.messageId, attempts: p.attempts, ...errorOf(p.error, p.key) },
  ]);
  on('debug', 'message.released', (p) => ['message released', { ...keyOf(p.key), messageId: p.messageId, reason: p.reason }]);
  on('warn', 'violation', (p) => [
    'exclusivity violation',
    { ...keyOf(p.key), messageId: p.messageId, concurrent: p.concurrent, source: p.source },
  ]);
  // A wrong keyFn mismatches every message: one warning says so, the rest go to debug.
  let mismatchWarned = false;
  if (enabled('warn')) {
    on(
      () => (mismatchWarned ? 'debug' : ((mismatchWarned = true), 'warn')),
      'key.mismatch',
      (p) => [
        'key differs from the partition key: the broker does not route this message by its key',
        {
          ...keyOf(p.key),
          partitionKeyPresent: p.partitionKey !== undefined,
          messageId: p.messageId,
        },
      ],
    );
  }
  on('warn', 'lease.lost', (p) => ['lease lost', { ...keyOf(p.key), token: p.token, ...errorOf(p.error, p.key) }]);
  on('debug', 'lease.acquired', (p) => ['lease acquired', { ...keyOf(p.key), token: p.token, waitMs: Math.round(p.waitMs) }]);
  on('error', 'handler.stuck', (p) => [
    'handler ignores its abort signal: its key stays blocked until it returns',
    { ...keyOf(p.key), messageId: p.messageId, runningMs: p.runningMs },
  ]);
  on('debug', 'transport.paused', (p) => ['transport paused (backpressure)', { inFlight: p.inFlight }]);
  on('debug', 'transport.resumed', (p) => ['transport resumed', { inFlight: p.inFlight }]);
  on('warn', 'warning', (p) => [p.message, { code: p.code }]);
  on('error', 'error', (p) => ['non-fatal error', { phase: p.phase, ...errorOf(p.error) }]);
  return () => {
    for (const off of offs.splice(0)) off();
  };
}
