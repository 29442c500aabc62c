import { performance } from 'node:perf_hooks';
import { isConfigurationError } from '../errors/configuration-error.js';
import { ConsumerStateError } from '../errors/consumer-state-error.js';
import { ConsumerStoppedError } from '../errors/consumer-stopped-error.js';
import { DecodeError } from '../errors/decode-error.js';
import { HandlerTimeoutError } from '../errors/handler-timeout-error.js';
import { KeyExtractionError } from '../errors/key-extraction-error.js';
import { isStaleTokenError } from '../errors/stale-token-error.js';
import { TransportError } from '../errors/transport-error.js';
import { isRetriable, toError } from '../errors/classify.js';
import { backoffDelay } from '../internal/backoff.js';
import { Emitter } from '../internal/emitter.js';
import { safeError } from '../logging/privacy.js';
import type { Delivery, Subscription } from '../transports/types.js';
import type { Claim, ClaimHost, ObtainResult } from './claim.js';
import { RunContext, type ContextHost, type RunInit } from './context.js';
import { zeroCounts, type Counts } from './counts.js';
import { Entry } from './entry.js';
import { invoker, type Invoke } from './invoke.js';
import { RecentCompletions } from './recent-completions.js';
import { logConsumerEvents } from './log-events.js';
import type { KeyState } from './key-state.js';
import { KeyTable } from './key-table.js';
import { LeaseClaim } from './lease-claim.js';
import type { ResolvedOptions } from './options.js';
import { Scheduler } from './scheduler.js';
import { Settlement } from './settlement.js';
import { subscribeWithRetries } from './subscribe.js';
import { HandlerTimeouts } from './timeouts.js';
import { TokenClaim } from './token-claim.js';
import type {
  ConsumerEvents,
  ConsumerHealth,
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

let sharedModeWarned = false;

const ACK: RunOutcome = Object.freeze({ action: 'ack' });
const STOPPING = 'consumer stopping';
/** The negative-acknowledgement delay of the library's transports when none is configured. */
const TRANSPORT_NACK_DELAY_MS = 1000;
const STALE_REASON = 'fencing token is stale: another consumer owns the key';

/**
 * @internal A consumer: its lifecycle, the intake of deliveries, the run of each key's events and
 * the decision after each run, backpressure and counters. Events of one key run one at a time in
 * arrival order; up to `maxConcurrency` keys run at once ({@link Scheduler}); a key gives its slot
 * back after each event when others wait, so a slow or busy key never holds the rest back. A key's
 * state lives in {@link KeyState}, what its runs must hold in its {@link Claim}, handler timeouts
 * in {@link HandlerTimeouts}, the ways a message leaves in {@link Settlement}.
 */
export class Engine<T> implements ExclusiveConsumer, ContextHost {
  readonly topic: string;
  readonly subscription: string;
  readonly consumerName: string;
  readonly mode: ConsumerMode;
  readonly info: ConsumerInfo;

  readonly #options: ResolvedOptions<T>;
  readonly #keyFn: KeyFn<T>;
  readonly #invoke: Invoke<T>;
  readonly #emitter: Emitter<ConsumerEvents>;
  readonly #keys: KeyTable<T>;
  readonly #scheduler: Scheduler<T>;
  readonly #timeouts: HandlerTimeouts;
  readonly #counts: Counts = zeroCounts();
  readonly #settlement: Settlement;
  #inFlight = 0;
  /** Whether the subscription is paused because `maxInFlight` messages are unsettled. */
  #paused = false;
  /** Whether `pause()` paused it. */
  #pausedByUser = false;
  #lastError: ConsumerHealth['lastError'];
  readonly #resumeAt: number;
  #state: ConsumerState = 'idle';
  #subscription: Subscription | undefined;
  #startPromise: Promise<void> | undefined;
  #stopPromise: Promise<StopReport> | undefined;
  #onIdle: (() => void) | undefined;
  readonly #checkKey: boolean;
  /** Whether the broker, not a lock, decides which consumer owns a key. */
  readonly #routed: boolean;
  /** Incremented when the transport reports that its deliveries so far are void. */
  #epoch = 0;
  /** Whether someone listens to run durations: only then is the clock read per run. */
  #timed = false;
  readonly #completed: RecentCompletions | undefined;
  /** How long a key given back waits for its messages' redelivery: past the nack delay, with room. */
  readonly #giveBackWaitMs: number;

  constructor(topic: string, keyFn: KeyFn<T>, handler: Handler<T>, options: ResolvedOptions<T>) {
    this.topic = topic;
    this.subscription = options.subscription;
    this.#keyFn = keyFn;
    this.#options = options;
    this.#giveBackWaitMs = 2 * (options.nackRedeliveryDelayMs ?? TRANSPORT_NACK_DELAY_MS) + 1000;
    this.consumerName = options.consumerName;
    this.mode = options.mode;
    this.info = Object.freeze({
      topic,
      subscription: options.subscription,
      consumerName: options.consumerName,
      mode: options.mode,
      transport: options.transport.name,
    });
    this.#invoke = invoker(handler, options);
    this.#emitter = new Emitter<ConsumerEvents>((error, event) => {
      if (event !== 'error') this.reportError(error, `listener:${String(event)}`);
    });
    this.#resumeAt = Math.floor(options.maxInFlight / 2);
    this.#routed = options.mode === 'key-shared' || options.mode === 'failover';
    this.#checkKey = options.checkPartitionKey && this.#routed;
    this.#completed = options.rememberCompleted > 0 ? new RecentCompletions(options.rememberCompleted) : undefined;
    this.#settlement = new Settlement({
      consumerName: options.consumerName,
      privacy: options.privacy,
      counts: this.#counts,
      emitter: this.#emitter,
      completed: this.#completed,
      routed: this.#routed,
      stopping: () => this.#stopping,
      left: () => this.#left(),
      reportError: (error, phase) => this.reportError(error, phase),
    });

    const claimHost: ClaimHost = {
      consumerName: options.consumerName,
      leaseLost: (owner, error) => {
        this.#counts.leasesLost += 1;
        owner.current?.abort(error);
        this.#emitter.emit('lease.lost', { key: owner.key, token: error.context.token as number, error });
      },
      reportError: (error, phase) => this.reportError(error, phase),
    };
    const { lock, tokenSource } = options;
    this.#keys = new KeyTable<T>(
      lock !== undefined
        ? () => new LeaseClaim(lock, options.lease, claimHost)
        : tokenSource !== undefined
          ? () => new TokenClaim(tokenSource)
          : () => undefined,
    );
    this.#scheduler = new Scheduler<T>(options.maxConcurrency, {
      drive: (ks) => this.#drive(ks),
      drained: () => this.#onIdle?.(),
    });
    this.#timeouts = new HandlerTimeouts(options.handlerTimeoutMs, {
      forEachRun: (visit) => {
        for (const ks of this.#keys.values()) if (ks.current !== undefined) visit(ks.current as RunContext<unknown>);
      },
      stuck: (ctx, runningMs) => this.#emitter.emit('handler.stuck', { key: ctx.key, messageId: ctx.message.id, runningMs }),
    });
    if (options.logger !== undefined) logConsumerEvents(this, options.logger, options.privacy, options.transport.name);
  }

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
      for (const ks of this.#keys.values()) if (ks.phase === 'lingering') lingering += 1;
    }
    return {
      ...this.#counts,
      state: this.#state,
      inFlight: this.#inFlight,
      running: this.#scheduler.active,
      activeKeys: this.#keys.size - lingering,
      paused: this.#paused,
    };
  }

  pause(): void {
    if (this.#pausedByUser || this.#stopping) return;
    this.#pausedByUser = true;
    if (!this.#paused) this.#subscription?.pause();
  }

  resume(): void {
    if (!this.#pausedByUser || this.#stopping) return;
    this.#pausedByUser = false;
    if (!this.#paused) this.#subscription?.resume();
  }

  health(): ConsumerHealth {
    let oldest = Infinity;
    for (const ks of this.#keys.values()) {
      for (let entry = ks.first; entry !== undefined; entry = entry.next) if (entry.receivedAt < oldest) oldest = entry.receivedAt;
    }
    const subscribed = this.#state === 'running' && this.#subscription !== undefined;
    return {
      state: this.#state,
      connected: subscribed && this.#subscription?.connected !== false,
      paused: this.#pausedByUser,
      backpressure: this.#paused,
      inFlight: this.#inFlight,
      running: this.#scheduler.active,
      oldestUnsettledMs: oldest === Infinity ? 0 : Math.max(0, performance.now() - oldest),
      lastError: this.#lastError,
    };
  }

  start(): Promise<void> {
    if (this.#stopping) {
      return Promise.reject(new ConsumerStateError('A stopped consumer cannot be started again; create a new one', this.#state));
    }
    this.#startPromise ??= this.#start();
    return this.#startPromise;
  }

  stop(options: StopOptions = {}): Promise<StopReport> {
    this.#stopPromise ??= this.#stop(options);
    return this.#stopPromise;
  }

  reportViolation(violation: Violation): void {
    this.#counts.violations += 1;
    this.#emitter.emit('violation', violation);
  }

  reportError(error: unknown, phase: string): void {
    const err = toError(error);
    const safe = safeError(err, this.#options.privacy);
    this.#lastError = Object.freeze({ phase, type: safe.type, code: safe.code, message: safe.message, at: new Date() });
    this.#emitter.emit('error', { error: err, phase });
  }

  /** Whether `stop()` was called: nothing new starts, nothing is retried. */
  get #stopping(): boolean {
    return this.#state === 'stopping' || this.#state === 'stopped';
  }

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
      this.#subscription = await subscribeWithRetries(
        this.topic,
        o,
        {
          onMessages: (batch) => this.#receive(batch),
          onError: (error) => this.reportError(error, 'transport'),
          onDeliveriesLost: () => this.#onConnectionLost(),
        },
        { starting: () => this.#state === 'starting', reportError: (error, phase) => this.reportError(error, phase) },
      );
    } catch (error) {
      this.#state = 'idle';
      this.#startPromise = undefined;
      throw error;
    }
    if (this.#state !== 'starting') return; // stop() was called meanwhile; it closes the subscription
    // Deliveries may come before subscribe() resolves; a pause asked for meanwhile applies now.
    if (this.#paused || this.#pausedByUser) this.#subscription.pause();
    this.#state = 'running';
    this.#timeouts.start();
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
    const releasedBefore = this.#counts.released;

    // Give back everything that has not started, so other consumers take it now. A running key
    // (running its head, obtaining its claim, dead-lettering its head) keeps its head and finishes
    // it; the others hold no slot and are given back whole.
    this.#scheduler.clear();
    for (const ks of [...this.#keys.values()]) {
      const running = ks.phase === 'running';
      if (!running) ks.wake();
      for (const entry of ks.drain(running ? (ks.current?.size ?? 1) : 0)) this.#settlement.release(entry.delivery, ks.key, STOPPING);
      if (!running) this.#retireKey(ks);
    }
    if (!drain) this.#abortRunning(new ConsumerStoppedError());

    let abandoned = 0;
    if (this.#scheduler.active > 0) {
      const settled = await this.#waitIdle(timeoutMs);
      if (!settled) {
        this.#abortRunning(new ConsumerStoppedError(`Consumer stop timed out after ${timeoutMs} ms`));
        abandoned = this.#scheduler.active;
      }
    }
    this.#timeouts.stop();
    try {
      await this.#subscription?.close();
    } catch (error) {
      this.reportError(error, 'close');
    }
    this.#state = 'stopped';
    const report: StopReport = {
      released: this.#counts.released - releasedBefore,
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

  /** Decode, key and queue each delivery; dead-letter what cannot be; pause above `maxInFlight`. */
  #receive(batch: readonly Delivery[]): void {
    const stopping = this.#stopping;
    const { codec } = this.#options;
    const receivedAt = performance.now();
    for (let i = 0; i < batch.length; i++) {
      const delivery = batch[i] as Delivery;
      this.#inFlight += 1;
      if (stopping) {
        this.#settlement.release(delivery, undefined, STOPPING);
        continue;
      }
      let event: T;
      try {
        event = codec.decode(delivery.data, delivery);
      } catch (error) {
        if (isConfigurationError(error)) {
          // The codec is misconfigured (a schema that validates asynchronously), not the payload at
          // fault: give the message back rather than dead-letter every message.
          this.reportError(error, 'decode');
          this.#settlement.release(delivery, undefined, 'codec misconfigured');
          continue;
        }
        void this.#settlement.deadLetter(delivery, undefined, new DecodeError(codec.name, delivery.id, error), 0);
        continue;
      }
      let key: unknown;
      try {
        key = this.#keyFn(event, delivery);
      } catch (error) {
        const reason = error instanceof Error ? `: ${error.message}` : '';
        void this.#settlement.deadLetter(delivery, undefined, new KeyExtractionError(`Key function threw${reason}`, delivery.id, error), 0);
        continue;
      }
      if (typeof key !== 'string' || key.length === 0) {
        const got = typeof key === 'string' ? 'an empty string' : typeof key;
        void this.#settlement.deadLetter(
          delivery,
          undefined,
          new KeyExtractionError(`Key function must return a non-empty string, got ${got}`, delivery.id),
          0,
        );
        continue;
      }
      if (this.#checkKey && key !== delivery.partitionKey) {
        this.#counts.keyMismatches += 1;
        this.#emitter.emit('key.mismatch', { key, partitionKey: delivery.partitionKey, messageId: delivery.id });
      }
      this.#enqueue(new Entry(key, delivery, event, this.#epoch, receivedAt));
    }
    if (!this.#paused && this.#inFlight >= this.#options.maxInFlight && !this.#stopping) {
      this.#paused = true;
      if (!this.#pausedByUser) this.#subscription?.pause();
      this.#emitter.emit('transport.paused', { inFlight: this.#inFlight });
    }
  }

  #enqueue(entry: Entry<T>): void {
    let ks = this.#keys.get(entry.key);
    if (ks === undefined) {
      ks = this.#keys.open(entry.key);
      ks.claim?.arrived(entry.key);
    }
    if (ks.awaiting?.has(entry.delivery.id) === true) {
      if (ks.putBack(entry)) ks.wake();
    } else {
      ks.push(entry);
    }
    if (ks.size > this.#counts.queueDepthHighWater) this.#counts.queueDepthHighWater = ks.size;
    if (ks.phase === 'lingering') ks.wake();
    if (ks.phase === 'idle') this.#scheduler.schedule(ks);
  }

  /**
   * Run a key's events one after another while it holds a slot. Synchronous: a handler's promise
   * continues the loop from its callbacks, so an event costs no async frame of the engine's own.
   * Never throws: every failure becomes a retry, a dead letter or a release.
   */
  #drive(ks: KeyState<T>): void {
    for (;;) {
      const entry = ks.first;
      if (entry === undefined || this.#stopping) {
        this.#endTurn(ks);
        return;
      }
      if (entry.epoch !== this.#epoch || entry.delivery.lost === true) {
        // Its connection is gone: the broker already handed it to another consumer.
        ks.shift();
        this.#settlement.drop(entry);
        continue;
      }
      if (this.#completed?.has(entry.delivery.id) === true) {
        // Completed here already (perhaps while this copy waited behind it): the broker sent it
        // again because its acknowledgement was lost with a connection.
        ks.shift();
        this.#counts.repeatsSkipped += 1;
        this.#settlement.ack(entry.delivery);
        continue;
      }
      const batching = this.#options.batch;
      if (batching !== undefined && batching.maxWaitMs > 0 && ks.size < batching.maxSize && !this.#stopping) {
        // Wait (without a slot) for more of the key, counted from when its first event arrived.
        const left = batching.maxWaitMs - (performance.now() - entry.receivedAt);
        if (left >= 1) {
          this.#suspend(ks, Math.ceil(left));
          return;
        }
      }
      const claim = ks.claim;
      let token: number | undefined;
      let lockWaitMs = 0;
      if (claim !== undefined) {
        token = claim.token();
        if (token === undefined) {
          void this.#obtainClaim(ks, claim, entry);
          return;
        }
        lockWaitMs = claim.takeWaitMs();
        this.#counts.leaseWaitMs += lockWaitMs;
      }
      if (entry.attempt === 0 && entry.delivery.redeliveryCount > 0) this.#counts.redeliveredRuns += 1;

      entry.attempt += 1;
      const ctx = new RunContext<T>(this, {
        key: ks.key,
        event: entry.event,
        message: entry.delivery,
        attempt: entry.attempt,
        fencingToken: token,
        lockWaitMs,
        startedTick: this.#timeouts.tick,
        startedAt: this.#timed ? performance.now() : 0,
        ...(batching === undefined || entry.next === undefined ? {} : this.#gather(entry, batching.maxSize)),
      });
      ks.current = ctx;
      let result: unknown;
      try {
        result = this.#invoke(ctx);
      } catch (thrown) {
        if (this.#afterRun(ks, entry, ctx, thrown, true)) continue;
        return;
      }
      if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<void>).then === 'function') {
        (result as PromiseLike<void>).then(
          () => {
            if (this.#afterRun(ks, entry, ctx, undefined, false)) this.#drive(ks);
          },
          (thrown: unknown) => {
            if (this.#afterRun(ks, entry, ctx, thrown, true)) this.#drive(ks);
          },
        );
        return;
      }
      if (!this.#afterRun(ks, entry, ctx, undefined, false)) return;
    }
  }

  /**
   * The batch a run starts with: `head` and the entries behind it, up to `maxSize`, stopping before
   * one that must not run with them (void, or completed already: it is handled when it is the head).
   */
  #gather(head: Entry<T>, maxSize: number): Pick<RunInit<T>, 'batch'> {
    const events: T[] = [head.event];
    const messages: Delivery[] = [head.delivery];
    for (let e = head.next; e !== undefined && events.length < maxSize; e = e.next) {
      if (e.epoch !== this.#epoch || e.delivery.lost === true || this.#completed?.has(e.delivery.id) === true) break;
      e.attempt += 1;
      events.push(e.event);
      messages.push(e.delivery);
    }
    return events.length === 1 ? {} : { batch: { events, messages } };
  }

  /** The slow path before a run: obtain the key's claim, then go on driving the key, wait, or give it up. */
  async #obtainClaim(ks: KeyState<T>, claim: Claim, entry: Entry<T>): Promise<void> {
    let result: ObtainResult;
    try {
      result = await claim.obtain(ks);
    } catch (error) {
      entry.attempt += 1;
      if (this.#onFailure(ks, entry, toError(error))) this.#drive(ks);
      return;
    }
    if (this.#stopping) {
      this.#endTurn(ks);
      return;
    }
    if (result.held) {
      const acquired = result.acquired;
      if (acquired !== undefined && this.#emitter.has('lease.acquired')) {
        this.#emitter.emit('lease.acquired', { key: ks.key, token: acquired.token, waitMs: acquired.waitMs });
      }
      this.#drive(ks);
    } else if (result.giveUp !== undefined) {
      this.#giveBack(ks, result.giveUp);
    } else {
      this.#suspend(ks, result.retryInMs);
    }
  }

  /**
   * A run ended: acknowledge, retry, dead-letter or give the key back. Returns true when the same
   * key may run its next event now; false when the slot was handed on.
   */
  #afterRun(ks: KeyState<T>, entry: Entry<T>, ctx: RunContext<T>, thrown: unknown, failed: boolean): boolean {
    ks.current = undefined;
    let error = failed ? toError(thrown, { key: ks.key, messageId: entry.delivery.id }) : undefined;
    if (error === undefined && ctx.abortReason instanceof HandlerTimeoutError) error = ctx.abortReason;
    if (entry.epoch !== this.#epoch) {
      for (let i = 0; i < ctx.size; i++) {
        const done = ks.first as Entry<T>;
        ks.shift();
        // Its connection is gone, so it cannot be acknowledged; but if it succeeded, the broker's
        // redelivery here must not run it again.
        if (error === undefined) this.#completed?.add(done.delivery.id);
        this.#settlement.drop(done);
      }
      if (ctx.observed) ctx.reportOutcome({ action: 'release', error, reason: 'connection-lost' });
    } else if (error === undefined) {
      const durationMs = ctx.startedAt === 0 ? 0 : performance.now() - ctx.startedAt;
      for (let i = 0; i < ctx.size; i++) {
        const done = ks.first as Entry<T>;
        ks.shift();
        this.#completed?.add(done.delivery.id);
        this.#settlement.ack(done.delivery);
        this.#counts.processed += 1;
        if (ctx.startedAt !== 0) {
          this.#emitter.emit('message.processed', { key: ks.key, messageId: done.delivery.id, attempt: done.attempt, durationMs });
        }
      }
      if (ctx.observed) ctx.reportOutcome(ACK);
    } else if (isStaleTokenError(error)) {
      if (ctx.observed) ctx.reportOutcome({ action: 'release', error, reason: 'stale-token' });
      this.#onStaleToken(ks, error, ctx);
      return false;
    } else {
      return this.#onFailure(ks, entry, error, ctx);
    }
    return this.#proceed(ks);
  }

  /** After an event: keep the slot for the key's next one (true), or hand it on. */
  #proceed(ks: KeyState<T>): boolean {
    if (ks.size === 0) {
      this.#endTurn(ks);
      return false;
    }
    if (this.#scheduler.contended) {
      this.#scheduler.requeue(ks);
      return false;
    }
    return true;
  }

  /**
   * A failed attempt of the key's head entry: retry it later, or give it up — released when
   * stopping, else dead-lettered before the key's next event runs. Returns true when the key may
   * run its next event now.
   */
  #onFailure(ks: KeyState<T>, entry: Entry<T>, error: Error, ctx?: RunContext<T>): boolean {
    if (this.#retryLater(ks, entry, error, ctx)) return false;
    const given: Entry<T>[] = [];
    for (let i = ctx?.size ?? 1; i > 0 && ks.first !== undefined; i--) {
      given.push(ks.first);
      ks.shift();
    }
    if (this.#stopping && isRetriable(error)) {
      if (ctx?.observed) ctx.reportOutcome({ action: 'release', error, reason: 'stopping' });
      for (const e of given) this.#settlement.release(e.delivery, ks.key, STOPPING);
      return this.#proceed(ks);
    }
    if (ctx?.observed) ctx.reportOutcome({ action: 'dead-letter', error });
    const letters = given.length === 1 ? this.#settlement.deadLetter(entry.delivery, ks.key, error, entry.attempt) : Promise.all(given.map((e) => this.#settlement.deadLetter(e.delivery, ks.key, error, e.attempt)));
    void letters.then(() => {
      if (this.#proceed(ks)) this.#drive(ks);
    });
    return false;
  }

  /** Count a failed attempt; when it may be retried, schedule the retry and return true. */
  #retryLater(ks: KeyState<T>, entry: Entry<T>, error: Error, ctx: RunContext<T> | undefined): boolean {
    const retry = this.#options.retry;
    this.#counts.failed += 1;
    const delay =
      isRetriable(error) && entry.attempt < retry.maxAttempts && !this.#stopping ? backoffDelay(entry.attempt, retry) : undefined;
    this.#emitter.emit('message.failed', {
      key: ks.key,
      messageId: entry.delivery.id,
      attempt: entry.attempt,
      error,
      retryInMs: delay,
      durationMs: ctx === undefined || ctx.startedAt === 0 ? undefined : performance.now() - ctx.startedAt,
    });
    if (delay === undefined) return false;
    this.#counts.retried += 1;
    if (ctx?.observed) ctx.reportOutcome({ action: 'retry', error, retryInMs: delay, nextAttempt: entry.attempt + 1 });
    this.#suspend(ks, delay);
    return true;
  }

  /** Give the slot back; the key waits, its later events behind its head, and is scheduled again after `delayMs`. */
  #suspend(ks: KeyState<T>, delayMs: number): void {
    ks.sleep('waiting', delayMs, () => {
      if (!this.#stopping) this.#scheduler.schedule(ks);
    });
    this.#scheduler.free();
  }

  /** The key stops running: its slot goes back, and its state too when it has no events left. */
  #endTurn(ks: KeyState<T>): void {
    ks.phase = 'idle';
    if (ks.size > 0 && this.#stopping) {
      for (const entry of ks.drain(0)) this.#settlement.release(entry.delivery, ks.key, STOPPING);
    }
    if (ks.size === 0) this.#retireKey(ks);
    else this.#scheduler.schedule(ks);
    this.#scheduler.free();
  }

  /** The key has no events: keep its lease for `lingerMs` if configured, else forget the key. */
  #retireKey(ks: KeyState<T>): void {
    const linger = this.#options.lease.lingerMs;
    if (linger > 0 && ks.claim?.canLinger() === true && !this.#stopping) {
      ks.sleep('lingering', linger, () => this.#discardKey(ks));
      return;
    }
    this.#discardKey(ks);
  }

  #discardKey(ks: KeyState<T>): void {
    ks.wake();
    ks.claim?.reset();
    this.#keys.close(ks);
  }

  /**
   * A fenced store said another owner holds a newer token for the key: this consumer lost it.
   * Give back every message of the key (the owner, or this consumer after the broker routes it
   * here again, runs them) instead of retrying with a token that can only be rejected again.
   */
  #onStaleToken(ks: KeyState<T>, error: Error, ctx: RunContext<T>): void {
    this.#counts.staleTokens += 1;
    this.#counts.failed += 1;
    this.#emitter.emit('message.failed', {
      key: ks.key,
      messageId: ks.first?.delivery.id ?? '',
      attempt: ks.first?.attempt ?? 0,
      error,
      retryInMs: undefined,
      durationMs: ctx.startedAt === 0 ? undefined : performance.now() - ctx.startedAt,
    });
    ks.claim?.reset();
    this.#giveBack(ks, STALE_REASON);
  }

  /**
   * Give every queued message of the key back to the broker, and end the key's turn. In a
   * broker-routed mode the broker redelivers them after the negative-acknowledgement delay, while
   * the key's later messages may keep coming here: those wait for the given-back ones (or until
   * {@link #giveBackWaitMs} passed, when the broker routed them elsewhere), which then run first.
   */
  #giveBack(ks: KeyState<T>, reason: string): void {
    const given = ks.drain(0);
    for (const entry of given) this.#settlement.release(entry.delivery, ks.key, reason);
    if (!this.#routed || this.#stopping || given.length === 0) {
      this.#endTurn(ks);
      return;
    }
    ks.awaiting = new Set(given.map((e) => e.delivery.id));
    ks.sleep('waiting', this.#giveBackWaitMs, () => {
      if (this.#stopping) return;
      if (ks.size > 0) this.#scheduler.schedule(ks);
      else this.#retireKey(ks);
    });
    this.#scheduler.free();
  }

  /**
   * The transport lost the connection its deliveries came on: the broker already gives them to
   * other consumers, and acknowledging them is no longer possible. Drop what has not started, tell
   * running handlers to stop, and let go of what the broker's routing gave (minted tokens).
   */
  #onConnectionLost(): void {
    this.#epoch += 1;
    const reason = new TransportError('Connection to the broker lost: its messages go to other consumers', {
      context: { consumerName: this.consumerName },
    });
    for (const ks of [...this.#keys.values()]) {
      ks.current?.abort(reason);
      ks.claim?.connectionLost();
      const phase = ks.phase;
      if (phase === 'lingering') continue; // no events, and its lease stays valid
      if (phase === 'waiting') ks.wake();
      for (const entry of ks.drain(phase === 'running' ? (ks.current?.size ?? 1) : 0)) this.#settlement.drop(entry);
      // A key in the ready queue has no events left: it ends its turn as soon as it gets one.
      if (phase !== 'running' && phase !== 'ready') this.#retireKey(ks);
    }
  }

  /** A message left this consumer (see {@link Settlement}): one fewer in flight, perhaps below the resume mark. */
  #left(): void {
    this.#inFlight -= 1;
    if (this.#paused && this.#inFlight <= this.#resumeAt && !this.#stopping) {
      this.#paused = false;
      if (!this.#pausedByUser) this.#subscription?.resume();
      this.#emitter.emit('transport.resumed', { inFlight: this.#inFlight });
    }
  }
}
