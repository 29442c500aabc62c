import type { Fence } from '../fencing/types.js';
import type { MessageMeta } from '../transports/types.js';
import type { ConsumerInfo, HandlerContext, RunOutcome, Violation } from './types.js';

/** @internal What a run context needs from its engine. */
export interface ContextHost {
  readonly info: ConsumerInfo;
  reportViolation(violation: Violation): void;
  reportError(error: unknown, phase: string): void;
}

/** @internal What a run starts with. */
export interface RunInit<T> {
  readonly key: string;
  readonly event: T;
  readonly message: MessageMeta;
  readonly attempt: number;
  readonly fencingToken: number | undefined;
  readonly lockWaitMs: number;
  /** Sweep tick the run started in (the coarse clock of timeouts). */
  readonly startedTick: number;
  /** `performance.now()` at start when someone measures durations, else 0. */
  readonly startedAt: number;
  /** A batch run's events and messages (the first ones are `event` and `message`); absent for one event. */
  readonly batch?: { readonly events: readonly T[]; readonly messages: readonly MessageMeta[] };
}

/**
 * @internal The context of one handler run. The AbortController is created only when a handler
 * reads `signal`, because most runs never look at it and creating one per event is costly.
 */
export class RunContext<T> implements HandlerContext<T> {
  readonly key: string;
  readonly event: T;
  readonly message: MessageMeta;
  readonly attempt: number;
  readonly fencingToken: number | undefined;
  readonly lockWaitMs: number;
  /** Sweep tick the run started in (the coarse clock of timeouts). */
  readonly startedTick: number;
  /** `performance.now()` at start when someone measures durations, else 0. */
  readonly startedAt: number;
  /** Set once the run was reported stuck, so it is reported once. */
  stuckReported = false;
  /** Queued entries this run covers, from the key's head. */
  readonly size: number;
  readonly #batch: RunInit<T>['batch'];
  readonly #host: ContextHost;
  #controller: AbortController | undefined;
  #reason: unknown;
  /**
   * `onSettled` listeners until the run settles, then its outcome (for listeners added late).
   * Undefined, the common case, lets the engine skip building outcomes.
   */
  #settled: ((outcome: RunOutcome) => void)[] | RunOutcome | undefined;

  constructor(host: ContextHost, init: RunInit<T>) {
    this.#host = host;
    this.key = init.key;
    this.event = init.event;
    this.message = init.message;
    this.attempt = init.attempt;
    this.fencingToken = init.fencingToken;
    this.lockWaitMs = init.lockWaitMs;
    this.startedTick = init.startedTick;
    this.startedAt = init.startedAt;
    this.#batch = init.batch;
    this.size = init.batch === undefined ? 1 : init.batch.events.length;
  }

  // Arrays only when read: a run of one event mostly never looks at them.
  get events(): readonly T[] {
    return this.#batch?.events ?? [this.event];
  }

  get messages(): readonly MessageMeta[] {
    return this.#batch?.messages ?? [this.message];
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#reason !== undefined) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  get fence(): Fence | undefined {
    return this.fencingToken === undefined
      ? undefined
      : { token: this.fencingToken, owner: this.#host.info.consumerName };
  }

  get consumer(): ConsumerInfo {
    return this.#host.info;
  }

  /** The reason the run was aborted with, if it was. */
  get abortReason(): unknown {
    return this.#reason;
  }

  /** Abort the run's signal; the first reason wins. */
  abort(reason: Error): void {
    if (this.#reason !== undefined) return;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }

  reportViolation(violation: Omit<Violation, 'messageId'>): void {
    this.#host.reportViolation({ ...violation, messageId: this.message.id });
  }

  reportError(error: unknown, phase: string): void {
    this.#host.reportError(error, phase);
  }

  onSettled(listener: (outcome: RunOutcome) => void): void {
    const settled = this.#settled;
    if (settled === undefined) this.#settled = [listener];
    else if (Array.isArray(settled)) settled.push(listener);
    else this.#call(listener, settled);
  }

  /** Whether someone waits for the outcome: the engine builds one only then. */
  get observed(): boolean {
    return Array.isArray(this.#settled);
  }

  /** Tell the `onSettled` listeners, once, adding why the run was aborted if it was. */
  reportOutcome(outcome: RunOutcome): void {
    const listeners = this.#settled;
    if (!Array.isArray(listeners)) return;
    const settled: RunOutcome = this.#reason instanceof Error ? { ...outcome, abortReason: this.#reason } : outcome;
    this.#settled = settled;
    for (const listener of listeners) this.#call(listener, settled);
  }

  /** A listener that throws is reported, never rethrown into the engine. */
  #call(listener: (outcome: RunOutcome) => void, outcome: RunOutcome): void {
    try {
      listener(outcome);
    } catch (error) {
      this.#host.reportError(error, 'onSettled');
    }
  }
}
