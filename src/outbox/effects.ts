import { createHash } from 'node:crypto';
import { checkFenceToken, checkIfVersion, checkKey } from '../fencing/check.js';
import type { Fence } from '../fencing/types.js';
import { serializeJson } from '../internal/json.js';
import { functionArgument, integerOption } from '../internal/validate.js';
import type { CommitOptions, EffectInput, OutboxOptions } from './types.js';

/** Longest idempotency key an outbox accepts (a database index holds keys of a bounded size). */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 512;

/**
 * The idempotency key of the `index`-th effect (0 for the first) decided by the event `messageId`
 * on `key`: the first 32 hex digits of the SHA-256 of `JSON.stringify([key, messageId, index])`.
 * The same inputs always give the same key, so an event decided again after a redelivery commits
 * the same keys; distinct inputs give distinct keys (the JSON array keeps `a:b` + `c` apart from
 * `a` + `b:c`). Hex of a fixed length fits any gateway's idempotency-key field.
 *
 * @example
 * ```ts
 * effectIdempotencyKey('shopper-42', ctx.message.id, 0); // '5f0c…' (32 hex digits)
 * ```
 */
export function effectIdempotencyKey(key: string, messageId: string, index: number): string {
  return createHash('sha256').update(JSON.stringify([key, messageId, index])).digest('hex').slice(0, 32);
}

/** @internal An effect as the outboxes store it. */
export interface PreparedEffect {
  readonly idempotencyKey: string;
  /** The payload as JSON text. */
  readonly payload: string;
}

/** @internal A commit's effects, validated, with their keys and the captured headers. */
export interface PreparedEffects {
  readonly effects: readonly PreparedEffect[];
  readonly headers: Readonly<Record<string, string>>;
}

/** @internal The options every outbox takes, validated. */
export interface ResolvedOutboxOptions {
  readonly captureHeaders: (() => Readonly<Record<string, string>> | undefined) | undefined;
  readonly retainDoneMs: number;
}

/** @internal Validates {@link OutboxOptions}; throws a `ConfigurationError` on a bad one. */
export function resolveOutboxOptions(options: OutboxOptions): ResolvedOutboxOptions {
  if (options.captureHeaders !== undefined) functionArgument('captureHeaders', options.captureHeaders);
  return {
    captureHeaders: options.captureHeaders,
    retainDoneMs: integerOption('retainDoneMs', options.retainDoneMs, 86_400_000, 0),
  };
}

/**
 * @internal Validates a commit's effects and gives each its idempotency key. Throws a `TypeError`
 * for a payload JSON cannot hold or an effect without a key when no `messageId` was given, a
 * `RangeError` for a bad or repeated key: before anything reaches the store, so a bad commit
 * writes nothing.
 */
export function prepareCommit(
  key: string,
  fence: Fence,
  effects: readonly EffectInput<unknown>[],
  options: CommitOptions,
  captureHeaders: ResolvedOutboxOptions['captureHeaders'],
): PreparedEffects {
  // What every outbox checks before its store sees anything.
  checkKey(key);
  checkFenceToken(fence);
  checkIfVersion(options.ifVersion);
  if (!Array.isArray(effects)) throw new TypeError(`Expected \`effects\` to be an array, got ${typeof effects}`);
  const { messageId } = options;
  if (messageId !== undefined && typeof messageId !== 'string') {
    throw new TypeError(`Expected \`messageId\` to be a string, got ${typeof messageId}`);
  }
  const seen = new Set<string>();
  const prepared = effects.map((effect: EffectInput<unknown>, index): PreparedEffect => {
    if (typeof effect !== 'object' || effect === null) throw new TypeError(`Expected effect ${index} to be an object with a payload`);
    let idempotencyKey = effect.idempotencyKey;
    if (idempotencyKey === undefined) {
      if (messageId === undefined) {
        throw new TypeError(`Effect ${index} has no idempotencyKey: give one, or the commit's \`messageId\` to derive it`);
      }
      idempotencyKey = effectIdempotencyKey(key, messageId, index);
    } else if (typeof idempotencyKey !== 'string' || idempotencyKey.length === 0 || idempotencyKey.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
      throw new RangeError(`Expected effect ${index}'s idempotencyKey to be a string of 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`);
    }
    // Two effects under one key in one commit would be one effect: the caller meant two.
    if (seen.has(idempotencyKey)) throw new RangeError(`Two effects of one commit share the idempotency key ${JSON.stringify(idempotencyKey)}`);
    seen.add(idempotencyKey);
    return { idempotencyKey, payload: serializeJson(effect.payload) };
  });
  return { effects: prepared, headers: prepared.length === 0 ? {} : headersOf(captureHeaders) };
}

/** The captured headers, string values only; a capture that throws stores none rather than fail the commit. */
function headersOf(capture: ResolvedOutboxOptions['captureHeaders']): Readonly<Record<string, string>> {
  if (capture === undefined) return {};
  let captured: Readonly<Record<string, string>> | undefined;
  try {
    captured = capture();
  } catch {
    return {};
  }
  const headers: Record<string, string> = {};
  if (typeof captured !== 'object' || captured === null) return headers;
  for (const [name, value] of Object.entries(captured)) if (typeof value === 'string') headers[name] = value;
  return headers;
}

/** Longest error text kept with an effect. */
const MAX_ERROR_LENGTH = 2_000;

/** @internal How a send's failure is recorded: `Name: message`, cut to a bounded length. */
export function errorText(error: unknown): string {
  const text =
    error instanceof Error ? `${error.name}: ${error.message}` : typeof error === 'string' ? error : `non-Error value thrown: ${typeof error}`;
  return text.length > MAX_ERROR_LENGTH ? `${text.slice(0, MAX_ERROR_LENGTH - 1)}…` : text;
}

/** @internal Throws a `RangeError` unless `limit` (of a claim or a dead-letter listing) is an integer ≥ 1. */
export function checkLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`Expected \`limit\` to be an integer ≥ 1, got ${String(limit)}`);
}

/** @internal Throws a `RangeError` unless `limit` is an integer ≥ 1 and `visibilityMs` one ≥ 1. */
export function checkClaim(limit: number, visibilityMs: number): void {
  checkLimit(limit);
  if (!Number.isSafeInteger(visibilityMs) || visibilityMs < 1) {
    throw new RangeError(`Expected \`visibilityMs\` to be an integer ≥ 1, got ${String(visibilityMs)}`);
  }
}

/** @internal Throws a `RangeError` unless `delayMs` is an integer ≥ 0. */
export function checkDelay(delayMs: number): void {
  if (!Number.isSafeInteger(delayMs) || delayMs < 0) throw new RangeError(`Expected \`delayMs\` to be an integer ≥ 0, got ${String(delayMs)}`);
}
