import { functionOption, oneOfOption, optionNames, optionsArgument } from '../internal/validate.js';

const OPTION_NAMES = optionNames<ConsoleLoggerOptions>({ level: true, format: true, write: true });

/** Severity of a log line, lowest first. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * Structured fields of a log line. Flat and primitive on purpose: every logging library and
 * every log pipeline can index them, and nothing large (a payload, an error object) slips in.
 */
export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

/**
 * Where the library writes its log lines. The shape of winston's and of `console`
 * (`logger.info(message, fields)`), so either can be passed as is; wrap pino as
 * `{ info: (m, f) => pino.info(f, m), … }`.
 *
 * Lines never carry payloads or secrets, and keys appear hashed unless `privacy.keys` is `'raw'`.
 * A logger that throws never breaks processing.
 */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /**
   * Whether lines of `level` are written. Optional (pino and winston have it): when present, the
   * consumer does not even listen to the events whose lines would be dropped, so they cost nothing.
   */
  isLevelEnabled?(level: LogLevel): boolean;
}

const noop = (): void => undefined;

/** A logger that writes nothing: the default. */
export const silentLogger: Logger = Object.freeze({
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  isLevelEnabled: () => false,
});

const SEVERITY: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };
const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** Options of {@link consoleLogger}. */
export interface ConsoleLoggerOptions {
  /**
   * Lowest level written.
   * @default 'info'
   */
  readonly level?: LogLevel;
  /**
   * `json`: one JSON object per line (`time`, `level`, `msg`, then the fields), for log pipelines.
   * `text`: `time LEVEL message key=value…`, for a terminal.
   * @default 'json'
   */
  readonly format?: 'json' | 'text';
  /**
   * Where lines go.
   * @default a line on `process.stderr`
   */
  readonly write?: (line: string) => void;
}

/**
 * A small structured logger writing to stderr, for services that have no logging library. A bad
 * `level` or `format` throws a `ConfigurationError`.
 *
 * @example
 * ```ts
 * createExclusiveConsumer(topic, keyFn, handler, { logger: consoleLogger({ level: 'info' }) });
 * // {"time":"2025-01-01T12:00:00.000Z","level":"info","msg":"consumer started","topic":"shopper-events",…}
 * ```
 */
export function consoleLogger(options: ConsoleLoggerOptions = {}): Logger {
  optionsArgument(options, OPTION_NAMES);
  const threshold = SEVERITY[oneOfOption('level', options.level, 'info', LEVELS)];
  const format = oneOfOption('format', options.format, 'json', ['json', 'text']);
  functionOption('write', options.write);
  const write = options.write ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const line = (level: LogLevel, message: string, fields: LogFields | undefined): void => {
    if (SEVERITY[level] < threshold) return;
    const time = new Date().toISOString();
    if (format === 'json') {
      write(JSON.stringify({ time, level, msg: message, ...fields }));
      return;
    }
    let text = `${time} ${level.toUpperCase().padEnd(5)} ${message}`;
    if (fields !== undefined) {
      for (const [name, value] of Object.entries(fields)) {
        if (value === undefined) continue;
        text += typeof value === 'string' && /[\s"=]/.test(value) ? ` ${name}=${JSON.stringify(value)}` : ` ${name}=${value}`;
      }
    }
    write(text);
  };
  return {
    debug: (message, fields) => line('debug', message, fields),
    info: (message, fields) => line('info', message, fields),
    warn: (message, fields) => line('warn', message, fields),
    error: (message, fields) => line('error', message, fields),
    isLevelEnabled: (level) => SEVERITY[level] >= threshold,
  };
}
