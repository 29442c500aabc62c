import { ConfigurationError } from '../errors/configuration-error.js';
import { stringOption } from '../internal/validate.js';

/** @internal `value` if it is a plain object (not an array), or `{}` when undefined. */
export function objectOption(option: string, value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigurationError(option, 'an object', value);
  }
  return value as Record<string, unknown>;
}

/** @internal `value` if it is a boolean; `undefined` stays undefined, so that a client's own default applies. */
export function booleanOption(option: string, value: unknown): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') throw new ConfigurationError(option, 'a boolean', value);
  return value;
}

/**
 * @internal `value` if it is a non-empty string without `/` (or `fallback` when undefined): one
 * segment of a Pulsar name, such as a tenant or a namespace.
 */
export function nameOption(option: string, value: unknown, fallback: string): string {
  const name = stringOption(option, value, fallback);
  if (name.includes('/')) throw new ConfigurationError(option, 'a name without "/"', value);
  return name;
}
