import { ExclusiveConsumerError, hasCode } from './base.js';

/**
 * A constructor or factory received an option it cannot use (thrown at creation, never later), or a
 * call received an argument that shows a wrong configuration (`updateFenced` without a fence). Not
 * retriable.
 */
export class ConfigurationError extends ExclusiveConsumerError {
  static readonly code = 'EC_CONFIGURATION';
  /** Dotted path of the offending option, e.g. `retry.maxAttempts`. */
  readonly option: string;
  /** The value that was passed. */
  readonly value: unknown;

  /**
   * @param message replaces the default `Expected \`<option>\` to be <expected>, got <value>`
   */
  constructor(option: string, expected: string, value: unknown, message?: string) {
    super(
      message ?? `Expected \`${option}\` to be ${expected}, got ${describe(value)}`,
      ConfigurationError.code,
      false,
      { context: { option } },
    );
    this.option = option;
    this.value = value;
  }
}

/** True for a {@link ConfigurationError} from any copy of the library. */
export const isConfigurationError = hasCode<ConfigurationError>(ConfigurationError.code);

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || typeof value !== 'object') return String(value);
  if (Array.isArray(value)) return 'an array';
  return 'an object';
}
