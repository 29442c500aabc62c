import { performance } from 'node:perf_hooks';
import { ConsumerStateError } from '../errors/consumer-state-error.js';
import { ConsumerStoppedError } from '../errors/consumer-stopped-error.js';
import { DecodeError } from '../errors/decode-error.js';
import { HandlerTimeoutError } from '../errors/handler-timeout-error.js';
import { KeyExtractionError } from '../errors/key-extraction-error.js';
import { LockAcquireTimeoutError } from '../errors/lock-acquire-timeout-error.js';
import { isStaleTokenError } from '../errors/stale-token-error.js';
import { TransportError } from '../errors/transport-error.js';
import { isRetriable, toError } from '../errors/classify.js';
import { Emitter } from '../internal/emitter.js';
import { holdLease, type HeldLease } from '../locks/hold-lease.js';
import { logConsumerEvents } from '../logging.js';
import { compose } from '../middleware/compose.js';
import { defaultDeadLetterTopic } from '../transports/dead-letter.js';
import type { FencingTokenSource } from '../locks/types.js';
import type { Delivery, Subscription, SubscriptionType } from '../transports/types.js';
import { RunContext, type ContextHost } from './context.js';
import type { ResolvedOptions } from './options.js';
import type {
  ConsumerEvents,
  ConsumerInfo,
  ConsumerMode,
  ConsumerState,
  ConsumerStats,
  ExclusiveConsumer,
  Handler,
  KeyFn,
  RunOutcome,
  StopOptions,
  StopReport,
  Violation,
} from './types.js';

const SUBSCRIPTION_TYPE: Readonly<Record<ConsumerMode, SubscriptionType>> = {
  'key-shared': 'key-shared',
  failover: 'failover',
  'shared-locked': 'shared',
  shared: 'shared',
};

let sharedModeWarned = false;

/** One received message waiting for, or in, its key's handler; linked in its key's queue. */
class Entry<T> {
  attempt = 0;
  next: Entry<T> | undefined = undefined;
  constructor(
    readonly delivery: Delivery,
    readonly event: T,
    /** The connection epoch it arrived in; a lost connection makes it void. */
    readonly epoch: number,
  ) {}
}

const ignore = (): void => undefined;

/** Idle key states kept for reuse by one consumer. */
const KEY_POOL_SIZE = 1024;

const ACK: RunOutcome = Object.freeze({ action: 'ack' });
const STALE_REASON = 'fencing token is stale: another consumer owns the key';

/**
 * Per-key state, alive only while the key has queued or running events (or a lingering lease), so
 * memory is bounded by what is in flight rather than by the number of keys ever seen. The queue is
 * a linked list: most keys hold one event, and an array per key would cost more than the key.
 */
class KeyState<T> {
  first: Entry<T> | undefined = undefined;
  last: Entry<T> | undefined = undefined;
  size = 0;
  /** Claimed by a runner, a retry timer or a lease wait; not in the ready queue. */
  busy = false;
  /** Waiting in the ready queue for a concurrency slot. */
  ready = false;
  current: RunContext<T> | undefined = undefined;
  held: HeldLease | undefined = undefined;
  token: number | undefined = undefined;
  /** Token being minted since the key's first message arrived. */
  tokenPending: Promise<number> | undefined = undefined;
  /** Monotonic time the first lease attempt for the current head started. */
  lockWaitStart: number | undefined = undefined;
  lockWaitMs = 0;
  timer: NodeJS.Timeout | undefined = undefined;
  lingering = false;

  constructor(public key: string) {}

  push(entry: Entry<T>): void {
    if (this.last === undefined) this.first = entry;
    else this.last.next = entry;
    this.last = entry;
    this.size += 1;
  }

  shift(): void {
    const first = this.first;
    if (first === undefined) return;
    this.first = first.next;
    first.next = undefined;
    if (this.first === undefined) this.last = undefined;
    this.size -= 1;
  }

  /** Remove and return every entry, or every entry but the head. */
  drain(keepHead: boolean): Entry<T>[] {
    const taken: Entry<T>[] = [];
    let entry = keepHead ? this.first?.next : this.first;
    while (entry !== undefined) {
      taken.push(entry);
      const next: Entry<T> | undefined = entry.next;
      entry.next = undefined;
      entry = next;
    }
    if (keepHead && this.first !== undefined) {
      this.first.next = undefined;
      this.last = this.first;
      this.size = 1;
    } else {
      this.first = undefined;
      this.last = undefined;
      this.size = 0;
    }
    return taken;
  }
}

/**
 * @internal The per-key scheduler. Events of one key run one at a time in arrival order; up to
 * `maxConcurrency` keys run at once; a key gives its slot back after each event when others wait,
 * so a slow or busy key never holds the rest back.
 */
export class Engine<T> implements ExclusiveConsumer, ContextHost {
  readonly topic: string;
  readonly subscription: string;
  readonly consumerName: string;
  readonly mode: ConsumerMode;
  readonly info: ConsumerInfo;

  readonly #options: ResolvedOptions<T>;
  readonly #keyFn: KeyFn<T>;
  readonly #invoke: (ctx: RunContext<T>) => Promise<void> | void;
  readonly #emitter: Emitter<ConsumerEvents>;
  readonly #keys = new Map<string, KeyState<T>>();
  #ready: KeyState<T>[] = [];
  #readyHead = 0;
  #active = 0;
  #inFlight = 0;
  #paused = false;
  #state: ConsumerState = 'idle';
  #subscription: Subscription | undefined;
  #startPromise: Promise<void> | undefined;
  #stopPromise: Promise<StopReport> | undefined;
  #onIdle: (() => void) | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  readonly #resumeAt: number;
  readonly #checkKey: boolean;
  /** Whether the broker, not a lock, decides which consumer owns a key. */
  readonly #routed: boolean;

  #processed = 0;
  #failed = 0;
  #retried = 0;
  #deadLettered = 0;
  #released = 0;
  #violations = 0;
  #keyMismatches = 0;
  #leasesLost = 0;
  #staleTokens = 0;
  /** Incremented when the transport reports that its deliveries so far are void. */
  #epoch = 0;
  /** Sweep ticks since start: the coarse clock of handler timeouts. */
  #tick = 0;
  #sweepEveryMs = 1000;
  #pumping = false;
  /** Idle key states kept for reuse. */
  readonly #pool: KeyState<T>[] = [];
  /** Whether someone listens to run durations: only then is the clock read per run. */
  #timed = false;
  /** `shared-locked`: every run needs the key's lease. */
  readonly #locked: boolean;
  /** Broker-routed modes with a token source: every key needs a minted token. */
  readonly #minting: boolean;

  constructor(topic: string, keyFn: KeyFn<T>, handler: Handler<T>, options: ResolvedOptions<T>) {
    this.topic = topic;
    this.subscription = options.subscription;
    this.#keyFn = keyFn;
    this.#options = options;
    this.consumerName = options.consumerName;
    this.mode = options.mode;
    this.info = Object.freeze({
      topic,
      subscription: options.subscription,
      consumerName: options.consumerName,
      mode: options.mode,
      transport: options.transport.name,
    });
    const last = (ctx: RunContext<T>): Promise<void> | void => handler(ctx.event, ctx);
    this.#invoke =
      options.middleware.length === 0
        ? last
        : (compose(options.middleware, async (ctx) => {
            await handler(ctx.event, ctx);
          }) as (ctx: RunContext<T>) => Promise<void>);
    this.#emitter = new Emitter<ConsumerEvents>((error, event) => {
      if (event !== 'error') this.reportError(error, `listener:${String(event)}`);
    });
    this.#resumeAt = Math.floor(options.maxInFlight / 2);
    this.#routed = options.mode === 'key-shared' || options.mode === 'failover';
    this.#locked = options.mode === 'shared-locked';
    this.#minting = !this.#locked && options.tokenSource !== undefined;
    this.#checkKey = options.checkPartitionKey && this.#routed;
    if (options.logger !== undefined) logConsumerEvents(this, options.logger, options.privacy, options.transport.name);
  }

  // ---------------------------------------------------------------- public API

  on<E extends keyof ConsumerEvents>(event: E, listener: (payload: ConsumerEvents[E]) => void): () => void {
    const off = this.#emitter.on(event, listener);
    this.#timed = this.#emitter.has('message.processed') || this.#emitter.has('message.failed');
    return () => {
      off();
      this.#timed = this.#emitter.has('message.processed') || this.#emitter.has('message.failed');
    };
  }

  stats(): ConsumerStats {
    let lingering = 0;
    if (this.#options.lease.lingerMs > 0) {
      for (const ks of this.#keys.values()) if (ks.lingering) lingering += 1;
    }
    return {
      state: this.#state,
      inFlight: this.#inFlight,
      running: this.#active,
      activeKeys: this.#keys.size - lingering,
      paused: this.#paused,
      processed: this.#processed,
      failed: this.#failed,
      retried: this.#retried,
      deadLettered: this.#deadLettered,
      released: this.#released,
      violations: this.#violations,
      keyMismatches: this.#keyMismatches,
      leasesLost: this.#leasesLost,
      staleTokens: this.#staleTokens,
    };
  }

  start(): Promise<void> {
    if (this.#state === 'stopping' || this.#state === 'stopped') {
      return Promise.reject(new ConsumerStateError('A stopped consumer cannot be started again; create a new one', this.#state));
    }
    this.#startPromise ??= this.#start();
    return this.#startPromise;
  }

  stop(options: StopOptions = {}): Promise<StopReport> {
    this.#stopPromise ??= this.#stop(options);
    return this.#stopPromise;
  }

  // ---------------------------------------------------------------- ContextHost

  reportViolation(violation: Violation): void {
    this.#violations += 1;
    this.#emitter.emit('violation', violation);
  }

  reportError(error: unknown, phase: string): void {
    this.#emitter.emit('error', { error: toError(error), phase });
  }

  // ---------------------------------------------------------------- lifecycle

  async #start(): Promise<void> {
    this.#state = 'starting';
    const o = this.#options;
    if (o.mode === 'shared') {
      const message =
        "Mode 'shared' gives no per-key exclusivity across consumers: two consumers can run one key at once. Use it only as a baseline.";
      this.#emitter.emit('warning', { code: 'EC_SHARED_MODE', message });
      if (!sharedModeWarned) {
        sharedModeWarned = true;
        process.emitWarning(message, { code: 'EC_SHARED_MODE', type: 'ExclusiveConsumerWarning' });
      }
    }
    try {
      this.#subscription = await o.transport.subscribe({
        topic: this.topic,
        subscription: o.subscription,
        consumerName: o.consumerName,
        type: SUBSCRIPTION_TYPE[o.mode],
        initialPosition: o.initialPosition,
        receiverQueueSize: o.maxInFlight,
        deadLetterTopic: o.deadLetterTopic ?? defaultDeadLetterTopic(this.topic, o.subscription),
        ...(o.maxRedeliverCount === undefined ? {} : { maxRedeliverCount: o.maxRedeliverCount }),
        ...(o.nackRedeliveryDelayMs === undefined ? {} : { nackRedeliveryDelayMs: o.nackRedeliveryDelayMs }),
        onMessages: (batch) => this.#receive(batch),
        onError: (error) => this.reportError(error, 'transport'),
        onDeliveriesLost: () => this.#deliveriesLost(),
      });
    } catch (error) {
      this.#state = 'idle';
      this.#startPromise = undefined;
      throw error;
    }
    if (this.#state !== 'starting') return; // stop() was called meanwhile; it closes the subscription
    this.#state = 'running';
    if (o.handlerTimeoutMs > 0) {
      // Timeouts are checked on a coarse clock (a tick every tenth of the timeout, 5 ms to 1 s) so
      // that a run costs no clock read: a timeout fires between 1 and 1.1 times its value.
      this.#sweepEveryMs = Math.min(1000, Math.max(5, Math.floor(o.handlerTimeoutMs / 10)));
      this.#sweepTimer = setInterval(() => this.#sweep(), this.#sweepEveryMs);
      this.#sweepTimer.unref();
    }
    this.#emitter.emit('consumer.started', { consumerName: this.consumerName });
  }

  async #stop(options: StopOptions): Promise<StopReport> {
    const began = performance.now();
    const drain = options.drain ?? true;
    const timeoutMs = options.timeoutMs ?? this.#options.stopTimeoutMs;
    if (this.#state === 'idle') {
      this.#state = 'stopped';
      return { released: 0, abandoned: 0, durationMs: 0 };
    }
    if (this.#state === 'starting') {
      this.#state = 'stopping';
      await this.#startPromise?.catch(() => undefined);
    }
    this.#state = 'stopping';
    this.#emitter.emit('consumer.stopping', { drain });
    this.#subscription?.pause();
    const releasedBefore = this.#released;

    // Give back everything that has not started, so other consumers take it now.
    this.#ready = [];
    this.#readyHead = 0;
    for (const ks of [...this.#keys.values()]) {
      // A busy key without a timer is held by a driver (running, acquiring a lease, minting a
      // token): it keeps its head and finishes it. Keys waiting on a timer (retry backoff, lease
      // wait, linger) or in the ready queue hold no slot and are given back whole.
      const driven = ks.busy && ks.timer === undefined;
      ks.ready = false;
      if (ks.timer !== undefined) {
        clearTimeout(ks.timer);
        ks.timer = undefined;
        ks.busy = false;
      }
      for (const entry of ks.drain(driven)) this.#release(entry, ks.key, 'consumer stopping');
      if (!driven) this.#retire(ks);
    }
    if (!drain) this.#abortRunning(new ConsumerStoppedError());

    let abandoned = 0;
    if (this.#active > 0) {
      const settled = await this.#waitIdle(timeoutMs);
      if (!settled) {
        this.#abortRunning(new ConsumerStoppedError(`Consumer stop timed out after ${timeoutMs} ms`));
        abandoned = this.#active;
      }
    }
    if (this.#sweepTimer !== undefined) clearInterval(this.#sweepTimer);
    try {
      await this.#subscription?.close();
    } catch (error) {
      this.reportError(error, 'close');
    }
    this.#state = 'stopped';
    const report: StopReport = {
      released: this.#released - releasedBefore,
      abandoned,
      durationMs: performance.now() - began,
    };
    this.#emitter.emit('consumer.stopped', report);
    return report;
  }

  #waitIdle(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#onIdle = undefined;
        resolve(false);
      }, timeoutMs);
      this.#onIdle = () => {
        clearTimeout(timer);
        this.#onIdle = undefined;
        resolve(true);
      };
    });
  }

  #abortRunning(reason: Error): void {
    for (const ks of this.#keys.values()) ks.current?.abort(reason);
  }

  // ---------------------------------------------------------------- receive

  #receive(batch: readonly Delivery[]): void {
    const accepting = this.#state === 'running' || this.#state === 'starting';
    const { codec } = this.#options;
    for (let i = 0; i < batch.length; i++) {
      const delivery = batch[i] as Delivery;
      this.#inFlight += 1;
      if (!accepting) {
        this.#release(new Entry(delivery, undefined as T, this.#epoch), undefined, 'consumer stopping');
        continue;
      }
      let event: T;
      try {
        event = codec.decode(delivery.data, delivery);
      } catch (error) {
        void this.#deadLetter(delivery, undefined, new DecodeError(codec.name, delivery.id, error), 0);
        continue;
      }
      let key: unknown;
      try {
        key = this.#keyFn(event, delivery);
      } catch (error) {
        const reason = error instanceof Error ? `: ${error.message}` : '';
        void this.#deadLetter(delivery, undefined, new KeyExtractionError(`Key function threw${reason}`, delivery.id, error), 0);
        continue;
      }
      if (typeof key !== 'string' || key.length === 0) {
        const got = typeof key === 'string' ? 'an empty string' : typeof key;
        void this.#deadLetter(
          delivery,
          undefined,
          new KeyExtractionError(`Key function must return a non-empty string, got ${got}`, delivery.id),
          0,
        );
        continue;
      }
      if (this.#checkKey && key !== delivery.partitionKey) {
        this.#keyMismatches += 1;
        this.#emitter.emit('key.mismatch', { key, partitionKey: delivery.partitionKey, messageId: delivery.id });
      }
      this.#enqueue(key, new Entry(delivery, event, this.#epoch));
    }
    if (!this.#paused && this.#inFlight >= this.#options.maxInFlight && this.#state === 'running') {
      this.#paused = true;
      this.#subscription?.pause();
      this.#emitter.emit('transport.paused', { inFlight: this.#inFlight });
    }
  }

  #enqueue(key: string, entry: Entry<T>): void {
    let ks = this.#keys.get(key);
    if (ks === undefined) {
      ks = this.#pool.pop() ?? new KeyState<T>(key);
      ks.key = key;
      this.#keys.set(key, ks);
      this.#mintOnArrival(ks);
    }
    ks.push(entry);
    if (ks.lingering) {
      ks.lingering = false;
      if (ks.timer !== undefined) clearTimeout(ks.timer);
      ks.timer = undefined;
    }
    if (!ks.busy && !ks.ready) this.#schedule(ks);
  }

  // ---------------------------------------------------------------- scheduling

  #schedule(ks: KeyState<T>): void {
    if (this.#active < this.#options.maxConcurrency) {
      ks.busy = true;
      this.#active += 1;
      this.#run(ks);
    } else {
      ks.ready = true;
      this.#ready.push(ks);
    }
  }

  /**
   * Hand freed slots to waiting keys. Not re-entrant: a key finishing synchronously inside the loop
   * frees its slot for this same loop, instead of recursing once per key.
   */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#active < this.#options.maxConcurrency && this.#readyHead < this.#ready.length) {
        const ks = this.#ready[this.#readyHead] as KeyState<T>;
        this.#ready[this.#readyHead] = undefined as unknown as KeyState<T>;
        this.#readyHead += 1;
        ks.ready = false;
        ks.busy = true;
        this.#active += 1;
        this.#run(ks);
      }
      if (this.#readyHead === this.#ready.length) {
        this.#ready.length = 0;
        this.#readyHead = 0;
      } else if (this.#readyHead > 1024 && this.#readyHead * 2 > this.#ready.length) {
        this.#ready = this.#ready.slice(this.#readyHead);
        this.#readyHead = 0;
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** Give the slot back. The key stays busy if it has a timer (retry or lease wait). */
  #yield(): void {
    this.#active -= 1;
    this.#pump();
    if (this.#active === 0) this.#onIdle?.();
  }

  /**
   * Runs a key's events one after another while it holds a slot. Synchronous: a handler's promise
   * continues the loop from its callbacks, so an event costs no async frame of the engine's own.
   * Never throws: every failure becomes a retry, a dead letter or a release.
   */
  #run(ks: KeyState<T>): void {
    for (;;) {
      const entry = ks.first;
      if (entry === undefined || this.#state === 'stopping' || this.#state === 'stopped') {
        this.#finish(ks);
        return;
      }
      if (entry.epoch !== this.#epoch) {
        // Its connection is gone: the broker already handed it to another consumer.
        ks.shift();
        this.#forget(entry, ks.key);
        continue;
      }
      if (this.#locked ? ks.held === undefined || ks.held.signal.aborted : this.#minting && ks.token === undefined) {
        void this.#prepare(ks, entry);
        return;
      }

      entry.attempt += 1;
      const ctx = new RunContext<T>(
        this,
        ks.key,
        entry.event,
        entry.delivery,
        entry.attempt,
        this.#locked ? ks.held?.lease.token : ks.token,
        ks.lockWaitMs,
        this.#tick,
        this.#timed ? performance.now() : 0,
      );
      ks.current = ctx;
      ks.lockWaitMs = 0;
      let result: unknown;
      try {
        result = this.#invoke(ctx);
      } catch (thrown) {
        if (this.#settleRun(ks, entry, ctx, thrown, true)) continue;
        return;
      }
      if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<void>).then === 'function') {
        (result as PromiseLike<void>).then(
          () => {
            if (this.#settleRun(ks, entry, ctx, undefined, false)) this.#run(ks);
          },
          (thrown: unknown) => {
            if (this.#settleRun(ks, entry, ctx, thrown, true)) this.#run(ks);
          },
        );
        return;
      }
      if (!this.#settleRun(ks, entry, ctx, undefined, false)) return;
    }
  }

  /**
   * The slow path before a run: acquire the key's lease (`shared-locked`) or wait for its token.
   * Continues the key's run when ready.
   */
  async #prepare(ks: KeyState<T>, entry: Entry<T>): Promise<void> {
    if (this.#locked) {
      if (ks.held !== undefined) {
        void ks.held.release();
        ks.held = undefined;
      }
      if (await this.#acquire(ks)) this.#run(ks); // state may have changed while waiting
      return;
    }
    const source = this.#options.tokenSource as FencingTokenSource;
    let pending = ks.tokenPending;
    ks.tokenPending = undefined;
    try {
      pending ??= source.nextToken(ks.key);
      ks.token = await pending;
    } catch (error) {
      entry.attempt += 1;
      if (!this.#fail(ks, entry, toError(error))) return;
    }
    this.#run(ks);
  }

  /**
   * A run ended. Acknowledge, retry, dead-letter or give the key back. Returns true when the same
   * key may run its next event now; false when the slot was handed on.
   */
  #settleRun(ks: KeyState<T>, entry: Entry<T>, ctx: RunContext<T>, thrown: unknown, failed: boolean): boolean {
    ks.current = undefined;
    let error = failed ? toError(thrown, { key: ks.key, messageId: entry.delivery.id }) : undefined;
    if (error === undefined && ctx.abortReason instanceof HandlerTimeoutError) error = ctx.abortReason;
    if (entry.epoch !== this.#epoch) {
      ks.shift();
      this.#forget(entry, ks.key);
      if (ctx.observed) ctx.settle({ action: 'release', error, reason: 'connection-lost' });
    } else if (error === undefined) {
      ks.shift();
      this.#ack(entry.delivery);
      this.#processed += 1;
      if (ctx.observed) ctx.settle(ACK);
      if (ctx.startedAt !== 0) {
        this.#emitter.emit('message.processed', {
          key: ks.key,
          messageId: entry.delivery.id,
          attempt: entry.attempt,
          durationMs: performance.now() - ctx.startedAt,
        });
      }
    } else if (isStaleTokenError(error)) {
      if (ctx.observed) ctx.settle({ action: 'release', error, reason: 'stale-token' });
      this.#claimLost(ks, error, ctx);
      return false;
    } else {
      return this.#fail(ks, entry, error, ctx);
    }
    return this.#continue(ks);
  }

  /** After an event: keep the slot for the key's next one, or hand it on. */
  #continue(ks: KeyState<T>): boolean {
    if (ks.size === 0) {
      this.#finish(ks);
      return false;
    }
    if (this.#readyHead < this.#ready.length) {
      // Others wait for a slot: go to the back of the line (fairness across keys).
      ks.busy = false;
      ks.ready = true;
      this.#ready.push(ks);
      this.#yield();
      return false;
    }
    return true;
  }

  /**
   * A failed attempt of the key's head entry: schedule a retry (slot handed on), or give the entry
   * up — released when stopping, else dead-lettered before the key's next event runs. Returns true
   * when the key may run its next event now.
   */
  #fail(ks: KeyState<T>, entry: Entry<T>, error: Error, ctx?: RunContext<T>): boolean {
    if (!this.#failed_(ks, entry, error, ctx)) return false;
    ks.shift();
    if (this.#state !== 'running' && isRetriable(error)) {
      if (ctx?.observed) ctx.settle({ action: 'release', error, reason: 'stopping' });
      this.#release(entry, ks.key, 'consumer stopping');
      return this.#continue(ks);
    }
    if (ctx?.observed) ctx.settle({ action: 'dead-letter', error });
    void this.#deadLetter(entry.delivery, ks.key, error, entry.attempt).then(() => {
      if (this.#continue(ks)) this.#run(ks);
    });
    return false;
  }

  /**
   * Count a failed attempt. Returns true when the caller must give the entry up now (no retry);
   * false when a retry was scheduled and the slot given back.
   */
  #failed_(ks: KeyState<T>, entry: Entry<T>, error: Error, ctx: RunContext<T> | undefined): boolean {
    const r = this.#options.retry;
    this.#failed += 1;
    const retry = isRetriable(error) && entry.attempt < r.maxAttempts && this.#state === 'running';
    let delay: number | undefined;
    if (retry) {
      const base = Math.min(r.maxDelayMs, r.initialDelayMs * r.factor ** (entry.attempt - 1));
      delay = Math.round(base * (1 - r.jitter * Math.random()));
    }
    this.#emitter.emit('message.failed', {
      key: ks.key,
      messageId: entry.delivery.id,
      attempt: entry.attempt,
      error,
      retryInMs: delay,
      durationMs: ctx === undefined || ctx.startedAt === 0 ? undefined : performance.now() - ctx.startedAt,
    });
    if (delay === undefined) return true;
    this.#retried += 1;
    if (ctx?.observed) ctx.settle({ action: 'retry', error, retryInMs: delay, nextAttempt: entry.attempt + 1 });
    this.#wake(ks, delay);
    return false;
  }

  /** Leave the slot; the key stays busy (its later events wait) and is scheduled again after `delayMs`. */
  #wake(ks: KeyState<T>, delayMs: number): void {
    ks.timer = setTimeout(() => {
      ks.timer = undefined;
      ks.busy = false;
      if (this.#state === 'running') this.#schedule(ks);
    }, delayMs);
    this.#yield();
  }

  /** The key has nothing left to run (or the consumer stops): free its slot and, if idle, its state. */
  #finish(ks: KeyState<T>): void {
    ks.busy = false;
    if (ks.size > 0 && this.#state !== 'running') {
      for (const entry of ks.drain(false)) this.#release(entry, ks.key, 'consumer stopping');
    }
    if (ks.size === 0) this.#retire(ks);
    else this.#schedule(ks);
    this.#yield();
  }

  /** Drop an idle key's state, keeping its lease for `lingerMs` if configured. */
  #retire(ks: KeyState<T>): void {
    const linger = this.#options.lease.lingerMs;
    if (ks.held !== undefined && linger > 0 && this.#state === 'running' && !ks.held.signal.aborted) {
      ks.lingering = true;
      ks.timer = setTimeout(() => {
        ks.timer = undefined;
        if (!ks.lingering) return;
        this.#dropKey(ks);
      }, linger);
      return;
    }
    this.#dropKey(ks);
  }

  #dropKey(ks: KeyState<T>): void {
    ks.lingering = false;
    if (ks.timer !== undefined) clearTimeout(ks.timer);
    ks.timer = undefined;
    if (ks.held !== undefined) {
      void ks.held.release();
      ks.held = undefined;
    }
    ks.token = undefined;
    ks.tokenPending = undefined;
    if (this.#keys.get(ks.key) === ks) {
      this.#keys.delete(ks.key);
      // Most keys hold one event: recycling their state saves an allocation per event.
      if (this.#pool.length < KEY_POOL_SIZE && ks.size === 0 && !ks.busy && !ks.ready) {
        ks.current = undefined;
        ks.lockWaitStart = undefined;
        ks.lockWaitMs = 0;
        this.#pool.push(ks);
      }
    }
  }

  /**
   * Broker-routed modes mint the key's token when its first message arrives, not when it gets a
   * slot: the broker hands a key to a new owner after the old one received its messages, so
   * arrival order is ownership order. Minting later would let a consumer that lost the key (still
   * working through its queue) mint a newer token than the new owner's, and win.
   */
  #mintOnArrival(ks: KeyState<T>): void {
    const source = this.#options.tokenSource;
    if (source === undefined || this.#options.mode === 'shared-locked') return;
    try {
      const pending = source.nextToken(ks.key);
      pending.catch(ignore); // awaited (and its error handled) when the key runs
      ks.tokenPending = pending;
    } catch (error) {
      ks.tokenPending = Promise.reject(error);
      ks.tokenPending.catch(ignore);
    }
  }

  /**
   * A fenced store said another owner holds a newer token for the key: this consumer lost it.
   * Give back every message of the key (the owner, or this consumer after the broker routes it
   * here again, runs them) instead of retrying with a token that can only be rejected again.
   */
  #claimLost(ks: KeyState<T>, error: Error, ctx: RunContext<T>): void {
    this.#staleTokens += 1;
    this.#failed += 1;
    this.#emitter.emit('message.failed', {
      key: ks.key,
      messageId: ks.first?.delivery.id ?? '',
      attempt: ks.first?.attempt ?? 0,
      error,
      retryInMs: undefined,
      durationMs: ctx.startedAt === 0 ? undefined : performance.now() - ctx.startedAt,
    });
    for (const entry of ks.drain(false)) this.#release(entry, ks.key, STALE_REASON);
    if (ks.held !== undefined) {
      void ks.held.release();
      ks.held = undefined;
    }
    ks.token = undefined;
    ks.tokenPending = undefined;
    this.#finish(ks);
  }

  /**
   * The transport lost the connection its deliveries came on: the broker already gives them to
   * other consumers, and acknowledging them is no longer possible. Forget what has not started,
   * tell running handlers to stop, and mint new tokens for whatever arrives next.
   */
  #deliveriesLost(): void {
    this.#epoch += 1;
    const reason = new TransportError('Connection to the broker lost: its messages go to other consumers', {
      context: { consumerName: this.consumerName },
    });
    for (const ks of [...this.#keys.values()]) {
      const driven = ks.busy && ks.timer === undefined;
      ks.current?.abort(reason);
      ks.token = undefined;
      ks.tokenPending = undefined;
      if (ks.timer !== undefined && !ks.lingering) {
        clearTimeout(ks.timer);
        ks.timer = undefined;
        ks.busy = false;
      }
      for (const entry of ks.drain(driven)) this.#forget(entry, ks.key);
      if (!driven && !ks.ready) this.#retire(ks);
    }
    // Keys waiting in the ready queue have no entries left; their driver finishes them at once.
  }

  /** Settle an entry locally without touching the broker (it no longer accepts it). */
  #forget(entry: Entry<T>, key: string): void {
    this.#released += 1;
    this.#settle();
    if (this.#emitter.has('message.released')) {
      this.#emitter.emit('message.released', { key, messageId: entry.delivery.id, reason: 'connection lost' });
    }
  }

  // ---------------------------------------------------------------- leases

  /**
   * One attempt at the key's lease. Returns true when held. Otherwise the slot was given back and
   * the key either waits for another attempt or had its events released.
   */
  async #acquire(ks: KeyState<T>): Promise<boolean> {
    const o = this.#options;
    const lock = o.lock;
    if (lock === undefined) return true;
    const now = performance.now();
    ks.lockWaitStart ??= now;
    let failure: unknown;
    try {
      const held = await holdLease(lock, ks.key, this.consumerName, {
        ttlMs: o.lease.ttlMs,
        onLost: (error) => {
          this.#leasesLost += 1;
          ks.current?.abort(error);
          this.#emitter.emit('lease.lost', { key: ks.key, token: error.context.token as number, error });
        },
        onError: (error) => this.reportError(error, 'lease'),
      });
      if (held !== undefined) {
        if (this.#state !== 'running') {
          void held.release();
          this.#finish(ks);
          return false;
        }
        ks.held = held;
        ks.lockWaitMs = performance.now() - (ks.lockWaitStart ?? now);
        ks.lockWaitStart = undefined;
        if (this.#emitter.has('lease.acquired')) {
          this.#emitter.emit('lease.acquired', { key: ks.key, token: held.lease.token, waitMs: ks.lockWaitMs });
        }
        return true;
      }
    } catch (error) {
      failure = error;
      this.reportError(error, 'lease');
    }
    if (this.#state !== 'running') {
      this.#finish(ks);
      return false;
    }
    const waited = performance.now() - (ks.lockWaitStart ?? now);
    if (o.lease.whenBusy === 'release' || waited >= o.lease.acquireTimeoutMs) {
      const why =
        o.lease.whenBusy === 'release'
          ? 'key is locked by another consumer'
          : new LockAcquireTimeoutError(ks.key, o.lease.acquireTimeoutMs, 0, failure).message;
      ks.lockWaitStart = undefined;
      for (const entry of ks.drain(false)) this.#release(entry, ks.key, why);
      this.#finish(ks);
      return false;
    }
    const delay = Math.min(o.lease.retryDelayMs * (0.5 + Math.random()), o.lease.acquireTimeoutMs - waited);
    this.#wake(ks, Math.max(1, Math.round(delay)));
    return false;
  }

  // ---------------------------------------------------------------- settling

  #settle(): void {
    this.#inFlight -= 1;
    if (this.#paused && this.#inFlight <= this.#resumeAt && this.#state === 'running') {
      this.#paused = false;
      this.#subscription?.resume();
      this.#emitter.emit('transport.resumed', { inFlight: this.#inFlight });
    }
  }

  #ack(delivery: Delivery): void {
    try {
      const result = delivery.ack();
      if (result !== undefined) result.then(undefined, (error: unknown) => this.reportError(error, 'ack'));
    } catch (error) {
      this.reportError(error, 'ack');
    }
    this.#settle();
  }

  #release(entry: Entry<T>, key: string | undefined, reason: string): void {
    // When stopping in a broker-routed mode, closing the subscription hands every unacknowledged
    // message over at once and in order; a negative ack would let the key move to another consumer
    // while its older messages wait out the nack delay, reordering them.
    if (!this.#routed || this.#state === 'running') {
      try {
        entry.delivery.nack();
      } catch (error) {
        this.reportError(error, 'nack');
      }
    }
    this.#released += 1;
    this.#settle();
    if (this.#emitter.has('message.released')) {
      this.#emitter.emit('message.released', { key, messageId: entry.delivery.id, reason });
    }
  }

  async #deadLetter(delivery: Delivery, key: string | undefined, error: Error, attempts: number): Promise<void> {
    const { code } = error as { code?: unknown };
    try {
      await delivery.deadLetter({
        code: typeof code === 'string' ? code : error.name,
        message: error.message,
        attempts,
        consumerName: this.consumerName,
      });
    } catch (dlqError) {
      // Never lost: the broker redelivers it, and the dead letter is tried again then.
      this.reportError(dlqError, 'dead-letter');
      this.#release(new Entry(delivery, undefined as T, this.#epoch), key, 'dead-letter publish failed');
      return;
    }
    this.#deadLettered += 1;
    this.#settle();
    this.#emitter.emit('message.dead-lettered', { key, messageId: delivery.id, error, attempts });
  }

  // ---------------------------------------------------------------- timeouts

  #sweep(): void {
    this.#tick += 1;
    const timeoutMs = this.#options.handlerTimeoutMs;
    const every = this.#sweepEveryMs;
    for (const ks of this.#keys.values()) {
      const ctx = ks.current;
      if (ctx === undefined) continue;
      // Whole ticks elapsed since the run started, the partial first one not counted.
      const runningMs = (this.#tick - ctx.startedTick - 1) * every;
      if (runningMs < timeoutMs) continue;
      if (ctx.abortReason === undefined) {
        ctx.abort(new HandlerTimeoutError(ks.key, ctx.message.id, timeoutMs));
      } else if (runningMs >= 2 * timeoutMs && !ctx.stuckReported) {
        // Exclusivity before liveness: the key stays blocked until the handler settles.
        ctx.stuckReported = true;
        this.#emitter.emit('handler.stuck', { key: ks.key, messageId: ctx.message.id, runningMs });
      }
    }
  }

}
