import type { Codec } from '../codecs/index.js';
import type { Fence } from '../fencing/types.js';
import type { Logger } from '../logging/logger.js';
import type { TelemetryPrivacy } from '../logging/privacy.js';
import type { FencingTokenSource, Lock } from '../locks/types.js';
import type { InitialPosition, MessageMeta, Transport } from '../transports/types.js';

/**
 * How exclusivity across processes is obtained.
 *
 * - `key-shared` (default): the broker routes each key to one consumer (Pulsar Key_Shared).
 * - `failover`: one active consumer per partition (Pulsar Failover). Head-of-line blocking between
 *   partitions is gone inside a consumer, but scaling is capped by the partition count.
 * - `shared-locked`: any consumer may receive any message (Pulsar Shared); a lease lock per key
 *   (`lock` option) makes runs exclusive, and its fencing token is handed to the handler.
 * - `shared`: no exclusivity across consumers at all. A baseline for comparisons; warns at start.
 */
export type ConsumerMode = 'key-shared' | 'failover' | 'shared-locked' | 'shared';

/** Gives the exclusivity key of an event, e.g. the shopper id. Must return a non-empty string. */
export type KeyFn<T> = (event: T, message: MessageMeta) => string;

/** Handles one event. Resolve to acknowledge; throw to retry (or dead-letter when retries run out). */
export type Handler<T> = (event: T, ctx: HandlerContext<T>) => Promise<void> | void;

/**
 * Runs around every handler run: `(ctx, next) => Promise<void>`. Call `next()` once to run the rest
 * of the chain and the handler; throwing fails the attempt like a handler error. Middleware is
 * built by option factories that return named functions (e.g. `exclusivityCounter({ … })`).
 */
export type Middleware<T = unknown> = (ctx: HandlerContext<T>, next: () => Promise<void>) => Promise<void>;

/** A violation of per-key exclusivity, as detected by the counter middleware or another detector. */
export interface Violation {
  readonly key: string;
  /** Runs of the key in progress, this one included (2 or more). */
  readonly concurrent: number;
  /** What detected it, e.g. `exclusivity-counter`. */
  readonly source: string;
  readonly messageId: string;
}

/** Identity of the consumer running a handler. */
export interface ConsumerInfo {
  readonly topic: string;
  readonly subscription: string;
  readonly consumerName: string;
  readonly mode: ConsumerMode;
  readonly transport: string;
}

/** What a handler and its middleware receive besides the event. */
export interface HandlerContext<T = unknown> {
  /** The exclusivity key from `keyFn`. */
  readonly key: string;
  /** The decoded event (in a batch run, the batch's first). */
  readonly event: T;
  /** The events of this run, in order: one, or a batch (`batch` option). */
  readonly events: readonly T[];
  /** Their messages, in the same order. */
  readonly messages: readonly MessageMeta[];
  /**
   * Aborted when the handler should give up: the handler timed out (`HandlerTimeoutError`), the
   * lease on the key was lost (`LockLostError`), or the consumer stops without draining
   * (`ConsumerStoppedError`). `signal.reason` says which.
   */
  readonly signal: AbortSignal;
  /**
   * Fencing token for this key, strictly increasing per key across the fleet: the lease's token
   * when a `lock` is configured, else minted by the `tokenSource` if there is one. With either in
   * the options, the handler's context is a {@link FencedHandlerContext}, where it is a number.
   */
  readonly fencingToken: number | undefined;
  /** `{ token, owner }` to present to a fenced store, when a fencing token is set. */
  readonly fence: Fence | undefined;
  /** 1 on the first run of this delivery in this consumer, then 2, 3… on retries in place. */
  readonly attempt: number;
  /** The message as delivered: id, partition key, properties, redelivery count, publish time, topic (a batch's first). */
  readonly message: MessageMeta;
  /** Which consumer runs the handler. */
  readonly consumer: ConsumerInfo;
  /** Milliseconds spent acquiring the key's lease before this run (0 when none was needed). */
  readonly lockWaitMs: number;
  /** Report an exclusivity violation: counted in stats and emitted as a `violation` event. */
  reportViolation(violation: Omit<Violation, 'messageId'>): void;
  /** Report a non-fatal error from middleware (emitted as an `error` event; processing goes on). */
  reportError(error: unknown, phase: string): void;
  /**
   * Call `listener` once, when this run has ended and the consumer has decided what to do with the
   * message (see {@link RunOutcome}): synchronously, right after the middleware chain returned, so
   * that telemetry can put the decision on the run's span before ending it. Costs nothing unless
   * used. A listener that throws is reported as an `error` event (phase `onSettled`).
   */
  onSettled(listener: (outcome: RunOutcome) => void): void;
}

/** The context of a handler whose consumer has a `lock` or a `tokenSource`: the fence is always set. */
export interface FencedHandlerContext<T = unknown> extends HandlerContext<T> {
  readonly fencingToken: number;
  readonly fence: Fence;
}

/** A handler of a consumer configured with fencing (a `lock` or a `tokenSource`). */
export type FencedHandler<T> = (event: T, ctx: FencedHandlerContext<T>) => Promise<void> | void;

/**
 * Handles a batch of one key's events, in order, in one run (`batch` option): acknowledged together
 * when it resolves, retried together (the same events first) or dead-lettered together when it throws.
 */
export type BatchHandler<T> = (events: readonly T[], ctx: HandlerContext<T>) => Promise<void> | void;

/** A batch handler of a consumer configured with fencing (a `lock` or a `tokenSource`). */
export type FencedBatchHandler<T> = (events: readonly T[], ctx: FencedHandlerContext<T>) => Promise<void> | void;

/** Runs of a key's queued events as one batch. */
export interface BatchOptions {
  /** The most events of a key in one run. */
  readonly maxSize: number;
  /**
   * How long a key's first event may wait for more of its key before the run starts with fewer
   * than `maxSize`. 0 runs with what is queued.
   * @default 0
   */
  readonly maxWaitMs?: number;
}

/** Options that configure fencing tokens: a `lock` (whose lease mints them) or a `tokenSource`. */
export type FencedOptions<T> = ExclusiveConsumerOptions<T> &
  ({ readonly lock: Lock; readonly tokenSource?: undefined } | { readonly tokenSource: FencingTokenSource; readonly lock?: undefined });

/**
 * What the consumer did with a message after one handler run (`HandlerContext.onSettled`).
 *
 * - `ack`: the run succeeded; the message is acknowledged.
 * - `retry`: the run failed; the same message runs again in place (`nextAttempt`) after
 *   `retryInMs`, the key's later messages waiting behind it.
 * - `dead-letter`: the run failed and is not retried (retries exhausted, or the error is not
 *   retriable); the message goes to the dead-letter topic (or, if that publish fails, back to the
 *   broker for redelivery).
 * - `release`: the message goes back to the broker for redelivery without another run here: the
 *   fencing token was stale (another consumer owns the key: its later messages go back too), the
 *   consumer is stopping, or the connection that delivered it was lost.
 *
 * `abortReason` is set when `ctx.signal` was aborted during the run (lease lost, timeout, stop,
 * connection lost), whatever the outcome: a handler may still succeed after its lease was lost.
 */
export type RunOutcome = (
  | { readonly action: 'ack' }
  | { readonly action: 'retry'; readonly error: Error; readonly retryInMs: number; readonly nextAttempt: number }
  | { readonly action: 'dead-letter'; readonly error: Error }
  | {
      readonly action: 'release';
      readonly error: Error | undefined;
      /** `stale-token`: a fenced store rejected the run's token; `stopping`; `connection-lost`. */
      readonly reason: 'stale-token' | 'stopping' | 'connection-lost';
    }
) & { readonly abortReason?: Error };

/** Exponential backoff for retries in place. */
export interface RetryOptions {
  /**
   * Handler attempts per delivery, the first included; after the last failure the message is
   * dead-lettered.
   * @default 3
   */
  readonly maxAttempts?: number;
  /** @default 100 */
  readonly initialDelayMs?: number;
  /** @default 10_000 */
  readonly maxDelayMs?: number;
  /** @default 2 */
  readonly factor?: number;
  /**
   * Fraction of each delay drawn at random (0: none; 0.5: the delay is between 50% and 100% of the
   * computed one).
   * @default 0.5
   */
  readonly jitter?: number;
}

/** How `shared-locked` holds a key's lease. */
export interface LeaseOptions {
  /**
   * Lease time to live; renewed every `ttlMs / 3` while the key has work.
   * @default 10_000
   */
  readonly ttlMs?: number;
  /**
   * When another consumer holds the key: `wait` retries to acquire (with jitter) for up to
   * `acquireTimeoutMs`, keeping the key's events queued in order but not holding a concurrency
   * slot; `release` gives the key's messages back to the broker at once (negative ack) to be
   * redelivered later, freeing in-flight room sooner at the cost of redeliveries.
   * @default 'wait'
   */
  readonly whenBusy?: 'wait' | 'release';
  /** @default 30_000 */
  readonly acquireTimeoutMs?: number;
  /** Delay between acquire attempts (jittered ±50%). @default 50 */
  readonly retryDelayMs?: number;
  /**
   * Keep the lease this long after the key's last queued event ran, so a burst of one key costs
   * one acquire. 0 releases at once.
   * @default 0
   */
  readonly lingerMs?: number;
}

/** Options of {@link createExclusiveConsumer}. Validated at creation. */
export interface ExclusiveConsumerOptions<T> {
  /**
   * The broker adapter.
   * @default memoryTransport() — the embedded broker shared by the process
   */
  readonly transport?: Transport;
  /** @default 'key-shared' */
  readonly mode?: ConsumerMode;
  /**
   * Subscription name shared by the consumer group.
   * @default 'exclusive-consumer'
   */
  readonly subscription?: string;
  /** Unique consumer name. @default `<hostname>-<pid>-<random>` */
  readonly consumerName?: string;
  /** @default 'latest' (as Pulsar) */
  readonly initialPosition?: InitialPosition;
  /** Payload decoder. @default jsonCodec() */
  readonly codec?: Codec<T>;
  /**
   * Keys handled at once by this consumer.
   * @default 100
   */
  readonly maxConcurrency?: number;
  /**
   * Messages received but not yet acknowledged; above it the transport is paused, and resumed once
   * half of them are settled.
   * @default 1000
   */
  readonly maxInFlight?: number;
  /** Abort `ctx.signal` and count a failure after this long; 0 disables. @default 30_000 */
  readonly handlerTimeoutMs?: number;
  readonly retry?: RetryOptions;
  /**
   * A lease lock per key. Required in `shared-locked`, where it is what makes runs exclusive. In
   * `key-shared` and `failover` it makes exclusivity *strict*: the broker routes each key, and a run
   * starts only under the key's lease, so the windows in which the broker hands a key to a new
   * consumer while the old one still runs it (a dropped connection, a Failover switch) close for
   * every side effect, not only for fenced writes — at one lease round trip per burst of a key.
   * The lease's token is `ctx.fencingToken`. Not allowed in `shared` (that is `shared-locked`).
   */
  readonly lock?: Lock;
  readonly lease?: LeaseOptions;
  /**
   * Per-key fencing tokens in `key-shared`, `failover` and `shared` without a `lock` (a lock's
   * lease mints its own token, so both together are refused).
   */
  readonly tokenSource?: FencingTokenSource;
  /** Runs around each handler run, outermost first. */
  readonly middleware?: readonly Middleware<T>[];
  /**
   * Give the handler a key's queued events in one run (then it is a {@link BatchHandler}): one
   * decision per burst of a key, under one fence, acknowledged or retried together.
   */
  readonly batch?: BatchOptions;
  /**
   * Compare `keyFn`'s key with the message's partition key in broker-routed modes, counting and
   * reporting each mismatch (exclusivity across consumers is not guaranteed for those messages).
   * @default true
   */
  readonly checkPartitionKey?: boolean;
  /** Default `timeoutMs` of `stop()`. @default 30_000 */
  readonly stopTimeoutMs?: number;
  /**
   * How long `start()` keeps trying to subscribe while the broker cannot be reached (a retriable
   * error such as a refused connection), with backoff from 100 ms doubling to 5 s; then it rejects
   * with a `TransportError` carrying the last failure. A non-retriable error (a refused subscription
   * type, bad credentials) rejects at once. 0 tries once.
   * @default 30_000
   */
  readonly startTimeoutMs?: number;
  /** Where messages go when the library gives up on them. */
  readonly deadLetter?: DeadLetterOptions;
  /**
   * Delay before a message this consumer gives back (stale fencing token, lease busy elsewhere with
   * `whenBusy: 'release'`, a dead letter that could not be published) is delivered again. Pulsar's
   * own client default is a minute, long enough to stall a key for that long, so the Pulsar
   * transports use 1 s unless told otherwise.
   * @default the transport's: 1000 on the Pulsar transports and the embedded broker
   */
  readonly nackRedeliveryDelayMs?: number;
  /**
   * How many recently completed messages (acknowledged after a successful run, or dead-lettered) a
   * consumer remembers by id. When one comes back — its acknowledgement was lost with a connection
   * and the broker delivered it again — it is acknowledged again instead of run again. 0 disables.
   * @default 10_000 on transports whose acknowledgements can be lost (Pulsar), else 0
   */
  readonly rememberCompleted?: number;
  /**
   * Where the consumer writes its log lines: lifecycle (info), failed attempts, violations, lease
   * losses and warnings (warn), dead letters, stuck handlers and non-fatal errors (error), releases
   * and backpressure (debug). Never a payload; keys as `privacy` says. Nothing is written per
   * successful message.
   * @default silent
   * @example consoleLogger({ level: 'info' })
   */
  readonly logger?: Logger;
  /**
   * How keys and error messages appear in log lines.
   * @default `{ keys: 'hashed', errorMessages: false }`: a hash of the key, the type of foreign errors
   */
  readonly privacy?: TelemetryPrivacy;
}

/** Dead-letter settings. */
export interface DeadLetterOptions {
  /** @default `<topic>-<subscription>-DLQ` (Pulsar's name) */
  readonly topic?: string;
  /**
   * Also let the broker/client dead-letter a message redelivered more than this many times (a
   * message that keeps crashing or timing out consumers). Unset: never.
   */
  readonly maxRedeliverCount?: number;
}

/** Options of `stop()`. */
export interface StopOptions {
  /**
   * `true`: let running handlers finish. `false`: abort their signals at once
   * (`ConsumerStoppedError`) and wait for them to settle. Either way, messages not yet started are
   * released to the broker for redelivery.
   * @default true
   */
  readonly drain?: boolean;
  /**
   * How long to wait for running handlers; afterwards their signals are aborted and the consumer
   * closes without them (their messages are redelivered).
   * @default the consumer's `stopTimeoutMs`
   */
  readonly timeoutMs?: number;
}

/** What `stop()` did. */
export interface StopReport {
  /** Messages given back to the broker without running. */
  readonly released: number;
  /** Handlers still running when the stop timeout passed. */
  readonly abandoned: number;
  readonly durationMs: number;
}

/** Lifecycle state of a consumer. */
export type ConsumerState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';

/** Live counters of a consumer. */
export interface ConsumerStats {
  readonly state: ConsumerState;
  /** Received and not yet settled (acknowledged, released or dead-lettered). */
  readonly inFlight: number;
  /** Handler runs in progress. */
  readonly running: number;
  /** Keys with queued or running events. */
  readonly activeKeys: number;
  /** Whether the transport is paused for backpressure. */
  readonly paused: boolean;
  /** Messages handled successfully and acknowledged. */
  readonly processed: number;
  /** Failed handler attempts (each retry counts). */
  readonly failed: number;
  /** Attempts scheduled again after a failure. */
  readonly retried: number;
  readonly deadLettered: number;
  /** Messages given back to the broker for redelivery (stop, lease not acquired, dead-letter failed). */
  readonly released: number;
  /** Deliveries of messages this consumer had already completed: acknowledged again, not run (`rememberCompleted`). */
  readonly repeatsSkipped: number;
  readonly violations: number;
  readonly keyMismatches: number;
  readonly leasesLost: number;
  /** Runs whose fenced write was rejected as stale (`StaleTokenError`): the key's messages were given back. */
  readonly staleTokens: number;
  /** The most events one key had queued here at once, since start (a hot or stuck key shows here). */
  readonly queueDepthHighWater: number;
  /** Milliseconds runs waited for their key's lease before starting, summed. */
  readonly leaseWaitMs: number;
  /** Runs of messages the broker had delivered before (`redeliveryCount > 0`): work possibly done twice. */
  readonly redeliveredRuns: number;
}

/** Typed lifecycle events and their payloads. */
export interface ConsumerEvents {
  'consumer.started': { readonly consumerName: string };
  'consumer.stopping': { readonly drain: boolean };
  'consumer.stopped': StopReport;
  'message.processed': {
    readonly key: string;
    readonly messageId: string;
    readonly attempt: number;
    readonly durationMs: number;
  };
  'message.failed': {
    readonly key: string;
    readonly messageId: string;
    readonly attempt: number;
    readonly error: Error;
    /** Delay before the next attempt, or `undefined` when the message is dead-lettered instead. */
    readonly retryInMs: number | undefined;
    /**
     * How long the failed run took (handler and middleware); `undefined` when no handler ran (the
     * key's fencing token could not be minted).
     */
    readonly durationMs?: number | undefined;
  };
  'message.dead-lettered': {
    readonly key: string | undefined;
    readonly messageId: string;
    readonly error: Error;
    readonly attempts: number;
  };
  'message.released': { readonly key: string | undefined; readonly messageId: string; readonly reason: string };
  violation: Violation;
  'key.mismatch': { readonly key: string; readonly partitionKey: string | undefined; readonly messageId: string };
  'lease.lost': { readonly key: string; readonly token: number; readonly error: Error };
  /** `shared-locked`: the key's lease was acquired after `waitMs` (other consumers held it meanwhile). */
  'lease.acquired': { readonly key: string; readonly token: number; readonly waitMs: number };
  'handler.stuck': { readonly key: string; readonly messageId: string; readonly runningMs: number };
  'transport.paused': { readonly inFlight: number };
  'transport.resumed': { readonly inFlight: number };
  warning: { readonly code: string; readonly message: string };
  error: { readonly error: Error; readonly phase: string };
}

/** What a service's readiness and liveness probes need to know of a consumer. */
export interface ConsumerHealth {
  readonly state: ConsumerState;
  /**
   * Subscribed, and the transport's connection is up (transports that cannot tell count as
   * connected while subscribed).
   */
  readonly connected: boolean;
  /** Paused by `pause()`. */
  readonly paused: boolean;
  /** Paused because `maxInFlight` messages are unsettled (resumes by itself). */
  readonly backpressure: boolean;
  /** Received and not yet settled. */
  readonly inFlight: number;
  /** Handler runs in progress. */
  readonly running: number;
  /** How long the oldest message received and not yet settled has been here; 0 when none. */
  readonly oldestUnsettledMs: number;
  /** The last `error` event, if any: phase, error type and code, and the message where privacy allows. */
  readonly lastError:
    | { readonly phase: string; readonly type: string; readonly code: string | undefined; readonly message: string | undefined; readonly at: Date }
    | undefined;
}

/** A running exclusive consumer. */
export interface ExclusiveConsumer {
  readonly topic: string;
  /** The subscription (consumer group) name. */
  readonly subscription: string;
  readonly consumerName: string;
  readonly mode: ConsumerMode;
  /** Subscribe and start handling. Resolves once subscribed. */
  start(): Promise<void>;
  /** Stop receiving, finish or abort running handlers, release the rest, close. Idempotent. */
  stop(options?: StopOptions): Promise<StopReport>;
  /**
   * Stop taking new messages from the broker; what was received keeps running, in order. For a
   * service that must shed load or wait for a dependency. Idempotent.
   */
  pause(): void;
  /** Take messages again after `pause()` (backpressure still applies). Idempotent. */
  resume(): void;
  /** A snapshot of the live counters. */
  stats(): ConsumerStats;
  /** A snapshot for readiness and liveness probes. */
  health(): ConsumerHealth;
  /** Listen to a lifecycle event; returns a function that removes the listener. */
  on<E extends keyof ConsumerEvents>(event: E, listener: (payload: ConsumerEvents[E]) => void): () => void;
}
