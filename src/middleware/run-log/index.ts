import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Middleware } from '../../consumer/types.js';
import { ConfigurationError } from '../../errors/configuration-error.js';
import { resolvePrivacy, type TelemetryPrivacy } from '../../logging/privacy.js';
import { functionOption, integerOption, oneOfOption, optionNames, optionsArgument, stringOption } from '../../internal/validate.js';
import { WALL_CLOCK, monotonicClockId, monotonicMicros, wallClockMicros } from '../../testing/history.js';

const OPTION_NAMES = optionNames<RunLogOptions>({
  keys: true,
  keySalt: true,
  path: true,
  write: true,
  seqOf: true,
  clock: true,
  maxBufferedBytes: true,
});

/** Options of {@link runLog}. */
export interface RunLogOptions<T = unknown> extends Pick<TelemetryPrivacy, 'keys' | 'keySalt'> {
  /**
   * Where lines go: a file path (appended to, created if missing) or a function given each line
   * (without its newline), e.g. a log shipper's. One of `path` and `write` is required.
   */
  readonly path?: string;
  /** Called with each line (JSON, no newline). What it throws is dropped and counted, never thrown at the handler. */
  readonly write?: (line: string) => void;
  /** Reads the application sequence number of an event, for the order check. */
  readonly seqOf?: (event: T) => number | undefined;
  /**
   * `wall`: microseconds since the epoch, comparable across machines as far as their clocks are
   * synchronised (NTP), the one to use for a fleet. `monotonic`: the machine's monotonic clock,
   * exact between the processes of one machine and boot, not comparable across machines (the
   * checker refuses to mix them).
   * @default 'wall'
   */
  readonly clock?: 'wall' | 'monotonic';
  /**
   * With `path`: most bytes waiting to be written. Beyond it lines are dropped (and counted in a
   * `dropped` line once the file catches up) rather than held in memory, so a slow disk never
   * grows the process.
   * @default 4_194_304 (4 MiB)
   */
  readonly maxBufferedBytes?: number;
}

/** The run log middleware; `close()` flushes and closes its file. */
export interface RunLog<T = unknown> extends Middleware<T> {
  /** Lines dropped so far (buffer full, or `write` threw). */
  readonly dropped: () => number;
  /** Flush and close the file (with `path`); later runs are not logged. */
  readonly close: () => Promise<void>;
}

/**
 * A run log: one JSON line when a handler run starts and one when it ends, for
 * `npx exclusive-consumer check` (or `checkRunLog` from `exclusive-consumer/testing`) to check a
 * deployment's history afterwards: overlapping runs of a key, within or across processes, runs out
 * of order, repeats. Put it last in `middleware`, so that it times the handler itself.
 *
 * Lines (`t` in microseconds on `clock`):
 * - `{"ev":"start","run":"<id>","consumer":"c1","key":"<hash>","messages":[{"id":"…","seq":7}],"token":42,"t":…,"clock":"wall"}`
 * - `{"ev":"end","run":"<id>","ok":true,"t":…}`
 * - `{"ev":"dropped","count":12,"t":…}` when lines were dropped.
 *
 * Keys are hashed (`hashKey(key, keySalt)`) unless `keys: 'raw'`: the checker needs only equality,
 * so use one `keySalt` across the fleet. Memory is bounded: nothing is kept per run after its end
 * line, and a file's write buffer is capped (`maxBufferedBytes`).
 *
 * @example
 * ```ts
 * const log = runLog<ShopperEvent>({ path: `/var/log/decisions/runs-${process.pid}.jsonl`, seqOf: (e) => e.seq, keySalt });
 * createExclusiveConsumer(topic, keyFn, decide, { middleware: [tracing(), exclusivityCounter({ store }), log] });
 * // later: npx exclusive-consumer check /var/log/decisions/runs-*.jsonl
 * ```
 * @throws ConfigurationError when neither `path` nor `write` is given, or an option is invalid.
 */
export function runLog<T = unknown>(options: RunLogOptions<T>): RunLog<T> {
  optionsArgument(options, OPTION_NAMES);
  const { path, write, seqOf } = options;
  if ((path === undefined) === (write === undefined)) {
    throw new ConfigurationError('path', 'exactly one of `path` (a file) and `write` (a function)', path ?? write);
  }
  if (path !== undefined) stringOption('path', path);
  functionOption('write', write);
  functionOption('seqOf', seqOf);
  const clockKind = oneOfOption('clock', options.clock, 'wall', ['wall', 'monotonic']);
  const maxBuffered = integerOption('maxBufferedBytes', options.maxBufferedBytes, 4_194_304, 1024);
  const privacy = resolvePrivacy(options, 'runLog options');
  const now = clockKind === 'wall' ? wallClockMicros : monotonicMicros;
  const clock = clockKind === 'wall' ? WALL_CLOCK : monotonicClockId();
  // Run ids unique across processes and restarts: a random instance id and a counter.
  const instance = randomBytes(4).toString('hex');
  let runs = 0;
  let dropped = 0;
  let unreported = 0;
  let closed = false;

  let stream: WriteStream | undefined;
  const emit = (line: string): void => {
    if (closed) return;
    if (write !== undefined) {
      try {
        write(line);
      } catch {
        dropped += 1;
      }
      return;
    }
    stream ??= createWriteStream(path as string, { flags: 'a' });
    if (stream.writableLength > maxBuffered) {
      dropped += 1;
      unreported += 1;
      return;
    }
    if (unreported > 0) {
      stream.write(`${JSON.stringify({ ev: 'dropped', count: unreported, t: now() })}\n`);
      unreported = 0;
    }
    stream.write(`${line}\n`);
  };

  const middleware = async function runLog(ctx: Parameters<Middleware<T>>[0], next: () => Promise<void>): Promise<void> {
    const run = `${ctx.consumer.consumerName}#${instance}:${runs++}`;
    const { events, messages } = ctx;
    emit(
      JSON.stringify({
        ev: 'start',
        run,
        consumer: ctx.consumer.consumerName,
        key: privacy.label(ctx.key),
        messages: events.map((event, i) => ({ id: (messages[i] ?? ctx.message).id, seq: seqOf?.(event) })),
        token: ctx.fencingToken,
        t: now(),
        clock,
      }),
    );
    let ok = false;
    try {
      await next();
      ok = true;
    } finally {
      emit(JSON.stringify({ ev: 'end', run, ok, t: now() }));
    }
  };
  return Object.assign(middleware, {
    dropped: () => dropped,
    close: async () => {
      closed = true;
      const s = stream;
      if (s === undefined) return;
      await new Promise<void>((resolve, reject) => s.end((error?: Error | null) => (error ? reject(error) : resolve())));
    },
  });
}
