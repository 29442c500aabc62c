import { HandlerTimeoutError } from '../errors/handler-timeout-error.js';
import type { RunContext } from './context.js';

/** @internal What the timeout sweep needs from its consumer. */
export interface TimeoutHost {
  /** Call `visit` with every run in progress. */
  forEachRun(visit: (ctx: RunContext<unknown>) => void): void;
  /** A run ignored its aborted signal for twice its timeout. */
  stuck(ctx: RunContext<unknown>, runningMs: number): void;
}

/**
 * @internal Handler timeouts, checked on a coarse clock (a tick every tenth of the timeout, 5 ms to
 * 1 s) so that a run costs no clock read: a timeout fires between 1 and 1.1 times its value.
 */
export class HandlerTimeouts {
  /** Ticks since start: runs record the tick they started in. */
  tick = 0;
  readonly #timeoutMs: number;
  readonly #everyMs: number;
  readonly #host: TimeoutHost;
  #timer: NodeJS.Timeout | undefined;

  constructor(timeoutMs: number, host: TimeoutHost) {
    this.#timeoutMs = timeoutMs;
    this.#everyMs = Math.min(1000, Math.max(5, Math.floor(timeoutMs / 10)));
    this.#host = host;
  }

  start(): void {
    if (this.#timeoutMs <= 0 || this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.#sweep(), this.#everyMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #sweep(): void {
    this.tick += 1;
    const timeoutMs = this.#timeoutMs;
    this.#host.forEachRun((ctx) => {
      // Whole ticks elapsed since the run started, the partial first one not counted.
      const runningMs = (this.tick - ctx.startedTick - 1) * this.#everyMs;
      if (runningMs < timeoutMs) return;
      if (ctx.abortReason === undefined) {
        ctx.abort(new HandlerTimeoutError(ctx.key, ctx.message.id, timeoutMs));
      } else if (runningMs >= 2 * timeoutMs && !ctx.stuckReported) {
        // Exclusivity before liveness: the key stays blocked until the handler settles.
        ctx.stuckReported = true;
        this.#host.stuck(ctx, runningMs);
      }
    });
  }
}
