import { NonRetriableError } from '../errors/non-retriable-error.js';
import { isVersionConflictError } from '../errors/version-conflict-error.js';
import type { Fence } from '../fencing/types.js';
import { integerOption, optionNames, optionsArgument } from '../internal/validate.js';
import type { CommitResult, EffectInput, Outbox } from './types.js';

const OPTION_NAMES = optionNames<CommitDecisionOptions>({ maxAttempts: true });

/** What a decision function returns: the key's new state, and the effects decided with it. */
export interface Decision<V, P> {
  readonly value: V;
  /** @default none */
  readonly effects?: readonly EffectInput<P>[];
}

/** The parts of a handler's context a commit uses (a `HandlerContext` fits). */
export interface DecisionContext {
  readonly key: string;
  readonly fence: Fence | undefined;
  readonly message: { readonly id: string };
}

/** Options of {@link commitDecision}. */
export interface CommitDecisionOptions {
  /**
   * Attempts in all (read, decide, conditional commit) before a `VersionConflictError` is
   * rethrown; as `updateFenced`'s.
   * @default 5
   */
  readonly maxAttempts?: number;
}

/**
 * The handler's one line: read the key's state from `outbox`, `decide` the new state and its
 * effects, and commit both under the run's fence (`ctx.fence`), with idempotency keys derived from
 * the key, the message id and each effect's index (so the same event decided again after a
 * redelivery commits the same keys, and nothing twice; in a batch run, the batch's first message,
 * which a redelivered batch starts with again). A read-modify-write like `updateFenced`: it
 * commits only if the state did not change since it was read, and starts over on a
 * `VersionConflictError`, up to `maxAttempts`. A `StaleTokenError` is rethrown at once: a newer
 * owner exists, nothing was committed, and the consumer gives the key's messages back. `decide` may
 * run more than once: keep it free of side effects; the effects are what it returns.
 *
 * Rejects with a `NonRetriableError` when the run has no fence (configure a lock or a
 * `tokenSource`): without one nothing protects the commit from a stale worker.
 *
 * @example
 * ```ts
 * await commitDecision(outbox, ctx, (state) => {
 *   const next = applyEvent(state, event);
 *   return { value: next, effects: shouldMessage(next) ? [{ payload: { to: event.phone, text: 'Your cart misses you' } }] : [] };
 * });
 * ```
 */
export async function commitDecision<V, P>(
  outbox: Outbox<V, P>,
  ctx: DecisionContext,
  decide: (current: V | undefined) => Decision<V, P> | Promise<Decision<V, P>>,
  options: CommitDecisionOptions = {},
): Promise<CommitResult<V>> {
  optionsArgument(options, OPTION_NAMES);
  const maxAttempts = integerOption('maxAttempts', options.maxAttempts, 5, 1);
  const { key, fence } = ctx;
  if (fence === undefined) {
    throw new NonRetriableError('commitDecision needs ctx.fence: give the consumer a lock (shared-locked) or a tokenSource');
  }
  const messageId = ctx.message.id;
  for (let attempt = 1; ; attempt += 1) {
    const current = await outbox.get(key);
    const decision = await decide(current?.value);
    try {
      return await outbox.commit(key, decision.value, fence, decision.effects ?? [], { ifVersion: current?.version ?? 0, messageId });
    } catch (error) {
      if (!isVersionConflictError(error) || attempt >= maxAttempts) throw error;
    }
  }
}
