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

/** @internal Throws unless `value` is an object (not an array): a required options argument. */
export function objectArgument(option: string, value: unknown): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigurationError(option, 'an object', value);
  }
}

/** @internal `value` if it is an object, not an array (or `{}` when undefined). */
export function objectOption(option: string, value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  objectArgument(option, value);
  return value as Record<string, unknown>;
}

/** @internal `value` if it is a boolean; `undefined` stays undefined, so that a client's own default applies. */
export function booleanOption(option: string, value: unknown): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') throw new ConfigurationError(option, 'a boolean', value);
  return value;
}

/**
 * @internal `value` if it is a non-empty string without `/` (or `fallback` when undefined): one
 * segment of a path-like name, such as a Pulsar tenant or namespace.
 */
export function nameOption(option: string, value: unknown, fallback: string): string {
  const name = stringOption(option, value, fallback);
  if (name.includes('/')) throw new ConfigurationError(option, 'a name without "/"', value);
  return name;
}

/** @internal Throws unless `value` is a function. */
export function functionArgument(option: string, value: unknown): void {
  if (typeof value !== 'function') throw new ConfigurationError(option, 'a function', value);
}

/** @internal Throws unless `value` is a function or undefined. */
export function functionOption(option: string, value: unknown): void {
  if (value !== undefined) functionArgument(option, value);
}

/** @internal `value` if it is an array of functions (or `[]` when undefined), such as a middleware list. */
export function functionsOption<F>(option: string, value: readonly F[] | undefined): readonly F[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new ConfigurationError(option, 'an array of functions', value);
  value.forEach((f, i) => functionArgument(`${option}[${i}]`, f));
  return value;
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

/**
 * @internal The option names of an options type for {@link knownOptions}, spelt once as an object
 * so that the compiler holds the list to the type: a name missing from it, or one the type does
 * not have, fails to compile.
 */
export function optionNames<T extends object>(names: { readonly [K in keyof T]-?: true }): readonly string[] {
  return Object.freeze(Object.keys(names));
}

/**
 * @internal Throws unless `options` is an options object whose every name is in `names`: the
 * check at the entry of each factory and constructor that takes options.
 */
export function optionsArgument(options: unknown, names: readonly string[]): void {
  objectArgument('options', options);
  knownOptions(options as object, names);
}

/** Edit distance of two short strings (option names), for suggestions. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] as number;
      row[j] = Math.min(current + 1, (row[j - 1] as number) + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length] as number;
}

/**
 * @internal Throws a `ConfigurationError` for the first own property of `value` not in `known`,
 * suggesting the closest known name: from JavaScript, a misspelt option would otherwise be ignored
 * in silence. `prefix` is the dotted path of `value` (`'retry.'`), empty at the top.
 */
export function knownOptions(value: object, known: readonly string[], prefix = ''): void {
  for (const name of Object.keys(value)) {
    if (known.includes(name)) continue;
    let best: string | undefined;
    let bestDistance = Infinity;
    for (const candidate of known) {
      const d = distance(name.toLowerCase(), candidate.toLowerCase());
      if (d < bestDistance) {
        best = candidate;
        bestDistance = d;
      }
    }
    const hint =
      best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3))
        ? `; did you mean \`${prefix}${best}\`?`
        : `. Known options${prefix === '' ? '' : ` of \`${prefix.slice(0, -1)}\``}: ${known.join(', ')}`;
    throw new ConfigurationError(
      `${prefix}${name}`,
      'a known option',
      (value as Record<string, unknown>)[name],
      `Unknown option \`${prefix}${name}\`${hint}`,
    );
  }
}
