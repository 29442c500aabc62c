import type { ExclusiveConsumer, StopReport } from './consumer/types.js';
import { toError } from './errors/classify.js';
import { ConfigurationError } from './errors/configuration-error.js';
import { integerOption, knownOptions, objectOption, optionNames } from './internal/validate.js';

/** Something with an asynchronous `close()`: a producer, a transport, a client of yours. */
export interface Closable {
  close(): Promise<unknown>;
}

/** What {@link shutdown} stops and closes, in this order. */
export interface ShutdownTargets {
  /** Stopped first, together: running handlers finish (within `timeoutMs`), the rest goes back to the broker. */
  readonly consumers?: readonly ExclusiveConsumer[];
  /** Then flushed and closed, so that what the handlers sent while draining is out. */
  readonly producers?: readonly Closable[];
  /** Then closed: the connections the transports opened themselves. */
  readonly transports?: readonly Partial<Closable>[];
  /** Last, in order: what the transports were given (a `pulsar-client` `Client`, an ioredis client…). */
  readonly clients?: readonly Closable[];
}

/** Options of {@link shutdown} and {@link shutdownOnSignals}. */
export interface ShutdownOptions {
  /**
   * How long consumers may take to finish running handlers (`stop({ timeoutMs })`).
   * @default 30_000
   */
  readonly timeoutMs?: number;
}

/** What {@link shutdown} did. */
export interface ShutdownReport {
  /** One per consumer, in the order given. */
  readonly consumers: readonly StopReport[];
  /** Failures along the way; each step still ran. */
  readonly errors: readonly Error[];
}

const SHUTDOWN_OPTIONS = optionNames<ShutdownOptions>({ timeoutMs: true });

/**
 * Stop a service's consumers and close what they used, in the order that loses nothing: consumers
 * (handlers finish, unstarted messages go back to the broker), then producers (flushed), then
 * transports, then the clients they were given. Every step runs even when an earlier one failed;
 * failures are collected in the report. Once it resolves, nothing of the library keeps the process
 * alive.
 *
 * @example
 * ```ts
 * process.once('SIGTERM', async () => {
 *   const { errors } = await shutdown({ consumers: [consumer], producers: [producer], transports: [transport] });
 *   process.exitCode = errors.length === 0 ? 0 : 1;
 * });
 * ```
 */
export async function shutdown(targets: ShutdownTargets, options: ShutdownOptions = {}): Promise<ShutdownReport> {
  objectOption('targets', targets);
  knownOptions(objectOption('options', options), SHUTDOWN_OPTIONS);
  const timeoutMs = integerOption('timeoutMs', options.timeoutMs, 30_000, 0);
  for (const [name, list] of Object.entries(targets)) {
    if (!Array.isArray(list)) throw new ConfigurationError(name, 'an array', list);
  }
  const errors: Error[] = [];
  const settle = async <R>(work: () => Promise<R>): Promise<R | undefined> => {
    try {
      return await work();
    } catch (error) {
      errors.push(toError(error));
      return undefined;
    }
  };
  const reports = await Promise.all((targets.consumers ?? []).map((c) => settle(() => c.stop({ timeoutMs }))));
  await Promise.all((targets.producers ?? []).map((p) => settle(() => p.close())));
  await Promise.all((targets.transports ?? []).map((t) => settle(async () => t.close?.())));
  for (const client of targets.clients ?? []) await settle(() => client.close());
  return {
    consumers: reports.map((r) => r ?? { released: 0, abandoned: 0, durationMs: 0 }),
    errors,
  };
}

/**
 * Run {@link shutdown} once on the first of `signals` (SIGTERM and SIGINT by default), then set
 * `process.exitCode` (0, or 1 when a step failed) and let the process end. A second signal while
 * shutting down exits at once with code 1. Returns a function that removes the handlers.
 */
export function shutdownOnSignals(
  targets: ShutdownTargets,
  options: ShutdownOptions & { readonly signals?: readonly NodeJS.Signals[] } = {},
): () => void {
  const { signals = ['SIGTERM', 'SIGINT'], ...rest } = options;
  let shuttingDown = false;
  const handler = (): void => {
    if (shuttingDown) {
      process.exit(1);
    }
    shuttingDown = true;
    void shutdown(targets, rest).then(
      ({ errors }) => {
        process.exitCode = errors.length === 0 ? 0 : 1;
        remove();
      },
      () => {
        process.exitCode = 1;
        remove();
      },
    );
  };
  const remove = (): void => {
    for (const signal of signals) process.off(signal, handler);
  };
  for (const signal of signals) process.on(signal, handler);
  return remove;
}
