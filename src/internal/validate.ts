import { ConfigurationError } from '../errors/configuration-error.js';

/** @internal `value` if it is an integer ≥ `min` (or `fallback` when undefined). */
export function integerOption(option: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new ConfigurationError(option, `an integer ≥ ${min}`, value);
  }
  return value;
}

/** @internal `value` if it is a finite number in [min, max] (or `fallback` when undefined). */
export function numberOption(option: string, value: unknown, fallback: number, min: number, max = Infinity): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    const range = max === Infinity ? `≥ ${min}` : `between ${min} and ${max}`;
    throw new ConfigurationError(option, `a number ${range}`, value);
  }
  return value;
}

/** @internal `value` if it is a non-empty string (or `fallback` when undefined; required without one). */
export function stringOption(option: string, value: unknown, fallback?: string): string {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'string' || value.length === 0) {
    throw new ConfigurationError(option, 'a non-empty string', value);
  }
  return value;
}

/** @internal `value` if it is one of `choices` (or `fallback` when undefined; required without one). */
export function oneOfOption<C extends string>(option: string, value: unknown, fallback: C | undefined, choices: readonly C[]): C {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    throw new ConfigurationError(option, `one of ${choices.map((c) => `'${c}'`).join(', ')}`, value);
  }
  return value as C;
}

/** @internal `value` if it is a plain object (or `{}` when undefined). */
export function objectOption(option: string, value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigurationError(option, 'an object', value);
  }
  return value as Record<string, unknown>;
}

/** @internal Throws unless `value` is a function. */
export function functionArgument(option: string, value: unknown): void {
  if (typeof value !== 'function') throw new ConfigurationError(option, 'a function', value);
}

/** @internal Throws unless `value` is an object having every method in `methods`. */
export function adapterOption(option: string, value: unknown, methods: readonly string[]): void {
  if (typeof value !== 'object' || value === null) {
    throw new ConfigurationError(option, `an object with ${methods.join(', ')}`, value);
  }
  for (const method of methods) {
    if (typeof (value as Record<string, unknown>)[method] !== 'function') {
      throw new ConfigurationError(`${option}.${method}`, 'a function', (value as Record<string, unknown>)[method]);
    }
  }
}
