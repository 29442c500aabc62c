import type { Fence, FencedRecord, FencedStore, PutOptions } from '../fencing/types.js';

/** An effect a handler decided ("send an SMS to shopper 42"), committed with the key's new state. */
export interface EffectInput<P> {
  /**
   * What the dispatcher hands to `send`: a JSON value (object, array, string, number, boolean or
   * null), stored as JSON by every outbox. Put bytes in as base64.
   */
  readonly payload: P;
  /**
   * The key the effect is sent under, for the gateway to deduplicate with. It must be the same every
   * time this effect is decided again (the same event redelivered): the outbox never holds two
   * effects with one key, and the dispatcher only ever sends an effect under its own.
   * @default derived from the state's key, the commit's `messageId` and the effect's index in the
   * commit: {@link effectIdempotencyKey}
   */
  readonly idempotencyKey?: string;
}

/** Options of {@link Outbox.commit}. */
export interface CommitOptions extends PutOptions {
  /**
   * Id of the message the effects were decided from (`ctx.message.id`, stable across redeliveries):
   * with the key and each effect's index it derives the idempotency key of every effect that does
   * not give one. Required when an effect has no `idempotencyKey`.
   */
  readonly messageId?: string;
}

/** One effect of a successful commit. */
export interface CommittedEffect {
  readonly idempotencyKey: string;
  /**
   * `false` when the outbox already held an effect with this idempotency key (the same decision
   * committed before, e.g. by the run of a redelivery): that effect was kept as it was, and no second
   * one was created.
   */
  readonly created: boolean;
}

/** What {@link Outbox.commit} resolves with. */
export interface CommitResult<V> {
  /** The key's new state record, as `put` would return it. */
  readonly record: FencedRecord<V>;
  /** The commit's effects, in the order given. */
  readonly effects: readonly CommittedEffect[];
}

/**
 * Where an effect stands: `pending` (waiting to be sent, or being sent), `done` (sent; kept for
 * `retainDoneMs` so that a repeated commit of the same idempotency key creates nothing), `dead`
 * (gave up after `maxAttempts`, or on an error that is not retriable; kept until requeued).
 */
export type EffectStatus = 'pending' | 'done' | 'dead';

/** An effect as the outbox holds it. */
export interface OutboxEffect<P> {
  readonly idempotencyKey: string;
  /** The key whose commit decided it. */
  readonly key: string;
  readonly payload: P;
  /** Fencing token and owner of the commit that decided it. */
  readonly token: number;
  readonly owner: string;
  /**
   * Headers captured at commit (`captureHeaders`): the deciding run's trace context, so that the
   * dispatch span can link to it.
   */
  readonly headers: Readonly<Record<string, string>>;
  /** When it was committed, epoch milliseconds (the store's clock). */
  readonly createdAt: number;
  readonly status: EffectStatus;
  /** Claims so far: sends tried, including ones whose dispatcher died before reporting. */
  readonly attempts: number;
  /** The last failure of a send, as `Name: message`. */
  readonly lastError: string | undefined;
}

/**
 * An effect claimed for sending. The claim lasts `visibilityMs`: unless it is completed, retried or
 * dead-lettered by then, the effect is due again and another claim gets it (a dispatcher that died
 * mid-send loses nothing).
 */
export interface ClaimedEffect<P> extends Omit<OutboxEffect<P>, 'status' | 'attempts'> {
  /** This claim's number: 1 for the first send, 2 for the second… */
  readonly attempt: number;
}

/** How many effects an outbox holds, by status. */
export interface OutboxCounts {
  readonly pending: number;
  readonly done: number;
  readonly dead: number;
}

/** Options every outbox takes. */
export interface OutboxOptions {
  /**
   * Called at each commit, in the committing call (so inside the run's trace context): headers
   * stored with each of the commit's effects. `captureTraceContext()` from
   * `exclusive-consumer/otel` captures the W3C trace context, so that each dispatch span links to
   * the run that decided it.
   * @default none
   */
  readonly captureHeaders?: () => Readonly<Record<string, string>> | undefined;
  /**
   * How long a sent effect is kept (by `purge`) so that committing its idempotency key again
   * creates no second effect. After that a repeated commit creates it again, and it is sent again
   * under the same idempotency key.
   * @default 86_400_000 (24 hours)
   */
  readonly retainDoneMs?: number;
}

/**
 * A fenced store whose writes can carry effects: a key's new state and the effects decided with it
 * ("send an SMS to shopper 42") commit together, atomically, under the run's fence. A stale commit
 * is rejected whole with a `StaleTokenError`, so a stale worker emits nothing; the effects of an
 * accepted commit are sent at least once, each under its own idempotency key, by an
 * `createOutboxDispatcher` on the claim operations below.
 *
 * `get` and `put` are those of a fenced store (`put` is a commit without effects). Check yours with
 * `outboxContract` from `exclusive-consumer/testing`. The library has three: `MemoryOutbox`,
 * `redisOutbox` and `postgresOutbox`.
 */
export interface Outbox<V = unknown, P = unknown> extends FencedStore<V> {
  /**
   * Write `value` for `key` and add `effects`, in one atomic step, only if `fence` holds (as `put`)
   * and `ifVersion` matches. Rejects with `StaleTokenError` or `VersionConflictError` having written
   * nothing at all. An effect whose idempotency key the outbox already holds is not added again
   * (`created: false`).
   */
  commit(key: string, value: V, fence: Fence, effects: readonly EffectInput<P>[], options?: CommitOptions): Promise<CommitResult<V>>;
  /**
   * Claim up to `limit` due effects, oldest due first, for `visibilityMs`: each claim counts an
   * attempt and makes the effect due again `visibilityMs` later unless it is settled before.
   */
  claim(limit: number, visibilityMs: number): Promise<ClaimedEffect<P>[]>;
  /** Mark a claimed effect sent. Resolves `false` when it was already done (another claim sent it). */
  complete(effect: ClaimedEffect<P>): Promise<boolean>;
  /**
   * Make a claimed effect due again in `delayMs`, recording `error`. Resolves `false`, changing
   * nothing, when the claim is no longer the effect's latest or the effect is no longer pending.
   */
  retry(effect: ClaimedEffect<P>, delayMs: number, error: string): Promise<boolean>;
  /** Give up on a claimed effect, recording `error`. `false` as for `retry`. */
  deadLetter(effect: ClaimedEffect<P>, error: string): Promise<boolean>;
  /** The effect with this idempotency key, or `undefined` (never committed, or purged). */
  effect(idempotencyKey: string): Promise<OutboxEffect<P> | undefined>;
  /** Dead-lettered effects, oldest first, at most `limit` (default 100). */
  deadLetters(limit?: number): Promise<OutboxEffect<P>[]>;
  /** Make a dead-lettered effect pending again, due now, with its attempts reset. `false` if it is not dead. */
  requeue(idempotencyKey: string): Promise<boolean>;
  /** Forget sent effects older than `retainDoneMs`; resolves with how many went. */
  purge(): Promise<number>;
  counts(): Promise<OutboxCounts>;
}
