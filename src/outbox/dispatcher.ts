import { isRetriable, toError } from '../errors/classify.js';
import { ConfigurationError } from '../errors/configuration-error.js';
import { ConsumerStateError } from '../errors/consumer-state-error.js';
import { ConsumerStoppedError } from '../errors/consumer-stopped-error.js';
import { HandlerTimeoutError } from '../errors/handler-timeout-error.js';
import { backoffDelay, type BackoffPolicy } from '../internal/backoff.js';
import { chain } from '../internal/chain.js';
import { Emitter } from '../internal/emitter.js';
import { adapterOption, functionArgument, functionsOption, integerOption, knownOptions, numberOption, objectOption, optionNames, optionsArgument } from '../internal/validate.js';
import { errorText } from './effects.js';
import type { ClaimedEffect, Outbox } from './types.js';

const OPTION_NAMES = optionNames<OutboxDispatcherOptions<unknown>>({
  concurrency: true,
  pollIntervalMs: true,
  visibilityMs: true,
  sendTimeoutMs: true,
  maxAttempts: true,
  retry: true,
  purgeIntervalMs: true,
  middleware: true,
});
const RETRY_OPTION_NAMES = optionNames<DispatchRetryOptions>({
  initialDelayMs: true,
  maxDelayMs: true,
  factor: true,
  jitter: true,
});

/**
 * Sends one effect: to an SMS gateway, an e-mail API, a webhook… with `effect.idempotencyKey` as
 * the gateway's idempotency key, so that the rare second send of one effect (a dispatcher killed
 * after the gateway accepted but before it recorded the send) is deduplicated there. Resolve when
 * the gateway accepted it; throw to retry (an error with `retriable: false` dead-letters at once).
 * Honour `signal`: it aborts on `sendTimeoutMs` and when a stop gives up waiting.
 */
export type SendEffect<P> = (effect: ClaimedEffect<P>, signal: AbortSignal) => Promise<void> | void;

/**
 * Runs around each send: `(effect, next) => Promise<void>`, outermost first; call `next()` once.
 * `dispatchTracing()` from `exclusive-consumer/otel` is one.
 */
export type DispatchMiddleware<P = unknown> = (effect: ClaimedEffect<P>, next: () => Promise<void>) => Promise<void>;

/** Backoff between the attempts of one effect. */
export interface DispatchRetryOptions {
  /** @default 1_000 */
  readonly initialDelayMs?: number;
  /** @default 300_000 */
  readonly maxDelayMs?: number;
  /** @default 2 */
  readonly factor?: number;
  /** Fraction of each delay drawn at random (0: none). @default 0.5 */
  readonly jitter?: number;
}

/** Options of {@link createOutboxDispatcher}. Validated at creation. */
export interface OutboxDispatcherOptions<P> {
  /**
   * Sends in flight at once; the dispatcher claims no more than the free slots (and waits for half
   * of them to be free before claiming again), so this also bounds its memory.
   * @default 10
   */
  readonly concurrency?: number;
  /**
   * Pause between claims when nothing was due (`wake()` ends it early).
   * @default 200
   */
  readonly pollIntervalMs?: number;
  /**
   * How long a claim lasts: an effect whose send neither succeeded nor failed by then (its
   * dispatcher died or stalled) is due again, for any dispatcher. Keep it above `sendTimeoutMs`.
   * @default 30_000
   */
  readonly visibilityMs?: number;
  /**
   * Abort a send's `signal` after this long and count the attempt failed; 0 never aborts. Must be
   * below `visibilityMs`, so that an effect is not claimed again while its send may still succeed.
   * @default 10_000
   */
  readonly sendTimeoutMs?: number;
  /**
   * Sends of one effect, the first included; after the last failure it is dead-lettered (kept,
   * with its last error: `outbox.deadLetters()`, `outbox.requeue()`). Claims that ended without a
   * result (the dispatcher died mid-send) count too, so an effect that kills its sender cannot loop.
   * @default 10
   */
  readonly maxAttempts?: number;
  readonly retry?: DispatchRetryOptions;
  /**
   * How often to forget sent effects older than the outbox's `retainDoneMs` (`outbox.purge()`);
   * 0 never does (purge yourself).
   * @default 60_000
   */
  readonly purgeIntervalMs?: number;
  /** Around every send, outermost first. @default none */
  readonly middleware?: readonly DispatchMiddleware<P>[];
}

/** Why an effect was dead-lettered. */
export type DeadLetterCause = 'attempts' | 'not-retriable';

/** Events of a dispatcher. `on()` returns an unsubscribe function. */
export interface OutboxDispatcherEvents<P> {
  /** An effect was sent and marked done. */
  sent: { readonly effect: ClaimedEffect<P>; readonly durationMs: number };
  /** A send failed and the effect is due again after `delayMs`. */
  retry: { readonly effect: ClaimedEffect<P>; readonly error: Error; readonly delayMs: number };
  /** The dispatcher gave up on an effect: too many attempts, or an error that is not retriable. */
  'dead-letter': { readonly effect: ClaimedEffect<P>; readonly error: Error; readonly cause: DeadLetterCause };
  /**
   * A call to the outbox failed (the dispatcher goes on, backing off), or a listener threw.
   * `phase`: `claim`, `complete`, `retry`, `dead-letter`, `purge` or `listener`.
   */
  error: { readonly error: unknown; readonly phase: string };
}

/** Live counters of a dispatcher. */
export interface OutboxDispatcherStats {
  /** Effects claimed so far. */
  readonly claimed: number;
  /** Sent and marked done. */
  readonly sent: number;
  /** Failed sends given another attempt. */
  readonly retried: number;
  readonly deadLettered: number;
  /** Failed calls to the outbox. */
  readonly errors: number;
  /** Sends in progress now. */
  readonly inFlight: number;
}

/** `idle` → `running` (after `start()`) → `stopping` → `stopped`. */
export type OutboxDispatcherState = 'idle' | 'running' | 'stopping' | 'stopped';

/** Options of {@link OutboxDispatcher.stop}. */
export interface DispatcherStopOptions {
  /**
   * How long to wait for sends in flight before aborting their signals and returning; what they
   * claimed comes back to the outbox after `visibilityMs`.
   * @default 30_000
   */
  readonly timeoutMs?: number;
}

/** Sends an outbox's pending effects. Create it with {@link createOutboxDispatcher}. */
export interface OutboxDispatcher<P> {
  readonly state: OutboxDispatcherState;
  /** Start claiming and sending in the background. Throws a `ConsumerStateError` unless idle. */
  start(): void;
  /**
   * Stop claiming, and let the sends in flight finish (up to `timeoutMs`; then their signals abort).
   * Resolves once the dispatcher is stopped. Idempotent.
   */
  stop(options?: DispatcherStopOptions): Promise<void>;
  /**
   * Claim due effects once (up to `concurrency`) and send them; resolves with how many were
   * claimed, once all of them settled. For a dispatcher that is not started (a cron job, a test).
   * Throws a `ConsumerStateError` unless idle.
   */
  runOnce(): Promise<number>;
  /** Claim now instead of at the end of the current poll pause (after a commit in this process). */
  wake(): void;
  on<E extends keyof OutboxDispatcherEvents<P>>(event: E, listener: (payload: OutboxDispatcherEvents<P>[E]) => void): () => void;
  stats(): OutboxDispatcherStats;
}

/** Backoff of the claim loop while the outbox fails. */
const CLAIM_BACKOFF: BackoffPolicy = Object.freeze({ initialDelayMs: 100, maxDelayMs: 5_000, factor: 2, jitter: 0.5 });

/**
 * A dispatcher for `outbox`: claims due effects (at most `concurrency` at a time, each for
 * `visibilityMs`), calls `send` for each with the effect and an `AbortSignal`, marks it done when
 * `send` resolves, and when it throws, retries with exponential backoff and jitter (`retry`) or
 * dead-letters after `maxAttempts`. Delivery is **at least once**: a dispatcher that dies mid-send
 * loses nothing (its claims come back after `visibilityMs`, to any dispatcher), and a repeat is
 * always under the effect's own idempotency key. Run as many dispatchers as you like on one
 * outbox; each claim goes to one of them.
 *
 * @example
 * ```ts
 * const dispatcher = createOutboxDispatcher(outbox, async (effect, signal) => {
 *   await sms.send({ ...effect.payload, idempotencyKey: effect.idempotencyKey }, { signal });
 * }, { concurrency: 20, maxAttempts: 8 });
 * dispatcher.start();
 * process.on('SIGTERM', () => void dispatcher.stop());
 * ```
 */
export function createOutboxDispatcher<P>(
  outbox: Outbox<unknown, P>,
  send: SendEffect<P>,
  options: OutboxDispatcherOptions<P> = {},
): OutboxDispatcher<P> {
  return new Dispatcher(outbox, send, options);
}

class Dispatcher<P> implements OutboxDispatcher<P> {
  readonly #outbox: Outbox<unknown, P>;
  readonly #send: SendEffect<P>;
  readonly #concurrency: number;
  /** Free slots the loop waits for before claiming again while sends are in flight. */
  readonly #batch: number;
  readonly #pollIntervalMs: number;
  readonly #visibilityMs: number;
  readonly #sendTimeoutMs: number;
  readonly #maxAttempts: number;
  readonly #retry: BackoffPolicy;
  readonly #purgeIntervalMs: number;
  readonly #middleware: readonly DispatchMiddleware<P>[];
  readonly #emitter: Emitter<OutboxDispatcherEvents<P>>;
  readonly #inFlight = new Map<Promise<void>, AbortController>();
  #state: OutboxDispatcherState = 'idle';
  #loop: Promise<void> | undefined;
  #stopped: Promise<void> | undefined;
  /** Ends the current pause (poll interval, backoff, or waiting for a free slot). */
  #wakeUp: (() => void) | undefined;
  #woken = false;
  #lastPurge = performance.now();
  #claimed = 0;
  #sent = 0;
  #retried = 0;
  #deadLettered = 0;
  #errors = 0;

  constructor(outbox: Outbox<unknown, P>, send: SendEffect<P>, options: OutboxDispatcherOptions<P>) {
    adapterOption('outbox', outbox, ['claim', 'complete', 'retry', 'deadLetter', 'purge']);
    functionArgument('send', send);
    optionsArgument(options, OPTION_NAMES);
    this.#outbox = outbox;
    this.#send = send;
    this.#concurrency = integerOption('concurrency', options.concurrency, 10, 1);
    this.#batch = Math.ceil(this.#concurrency / 2);
    this.#pollIntervalMs = integerOption('pollIntervalMs', options.pollIntervalMs, 200, 1);
    this.#visibilityMs = integerOption('visibilityMs', options.visibilityMs, 30_000, 1);
    this.#sendTimeoutMs = integerOption('sendTimeoutMs', options.sendTimeoutMs, Math.min(10_000, Math.floor(this.#visibilityMs / 2)), 0);
    if (this.#sendTimeoutMs >= this.#visibilityMs) {
      throw new ConfigurationError('sendTimeoutMs', `below \`visibilityMs\` (${this.#visibilityMs})`, this.#sendTimeoutMs);
    }
    this.#maxAttempts = integerOption('maxAttempts', options.maxAttempts, 10, 1);
    const retry: DispatchRetryOptions = objectOption('retry', options.retry);
    knownOptions(retry, RETRY_OPTION_NAMES, 'retry.');
    const initialDelayMs = numberOption('retry.initialDelayMs', retry.initialDelayMs, 1_000, 0);
    this.#retry = Object.freeze({
      initialDelayMs,
      maxDelayMs: numberOption('retry.maxDelayMs', retry.maxDelayMs, 300_000, initialDelayMs),
      factor: numberOption('retry.factor', retry.factor, 2, 1),
      jitter: numberOption('retry.jitter', retry.jitter, 0.5, 0, 1),
    });
    this.#purgeIntervalMs = integerOption('purgeIntervalMs', options.purgeIntervalMs, 60_000, 0);
    this.#middleware = [...functionsOption('middleware', options.middleware)];
    this.#emitter = new Emitter((error, event) => {
      if (event !== 'error') this.#emitter.emit('error', { error, phase: 'listener' });
    });
  }

  get state(): OutboxDispatcherState {
    return this.#state;
  }

  start(): void {
    if (this.#state !== 'idle') throw new ConsumerStateError(`Cannot start a dispatcher that is ${this.#state}`, this.#state);
    this.#state = 'running';
    this.#loop = this.#run();
  }

  stop(options: DispatcherStopOptions = {}): Promise<void> {
    const timeoutMs = integerOption('timeoutMs', options.timeoutMs, 30_000, 0);
    if (this.#state === 'idle') this.#state = 'stopped';
    this.#stopped ??= this.#state === 'stopped' ? Promise.resolve() : this.#stop(timeoutMs);
    return this.#stopped;
  }

  async #stop(timeoutMs: number): Promise<void> {
    this.#state = 'stopping';
    this.#wake();
    await this.#loop;
    if (this.#inFlight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      });
      await Promise.race([Promise.allSettled([...this.#inFlight.keys()]), gaveUp]);
      clearTimeout(timer);
      const reason = new ConsumerStoppedError('Outbox dispatcher is stopping');
      for (const controller of this.#inFlight.values()) controller.abort(reason);
    }
    this.#state = 'stopped';
  }

  async runOnce(): Promise<number> {
    if (this.#state !== 'idle') throw new ConsumerStateError(`runOnce() needs a dispatcher that is not started; it is ${this.#state}`, this.#state);
    const claimed = await this.#outbox.claim(this.#concurrency, this.#visibilityMs);
    this.#claimed += claimed.length;
    await Promise.allSettled(claimed.map((effect) => this.#dispatch(effect)));
    return claimed.length;
  }

  wake(): void {
    this.#wake();
  }

  on<E extends keyof OutboxDispatcherEvents<P>>(event: E, listener: (payload: OutboxDispatcherEvents<P>[E]) => void): () => void {
    return this.#emitter.on(event, listener);
  }

  stats(): OutboxDispatcherStats {
    return {
      claimed: this.#claimed,
      sent: this.#sent,
      retried: this.#retried,
      deadLettered: this.#deadLettered,
      errors: this.#errors,
      inFlight: this.#inFlight.size,
    };
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (this.#state === 'running') {
      const free = this.#concurrency - this.#inFlight.size;
      // Claim in batches: with every send a round trip, claiming for each slot as it frees would
      // cost one claim per effect.
      if (free <= 0 || (this.#inFlight.size > 0 && free < this.#batch)) {
        await this.#pause(undefined);
        continue;
      }
      let claimed: ClaimedEffect<P>[];
      try {
        claimed = await this.#outbox.claim(free, this.#visibilityMs);
        failures = 0;
      } catch (error) {
        failures += 1;
        this.#report(error, 'claim');
        await this.#pause(backoffDelay(failures, CLAIM_BACKOFF));
        continue;
      }
      // Claimed effects are sent even when a stop began meanwhile: they are this dispatcher's now.
      this.#claimed += claimed.length;
      for (const effect of claimed) void this.#dispatch(effect);
      await this.#maybePurge();
      // Fewer than asked for: nothing more is due now.
      if (claimed.length < free && this.#state === 'running') await this.#pause(this.#pollIntervalMs);
    }
  }

  /** Until `ms` passes (or, with `undefined`, until a send settles), a wake-up or a stop. */
  #pause(ms: number | undefined): Promise<void> {
    if (this.#woken) {
      this.#woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      const self = this;
      function done(): void {
        if (timer !== undefined) clearTimeout(timer);
        if (self.#wakeUp === done) self.#wakeUp = undefined;
        resolve();
      }
      this.#wakeUp = done;
    });
  }

  #wake(): void {
    const wakeUp = this.#wakeUp;
    if (wakeUp === undefined) this.#woken = true;
    else wakeUp();
  }

  #dispatch(effect: ClaimedEffect<P>): Promise<void> {
    const controller = new AbortController();
    const settled = this.#deliver(effect, controller).finally(() => {
      this.#inFlight.delete(settled);
      // A free slot: the loop may be waiting for one.
      this.#wake();
    });
    this.#inFlight.set(settled, controller);
    return settled;
  }

  async #deliver(effect: ClaimedEffect<P>, controller: AbortController): Promise<void> {
    if (effect.attempt > this.#maxAttempts) {
      const error = new Error(
        `claimed ${effect.attempt} times; the claims beyond the last recorded attempt ended without a result ` +
          '(a dispatcher died or stalled mid-send, or the send outlived visibilityMs)',
      );
      await this.#giveUp(effect, error, 'attempts');
      return;
    }
    const began = performance.now();
    const timer =
      this.#sendTimeoutMs === 0
        ? undefined
        : setTimeout(() => controller.abort(new HandlerTimeoutError(effect.key, effect.idempotencyKey, this.#sendTimeoutMs)), this.#sendTimeoutMs);
    try {
      const last = async (e: ClaimedEffect<P>): Promise<void> => {
        await this.#send(e, controller.signal);
      };
      await (this.#middleware.length === 0 ? last(effect) : chain(this.#middleware, last, 'Dispatch middleware')(effect));
    } catch (thrown) {
      clearTimeout(timer);
      await this.#failed(effect, toError(thrown));
      return;
    }
    clearTimeout(timer);
    try {
      await this.#outbox.complete(effect);
    } catch (error) {
      // Sent but not recorded: the claim expires and the effect is sent again, under its key.
      this.#report(error, 'complete');
      return;
    }
    this.#sent += 1;
    if (this.#emitter.has('sent')) this.#emitter.emit('sent', { effect, durationMs: performance.now() - began });
  }

  async #failed(effect: ClaimedEffect<P>, error: Error): Promise<void> {
    if (!isRetriable(error)) {
      await this.#giveUp(effect, error, 'not-retriable');
      return;
    }
    if (effect.attempt >= this.#maxAttempts) {
      await this.#giveUp(effect, error, 'attempts');
      return;
    }
    const delayMs = backoffDelay(effect.attempt, this.#retry);
    try {
      if (!(await this.#outbox.retry(effect, delayMs, errorText(error)))) return;
    } catch (failure) {
      this.#report(failure, 'retry');
      return;
    }
    this.#retried += 1;
    this.#emitter.emit('retry', { effect, error, delayMs });
  }

  async #giveUp(effect: ClaimedEffect<P>, error: Error, cause: DeadLetterCause): Promise<void> {
    try {
      if (!(await this.#outbox.deadLetter(effect, errorText(error)))) return;
    } catch (failure) {
      this.#report(failure, 'dead-letter');
      return;
    }
    this.#deadLettered += 1;
    this.#emitter.emit('dead-letter', { effect, error, cause });
  }

  async #maybePurge(): Promise<void> {
    if (this.#purgeIntervalMs === 0 || performance.now() - this.#lastPurge < this.#purgeIntervalMs) return;
    this.#lastPurge = performance.now();
    try {
      await this.#outbox.purge();
    } catch (error) {
      this.#report(error, 'purge');
    }
  }

  #report(error: unknown, phase: string): void {
    this.#errors += 1;
    this.#emitter.emit('error', { error, phase });
  }
}
